/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One node's side of a VM-consistent snapshot (issue 10): the guest file systems of the domains
 * this node runs are frozen for the leader's run, and -- whatever happens -- thawed again. A pure
 * state machine: (session, one input, now) -> (session, actions). The shell (the node's freeze
 * service, agent/freeze-node.c) performs the actions through host_domain_ops.fs_freeze / fs_thaw
 * (resources/host/domain.h), feeds their results back, sends the reports to the leader and arms
 * one timer at freeze_next_wakeup().
 *
 * The protocol, as this core sees it:
 *   - the leader asks: freeze run R (an id that only grows: the leader's epoch and a sequence)
 *     for the VMs V, with a budget B; the node's deadline is D = now + B on its OWN monotonic
 *     clock, taken when the request arrives (no clock is compared across nodes);
 *   - the node freezes each of V once for R, each call bounded by D - now, and reports each VM:
 *     FROZEN (consistent for R) or CRASH (crash-consistent for R, with the named outcome: paused,
 *     no-agent, agent-not-connected, agent-timeout, ...);
 *   - the leader, once all are in, takes the snapshot and sends thaw R; the node thaws.
 *
 * THE THAW IS GUARANTEED. A domain this node may have frozen (a freeze that succeeded, and one
 * that failed in a way that may still freeze the guest: agent-timeout, agent-error, error) is
 * thawed as soon as any of these holds, in the same step: the run's deadline D has passed; the
 * leader was lost; the leader's thaw for R came; a newer run arrived (its own freezes wait for
 * the thaw); the domain's freeze failed; the domain is not in the run. When a freeze is still in
 * flight at that moment, the thaw is issued the moment its result comes (the call cannot be
 * taken back; its own deadline is D - now when it was issued, so it returns by D, or by libvirt's
 * minimum of 2 s). A failed thaw is retried (paused: until it runs again; agent gone: until it is
 * back) after thaw_retry, doubling up to 64 x, until it succeeds or the domain does not run any
 * more (a stopped guest holds nothing frozen). No freeze is ever issued at or after D, after the
 * leader's thaw, after the leader was lost, or twice for one run.
 *
 * Reports are how the leader's record learns which VMs were consistent: FROZEN counts only while
 * the node still holds it, so the leader must finish the snapshot before the node's deadline
 * (the leader's own deadline for the snapshot is shorter: leader-side wiring) and treat a
 * THAWED report whose reason is not "thaw-request" that came before the snapshot completed as
 * crash-consistent.
 *
 * Memory: the session owns its domains; actions own their strings (freeze_actions_clear).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a freeze or a thaw call came back with: host_domain_agent_result()'s names. Never
 * renumbered. */
enum freeze_outcome {
	FREEZE_OK,
	FREEZE_NOT_DEFINED,
	FREEZE_NOT_RUNNING,
	FREEZE_PAUSED,
	FREEZE_NO_AGENT,
	FREEZE_AGENT_NOT_CONNECTED,
	FREEZE_AGENT_TIMEOUT,
	FREEZE_AGENT_ERROR,
	FREEZE_ERROR,
	_FREEZE_OUTCOME_MAX,
};

/* "ok", "not-defined", "not-running", "paused", "no-agent", "agent-not-connected",
 * "agent-timeout", "agent-error", "error"; NULL out of range. Static. */
const char *freeze_outcome_name(enum freeze_outcome o);
/* The name back to the outcome; -1 when unknown. */
int freeze_outcome_from_name(const char *name);
/* fs_freeze / fs_thaw's r (domain.h) as an outcome. */
enum freeze_outcome freeze_outcome_from_errno(int r);
/* After a FAILED freeze: whether the guest may be frozen all the same (the call timed out or
 * failed in the agent: it may still be freezing). Paused, no agent, not connected, not running
 * and not defined sent nothing to the guest. */
bool freeze_outcome_may_be_frozen(enum freeze_outcome o);

struct freeze_config {
	uint64_t thaw_budget_usec;   /* the deadline of one thaw call (> 0) */
	uint64_t thaw_retry_usec;    /* a failed thaw is retried after this, doubling up to 64 x */
};

/* What this node knows of one domain. */
enum freeze_state {
	FREEZE_STATE_THAWED,         /* not frozen by this node (or thawed since) */
	FREEZE_STATE_FROZEN,         /* its freeze succeeded */
	FREEZE_STATE_MAYBE,          /* its freeze failed in a way that may have frozen it */
};

enum freeze_op { FREEZE_OP_NONE, FREEZE_OP_FREEZE, FREEZE_OP_THAW };

struct freeze_dom {
	char *name;                  /* owned */
	enum freeze_state state;
	enum freeze_op op;           /* the call in flight (at most one per domain) */
	uint64_t run;                /* the run its last freeze was issued for; 0: none */
	bool in_run;                 /* in the current run's VMs */
	const char *thaw_why;        /* static: why it is being thawed (for the report) */
	uint64_t retry_at;           /* a failed thaw is retried from then */
	unsigned thaw_failures;      /* in a row */
};

struct freeze_session {
	struct freeze_config cfg;
	uint64_t run;                /* the current run; 0: none yet */
	uint64_t deadline;           /* its deadline, this node's monotonic usec */
	bool ended;                  /* the run freezes nothing more: its domains are thawed */
	const char *end_why;         /* static: "deadline", "leader-lost", "thaw-request" */
	struct freeze_dom *doms;     /* owned: every domain in the run or still to be thawed */
	size_t n_doms;
};

enum freeze_input_kind {
	FREEZE_IN_TICK,              /* time passed (the wakeup timer) */
	FREEZE_IN_REQUEST,           /* the leader: freeze run, vms, budget */
	FREEZE_IN_THAW,              /* the leader: thaw run */
	FREEZE_IN_LEADER_LOST,       /* this node has no leader any more */
	FREEZE_IN_FREEZE_DONE,       /* fs_freeze of vm came back: outcome */
	FREEZE_IN_THAW_DONE,         /* fs_thaw of vm came back: outcome */
};

/* Borrowed during the call. */
struct freeze_input {
	enum freeze_input_kind kind;
	uint64_t run;                /* REQUEST, THAW */
	const char *const *vms;      /* REQUEST: the VMs of the run this node runs */
	size_t n_vms;
	uint64_t budget_usec;        /* REQUEST: the deadline, relative to now */
	const char *vm;              /* *_DONE */
	enum freeze_outcome outcome; /* *_DONE */
};

enum freeze_action_kind {
	FREEZE_ACT_FREEZE,           /* call fs_freeze(vm, budget_usec) */
	FREEZE_ACT_THAW,             /* call fs_thaw(vm, budget_usec) */
	FREEZE_ACT_REPORT,           /* tell the leader */
};

enum freeze_report {
	FREEZE_REP_FROZEN,           /* consistent for run: frozen and held */
	FREEZE_REP_CRASH,            /* crash-consistent for run: outcome (why) */
	FREEZE_REP_THAWED,           /* thawed; why: "thaw-request", "deadline", "leader-lost", ... */
	FREEZE_REP_THAW_FAILED,      /* a thaw failed (outcome); retried at retry_at */
};

struct freeze_action {
	enum freeze_action_kind kind;
	char *vm;                    /* owned */
	uint64_t budget_usec;        /* FREEZE, THAW */
	uint64_t run;                /* REPORT: the run it concerns */
	enum freeze_report report;   /* REPORT */
	enum freeze_outcome outcome; /* REPORT CRASH / THAW_FAILED */
	const char *why;             /* REPORT: static words */
};

struct freeze_actions {
	struct freeze_action *v;     /* owned */
	size_t n, cap;
};

void freeze_session_init(struct freeze_session *s, const struct freeze_config *cfg);
void freeze_session_clear(struct freeze_session *s);
void freeze_actions_clear(struct freeze_actions *a);

/*
 * One input at `now` (monotonic usec, never going back). Appends the actions to *out (which may
 * hold earlier ones). Returns 0, -EINVAL (NULL, an unknown kind or outcome, a request without
 * run / budget, a name NULL or empty), -ENOMEM (the session is then as before this input's
 * reconciliation began, and the caller retries on its next tick). A request of a run not newer
 * than the current one, a thaw of another run and a result of a call not in flight are ignored
 * (returns 0, nothing done).
 */
int freeze_step(struct freeze_session *s, const struct freeze_input *in, uint64_t now, struct freeze_actions *out);

/* When the shell must tick next (the deadline, a thaw retry); UINT64_MAX: nothing to wait for. */
uint64_t freeze_next_wakeup(const struct freeze_session *s);

/* Nothing in flight and nothing this node may have frozen. */
bool freeze_idle(const struct freeze_session *s);

/* "freeze", "thaw", "report"; the report kinds: "frozen", "crash-consistent", "thawed",
 * "thaw-failed". Static. */
const char *freeze_action_name(enum freeze_action_kind k);
const char *freeze_report_name(enum freeze_report r);
