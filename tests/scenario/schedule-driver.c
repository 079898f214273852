/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scenario driver for the snapshot scheduler (coord/decide/schedule.c, with the policies of
 * coord/spec/protection.c). It simulates the acting leader as schedule.h asks it to act --
 * records `started` committed before ONTAP is touched, the snapshot by its name on every
 * datastore (an existing one is success), `done` committed after, then retention -- a leader
 * that dies at any point of a run and a new one that starts from the records alone, a WALL
 * CLOCK that the leader reads at each pass and that jumps forward and back, and ONTAP's
 * snapshots per datastore (kvmcd's, busy ones, foreign ones an admin or another tool made).
 * Built with runner.c into schedule-sim; runner.h describes the runner, the command line and
 * the random mode. The scenario times (ms) only order the statements; the wall clock is the
 * driver's own, moved by `clock` and `run`.
 *
 * The trace (golden: FILE.expect):
 *   == STATEMENT                                        a scenario statement, as written
 *   leader pass {"now"}                                 a leader pass at that wall time
 *   run WHY {"name" | "policy","mirror","slot"}         a due run (WHY: due, first, catch-up,
 *                                                       resume)
 *   record started|done {"policy","label","slot"}       a record committed
 *   ontap create|exists {"ds","name"}                   the run's snapshot, taken or found
 *   ontap mirror-update {"policy","slot"}               a SnapMirror update started
 *   ontap delete {"ds","name"}                          retention deleted it
 *   report missed {"policy","label","count","first","last"}  slots that will not run (when the
 *                                                       report changes)
 *   report kept {"ds","name","why"}                     retention keeps it (when the set changes)
 *   leader wake {"at"}                                  the pass's wake-up (when it changes)
 *   leader crash {"at","run"}                           the leader died at that point of a run
 *   FAIL TEXT                                           a check failed (never in a golden)
 *
 * Invariants, checked where they can break:
 *   - exactly once: a snapshot name is created on a datastore at most once, ever; a run that is
 *     not a resume is for a slot after every slot this schedule completed, ever; a resume is for
 *     the recorded started slot, after done;
 *   - never early: no run for a slot after the wall clock;
 *   - retention deletes only this policy's names (never a foreign one, never another policy's),
 *     of a label it has, on a datastore it protects, never a busy one, never one of the `keep`
 *     newest of its group;
 *   - the decision is the same when computed twice (pure).
 *   Liveness (`expect complete`): every slot of every schedule after `mark` (and after what
 *   was started or done by then) up to the last pass was taken on every datastore of its
 *   policy.
 *
 * Scenario language (one statement per line, '#' comments):
 *   datastores ds1,ds2              (header) the spec's datastores (default ds1)
 *   grace SEC                       (header) catch_up skip's grace (default 300)
 *   latency SEC                     (header) a pass comes this long after its wake-up (default 0)
 *   at T clock TIME | +DUR | -DUR   the wall clock is set (TIME: 2025-03-01T10:00Z) or jumps
 *   at T policy JSON                a policy is added or replaced by name (' for ")
 *   at T remove POLICY              a policy leaves the spec (its records stay)
 *   at T leader                     one pass now (when a leader is up)
 *   at T run DUR                    the wall clock goes on DUR; an up leader passes at each
 *                                   wake-up (after `latency`), again at once after runs
 *   at T crash-at STEP              the next run that reaches STEP kills the leader there:
 *                                   decided, started, partial (the first datastore's
 *                                   snapshot taken), snapshot, done; none: no crash
 *   at T leader-down | leader-up    no leader / a new leader (it passes at once)
 *   at T busy DS NAME | free DS NAME   ONTAP reports the snapshot in use / not
 *   at T foreign DS NAME            a snapshot kvmcd did not take appears
 *   at T delete DS NAME             an admin deletes one (taken again only when its run was
 *                                   begun and not done: its resume takes it)
 *   at T mark                       the start of the liveness window (`expect complete`)
 *   at T expect has DS NAME | gone DS NAME
 *   at T expect count DS N          kvmcd snapshots (names it reads back) on DS
 *   at T expect record POLICY LABEL STARTED DONE    slots or none
 *   at T expect wake TIME|never
 *   at T expect missed POLICY LABEL N
 *   at T expect kept DS NAME WHY
 *   at T expect runs N              runs performed so far (resumes included)
 *   at T expect complete
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protection.h"
#include "runner.h"
#include "schedule.h"

#define MAX_DS 4
#define MAX_POL 4
#define LABEL_MIRROR SCHED_MIRROR_LABEL

enum step { STEP_NONE, STEP_DECIDED, STEP_STARTED, STEP_PARTIAL, STEP_SNAPSHOT, STEP_DONE };
static const char *const step_names[] = { "none", "decided", "started", "partial", "snapshot", "done" };

struct snap {
	size_t ds;
	char *name;
	bool busy, foreign;
};

struct rec {
	char *policy, *label;
	int64_t started, done;
	int64_t max_done;      /* the latest slot ever completed (the records never go back) */
	int64_t mark_from;     /* `mark`: slots after this must be taken */
};

struct taken {                 /* every (ds, name) kvmcd ever created: an open hash table */
	size_t ds;
	char *name;                /* NULL: a free bucket */
};

struct sim {
	struct scn *r;
	char ds[MAX_DS][16];
	size_t n_ds;
	int64_t grace, latency;
	int64_t now;
	json_t *policies;              /* owned: the protection array */
	json_t *spec;                  /* owned: the spec of the policies below */
	struct prot_policy *pol;       /* owned (prot_spec_list) */
	size_t n_pol;
	struct snap *snaps;
	size_t n_snaps;
	struct rec *recs;
	size_t n_recs;
	struct taken *taken;           /* cap_taken buckets (a power of two), n_taken used */
	size_t n_taken, cap_taken;
	bool leader;
	enum step crash_at;
	bool marked;
	unsigned runs;
	int64_t wake;                  /* of the last pass; INT64_MIN before the first */
	int64_t last_pass;             /* the wall time of the last pass; SCHED_NONE before it */
	char *last_kept, *last_missed; /* owned: what the trace showed last */
};

#define BAD(...) do { scn_fail(r, __VA_ARGS__); return -EINVAL; } while (0)

static char *xstrdup(const char *s)
{
	char *c = strdup(s);

	if (!c)
		abort();
	return c;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		abort();
	return p;
}

static const char *fmt(int64_t t, char buf[static SCHED_SLOT_TEXT])
{
	return sched_slot_format(t, buf);
}

static int parse_time(struct sim *s, const char *w, int64_t *t)
{
	json_t *v;
	int64_t d;
	int r;

	if (!strcmp(w, "none")) {
		*t = SCHED_NONE;
		return 0;
	}
	if (*w != '+' && *w != '-')
		return sched_slot_scan(w, t);
	v = json_string(w + 1);
	r = prot_duration_parse(v, &d, NULL, 0);
	json_decref(v);
	if (r < 0)
		return r;
	*t = *w == '+' ? s->now + d : s->now - d;
	return *t < 0 || *t > PROT_TIME_MAX ? -ERANGE : 0;
}

static size_t ds_idx(struct sim *s, const char *name)
{
	for (size_t i = 0; i < s->n_ds; i++)
		if (!strcmp(s->ds[i], name))
			return i;
	return SIZE_MAX;
}

static struct snap *snap_find(struct sim *s, size_t ds, const char *name)
{
	for (size_t i = 0; i < s->n_snaps; i++)
		if (s->snaps[i].ds == ds && !strcmp(s->snaps[i].name, name))
			return &s->snaps[i];
	return NULL;
}

static void snap_add(struct sim *s, size_t ds, const char *name, bool foreign)
{
	s->snaps = xrealloc(s->snaps, (s->n_snaps + 1) * sizeof(*s->snaps));
	s->snaps[s->n_snaps++] = (struct snap){ .ds = ds, .name = xstrdup(name), .foreign = foreign };
}

static void snap_del(struct sim *s, struct snap *x)
{
	free(x->name);
	*x = s->snaps[--s->n_snaps];
}

static struct rec *rec_get(struct sim *s, const char *policy, const char *label, bool create)
{
	for (size_t i = 0; i < s->n_recs; i++)
		if (!strcmp(s->recs[i].policy, policy) && !strcmp(s->recs[i].label, label))
			return &s->recs[i];
	if (!create)
		return NULL;
	s->recs = xrealloc(s->recs, (s->n_recs + 1) * sizeof(*s->recs));
	s->recs[s->n_recs] = (struct rec){ .policy = xstrdup(policy), .label = xstrdup(label), .started = SCHED_NONE,
					   .done = SCHED_NONE, .max_done = SCHED_NONE, .mark_from = SCHED_NONE };
	return &s->recs[s->n_recs++];
}

static size_t taken_hash(size_t ds, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ ds;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ULL;
	return (size_t)h;
}

/* The bucket of (ds, name), or the free one where it would go. */
static struct taken *taken_slot(struct sim *s, size_t ds, const char *name)
{
	for (size_t i = taken_hash(ds, name);; i++) {
		struct taken *t = &s->taken[i & (s->cap_taken - 1)];
		if (!t->name || (t->ds == ds && !strcmp(t->name, name)))
			return t;
	}
}

static bool was_taken(struct sim *s, size_t ds, const char *name)
{
	return s->cap_taken && taken_slot(s, ds, name)->name;
}

static void take(struct sim *s, size_t ds, const char *name)
{
	struct taken *t;

	if (2 * (s->n_taken + 1) > s->cap_taken) {
		struct taken *old = s->taken;
		size_t cap = s->cap_taken;
		s->cap_taken = cap ? 2 * cap : 64;
		s->taken = calloc(s->cap_taken, sizeof(*s->taken));
		if (!s->taken)
			abort();
		for (size_t i = 0; i < cap; i++)
			if (old[i].name)
				*taken_slot(s, old[i].ds, old[i].name) = old[i];
		free(old);
	}
	t = taken_slot(s, ds, name);
	if (!t->name) {
		*t = (struct taken){ .ds = ds, .name = xstrdup(name) };
		s->n_taken++;
	}
}

/* Forgets (ds, name): the table is rebuilt without it (rare: an admin's delete). */
static void untake(struct sim *s, size_t ds, const char *name)
{
	struct taken *old = s->taken;
	size_t cap = s->cap_taken;

	if (!was_taken(s, ds, name))
		return;
	s->taken = calloc(cap, sizeof(*s->taken));
	if (!s->taken)
		abort();
	s->n_taken = 0;
	for (size_t i = 0; i < cap; i++)
		if (old[i].name) {
			if (!(old[i].ds == ds && !strcmp(old[i].name, name))) {
				*taken_slot(s, old[i].ds, old[i].name) = old[i];
				s->n_taken++;
			} else {
				free(old[i].name);
			}
		}
	free(old);
}

/* ---- the spec ------------------------------------------------------------------------------- */

static int rebuild(struct sim *s, struct scn *r)
{
	json_t *spec = json_object(), *dss = json_array();
	struct spec_problems p = { 0 };
	struct prot_policy *pol = NULL;
	size_t n = 0;

	for (size_t i = 0; i < s->n_ds; i++)
		json_array_append_new(dss, json_pack("{s:s, s:s, s:s}", "name", s->ds[i], "protocol", "nfs", "size", "1G"));
	json_object_set_new(spec, "datastores", dss);
	if (json_array_size(s->policies))
		json_object_set(spec, "protection", s->policies);
	if (spec_validate(spec, &p) < 0 || prot_spec_list(spec, &pol, &n) < 0) {
		char *j = spec_problems_join(&p);
		scn_fail(r, "the policies are refused: %s", j ? j : "?");
		free(j);
		spec_problems_clear(&p);
		json_decref(spec);
		return -EINVAL;
	}
	free(s->pol);
	json_decref(s->spec);
	s->spec = spec;
	s->pol = pol;
	s->n_pol = n;
	return 0;
}

/* ---- the leader ------------------------------------------------------------------------------ */

static int decide(struct sim *s, struct sched_result *res)
{
	struct sched_record *recs = calloc(s->n_recs + 1, sizeof(*recs));
	struct sched_snapshot *snaps = calloc(s->n_snaps + 1, sizeof(*snaps));
	struct sched_input in = { .policies = s->pol, .n_policies = s->n_pol, .records = recs, .n_records = s->n_recs,
				  .snapshots = snaps, .n_snapshots = s->n_snaps, .now = s->now, .grace = s->grace };
	struct sched_result again = { 0 };
	int err;

	if (!recs || !snaps)
		abort();
	for (size_t i = 0; i < s->n_recs; i++)
		recs[i] = (struct sched_record){ .policy = s->recs[i].policy, .label = s->recs[i].label,
						 .started = s->recs[i].started, .done = s->recs[i].done };
	for (size_t i = 0; i < s->n_snaps; i++)
		snaps[i] = (struct sched_snapshot){ .datastore = s->ds[s->snaps[i].ds], .name = s->snaps[i].name,
						    .busy = s->snaps[i].busy };
	err = sched_decide(&in, res);
	if (!err && sched_decide(&in, &again) == 0) {
		bool same = again.n_runs == res->n_runs && again.n_deletes == res->n_deletes && again.wake == res->wake;
		for (size_t i = 0; same && i < res->n_runs; i++)
			same = again.runs[i].slot == res->runs[i].slot && !strcmp(again.runs[i].name, res->runs[i].name);
		if (!same)
			scn_fail(s->r, "the same input gave another decision");
		sched_result_clear(&again);
	}
	free(recs);
	free(snaps);
	return err;
}

static const char *run_label(struct sim *s, const struct sched_run *run)
{
	const struct prot_policy *p = &s->pol[run->policy];

	return run->kind == SCHED_MIRROR_UPDATE ? LABEL_MIRROR : p->schedules[run->schedule].label;
}

/* The leader dies here if a crash was asked for this step. */
static bool crash(struct sim *s, enum step at, const struct sched_run *run)
{
	if (s->crash_at != at)
		return false;
	scn_trace_json(s->r, "leader", "crash", json_pack("{s:s, s:s}", "at", step_names[at], "run",
							   run->name[0] ? run->name : run_label(s, run)));
	s->crash_at = STEP_NONE;
	s->leader = false;
	return true;
}

static void commit(struct sim *s, const struct sched_run *run, bool done)
{
	const struct prot_policy *p = &s->pol[run->policy];
	struct rec *rec = rec_get(s, p->name, run_label(s, run), true);
	char t[SCHED_SLOT_TEXT];

	if (done) {
		rec->done = run->slot;
		if (rec->max_done == SCHED_NONE || run->slot > rec->max_done)
			rec->max_done = run->slot;
	} else {
		rec->started = run->slot;
	}
	scn_trace_json(s->r, "record", done ? "done" : "started",
		       json_pack("{s:s, s:s, s:s}", "policy", p->name, "label", rec->label, "slot", fmt(run->slot, t)));
}

/* The checks on a run before it does anything. */
static void check_run(struct sim *s, const struct sched_run *run)
{
	const struct prot_policy *p = &s->pol[run->policy];
	struct rec *rec = rec_get(s, p->name, run_label(s, run), false);
	char t[SCHED_SLOT_TEXT], u[SCHED_SLOT_TEXT];

	if (run->slot > s->now)
		scn_fail(s->r, "%s: a run for %s, a slot after now (%s)", run->name, fmt(run->slot, t), fmt(s->now, u));
	if (run->why == SCHED_RESUME) {
		if (!rec || rec->started != run->slot || (rec->done != SCHED_NONE && rec->done >= rec->started))
			scn_fail(s->r, "%s: resumed, but it is not the started slot after done", run->name);
	} else if (rec && rec->max_done != SCHED_NONE && run->slot <= rec->max_done) {
		scn_fail(s->r, "%s %s: a run for %s, but %s was completed already", p->name, run_label(s, run), fmt(run->slot, t),
			 fmt(rec->max_done, u));
	} else if (rec && rec->started != SCHED_NONE && rec->started > (rec->done == SCHED_NONE ? INT64_MIN : rec->done)) {
		scn_fail(s->r, "%s %s: a new run while %s is begun and not done", p->name, run_label(s, run),
			 fmt(rec->started, t));
	}
}

static void check_delete(struct sim *s, const struct sched_delete *d, const struct snap *x)
{
	const struct prot_policy *p = &s->pol[d->policy];
	char pol[PROT_NAME_MAX + 1], lab[PROT_LABEL_MAX + 1];
	int64_t slot;
	size_t newer = 0, k;

	if (!x) {
		scn_fail(s->r, "retention deletes %s on %s, which is not there", d->name, d->datastore);
		return;
	}
	if (x->foreign || sched_snapshot_parse(x->name, pol, lab, &slot) < 0 || strcmp(pol, p->name))
		scn_fail(s->r, "retention of %s deletes %s on %s: not its own", p->name, x->name, d->datastore);
	if (x->busy)
		scn_fail(s->r, "retention deletes %s on %s, which is busy", x->name, d->datastore);
	for (k = 0; k < p->n_schedules && strcmp(p->schedules[k].label, lab); k++)
		;
	if (k == p->n_schedules) {
		scn_fail(s->r, "retention deletes %s: no schedule of %s has label %s", x->name, p->name, lab);
		return;
	}
	for (size_t i = 0; i < s->n_snaps; i++) {
		char p2[PROT_NAME_MAX + 1], l2[PROT_LABEL_MAX + 1];
		int64_t s2;
		if (s->snaps[i].ds == x->ds && sched_snapshot_parse(s->snaps[i].name, p2, l2, &s2) == 0 && !strcmp(p2, pol) &&
		    !strcmp(l2, lab) && s2 > slot)
			newer++;
	}
	if (newer < p->schedules[k].keep)
		scn_fail(s->r, "retention deletes %s on %s, one of the %u newest of its schedule (%zu newer)", x->name,
			 d->datastore, p->schedules[k].keep, newer);
}

/* The trace lines that show what changed in the pass's report. */
static void trace_report(struct sim *s, const struct sched_result *res)
{
	char *kept = NULL, *missed = NULL;
	size_t kl = 0, ml = 0;
	FILE *f;

	if ((f = open_memstream(&kept, &kl))) {
		for (size_t i = 0; i < res->n_kept; i++)
			fprintf(f, "%s/%s/%s;", res->kept[i].datastore, res->kept[i].name, sched_kept_name(res->kept[i].why));
		fclose(f);
	}
	if (!kept || strcmp(kept, s->last_kept ? s->last_kept : ""))
		for (size_t i = 0; i < res->n_kept; i++)
			scn_trace_json(s->r, "report", "kept", json_pack("{s:s, s:s, s:s}", "ds", res->kept[i].datastore, "name",
								     res->kept[i].name, "why", sched_kept_name(res->kept[i].why)));
	free(s->last_kept);
	s->last_kept = kept;
	if ((f = open_memstream(&missed, &ml))) {
		for (size_t i = 0; i < res->n_status; i++)
			if (res->status[i].missed)
				fprintf(f, "%zu/%zu/%u/%" PRId64 ";", res->status[i].policy, res->status[i].schedule,
					res->status[i].missed, res->status[i].missed_first);
		fclose(f);
	}
	if (!missed || strcmp(missed, s->last_missed ? s->last_missed : ""))
		for (size_t i = 0; i < res->n_status; i++) {
			const struct sched_status *st = &res->status[i];
			const struct prot_policy *p = &s->pol[st->policy];
			char a[SCHED_SLOT_TEXT], b[SCHED_SLOT_TEXT];
			if (st->missed)
				scn_trace_json(s->r, "report", "missed",
					       json_pack("{s:s, s:s, s:i, s:s, s:s}", "policy", p->name, "label",
							 st->schedule == p->n_schedules ? LABEL_MIRROR : p->schedules[st->schedule].label,
							 "count", (int)st->missed, "first", fmt(st->missed_first, a), "last",
							 fmt(st->missed_last, b)));
		}
	free(s->last_missed);
	s->last_missed = missed;
}

/* One leader pass. Returns the number of runs performed (the leader may die in it). */
static unsigned pass(struct sim *s)
{
	struct sched_result res = { 0 };
	char t[SCHED_SLOT_TEXT];
	unsigned done = 0;
	int err;

	s->last_pass = s->now;
	scn_trace_json(s->r, "leader", "pass", json_pack("{s:s}", "now", fmt(s->now / 60 * 60, t)));
	if ((err = decide(s, &res)) < 0) {
		scn_fail(s->r, "sched_decide: %s", scn_errno_name(err));
		return 0;
	}
	trace_report(s, &res);
	for (size_t i = 0; i < res.n_runs && s->leader; i++) {
		const struct sched_run *run = &res.runs[i];
		const struct prot_policy *p = &s->pol[run->policy];

		check_run(s, run);
		if (run->kind == SCHED_MIRROR_UPDATE)
			scn_trace_json(s->r, "run", sched_why_name(run->why),
				       json_pack("{s:s, s:b, s:s}", "policy", p->name, "mirror", 1, "slot", fmt(run->slot, t)));
		else
			scn_trace_json(s->r, "run", sched_why_name(run->why), json_pack("{s:s}", "name", run->name));
		if (crash(s, STEP_DECIDED, run))
			break;
		commit(s, run, false);
		if (crash(s, STEP_STARTED, run))
			break;
		if (run->kind == SCHED_MIRROR_UPDATE) {
			scn_trace_json(s->r, "ontap", "mirror-update", json_pack("{s:s, s:s}", "policy", p->name, "slot", fmt(run->slot, t)));
		} else {
			bool dead = false;
			for (size_t d = 0; d < p->n_datastores && !dead; d++) {
				size_t ds = ds_idx(s, p->datastores[d]);
				if (snap_find(s, ds, run->name)) {
					scn_trace_json(s->r, "ontap", "exists", json_pack("{s:s, s:s}", "ds", s->ds[ds], "name", run->name));
				} else {
					if (was_taken(s, ds, run->name))
						scn_fail(s->r, "%s on %s: a second snapshot of one slot", run->name, s->ds[ds]);
					snap_add(s, ds, run->name, false);
					take(s, ds, run->name);
					scn_trace_json(s->r, "ontap", "create", json_pack("{s:s, s:s}", "ds", s->ds[ds], "name", run->name));
				}
				if (d == 0 && p->n_datastores > 1)
					dead = crash(s, STEP_PARTIAL, run);
			}
			if (dead)
				break;
		}
		if (crash(s, STEP_SNAPSHOT, run))
			break;
		commit(s, run, true);
		s->runs++;
		done++;
		if (crash(s, STEP_DONE, run))
			break;
	}
	for (size_t i = 0; i < res.n_deletes && s->leader; i++) {
		const struct sched_delete *d = &res.deletes[i];
		struct snap *x = snap_find(s, ds_idx(s, d->datastore), d->name);
		check_delete(s, d, x);
		if (x) {
			scn_trace_json(s->r, "ontap", "delete", json_pack("{s:s, s:s}", "ds", d->datastore, "name", d->name));
			snap_del(s, x);
		}
	}
	if (s->leader && res.wake != s->wake)
		scn_trace_json(s->r, "leader", "wake", json_pack("{s:s}", "at", res.wake == INT64_MAX ? "never" : fmt(res.wake, t)));
	if (s->leader)
		s->wake = res.wake;
	sched_result_clear(&res);
	return done;
}

/* ---- statements ------------------------------------------------------------------------------ */

static int hd_datastores(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char w[128], *save = NULL;

	scn_word(args, w, sizeof(w));
	s->n_ds = 0;
	for (char *t = strtok_r(w, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (s->n_ds == MAX_DS || strlen(t) >= sizeof(s->ds[0]))
			BAD("datastores: at most %d names of up to 15 chars", MAX_DS);
		snprintf(s->ds[s->n_ds++], sizeof(s->ds[0]), "%s", t);
	}
	return s->n_ds ? 0 : -EINVAL;
}

static int hd_number(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	uint64_t v;
	char w[32];

	scn_word(args, w, sizeof(w));
	if (scn_parse_u64(w, &v) < 0 || v > 86400)
		BAD("%s: a number of seconds", verb);
	if (!strcmp(verb, "grace"))
		s->grace = (int64_t)v;
	else
		s->latency = (int64_t)v;
	return 0;
}

static int st_clock(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char w[64];
	int64_t t;

	scn_word(args, w, sizeof(w));
	if (parse_time(s, w, &t) < 0 || t == SCHED_NONE)
		BAD("clock: TIME (2025-03-01T10:00Z), +DUR or -DUR");
	s->now = t;
	return 0;
}

static int st_policy(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char *text = xstrdup(args);
	json_t *pol, *e;
	size_t i;

	for (char *c = text; *c; c++)
		if (*c == '\'')
			*c = '"';
	pol = json_loads(text, 0, NULL);
	free(text);
	if (!json_is_object(pol) || !json_is_string(json_object_get(pol, "name"))) {
		json_decref(pol);
		BAD("policy: a JSON object with a name");
	}
	json_array_foreach(s->policies, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "name")), json_string_value(json_object_get(pol, "name")))) {
			json_array_set_new(s->policies, i, pol);
			return rebuild(s, r);
		}
	json_array_append_new(s->policies, pol);
	return rebuild(s, r);
}

