/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The snapshot scheduler: due runs, retention, the wake-up. Pure; schedule.h has the rules. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "schedule.h"

static const char *const why_names[] = { [SCHED_DUE] = "due", [SCHED_CATCH_UP] = "catch-up", [SCHED_RESUME] = "resume",
					 [SCHED_FIRST] = "first" };
static const char *const kept_names[] = { [SCHED_KEPT_BUSY] = "busy", [SCHED_KEPT_NO_SCHEDULE] = "no-schedule",
					  [SCHED_KEPT_NO_DATASTORE] = "no-datastore" };

const char *sched_why_name(enum sched_why w)
{
	return (unsigned)w < ARRAY_SIZE(why_names) ? why_names[w] : "unknown";
}

const char *sched_kept_name(enum sched_kept_why w)
{
	return (unsigned)w < ARRAY_SIZE(kept_names) ? kept_names[w] : "unknown";
}

/* ---- slots and names ------------------------------------------------------------------------ */

int64_t sched_slot_prev(const struct prot_timing *t, int64_t at)
{
	if (at < 0)
		return SCHED_NONE;
	if (at > PROT_TIME_MAX)
		at = PROT_TIME_MAX;
	if (t->kind == PROT_CRON)
		return prot_cron_prev(&t->cron, at); /* INT64_MIN = SCHED_NONE when none */
	if (t->every < 60)
		return SCHED_NONE;
	return at / t->every * t->every;
}

int64_t sched_slot_next(const struct prot_timing *t, int64_t at)
{
	int64_t s;

	if (at < 0)
		at = -1;
	if (at >= PROT_TIME_MAX)
		return SCHED_NONE;
	if (t->kind == PROT_CRON)
		return prot_cron_next(&t->cron, at < 0 ? 0 : at);
	if (t->every < 60)
		return SCHED_NONE;
	s = at < 0 ? 0 : (at / t->every + 1) * t->every;
	return s > PROT_TIME_MAX ? SCHED_NONE : s;
}

static bool slot_ok(int64_t slot)
{
	return slot >= 0 && slot <= PROT_TIME_MAX && slot % 60 == 0;
}

/* "YYYYmmddTHHMMZ" of a valid slot into buf (15 bytes). */
static void stamp(int64_t slot, char *buf)
{
	int64_t y;
	unsigned m, d, mins = (unsigned)(slot % 86400 / 60);

	prot_civil_from_days(slot / 86400, &y, &m, &d);
	snprintf(buf, 15, "%04u%02u%02uT%02u%02uZ", (unsigned)y, m, d, mins / 60, mins % 60);
}

const char *sched_slot_format(int64_t slot, char *buf)
{
	int64_t y;
	unsigned m, d, mins;

	if (!slot_ok(slot)) {
		snprintf(buf, SCHED_SLOT_TEXT, "%s", slot == SCHED_NONE ? "none" : "invalid");
		return buf;
	}
	mins = (unsigned)(slot % 86400 / 60);
	prot_civil_from_days(slot / 86400, &y, &m, &d);
	snprintf(buf, SCHED_SLOT_TEXT, "%04u-%02u-%02uT%02u:%02uZ", (unsigned)y, m, d, mins / 60, mins % 60);
	return buf;
}

/* n decimal digits at s */
static bool num(const char *s, size_t n, unsigned *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return true;
}

/* y m d H M as a slot, when it is a real date and time in range. */
static int slot_of(unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi, int64_t *slot)
{
	int64_t z, yy;
	unsigned m2, d2;

	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59)
		return -EINVAL;
	z = prot_days_from_civil(y, mo, d);
	prot_civil_from_days(z, &yy, &m2, &d2);
	if (yy != (int64_t)y || m2 != mo || d2 != d || z < 0) /* Feb 30 and friends */
		return -EINVAL;
	*slot = z * 86400 + h * 3600 + mi * 60;
	return 0;
}

int sched_slot_scan(const char *t, int64_t *slot)
{
	unsigned y, mo, d, h, mi;

	if (strlen(t) != 17 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != 'Z' ||
	    !num(t, 4, &y) || !num(t + 5, 2, &mo) || !num(t + 8, 2, &d) || !num(t + 11, 2, &h) || !num(t + 14, 2, &mi))
		return -EINVAL;
	return slot_of(y, mo, d, h, mi, slot);
}

