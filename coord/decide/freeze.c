/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One node's freeze session for VM-consistent snapshots (freeze.h). Pure. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "freeze.h"

#define THAW_BACKOFF_MAX 64u

static const char *const outcome_names[_FREEZE_OUTCOME_MAX] = {
	[FREEZE_OK] = "ok",
	[FREEZE_NOT_DEFINED] = "not-defined",
	[FREEZE_NOT_RUNNING] = "not-running",
	[FREEZE_PAUSED] = "paused",
	[FREEZE_NO_AGENT] = "no-agent",
	[FREEZE_AGENT_NOT_CONNECTED] = "agent-not-connected",
	[FREEZE_AGENT_TIMEOUT] = "agent-timeout",
	[FREEZE_AGENT_ERROR] = "agent-error",
	[FREEZE_ERROR] = "error",
};

const char *freeze_outcome_name(enum freeze_outcome o)
{
	return (unsigned)o < _FREEZE_OUTCOME_MAX ? outcome_names[o] : NULL;
}

int freeze_outcome_from_name(const char *name)
{
	for (int i = 0; name && i < _FREEZE_OUTCOME_MAX; i++)
		if (strcmp(outcome_names[i], name) == 0)
			return i;
	return -1;
}

/* domain.h's errno for each result; anything else is an error that may have reached the guest */
enum freeze_outcome freeze_outcome_from_errno(int r)
{
	switch (r) {
	case 0: return FREEZE_OK;
	case -ENOENT: return FREEZE_NOT_DEFINED;
	case -ESRCH: return FREEZE_NOT_RUNNING;
	case -EAGAIN: return FREEZE_PAUSED;
	case -EOPNOTSUPP: return FREEZE_NO_AGENT;
	case -ENOTCONN: return FREEZE_AGENT_NOT_CONNECTED;
	case -ETIMEDOUT: return FREEZE_AGENT_TIMEOUT;
	case -EIO: return FREEZE_AGENT_ERROR;
	default: return FREEZE_ERROR;
	}
}

bool freeze_outcome_may_be_frozen(enum freeze_outcome o)
{
	return o == FREEZE_AGENT_TIMEOUT || o == FREEZE_AGENT_ERROR || o == FREEZE_ERROR;
}

const char *freeze_action_name(enum freeze_action_kind k)
{
	switch (k) {
	case FREEZE_ACT_FREEZE: return "freeze";
	case FREEZE_ACT_THAW: return "thaw";
	case FREEZE_ACT_REPORT: return "report";
	}
	return "?";
}

const char *freeze_report_name(enum freeze_report r)
{
	switch (r) {
	case FREEZE_REP_FROZEN: return "frozen";
	case FREEZE_REP_CRASH: return "crash-consistent";
	case FREEZE_REP_THAWED: return "thawed";
	case FREEZE_REP_THAW_FAILED: return "thaw-failed";
	}
	return "?";
}

void freeze_session_init(struct freeze_session *s, const struct freeze_config *cfg)
{
	memset(s, 0, sizeof *s);
	if (cfg)
		s->cfg = *cfg;
	if (!s->cfg.thaw_budget_usec)
		s->cfg.thaw_budget_usec = 2000000;
	if (!s->cfg.thaw_retry_usec)
		s->cfg.thaw_retry_usec = 1000000;
}

void freeze_session_clear(struct freeze_session *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_doms; i++)
		free(s->doms[i].name);
	free(s->doms);
	s->doms = NULL;
	s->n_doms = 0;
}

void freeze_actions_clear(struct freeze_actions *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i].vm);
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

static int reserve(struct freeze_actions *a, size_t more)
{
	if (a->n + more <= a->cap)
		return 0;
	size_t cap = a->cap ? a->cap : 8;
	while (cap < a->n + more)
		cap *= 2;
	struct freeze_action *v = realloc(a->v, cap * sizeof *v);
	if (!v)
		return -ENOMEM;
	a->v = v;
	a->cap = cap;
	return 0;
}

/* Appends; capacity was reserved. Only the name can fail. */
static int push(struct freeze_actions *a, const struct freeze_action *act, const char *vm)
{
	char *copy = strdup(vm);

	if (!copy || reserve(a, 1) < 0) {
		free(copy);
		return -ENOMEM;
	}
	a->v[a->n] = *act;
	a->v[a->n].vm = copy;
	a->n++;
	return 0;
}

static int report(struct freeze_actions *a, const char *vm, uint64_t run, enum freeze_report rep,
		  enum freeze_outcome o, const char *why)
{
	struct freeze_action act = { .kind = FREEZE_ACT_REPORT, .run = run, .report = rep, .outcome = o, .why = why };
	return push(a, &act, vm);
}