static int st_remove(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char w[64];
	json_t *e;
	size_t i;

	scn_word(args, w, sizeof(w));
	json_array_foreach(s->policies, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "name")), w)) {
			json_array_remove(s->policies, i);
			return rebuild(s, r);
		}
	BAD("remove: no policy %s", w);
}

static int st_leader(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;

	if (!strcmp(verb, "leader-down")) {
		s->leader = false;
	} else if (!strcmp(verb, "leader-up")) {
		if (!s->leader) {
			s->leader = true;
			s->wake = INT64_MIN;
			pass(s);
		}
	} else if (s->leader) {
		pass(s);
	}
	return 0;
}

static int st_run(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char w[32];
	int64_t end;

	w[0] = '+';
	scn_word(args, w + 1, sizeof(w) - 1);
	if (parse_time(s, w, &end) < 0)
		BAD("run: DUR (\"90m\")");
	for (unsigned guard = 0; guard < 100000 && s->now <= end; guard++) {
		int64_t next;
		if (!s->leader)
			break;
		if (pass(s) && s->leader)
			continue; /* runs were performed: what follows them may be due at once */
		if (!s->leader)
			break;
		next = s->wake == INT64_MAX ? INT64_MAX : s->wake + s->latency;
		if (next > end)
			break;
		s->now = next > s->now ? next : s->now + 1;
	}
	s->now = end;
	return 0;
}

