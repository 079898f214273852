/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scenario driver for one node's freeze session (coord/decide/freeze.c): the node's shell around
 * the core (it performs the core's freezes and thaws as libvirt calls, feeds their results back,
 * arms the core's wakeup), libvirt's agent calls with their timeouts, and each guest's agent in
 * one of the modes the multi-node tier's responder has (tests/multinode/guest/qga.s) plus the
 * states libvirt refuses. Built with runner.c into freeze-sim; runner.h describes the runner.
 *
 * The guest's agent is a queue: it handles one command at a time, each `latency` ms after the
 * previous one, as qemu-guest-agent does. A call gives up after its budget (at least 2 s:
 * libvirt's agent timeout is whole seconds, guest-sync + the command, domain.h) with
 * agent-timeout; the guest may still do it afterwards -- a freeze that times out can still
 * freeze the guest, and only a later thaw, queued behind it, undoes it. Modes:
 *   answer         every command done and answered
 *   hang           a freeze is done (the guest is frozen) but never answered; a thaw answered
 *   silent         nothing is done or answered
 *   error          a freeze fails in the agent (agent-error, nothing frozen); a thaw answered
 *   paused | no-agent | not-connected | not-running   refused by libvirt before the guest
 *
 * The trace (golden: FILE.expect):
 *   node freeze VM budget MS | node thaw VM budget MS      the core's calls
 *   node report run R VM frozen|crash-consistent|thawed|thaw-failed [WHY]
 *   call freeze|thaw VM -> OUTCOME                         a call came back
 *   guest VM frozen|thawed                                 the guest did it
 *
 * Invariants, after every step: at most one call per domain; no freeze at or after the run's
 * deadline, after its thaw or the leader's loss, or twice for one run; a guest that is frozen
 * while no call on it is in flight is not due a thaw (the deadline passed, the leader was lost,
 * its thaw came, a newer run, its freeze failed), unless a thaw of it failed and none has
 * succeeded since (the core retries it, backing off); a `frozen` report is made only while the guest is frozen and the run holds it.
 * Checks also run at every run's deadline + one step (100 ms). The random runs end with every
 * agent answering, then `expect idle`: nothing frozen, nothing in flight.
 *
 * Scenario language:
 *   vms N                        header: vm1..vmN, mode answer, latency 50 ms (default 3)
 *   option thaw-budget MS | retry MS   the core's thaw call budget (2000) and retry (1000)
 *   at T request RUN BUDGET VMS  the leader: freeze run RUN (VMS: vm1,vm2 or all) within BUDGET ms
 *   at T thaw RUN                the leader: thaw
 *   at T leader-lost
 *   at T mode VM MODE | latency VM MS
 *   at T expect frozen VM yes|no    the guest's truth
 *   at T expect report RUN VM KIND [WHY]   the last report of VM for RUN
 *   at T expect idle             the core idle, no guest frozen
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "freeze.h"
#include "runner.h"

#define MS SCN_MS
#define MAX_VMS 16
#define STEP (100 * MS)
#define MIN_CALL (2000 * MS)   /* libvirt's agent timeout: whole seconds, sync + command */

enum mode { M_ANSWER, M_HANG, M_SILENT, M_ERROR, M_PAUSED, M_NO_AGENT, M_NOT_CONNECTED, M_NOT_RUNNING, _M_MAX };
static const char *const mode_names[_M_MAX] = { "answer", "hang", "silent", "error", "paused", "no-agent",
						 "not-connected", "not-running" };

enum { EV_TICK = 1, EV_DONE, EV_GUEST, EV_CHECK };

struct svm {
	char name[24];
	enum mode mode;
	uint64_t latency;
	bool frozen;               /* the guest's truth */
	bool call;                 /* a call in flight */
	uint64_t call_gen;         /* its generation: a stale result event is dropped */
	uint64_t busy_until;       /* the agent's queue */
	uint64_t boot;             /* bumped when it stops: its queued commands die with it */
	uint64_t frozen_run;       /* the run whose freeze was last issued */
	bool thaw_failed;          /* a thaw failed, and none has succeeded since: the core retries */
	bool freeze_failed;        /* its freeze for the current run failed */
	char rep_kind[24], rep_why[40];
	uint64_t rep_run;
};

struct sim {
	struct freeze_session core;
	struct freeze_config cfg;
	bool ready;
	struct svm vms[MAX_VMS];
	size_t n_vms;
	uint64_t gen;
	/* the driver's own view of the run */
	uint64_t run, deadline;
	bool in_run[MAX_VMS];
	bool leader_lost, thawed;
};

struct done { bool freeze; enum freeze_outcome o; uint64_t boot; };

static struct svm *vm_find(struct sim *s, const char *name)
{
	for (size_t i = 0; i < s->n_vms; i++)
		if (!strcmp(s->vms[i].name, name))
			return &s->vms[i];
	return NULL;
}

static void invariants(void *d, struct scn *r);

/* The guest's agent handles a command at `at`. */
static void guest_queue(struct sim *s, struct scn *r, struct svm *v, bool freeze, uint64_t at)
{
	bool *what = malloc(sizeof *what);
	if (!what)
		return;
	*what = freeze;
	scn_schedule(r, at, EV_GUEST, (int)(v - s->vms), v->boot, what);
}

/* A call the core asked for: its result, and what the guest does. */
static void call(struct sim *s, struct scn *r, struct svm *v, bool freeze, uint64_t budget)
{
	uint64_t now = scn_now(r), limit = now + (budget > MIN_CALL ? budget : MIN_CALL), at = now + 1 * MS;
	enum freeze_outcome o;

	switch (v->mode) {
	case M_PAUSED: o = FREEZE_PAUSED; break;
	case M_NO_AGENT: o = FREEZE_NO_AGENT; break;
	case M_NOT_CONNECTED: o = FREEZE_AGENT_NOT_CONNECTED; break;
	case M_NOT_RUNNING: o = FREEZE_NOT_RUNNING; v->frozen = false; break;
	case M_SILENT: o = FREEZE_AGENT_TIMEOUT; at = limit; break;
	case M_ERROR:
		if (freeze) {
			o = FREEZE_AGENT_ERROR;
			break;
		}
		/* a thaw is answered */
		__attribute__((fallthrough));
	case M_ANSWER:
	case M_HANG: {
		uint64_t p = (v->busy_until > now ? v->busy_until : now) + v->latency;
		v->busy_until = p;
		guest_queue(s, r, v, freeze, p);
		if (v->mode == M_HANG && freeze) {
			o = FREEZE_AGENT_TIMEOUT;
			at = limit;
		} else if (p <= limit) {
			o = FREEZE_OK;
			at = p;
		} else {
			o = FREEZE_AGENT_TIMEOUT;
			at = limit;
		}
		break;
	}
	default: o = FREEZE_ERROR;
	}
	struct done *dn = malloc(sizeof *dn);
	if (!dn)
		return;
	dn->freeze = freeze;
	dn->o = o;
	dn->boot = v->boot;
	v->call = true;
	v->call_gen = ++s->gen;
	scn_schedule(r, at, EV_DONE, (int)(v - s->vms), v->call_gen, dn);
}

static void schedule_tick(struct sim *s, struct scn *r)
{
	uint64_t t = freeze_next_wakeup(&s->core);
	if (t != UINT64_MAX)
		scn_schedule(r, t > scn_now(r) ? t : scn_now(r), EV_TICK, 0, 0, NULL);
}

/* Feeds the core one input and performs its actions. */
static void step(struct sim *s, struct scn *r, const struct freeze_input *in)
{
	struct freeze_actions a = { 0 };
	uint64_t now = scn_now(r);
	int rc = freeze_step(&s->core, in, now, &a);

	if (rc < 0)
		scn_fail(r, "freeze_step: %s", scn_errno_name(rc));
	for (size_t i = 0; i < a.n; i++) {
		const struct freeze_action *x = &a.v[i];
		struct svm *v = vm_find(s, x->vm);
		if (!v) {
			scn_fail(r, "the core acts on %s, which is no VM here", x->vm);
			continue;
		}
		if (x->kind == FREEZE_ACT_REPORT) {
			bool crash = x->report == FREEZE_REP_CRASH || x->report == FREEZE_REP_THAW_FAILED;
			const char *why = crash ? x->why : x->report == FREEZE_REP_THAWED ? x->why : NULL;
			scn_trace(r, "node report run %llu %s %s%s%s", (unsigned long long)x->run, x->vm,
				  freeze_report_name(x->report), why ? " " : "", why ? why : "");
			snprintf(v->rep_kind, sizeof v->rep_kind, "%s", freeze_report_name(x->report));
			snprintf(v->rep_why, sizeof v->rep_why, "%s", why ? why : "");
			v->rep_run = x->run;
			if (x->report == FREEZE_REP_FROZEN &&
			    (!v->frozen || x->run != s->run || s->leader_lost || s->thawed || now >= s->deadline))
				scn_fail(r, "%s reported frozen for run %llu while %s", x->vm, (unsigned long long)x->run,
					 !v->frozen ? "its guest is not frozen" : "the run does not hold it");
			if (x->report == FREEZE_REP_CRASH && x->run == s->run)
				v->freeze_failed = true;
			if (x->report == FREEZE_REP_THAW_FAILED)
				v->thaw_failed = true;
			continue;
		}
		bool freeze = x->kind == FREEZE_ACT_FREEZE;
		scn_trace(r, "node %s %s budget %llu", freeze ? "freeze" : "thaw", x->vm,
			  (unsigned long long)(x->budget_usec / MS));
		if (v->call)
			scn_fail(r, "a second call on %s while one is in flight", x->vm);
		if (freeze) {
			size_t k = (size_t)(v - s->vms);
			if (now >= s->deadline || s->leader_lost || s->thawed || !s->in_run[k])
				scn_fail(r, "freeze of %s at %llu ms: the run %s", x->vm, (unsigned long long)(now / MS),
					 now >= s->deadline ? "is past its deadline" : s->leader_lost ? "lost its leader"
					 : s->thawed ? "was thawed" : "does not hold it");
			if (v->frozen_run == s->run)
				scn_fail(r, "a second freeze of %s for run %llu", x->vm, (unsigned long long)s->run);
			if (x->budget_usec > s->deadline - now)
				scn_fail(r, "freeze of %s with a budget beyond the deadline", x->vm);
			v->frozen_run = s->run;
		}
		call(s, r, v, freeze, x->budget_usec);
	}
	freeze_actions_clear(&a);
	schedule_tick(s, r);
}

static void tick(struct sim *s, struct scn *r)
{
	struct freeze_input in = { .kind = FREEZE_IN_TICK };
	step(s, r, &in);
}

/* ---- statements ------------------------------------------------------------------------------ */

static int hd_vms(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	uint64_t n;

	if (scn_parse_u64(args, &n) < 0 || n < 1 || n > MAX_VMS) {
		scn_fail(r, "vms: 1..%d", MAX_VMS);
		return -EINVAL;
	}
	s->n_vms = (size_t)n;
	for (size_t i = 0; i < s->n_vms; i++) {
		snprintf(s->vms[i].name, sizeof s->vms[i].name, "vm%u", (unsigned)(i + 1));
		s->vms[i].latency = 50 * MS;
	}
	return 0;
}

static int hd_option(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char w[32];
	uint64_t v;
	const char *rest = scn_word(args, w, sizeof w);

	if (scn_parse_u64(rest, &v) < 0 || !v) {
		scn_fail(r, "option %s: a number of ms", w);
		return -EINVAL;
	}
	if (!strcmp(w, "thaw-budget"))
		s->cfg.thaw_budget_usec = v * MS;
	else if (!strcmp(w, "retry"))
		s->cfg.thaw_retry_usec = v * MS;
	else {
		scn_fail(r, "option: thaw-budget | retry");
		return -EINVAL;
	}
	return 0;
}

static int ready(void *d, struct scn *r)
{
	struct sim *s = d;

	if (!s->n_vms && hd_vms(d, r, "vms", "3") < 0)
		return -EINVAL;
	if (!s->cfg.thaw_budget_usec)
		s->cfg.thaw_budget_usec = 2000 * MS;
	if (!s->cfg.thaw_retry_usec)
		s->cfg.thaw_retry_usec = 1000 * MS;
	freeze_session_init(&s->core, &s->cfg);
	s->ready = true;
	return 0;
}

static int st_request(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char w1[24], w2[24], list[256];
	uint64_t run, budget;
	const char *names[MAX_VMS];
	size_t n = 0;
	const char *rest = scn_word(scn_word(args, w1, sizeof w1), w2, sizeof w2);

	scn_word(rest, list, sizeof list);
	if (scn_parse_u64(w1, &run) < 0 || scn_parse_u64(w2, &budget) < 0 || !*list) {
		scn_fail(r, "request RUN BUDGET VMS");
		return -EINVAL;
	}
	bool in[MAX_VMS] = { 0 };
	if (!strcmp(list, "all")) {
		for (size_t i = 0; i < s->n_vms; i++)
			in[i] = true;
	} else {
		for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			struct svm *v = vm_find(s, t);
			if (!v) {
				scn_fail(r, "request: no VM %s", t);
				return -EINVAL;
			}
			in[v - s->vms] = true;
		}
	}
	for (size_t i = 0; i < s->n_vms; i++)
		if (in[i])
			names[n++] = s->vms[i].name;
	if (run > s->run) {
		s->run = run;
		s->deadline = scn_now(r) + budget * MS;
		memcpy(s->in_run, in, sizeof in);
		s->leader_lost = s->thawed = false;
		for (size_t i = 0; i < s->n_vms; i++)
			s->vms[i].freeze_failed = false;
		scn_schedule(r, s->deadline + STEP, EV_CHECK, 0, 0, NULL);
	}
	struct freeze_input fi = { .kind = FREEZE_IN_REQUEST, .run = run, .vms = names, .n_vms = n,
				   .budget_usec = budget * MS };
	step(s, r, &fi);
	return 0;
}

static int st_thaw(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	uint64_t run;

	if (scn_parse_u64(args, &run) < 0) {
		scn_fail(r, "thaw RUN");
		return -EINVAL;
	}
	if (run == s->run)
		s->thawed = true;
	struct freeze_input fi = { .kind = FREEZE_IN_THAW, .run = run };
	step(s, r, &fi);
	return 0;
}

static int st_leader_lost(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;

	s->leader_lost = true;
	struct freeze_input fi = { .kind = FREEZE_IN_LEADER_LOST };
	step(s, r, &fi);
	return 0;
}

static int st_vm(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[16], w[24];
	struct svm *v = vm_find(s, scn_word(args, name, sizeof name) ? name : "");

	scn_word(scn_word(args, name, sizeof name), w, sizeof w);
	if (!v) {
		scn_fail(r, "%s: no VM %s", verb, name);
		return -EINVAL;
	}
	if (!strcmp(verb, "latency")) {
		uint64_t ms;
		if (scn_parse_u64(w, &ms) < 0) {
			scn_fail(r, "latency VM MS");
			return -EINVAL;
		}
		v->latency = ms * MS;
		return 0;
	}
	for (int m = 0; m < _M_MAX; m++) {
		if (!strcmp(w, mode_names[m])) {
			if (m == M_NOT_RUNNING && v->mode != M_NOT_RUNNING) {
				v->frozen = false;  /* stopped: nothing stays frozen */
				v->boot++;
				v->busy_until = 0;
			}
			v->mode = (enum mode)m;
			return 0;
		}
	}
	scn_fail(r, "mode VM answer|hang|silent|error|paused|no-agent|not-connected|not-running");
	return -EINVAL;
}

static int ex_frozen(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[16], w[8];
	struct svm *v;

	scn_word(scn_word(args, name, sizeof name), w, sizeof w);
	if (!(v = vm_find(s, name)) || (strcmp(w, "yes") && strcmp(w, "no"))) {
		scn_fail(r, "expect frozen VM yes|no");
		return -EINVAL;
	}
	if (v->frozen != !strcmp(w, "yes"))
		scn_fail(r, "%s is %s", name, v->frozen ? "frozen" : "not frozen");
	return 0;
}

static int ex_report(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char run[24], name[16], kind[24], why[40];
	uint64_t rn;
	struct svm *v;

	scn_word(scn_word(scn_word(scn_word(args, run, sizeof run), name, sizeof name), kind, sizeof kind), why, sizeof why);
	if (scn_parse_u64(run, &rn) < 0 || !(v = vm_find(s, name)) || !*kind) {
		scn_fail(r, "expect report RUN VM KIND [WHY]");
		return -EINVAL;
	}
	if (v->rep_run != rn || strcmp(v->rep_kind, kind) || (*why && strcmp(v->rep_why, why)))
		scn_fail(r, "%s's last report: run %llu %s %s", name, (unsigned long long)v->rep_run, v->rep_kind, v->rep_why);
	return 0;
}

static int ex_idle(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;

	if (!freeze_idle(&s->core))
		scn_fail(r, "the core is not idle");
	for (size_t i = 0; i < s->n_vms; i++)
		if (s->vms[i].frozen || s->vms[i].call)
			scn_fail(r, "%s is %s", s->vms[i].name, s->vms[i].frozen ? "still frozen" : "still in a call");
	return 0;
}

/* ---- events ---------------------------------------------------------------------------------- */

static void handle(void *d, struct scn *r, struct scn_event *e)
{
	struct sim *s = d;
	struct svm *v = e->kind == EV_DONE || e->kind == EV_GUEST ? &s->vms[e->node] : NULL;

	switch (e->kind) {
	case EV_TICK:
		tick(s, r);
		break;
	case EV_CHECK:
		invariants(d, r);
		break;
	case EV_GUEST: {
		bool freeze = *(bool *)e->data;
		if (v->mode == M_NOT_RUNNING || e->gen != v->boot)
			break;
		if (v->frozen != freeze)
			scn_trace(r, "guest %s %s", v->name, freeze ? "frozen" : "thawed");
		v->frozen = freeze;
		break;
	}
	case EV_DONE: {
		struct done *dn = e->data;
		if (!v->call || e->gen != v->call_gen)
			break;
		if (v->mode == M_NOT_RUNNING || dn->boot != v->boot)
			dn->o = FREEZE_NOT_RUNNING; /* stopped during the call: libvirt says so */
		v->call = false;
		if (!dn->freeze && (dn->o == FREEZE_OK || dn->o == FREEZE_NOT_RUNNING))
			v->thaw_failed = false; /* a thaw that failed before is no excuse any more */
		scn_trace(r, "call %s %s -> %s", dn->freeze ? "freeze" : "thaw", v->name, freeze_outcome_name(dn->o));
		struct freeze_input fi = { .kind = dn->freeze ? FREEZE_IN_FREEZE_DONE : FREEZE_IN_THAW_DONE, .vm = v->name,
					   .outcome = dn->o };
		step(s, r, &fi);
		break;
	}
	}
}

static void event_free(struct scn_event *e)
{
	free(e->data);
}

static void invariants(void *d, struct scn *r)
{
	struct sim *s = d;
	uint64_t now = scn_now(r);

	if (!s->ready)
		return;
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct svm *v = &s->vms[i];
		if (!v->frozen || v->call || v->thaw_failed)
			continue;
		const char *due = !s->run ? NULL : now > s->deadline ? "its deadline passed" : s->leader_lost ? "the leader was lost"
				  : s->thawed ? "its thaw came" : !s->in_run[i] ? "it is not in the run"
				  : v->frozen_run != s->run ? "a newer run came" : v->freeze_failed ? "its freeze failed" : NULL;
		if (due)
			scn_fail(r, "%s is frozen and no call is in flight, though %s", v->name, due);
	}
}