int sched_snapshot_name(const char *policy, const char *label, int64_t slot, char *buf)
{
	char ts[15];

	if (!prot_policy_name_ok(policy) || !prot_label_ok(label) || !slot_ok(slot))
		return -EINVAL;
	stamp(slot, ts);
	snprintf(buf, SCHED_NAME_MAX, "kvmcd.%s.%s.%s", policy, label, ts);
	return 0;
}

int sched_snapshot_parse(const char *name, char *policy, char *label, int64_t *slot)
{
	char p[PROT_NAME_MAX + 1], l[PROT_LABEL_MAX + 1];
	const char *a, *b, *ts;
	unsigned y, mo, d, h, mi;
	int64_t s;

	if (strncmp(name, "kvmcd.", 6))
		return -EINVAL;
	a = name + 6;
	if (!(b = strchr(a, '.')) || (size_t)(b - a) > PROT_NAME_MAX)
		return -EINVAL;
	memcpy(p, a, (size_t)(b - a));
	p[b - a] = 0;
	a = b + 1;
	if (!(b = strchr(a, '.')) || (size_t)(b - a) > PROT_LABEL_MAX)
		return -EINVAL;
	memcpy(l, a, (size_t)(b - a));
	l[b - a] = 0;
	ts = b + 1;
	if (!prot_policy_name_ok(p) || !prot_label_ok(l) || strlen(ts) != 14 || ts[8] != 'T' || ts[13] != 'Z' ||
	    !num(ts, 4, &y) || !num(ts + 4, 2, &mo) || !num(ts + 6, 2, &d) || !num(ts + 9, 2, &h) ||
	    !num(ts + 11, 2, &mi) || slot_of(y, mo, d, h, mi, &s) < 0 || s > PROT_TIME_MAX)
		return -EINVAL;
	strcpy(policy, p);
	strcpy(label, l);
	*slot = s;
	return 0;
}

/* ---- due runs ------------------------------------------------------------------------------- */

/* Slots of t strictly between a and b: counted up to SCHED_MISSED_CAP, the first and last. */
static unsigned count_between(const struct prot_timing *t, int64_t a, int64_t b, int64_t *first, int64_t *last)
{
	int64_t s = sched_slot_next(t, a);
	unsigned n = 0;

	*first = *last = SCHED_NONE;
	if (s == SCHED_NONE || s >= b)
		return 0;
	*first = s;
	*last = sched_slot_prev(t, b - 1);
	if (t->kind == PROT_EVERY) {
		int64_t k = (*last - s) / t->every + 1;
		return k > SCHED_MISSED_CAP ? SCHED_MISSED_CAP : (unsigned)k;
	}
	for (; s != SCHED_NONE && s < b && n < SCHED_MISSED_CAP; s = sched_slot_next(t, s))
		n++;
	return n;
}

static const struct sched_record *record_of(const struct sched_input *in, const char *policy, const char *label)
{
	for (size_t i = 0; i < in->n_records; i++)
		if (in->records[i].policy && in->records[i].label && !strcmp(in->records[i].policy, policy) &&
		    !strcmp(in->records[i].label, label))
			return &in->records[i];
	return NULL;
}