static int st_crash_at(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char w[32];

	scn_word(args, w, sizeof(w));
	for (int i = STEP_NONE; i <= STEP_DONE; i++)
		if (!strcmp(w, step_names[i])) {
			s->crash_at = (enum step)i;
			return 0;
		}
	BAD("crash-at: decided, started, partial, snapshot, done or none");
}

static int st_ontap(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char dsn[32], name[128];
	size_t ds;
	struct snap *x;

	args = scn_word(args, dsn, sizeof(dsn));
	scn_word(args, name, sizeof(name));
	if ((ds = ds_idx(s, dsn)) == SIZE_MAX || !*name)
		BAD("%s: DS NAME", verb);
	x = snap_find(s, ds, name);
	if (!strcmp(verb, "foreign")) {
		if (x)
			BAD("foreign: %s exists on %s", name, dsn);
		snap_add(s, ds, name, true);
		return 0;
	}
	if (!x)
		BAD("%s: no snapshot %s on %s", verb, name, dsn);
	if (!strcmp(verb, "delete")) {
		/* the snapshot of a run begun and not done: its resume takes it again, rightly */
		char p[PROT_NAME_MAX + 1], l[PROT_LABEL_MAX + 1];
		struct rec *rec;
		int64_t slot;
		if (sched_snapshot_parse(name, p, l, &slot) == 0 && (rec = rec_get(s, p, l, false)) && rec->started == slot &&
		    (rec->done == SCHED_NONE || rec->done < slot))
			untake(s, ds, name);
		snap_del(s, x);
	}
	else
		x->busy = !strcmp(verb, "busy");
	return 0;
}