/* ---- random mode ----------------------------------------------------------------------------- */

static int random_begin(void *d, struct scn *r, struct scn_rng *g, const struct scn_random_opts *o)
{
	return scn_header(r, "vms %u", (unsigned)scn_rng_range(g, 1, 5)) < 0 ? -EINVAL : 0;
}

static int random_step(void *d, struct scn *r, struct scn_rng *g, char *buf, size_t size, uint64_t *next)
{
	struct sim *s = d;
	unsigned roll = (unsigned)scn_rng_below(g, 100);
	const char *vm = s->vms[scn_rng_below(g, s->n_vms)].name;

	*next = scn_rng_range(g, 10, 1500) * MS;
	if (roll < 25) {
		char list[128] = "";
		size_t len = 0;
		for (size_t i = 0; i < s->n_vms; i++)
			if (scn_rng_chance(g, 70))
				len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? "," : "", s->vms[i].name);
		/* mostly a newer run; sometimes a late or repeated one */
		uint64_t run = scn_rng_chance(g, 85) ? s->run + 1 : s->run ? s->run - scn_rng_below(g, s->run) : 1;
		snprintf(buf, size, "request %llu %llu %s", (unsigned long long)run,
			 (unsigned long long)scn_rng_range(g, 300, 6000), len ? list : "all");
	} else if (roll < 40) {
		snprintf(buf, size, "thaw %llu", (unsigned long long)(scn_rng_chance(g, 85) && s->run ? s->run : s->run + 1));
	} else if (roll < 46) {
		snprintf(buf, size, "leader-lost");
	} else if (roll < 85) {
		/* answering most of the time */
		enum mode m = scn_rng_chance(g, 45) ? M_ANSWER : (enum mode)scn_rng_below(g, _M_MAX);
		snprintf(buf, size, "mode %s %s", vm, mode_names[m]);
	} else {
		snprintf(buf, size, "latency %s %llu", vm, (unsigned long long)scn_rng_range(g, 1, 4000));
	}
	return 0;
}