/* One schedule: its status, and its run when one is due (returns true). R1..R6. */
static bool decide_one(const struct sched_input *in, const struct prot_policy *p, const struct prot_timing *t,
		       const char *label, struct sched_status *st, int64_t *slot, enum sched_why *why)
{
	const struct sched_record *rec = record_of(in, p->name, label);
	int64_t D = rec ? rec->done : SCHED_NONE, S = rec ? rec->started : SCHED_NONE, L, now = in->now;
	bool late;

	st->due = st->missed_first = st->missed_last = SCHED_NONE;
	st->missed = 0;
	st->clock_behind = false;
	/* R1: a run begun and not completed is resumed, under its name, not before its slot */
	if (S != SCHED_NONE && (D == SCHED_NONE || S > D)) {
		if (S > now) {
			st->clock_behind = true;
			st->next = S;
			return false;
		}
		st->next = sched_slot_next(t, now);
		st->due = *slot = S;
		*why = SCHED_RESUME;
		return true;
	}
	/* R2: never a slot at or before the last done */
	if (D != SCHED_NONE && D > now) {
		st->clock_behind = true;
		st->next = sched_slot_next(t, D);
		return false;
	}
	st->next = sched_slot_next(t, now);
	L = sched_slot_prev(t, now); /* R3: nothing after now */
	if (L == SCHED_NONE || (D != SCHED_NONE && L <= D))
		return false;
	/* R4: of the slots in (D, L] only L; R6: without a record nothing before L counts */
	if (D != SCHED_NONE)
		st->missed = count_between(t, D, L, &st->missed_first, &st->missed_last);
	late = now - L > in->grace;
	if (late && p->catch_up == PROT_CATCH_UP_SKIP) { /* R5 */
		if (st->missed < SCHED_MISSED_CAP)
			st->missed++;
		if (st->missed_first == SCHED_NONE)
			st->missed_first = L;
		st->missed_last = L;
		return false;
	}
	st->due = *slot = L;
	*why = D == SCHED_NONE ? SCHED_FIRST : late ? SCHED_CATCH_UP : SCHED_DUE;
	return true;
}

/* ---- retention ------------------------------------------------------------------------------ */

struct entry {
	int64_t slot;
	size_t idx; /* into in->snapshots */
};

static int newest_first(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->slot != y->slot)
		return x->slot > y->slot ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bool has_ds(const struct prot_policy *p, const char *ds)
{
	for (size_t i = 0; i < p->n_datastores; i++)
		if (!strcmp(p->datastores[i], ds))
			return true;
	return false;
}

static void retention(const struct sched_input *in, size_t pi, struct entry *scratch, struct sched_result *out)
{
	const struct prot_policy *p = &in->policies[pi];

	/* snapshots of this policy that no schedule or datastore of it manages */
	for (size_t i = 0; i < in->n_snapshots; i++) {
		const struct sched_snapshot *s = &in->snapshots[i];
		char pol[PROT_NAME_MAX + 1], lab[PROT_LABEL_MAX + 1];
		int64_t slot;
		size_t k;

		if (!s->name || !s->datastore || sched_snapshot_parse(s->name, pol, lab, &slot) < 0 || strcmp(pol, p->name))
			continue;
		for (k = 0; k < p->n_schedules && strcmp(p->schedules[k].label, lab); k++)
			;
		if (k == p->n_schedules || !has_ds(p, s->datastore))
			out->kept[out->n_kept++] = (struct sched_kept){
				.policy = pi, .datastore = s->datastore, .name = s->name,
				.why = k == p->n_schedules ? SCHED_KEPT_NO_SCHEDULE : SCHED_KEPT_NO_DATASTORE };
	}
	for (size_t k = 0; k < p->n_schedules; k++)
		for (size_t d = 0; d < p->n_datastores; d++) {
			size_t n = 0;

			for (size_t i = 0; i < in->n_snapshots; i++) {
				const struct sched_snapshot *s = &in->snapshots[i];
				char pol[PROT_NAME_MAX + 1], lab[PROT_LABEL_MAX + 1];
				int64_t slot;
				bool dup = false;

				if (!s->name || !s->datastore || strcmp(s->datastore, p->datastores[d]) ||
				    sched_snapshot_parse(s->name, pol, lab, &slot) < 0 || strcmp(pol, p->name) ||
				    strcmp(lab, p->schedules[k].label))
					continue;
				for (size_t j = 0; j < n && !dup; j++) /* a listing that names one twice */
					dup = !strcmp(in->snapshots[scratch[j].idx].name, s->name);
				if (!dup)
					scratch[n++] = (struct entry){ .slot = slot, .idx = i };
			}
			if (n <= p->schedules[k].keep)
				continue;
			qsort(scratch, n, sizeof(*scratch), newest_first);
			for (size_t j = n; j-- > p->schedules[k].keep;) { /* oldest first */
				const struct sched_snapshot *s = &in->snapshots[scratch[j].idx];
				if (s->busy)
					out->kept[out->n_kept++] = (struct sched_kept){
						.policy = pi, .datastore = s->datastore, .name = s->name, .why = SCHED_KEPT_BUSY };
				else
					out->deletes[out->n_deletes++] = (struct sched_delete){
						.policy = pi, .schedule = k, .datastore = s->datastore, .name = s->name,
						.slot = scratch[j].slot };
			}
		}
}