static int st_mark(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;

	s->marked = true;
	/* every schedule's window starts after now and after what its record holds */
	for (size_t i = 0; i < s->n_pol; i++)
		for (size_t k = 0; k <= s->pol[i].n_schedules; k++) {
			bool mirror = k == s->pol[i].n_schedules;
			struct rec *rec;
			int64_t from = s->now;
			if (mirror && (!s->pol[i].has_mirror || s->pol[i].mirror.update_after_snapshot))
				continue;
			rec = rec_get(s, s->pol[i].name, mirror ? LABEL_MIRROR : s->pol[i].schedules[k].label, true);
			if (rec->started != SCHED_NONE && rec->started > from)
				from = rec->started;
			if (rec->max_done != SCHED_NONE && rec->max_done > from)
				from = rec->max_done;
			rec->mark_from = from;
		}
	return 0;
}

/* ---- expectations ---------------------------------------------------------------------------- */

static int ex_snap(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char dsn[32], name[128];
	size_t ds;

	args = scn_word(args, dsn, sizeof(dsn));
	scn_word(args, name, sizeof(name));
	if ((ds = ds_idx(s, dsn)) == SIZE_MAX)
		BAD("expect %s: DS NAME|N", what);
	if (!strcmp(what, "count")) {
		uint64_t want;
		unsigned n = 0;
		char p[PROT_NAME_MAX + 1], l[PROT_LABEL_MAX + 1];
		int64_t t;
		if (scn_parse_u64(name, &want) < 0)
			BAD("expect count DS N");
		for (size_t i = 0; i < s->n_snaps; i++)
			n += s->snaps[i].ds == ds && sched_snapshot_parse(s->snaps[i].name, p, l, &t) == 0;
		if (n != want)
			scn_fail(r, "%s has %u kvmcd snapshots, not %" PRIu64, dsn, n, want);
	} else if (!snap_find(s, ds, name) != !strcmp(what, "gone")) {
		scn_fail(r, "%s %s on %s", name, strcmp(what, "gone") ? "is not" : "is still", dsn);
	}
	return 0;
}

