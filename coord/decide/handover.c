/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The hand-over of a live migration (handover.h says what and why). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handover.h"
#include "macros.h"

static const char *const verdict_names[_HANDOVER_VERDICT_MAX] = {
	[HANDOVER_NONE] = "none",     [HANDOVER_GO_ON] = "go-on",   [HANDOVER_ABORT] = "abort",
	[HANDOVER_DONE] = "done",     [HANDOVER_FAILED] = "failed", [HANDOVER_FORGET] = "forget",
	[HANDOVER_LEAVE] = "leave",
};

static const char *const job_names[_HANDOVER_JOB_MAX] = {
	[HANDOVER_JOB_NONE] = "none", [HANDOVER_JOB_RUNNING] = "running",
	[HANDOVER_JOB_DONE] = "done", [HANDOVER_JOB_FAILED] = "failed",
};

const char *handover_verdict_name(enum handover_verdict v)
{
	return (unsigned)v < _HANDOVER_VERDICT_MAX ? verdict_names[v] : NULL;
}

const char *handover_job_name(enum handover_job j)
{
	return (unsigned)j < _HANDOVER_JOB_MAX ? job_names[j] : NULL;
}

bool handover_state_running(const char *s)
{
	return s && (!strcmp(s, "running") || !strcmp(s, "paused"));
}

/* A state from a listing: the node's libvirtd answered ("unknown": not listed yet). */
static bool state_known(const char *s)
{
	return s && strcmp(s, "unknown") != 0;
}

static bool same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

_printf_(3, 4) static int verdict(struct handover_decision *out, enum handover_verdict v, const char *fmt, ...)
{
	va_list ap;
	char *why = NULL;

	if (fmt) {
		va_start(ap, fmt);
		if (vasprintf(&why, fmt, ap) < 0)
			why = NULL;
		va_end(ap);
		if (!why)
			return -ENOMEM;
	}
	*out = (struct handover_decision){ .verdict = v, .why = why };
	return 0;
}

bool handover_state_may_run(const char *s)
{
	return handover_state_running(s) || (s && !state_known(s));
}

bool handover_stop_done(const char *owner_state)
{
	return state_known(owner_state) && !handover_state_running(owner_state);
}

int handover_decide(const struct handover_input *in, struct handover_decision *out)
{
	const char *from, *to;
	enum handover_job job;
	bool abandoned;
	int r;

	if (!in || !out || !in->vm || (unsigned)in->job >= _HANDOVER_JOB_MAX)
		return -EINVAL;
	if (in->removed) {
		/* nobody starts it again; whoever runs it stops it. The record goes once the nodes it
		 * names are members (their kvmcd stops and undefines what left the spec): an owner whose
		 * kvmcd is away may still run it, and the VM may come back to the spec before that node
		 * does -- without its record, placement would start a second copy elsewhere */
		bool quiet = (!in->owner || in->source_member) && (!in->migrating_to || in->target_member);
		return verdict(out, in->runs_anywhere || !quiet ? HANDOVER_LEAVE : HANDOVER_FORGET, NULL);
	}
	from = in->owner;
	to = in->migrating_to;
	/* placement keeps the source and drops the target: the migration is abandoned, but it is
	 * settled here all the same (the source may be half-way: only its report ends it) */
	abandoned = to && !in->decided_migrating_to && same(in->decided_owner, from);
	if (!from || !to || (!in->decided_migrating_to && !abandoned))
		return verdict(out, HANDOVER_NONE, NULL); /* none in flight, or placement settled it (a fenced source) */
	/* only a report of THIS migration counts: an earlier one's may still stand in the section */
	job = in->id && same(in->job_id, in->id) ? in->job : HANDOVER_JOB_NONE;

	if (job == HANDOVER_JOB_DONE) {
		/* libvirt confirmed the switch-over on the source: the domain left it. The target's
		 * word that it runs there makes it the owner; a late listing only delays that. (Not on
		 * any listing of the target: one from before the migration would make it an owner
		 * that "does not run it", and placement would clear that ownership while it runs.) */
		if (in->target_fenced) /* the target died after the switch-over: the VM with it */
			return verdict(out, HANDOVER_FAILED, "%s left %s for %s, which was fenced since", in->vm, from, to);
		if (!handover_state_running(in->target_state))
			return verdict(out, HANDOVER_GO_ON, NULL);
		r = verdict(out, HANDOVER_DONE, NULL);
		out->from_report = true;
		return r;
	}
	if (job == HANDOVER_JOB_FAILED && handover_state_running(in->source_state))
		return verdict(out, HANDOVER_FAILED, "%s", in->job_error ? in->job_error : "failed");
	if (state_known(in->source_state) && !handover_state_running(in->source_state) && job != HANDOVER_JOB_RUNNING) {
		/* the source runs it no more and no job of it runs there: its report was lost (its
		 * kvmcd restarted) or the VM died on the way; the listings tell which */
		if (handover_state_running(in->target_state))
			return verdict(out, HANDOVER_DONE, NULL);
		if (state_known(in->target_state) || in->target_fenced)
			return verdict(out, HANDOVER_FAILED, "%s runs neither on %s (%s) nor on %s (%s)", in->vm, from,
				       in->source_state, to, in->target_fenced ? "fenced" : in->target_state);
		return verdict(out, HANDOVER_GO_ON, NULL);
	}
	if (abandoned && !in->abort)
		return verdict(out, HANDOVER_ABORT, "%s", in->decided_reason ? in->decided_reason : "abandoned");
	return verdict(out, HANDOVER_GO_ON, NULL);
}

void handover_decision_clear(struct handover_decision *d)
{
	if (!d)
		return;
	free(d->why);
	*d = (struct handover_decision){ 0 };
}