/* ---- the whole decision ------------------------------------------------------------------- */

void sched_result_clear(struct sched_result *r)
{
	if (!r)
		return;
	free(r->runs);
	free(r->status);
	free(r->deletes);
	free(r->kept);
	*r = (struct sched_result){ 0 };
}

int sched_decide(const struct sched_input *in, struct sched_result *out)
{
	struct sched_result res = { .wake = INT64_MAX };
	_cleanup_free_ struct entry *scratch = NULL;
	size_t n_sched = 0;

	if (!in || in->now < 0 || in->now > PROT_TIME_MAX || in->grace < 0 || (in->n_policies && !in->policies) ||
	    (in->n_records && !in->records) || (in->n_snapshots && !in->snapshots))
		return -EINVAL;
	for (size_t i = 0; i < in->n_policies; i++) {
		const struct prot_policy *p = &in->policies[i];
		if (!p->name || (p->n_schedules && !p->schedules) || (p->n_datastores && !p->datastores))
			return -EINVAL;
		/* names and labels are unique (validation): a snapshot then belongs to one schedule */
		for (size_t j = 0; j < i; j++)
			if (!strcmp(in->policies[j].name, p->name))
				return -EINVAL;
		for (size_t k = 0; k < p->n_schedules; k++)
			for (size_t j = 0; j < k; j++)
				if (!strcmp(p->schedules[j].label, p->schedules[k].label))
					return -EINVAL;
		n_sched += p->n_schedules + (p->has_mirror && !p->mirror.update_after_snapshot);
	}
	res.runs = calloc(n_sched ? n_sched : 1, sizeof(*res.runs));
	res.status = calloc(n_sched ? n_sched : 1, sizeof(*res.status));
	/* each listed snapshot is deleted or kept at most once per policy that reads it as its own:
	 * exactly one (the name holds the policy) */
	res.deletes = calloc(in->n_snapshots ? in->n_snapshots : 1, sizeof(*res.deletes));
	res.kept = calloc(in->n_snapshots ? in->n_snapshots : 1, sizeof(*res.kept));
	scratch = calloc(in->n_snapshots ? in->n_snapshots : 1, sizeof(*scratch));
	if (!res.runs || !res.status || !res.deletes || !res.kept || !scratch) {
		sched_result_clear(&res);
		return -ENOMEM;
	}
	for (size_t i = 0; i < in->n_policies; i++) {
		const struct prot_policy *p = &in->policies[i];
		size_t n = p->n_schedules + (p->has_mirror && !p->mirror.update_after_snapshot);

		for (size_t k = 0; k < n; k++) {
			bool mirror = k == p->n_schedules;
			const struct prot_timing *t = mirror ? &p->mirror.update : &p->schedules[k].timing;
			const char *label = mirror ? SCHED_MIRROR_LABEL : p->schedules[k].label;
			struct sched_status *st = &res.status[res.n_status++];
			enum sched_why why = SCHED_DUE;
			int64_t slot;

			st->policy = i;
			st->schedule = k;
			if (decide_one(in, p, t, label, st, &slot, &why)) {
				struct sched_run *run = &res.runs[res.n_runs++];
				*run = (struct sched_run){ .policy = i, .schedule = k, .why = why, .slot = slot,
							   .kind = mirror ? SCHED_MIRROR_UPDATE : SCHED_SNAPSHOT };
				if (!mirror && sched_snapshot_name(p->name, label, slot, run->name) < 0) {
					/* a policy prot_spec_list() did not make */
					sched_result_clear(&res);
					return -EINVAL;
				}
			}
			if (st->next != SCHED_NONE && st->next < res.wake)
				res.wake = st->next;
		}
		retention(in, i, scratch, &res);
	}
	*out = res;
	return 0;
}