static int ex_record(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char pol[64], lab[64], a[32], b[32], x[SCHED_SLOT_TEXT], y[SCHED_SLOT_TEXT];
	int64_t st, dn;
	struct rec *rec;

	args = scn_word(args, pol, sizeof(pol));
	args = scn_word(args, lab, sizeof(lab));
	args = scn_word(args, a, sizeof(a));
	scn_word(args, b, sizeof(b));
	if (parse_time(s, a, &st) < 0 || parse_time(s, b, &dn) < 0)
		BAD("expect record POLICY LABEL STARTED DONE");
	rec = rec_get(s, pol, lab, false);
	if ((rec ? rec->started : SCHED_NONE) != st || (rec ? rec->done : SCHED_NONE) != dn)
		scn_fail(r, "record %s %s: started %s done %s", pol, lab, fmt(rec ? rec->started : SCHED_NONE, x),
			 fmt(rec ? rec->done : SCHED_NONE, y));
	return 0;
}

static int ex_wake(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char w[32], x[SCHED_SLOT_TEXT];
	int64_t t;

	scn_word(args, w, sizeof(w));
	if (!strcmp(w, "never"))
		t = INT64_MAX;
	else if (parse_time(s, w, &t) < 0)
		BAD("expect wake TIME|never");
	if (s->wake != t)
		scn_fail(r, "wake is %s", s->wake == INT64_MAX ? "never" : fmt(s->wake, x));
	return 0;
}