static uint64_t random_end(void *d, struct scn *r, struct scn_rng *g, uint64_t at)
{
	struct sim *s = d;

	/* every agent answers again: whatever was frozen is thawed within the longest backoff
	 * (64 x retry) plus the calls in flight */
	for (size_t i = 0; i < s->n_vms; i++) {
		scn_at(r, at, "mode %s answer", s->vms[i].name);
		scn_at(r, at, "latency %s 50", s->vms[i].name);
	}
	scn_at(r, at + 1 * MS, "leader-lost");
	scn_at(r, at + 80000 * MS, "expect idle");
	return at + 80001 * MS;
}

static void *create(struct scn *r)
{
	return calloc(1, sizeof(struct sim));
}

static void destroy(void *d)
{
	struct sim *s = d;

	if (!s)
		return;
	freeze_session_clear(&s->core);
	free(s);
}

static const struct scn_statement header[] = {
	{ "vms", hd_vms, "N  vm1..vmN (default 3)" },
	{ "option", hd_option, "thaw-budget MS | retry MS" },
	{ 0 }
};

static const struct scn_statement statements[] = {
	{ "request", st_request, "RUN BUDGET VMS|all  the leader asks to freeze" },
	{ "thaw", st_thaw, "RUN  the leader asks to thaw" },
	{ "leader-lost", st_leader_lost, " the node loses its leader" },
	{ "mode", st_vm, "VM answer|hang|silent|error|paused|no-agent|not-connected|not-running" },
	{ "latency", st_vm, "VM MS  the agent's time per command" },
	{ 0 }
};

static const struct scn_statement expectations[] = {
	{ "frozen", ex_frozen, "VM yes|no  the guest's truth" },
	{ "report", ex_report, "RUN VM KIND [WHY]  the VM's last report" },
	{ "idle", ex_idle, " nothing frozen, nothing in flight" },
	{ 0 }
};

static const struct scn_driver freeze_driver = {
	.name = "freeze",
	.summary = "One node's freeze session for VM-consistent snapshots (coord/decide/freeze.c): the\n"
		   "leader's requests, libvirt's agent calls with their timeouts, guests whose agent\n"
		   "answers, hangs, stays silent or is refused. See tests/scenario/freeze-driver.c.",
	.header = header,
	.statements = statements,
	.expectations = expectations,
	.create = create,
	.destroy = destroy,
	.ready = ready,
	.handle = handle,
	.event_free = event_free,
	.invariants = invariants,
	.random_begin = random_begin,
	.random_step = random_step,
	.random_end = random_end,
};

int main(int argc, char **argv)
{
	return scn_main(&freeze_driver, argc, argv);
}