static struct freeze_dom *find(struct freeze_session *s, const char *vm)
{
	for (size_t i = 0; i < s->n_doms; i++)
		if (strcmp(s->doms[i].name, vm) == 0)
			return &s->doms[i];
	return NULL;
}

static void end_run(struct freeze_session *s, const char *why)
{
	if (s->run && !s->ended) {
		s->ended = true;
		s->end_why = why;
	}
}

/* Whether a domain this node may have frozen must be thawed now, and why (static). */
static const char *thaw_due(const struct freeze_session *s, const struct freeze_dom *d)
{
	if (d->state == FREEZE_STATE_THAWED)
		return NULL;
	if (d->state == FREEZE_STATE_MAYBE)
		return "freeze-failed";
	if (d->run != s->run)
		return "new-run";
	if (!d->in_run)
		return "not-in-run";
	if (s->ended)
		return s->end_why;
	return NULL;
}

static int on_request(struct freeze_session *s, const struct freeze_input *in, uint64_t now)
{
	struct freeze_dom *grown;
	size_t add = 0;

	if (!in->run || !in->budget_usec || (in->n_vms && !in->vms))
		return -EINVAL;
	for (size_t i = 0; i < in->n_vms; i++)
		if (!in->vms[i] || !*in->vms[i])
			return -EINVAL;
	if (in->run <= s->run)
		return 0; /* a duplicate, or an earlier leader's late request */
	grown = realloc(s->doms, (s->n_doms + in->n_vms + 1) * sizeof *grown);
	if (!grown)
		return -ENOMEM;
	s->doms = grown;
	/* the names first: nothing changes unless all of them are there */
	char **names = calloc(in->n_vms + 1, sizeof *names);
	if (!names)
		return -ENOMEM;
	for (size_t i = 0; i < in->n_vms; i++) {
		struct freeze_dom *d = find(s, in->vms[i]);
		bool dup = false;
		for (size_t k = 0; k < i && !dup; k++)
			dup = strcmp(in->vms[k], in->vms[i]) == 0;
		if (d || dup)
			continue;
		if (!(names[add++] = strdup(in->vms[i]))) {
			for (size_t k = 0; k < add; k++)
				free(names[k]);
			free(names);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < s->n_doms; i++)
		s->doms[i].in_run = false;
	for (size_t k = 0; k < add; k++)
		s->doms[s->n_doms++] = (struct freeze_dom){ .name = names[k] };
	free(names);
	for (size_t i = 0; i < in->n_vms; i++)
		find(s, in->vms[i])->in_run = true;
	s->run = in->run;
	s->deadline = now + in->budget_usec;
	s->ended = false;
	s->end_why = NULL;
	return 0;
}

static int on_done(struct freeze_session *s, const struct freeze_input *in, uint64_t now, struct freeze_actions *out)
{
	struct freeze_dom *d;
	enum freeze_outcome o = in->outcome;

	if (!in->vm || !*in->vm || (unsigned)o >= _FREEZE_OUTCOME_MAX)
		return -EINVAL;
	d = find(s, in->vm);
	if (in->kind == FREEZE_IN_FREEZE_DONE) {
		if (!d || d->op != FREEZE_OP_FREEZE)
			return 0;
		d->op = FREEZE_OP_NONE;
		if (o == FREEZE_OK) {
			d->state = FREEZE_STATE_FROZEN;
			/* consistent only while the run still holds it */
			if (d->run == s->run && !s->ended && d->in_run)
				return report(out, d->name, d->run, FREEZE_REP_FROZEN, o, NULL);
			return report(out, d->name, d->run, FREEZE_REP_CRASH, o,
				      d->run != s->run ? "frozen after a newer run came" : s->ended ? s->end_why : "not-in-run");
		}
		d->state = freeze_outcome_may_be_frozen(o) ? FREEZE_STATE_MAYBE : FREEZE_STATE_THAWED;
		return report(out, d->name, d->run, FREEZE_REP_CRASH, o, freeze_outcome_name(o));
	}
	if (!d || d->op != FREEZE_OP_THAW)
		return 0;
	d->op = FREEZE_OP_NONE;
	if (o == FREEZE_OK || o == FREEZE_NOT_RUNNING || o == FREEZE_NOT_DEFINED) {
		/* a guest that does not run holds nothing frozen */
		d->state = FREEZE_STATE_THAWED;
		d->thaw_failures = 0;
		return report(out, d->name, d->run, FREEZE_REP_THAWED, o, d->thaw_why ? d->thaw_why : "thaw");
	}
	unsigned mult = 1;
	for (unsigned i = 0; i < d->thaw_failures && mult < THAW_BACKOFF_MAX; i++)
		mult *= 2;
	d->thaw_failures++;
	d->retry_at = now + s->cfg.thaw_retry_usec * mult;
	return report(out, d->name, d->run, FREEZE_REP_THAW_FAILED, o, freeze_outcome_name(o));
}

/* Makes the domains what the session wants: thaws first, then the run's freezes. */
static int reconcile(struct freeze_session *s, uint64_t now, struct freeze_actions *out)
{
	if (s->run && !s->ended && now >= s->deadline)
		end_run(s, "deadline");
	for (size_t i = 0; i < s->n_doms; i++) {
		struct freeze_dom *d = &s->doms[i];
		const char *why;
		if (d->op != FREEZE_OP_NONE)
			continue;
		if ((why = thaw_due(s, d))) {
			if (now < d->retry_at)
				continue;
			struct freeze_action act = { .kind = FREEZE_ACT_THAW, .budget_usec = s->cfg.thaw_budget_usec };
			if (push(out, &act, d->name) < 0)
				return -ENOMEM;
			d->op = FREEZE_OP_THAW;
			if (!d->thaw_failures)
				d->thaw_why = why;
			continue;
		}
		if (d->state == FREEZE_STATE_THAWED && d->in_run && s->ended && d->run != s->run) {
			/* the run ended before this one could be frozen (its thaw from an earlier run
			 * took until now): crash-consistent, once */
			d->run = s->run;
			if (report(out, d->name, s->run, FREEZE_REP_CRASH, FREEZE_ERROR, s->end_why) < 0)
				return -ENOMEM;
			continue;
		}
		if (d->state == FREEZE_STATE_THAWED && d->in_run && !s->ended && d->run != s->run && now < s->deadline) {
			struct freeze_action act = { .kind = FREEZE_ACT_FREEZE, .budget_usec = s->deadline - now };
			if (push(out, &act, d->name) < 0)
				return -ENOMEM;
			d->op = FREEZE_OP_FREEZE;
			d->run = s->run;
			d->thaw_why = NULL;
			d->retry_at = 0;
		}
	}
	/* forget what is thawed, idle and not in the run */
	size_t k = 0;
	for (size_t i = 0; i < s->n_doms; i++) {
		struct freeze_dom *d = &s->doms[i];
		if (d->state == FREEZE_STATE_THAWED && d->op == FREEZE_OP_NONE && !d->in_run) {
			free(d->name);
			continue;
		}
		s->doms[k++] = *d;
	}
	s->n_doms = k;
	return 0;
}

int freeze_step(struct freeze_session *s, const struct freeze_input *in, uint64_t now, struct freeze_actions *out)
{
	int r = 0;

	if (!s || !in || !out)
		return -EINVAL;
	if (reserve(out, 2 * (s->n_doms + in->n_vms) + 2) < 0)
		return -ENOMEM;
	/* a result that comes at the deadline instant is judged after it: the run is over */
	if (s->run && !s->ended && now >= s->deadline)
		end_run(s, "deadline");
	switch (in->kind) {
	case FREEZE_IN_TICK:
		break;
	case FREEZE_IN_REQUEST:
		r = on_request(s, in, now);
		break;
	case FREEZE_IN_THAW:
		if (!in->run)
			return -EINVAL;
		if (in->run == s->run)
			end_run(s, "thaw-request");
		break;
	case FREEZE_IN_LEADER_LOST:
		end_run(s, "leader-lost");
		break;
	case FREEZE_IN_FREEZE_DONE:
	case FREEZE_IN_THAW_DONE:
		r = on_done(s, in, now, out);
		break;
	default:
		return -EINVAL;
	}
	if (r < 0)
		return r;
	return reconcile(s, now, out);
}

uint64_t freeze_next_wakeup(const struct freeze_session *s)
{
	uint64_t t = UINT64_MAX;

	if (!s)
		return t;
	if (s->run && !s->ended)
		t = s->deadline;
	for (size_t i = 0; i < s->n_doms; i++) {
		const struct freeze_dom *d = &s->doms[i];
		if (d->op == FREEZE_OP_NONE && d->state != FREEZE_STATE_THAWED && d->retry_at && d->retry_at < t)
			t = d->retry_at;
	}
	return t;
}

bool freeze_idle(const struct freeze_session *s)
{
	for (size_t i = 0; s && i < s->n_doms; i++)
		if (s->doms[i].op != FREEZE_OP_NONE || s->doms[i].state != FREEZE_STATE_THAWED)
			return false;
	return true;
}