static int ex_report(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char a[64], b[128], c[32];
	struct sched_result res = { 0 };
	bool found = false;

	args = scn_word(args, a, sizeof(a));
	args = scn_word(args, b, sizeof(b));
	scn_word(args, c, sizeof(c));
	if (decide(s, &res) < 0)
		BAD("sched_decide failed");
	if (!strcmp(what, "missed")) {
		uint64_t want;
		if (scn_parse_u64(c, &want) < 0) {
			sched_result_clear(&res);
			BAD("expect missed POLICY LABEL N");
		}
		for (size_t i = 0; i < res.n_status; i++) {
			const struct sched_status *st = &res.status[i];
			const struct prot_policy *p = &s->pol[st->policy];
			const char *lab = st->schedule == p->n_schedules ? LABEL_MIRROR : p->schedules[st->schedule].label;
			if (!strcmp(p->name, a) && !strcmp(lab, b)) {
				found = true;
				if (st->missed != want)
					scn_fail(r, "%s %s: %u missed, not %" PRIu64, a, b, st->missed, want);
			}
		}
	} else {
		for (size_t i = 0; i < res.n_kept; i++)
			if (!strcmp(res.kept[i].datastore, a) && !strcmp(res.kept[i].name, b)) {
				found = true;
				if (strcmp(sched_kept_name(res.kept[i].why), c))
					scn_fail(r, "%s on %s kept for %s, not %s", b, a, sched_kept_name(res.kept[i].why), c);
			}
	}
	if (!found)
		scn_fail(r, "expect %s %s %s: not in the report", what, a, b);
	sched_result_clear(&res);
	return 0;
}

static int ex_runs(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	uint64_t want;
	char w[32];

	scn_word(args, w, sizeof(w));
	if (scn_parse_u64(w, &want) < 0)
		BAD("expect runs N");
	if (s->runs != want)
		scn_fail(r, "%u runs, not %" PRIu64, s->runs, want);
	return 0;
}

static int ex_complete(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;

	if (!s->marked)
		BAD("expect complete: no mark");
	for (size_t i = 0; i < s->n_pol; i++) {
		const struct prot_policy *p = &s->pol[i];
		for (size_t k = 0; k < p->n_schedules; k++) {
			struct rec *rec = rec_get(s, p->name, p->schedules[k].label, false);
			int64_t from = rec && rec->mark_from != SCHED_NONE ? rec->mark_from : s->now;
			unsigned checked = 0;
			for (int64_t slot = sched_slot_next(&p->schedules[k].timing, from);
			     slot != SCHED_NONE && slot <= s->last_pass && checked < 10000;
			     slot = sched_slot_next(&p->schedules[k].timing, slot), checked++) {
				char name[SCHED_NAME_MAX], t[SCHED_SLOT_TEXT];
				sched_snapshot_name(p->name, p->schedules[k].label, slot, name);
				for (size_t dd = 0; dd < p->n_datastores; dd++)
					if (!was_taken(s, ds_idx(s, p->datastores[dd]), name))
						scn_fail(r, "%s %s: the slot %s was never taken on %s", p->name, p->schedules[k].label,
							 fmt(slot, t), p->datastores[dd]);
			}
		}
	}
	return 0;
}

/* ---- random mode ---------------------------------------------------------------------------- */

static const char *const random_every[] = { "1m", "5m", "15m", "30m", "1h", "2h" };
static const char *const random_cron[] = { "*/10 * * * *", "0 * * * *", "15,45 * * * *", "0 */3 * * *",
					   "30 8-18 * * 1-5", "0 0 * * *" };

static int random_begin(void *d, struct scn *r, struct scn_rng *g, const struct scn_random_opts *o)
{
	unsigned n_ds = (unsigned)scn_rng_range(g, 1, 3), n_pol = (unsigned)scn_rng_range(g, 1, 3);
	char dss[64] = "";

	for (unsigned i = 1; i <= n_ds; i++)
		snprintf(dss + strlen(dss), sizeof(dss) - strlen(dss), "%sds%u", i > 1 ? "," : "", i);
	/* grace above the passes' latency: schedule.h R5 (a grace shorter than the leader's own
	 * lateness makes every slot of a `skip` policy late) */
	if (scn_header(r, "datastores %s", dss) < 0 || scn_header(r, "grace %u", (unsigned)scn_rng_range(g, 30, 600)) < 0 ||
	    scn_header(r, "latency %u", (unsigned)scn_rng_range(g, 0, 20)) < 0)
		return -EINVAL;
	scn_at(r, 0, "clock 2025-0%u-%02uT%02u:%02uZ", (unsigned)scn_rng_range(g, 1, 9), (unsigned)scn_rng_range(g, 1, 28),
	       (unsigned)scn_rng_range(g, 0, 23), (unsigned)scn_rng_range(g, 0, 59));
	for (unsigned i = 1; i <= n_pol; i++) {
		char sched[512] = "", dss_of[64] = "", mirror[128] = "";
		unsigned n_sched = (unsigned)scn_rng_range(g, 1, 3), mask = (unsigned)scn_rng_range(g, 1, (1u << n_ds) - 1);
		for (unsigned k = 0; k < n_sched; k++) {
			bool cron = scn_rng_chance(g, 35);
			snprintf(sched + strlen(sched), sizeof(sched) - strlen(sched),
				 "%s{'%s':'%s','keep':%u,'label':'s%u'}", k ? "," : "", cron ? "cron" : "every",
				 cron ? random_cron[scn_rng_below(g, ARRAY_SIZE(random_cron))] :
				 random_every[scn_rng_below(g, ARRAY_SIZE(random_every))],
				 (unsigned)scn_rng_range(g, 1, 4), k);
		}
		for (unsigned k = 0; k < n_ds; k++)
			if (mask & (1u << k))
				snprintf(dss_of + strlen(dss_of), sizeof(dss_of) - strlen(dss_of), "%s'ds%u'", *dss_of ? "," : "", k + 1);
		if (scn_rng_chance(g, 30))
			snprintf(mirror, sizeof(mirror), ",'snapmirror':{'destination_svm':'dr','destination_volume_suffix':'_p%u','update':{'every':'20m'}}", i);
		scn_at(r, 0, "policy {'name':'p%u','datastores':[%s],'schedules':[%s],'catch_up':'%s'%s}", i, dss_of, sched,
		       scn_rng_chance(g, 50) ? "once" : "skip", mirror);
	}
	scn_at(r, 1, "leader-up");
	return 0;
}

static int random_step(void *d, struct scn *r, struct scn_rng *g, char *buf, size_t size, uint64_t *next)
{
	struct sim *s = d;
	unsigned roll = (unsigned)scn_rng_below(g, 100);

	/* about 120 statements a run (60 s of scenario time): a run of hours with 1m schedules is
	 * thousands of passes already */
	*next = scn_rng_range(g, 100, 900) * SCN_MS;
	if (roll < 40) {
		snprintf(buf, size, "run %um", (unsigned)scn_rng_range(g, 1, 180));
	} else if (roll < 52) {
		static const char *const steps[] = { "decided", "started", "partial", "snapshot", "done" };
		snprintf(buf, size, "crash-at %s", steps[scn_rng_below(g, 5)]);
	} else if (roll < 60) {
		snprintf(buf, size, "leader-up");
	} else if (roll < 63) {
		snprintf(buf, size, "leader-down");
	} else if (roll < 71) {
		snprintf(buf, size, "clock %c%um", scn_rng_chance(g, 50) ? '+' : '-', (unsigned)scn_rng_range(g, 1, 240));
	} else if (roll < 76) {
		snprintf(buf, size, "leader");
	} else if (roll < 92) {
		/* a snapshot of ONTAP's made busy or free, or one an admin deletes */
		const struct snap *x;
		if (!s->n_snaps)
			return -EAGAIN;
		x = &s->snaps[scn_rng_below(g, s->n_snaps)];
		snprintf(buf, size, "%s %s %s", roll < 86 ? (x->busy ? "free" : "busy") : "delete", s->ds[x->ds], x->name);
	} else {
		/* a foreign snapshot, some named like another policy's or like kvmcd's own with a label
		 * no schedule has */
		static const char *const names[] = { "hourly.2025-01-01_0005", "kvmcd.other.1h.20250101T0000Z",
						     "kvmcd.p1.gone.20250101T0000Z", "kvmcd.p1.s0.20250101T0000Z.copy",
						     "snapmirror.abc_123.2025-01-01_000000" };
		const char *n = names[scn_rng_below(g, ARRAY_SIZE(names))];
		size_t ds = scn_rng_below(g, s->n_ds);
		if (snap_find(s, ds, n))
			return -EAGAIN;
		snprintf(buf, size, "foreign %s %s", s->ds[ds], n);
	}
	return 0;
}

static uint64_t random_end(void *d, struct scn *r, struct scn_rng *g, uint64_t at)
{
	struct sim *s = d;

	/* a leader again, nothing busy, a quiet stretch of wall time: every slot after the mark
	 * is taken, and retention brings each group down to its keep */
	scn_at(r, at, "crash-at none");
	scn_at(r, at, "leader-up");
	for (size_t i = 0; i < s->n_snaps; i++)
		if (s->snaps[i].busy)
			scn_at(r, at, "free %s %s", s->ds[s->snaps[i].ds], s->snaps[i].name);
	scn_at(r, at + 1 * SCN_MS, "mark");
	scn_at(r, at + 2 * SCN_MS, "run 6h");
	scn_at(r, at + 3 * SCN_MS, "expect complete");
	return at + 4 * SCN_MS;
}

/* ---- the driver ----------------------------------------------------------------------------- */

static void *create(struct scn *r)
{
	struct sim *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->r = r;
	s->grace = SCHED_GRACE_DEFAULT;
	s->policies = json_array();
	s->wake = INT64_MIN;
	s->last_pass = SCHED_NONE;
	sched_slot_scan("2025-03-01T10:00Z", &s->now);
	return s;
}

static int ready(void *d, struct scn *r)
{
	struct sim *s = d;

	if (!s->n_ds) {
		s->n_ds = 1;
		snprintf(s->ds[0], sizeof(s->ds[0]), "ds1");
	}
	s->leader = true;
	return rebuild(s, r);
}

static void destroy(void *d)
{
	struct sim *s = d;

	if (!s)
		return;
	for (size_t i = 0; i < s->n_snaps; i++)
		free(s->snaps[i].name);
	for (size_t i = 0; i < s->n_recs; i++) {
		free(s->recs[i].policy);
		free(s->recs[i].label);
	}
	for (size_t i = 0; i < s->cap_taken; i++)
		free(s->taken[i].name);
	free(s->snaps);
	free(s->recs);
	free(s->taken);
	free(s->pol);
	free(s->last_kept);
	free(s->last_missed);
	json_decref(s->spec);
	json_decref(s->policies);
	free(s);
}

static void handle(void *d, struct scn *r, struct scn_event *e)
{
	/* no driver events: everything happens in statements */
}

static const struct scn_statement header[] = {
	{ "datastores", hd_datastores, "ds1,ds2  the spec's datastores (default ds1)" },
	{ "grace", hd_number, "SEC  catch_up skip's grace (default 300)" },
	{ "latency", hd_number, "SEC  a pass comes this long after its wake-up (default 0)" },
	{ 0 }
};

static const struct scn_statement statements[] = {
	{ "clock", st_clock, "TIME|+DUR|-DUR  the wall clock is set or jumps" },
	{ "policy", st_policy, "JSON  a policy added or replaced by name (' for \")" },
	{ "remove", st_remove, "POLICY  a policy leaves the spec" },
	{ "leader", st_leader, " one pass now" },
	{ "leader-down", st_leader, " no leader" },
	{ "leader-up", st_leader, " a new leader (it passes at once)" },
	{ "run", st_run, "DUR  wall time goes on; an up leader passes at its wake-ups" },
	{ "crash-at", st_crash_at, "STEP  the next run reaching STEP kills the leader" },
	{ "busy", st_ontap, "DS NAME  ONTAP reports it in use" },
	{ "free", st_ontap, "DS NAME  ... no more" },
	{ "foreign", st_ontap, "DS NAME  a snapshot kvmcd did not take" },
	{ "delete", st_ontap, "DS NAME  an admin deletes it" },
	{ "mark", st_mark, " the start of expect complete's window" },
	{ 0 }
};

static const struct scn_statement expectations[] = {
	{ "has", ex_snap, "DS NAME" },
	{ "gone", ex_snap, "DS NAME" },
	{ "count", ex_snap, "DS N  kvmcd's snapshots on DS" },
	{ "record", ex_record, "POLICY LABEL STARTED DONE" },
	{ "wake", ex_wake, "TIME|never" },
	{ "missed", ex_report, "POLICY LABEL N" },
	{ "kept", ex_report, "DS NAME WHY" },
	{ "runs", ex_runs, "N  runs performed" },
	{ "complete", ex_complete, " every slot since mark taken" },
	{ 0 }
};

static const struct scn_driver schedule_driver = {
	.name = "schedule",
	.summary = "The snapshot scheduler (coord/decide/schedule.c): the leader's records and runs, leader\n"
		   "changes at any point of a run, a wall clock that jumps, ONTAP's snapshots. See\n"
		   "tests/scenario/schedule-driver.c for the trace format and the invariants.",
	.header = header,
	.statements = statements,
	.expectations = expectations,
	.create = create,
	.destroy = destroy,
	.ready = ready,
	.handle = handle,
	.random_begin = random_begin,
	.random_step = random_step,
	.random_end = random_end,
};

int main(int argc, char **argv)
{
	return scn_main(&schedule_driver, argc, argv);
}
