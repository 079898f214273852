/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fence METHODS: what actually runs when the fence core (coord/decide/fence.h) decides
 * "RUN attempt k of level L for node N until deadline D". The core decides, the HA service
 * (the leader's, later in agent/) starts exactly that attempt through one of these tables,
 * cancels it when the core no longer names it, and reports its end once (struct fence_report).
 *
 *   method     implementation                                      runs where
 *   "ontap"    resources/ontap (the ONTAP module, dlopened): remove   the acting leader, on the
 *              the node's access on ONTAP, read it back              loop (libcurl multi): no
 *                                                                    child
 *   "agent"    fencing/agent.c: a fence-agents program (fence_ipmilan, the leader, as children
 *              fence_redfish, ...) with the stdin protocol: `off`,    (common/runner.h)
 *              then `status` must say OFF
 *   "watchdog" nothing runs on the survivors: the node's own watchdog resets it, the core counts
 *              it fenced at a derived deadline. Its host side is fencing/watchdog.h (every node
 *              feeds its own device while healthy); it has no table here.
 *
 * THE CONTRACT (struct fence_method_ops, the same for every method, like resources/host/host.h):
 *   - start() returns < 0 when nothing was started (no callback follows, *out untouched), else 0
 *     and `done` follows EXACTLY ONCE, later, from the loop (never from inside start()).
 *   - `done` comes AT THE LATEST at deadline_usec (plus the loop's latency): an attempt that has
 *     not ended by then is reported TIMED_OUT and whatever it still runs is stopped (children:
 *     TERM, then KILL, by the runner). So the caller's report always lands before the core's
 *     deadline for that attempt has a chance to disagree.
 *   - cancel(h) stops the attempt; after cancel() returns `done` is NEVER called and h is gone.
 *     (The core's HOLD and an attempt it no longer names: the attempt is not counted, so there is
 *     nothing to report.) Children are still killed in the background.
 *   - CONFIRMED is said only on positive evidence that the node can no longer write (power off
 *     as the BMC reports it AFTER the off; ONTAP read back without the node's access). Anything
 *     else -- an error, output that cannot be read, a deadline -- is FAILED or TIMED_OUT. A
 *     method never guesses in the unsafe direction.
 *   - Every method is idempotent: fencing a node that is fenced succeeds (power already off:
 *     confirmed; access already gone: confirmed).
 *   - Secrets (BMC passwords, from root-only files) go to the method's program on stdin only:
 *     never on a command line, in the environment, in a log line or in the outcome's text.
 *
 * Parameters come from the configuration as an ordered list of key = value pairs per node (the
 * daemon's config section for that node and method, e.g. `[fence-agent n2]`); each method says
 * which keys it takes. check() validates them without running anything (config load and reload:
 * a bad section is refused with a message naming the node and the key), start() checks again
 * (files may have changed since).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

/* The core's header has the same base name; include it by path (and this one as
 * "fencing/fence.h") so neither shadows the other. */
#include "../coord/decide/fence.h"

struct runner;
struct timeouts;

/* Where a method's log lines go (the daemon: klog). level: syslog's; text borrowed, one line. */
typedef void (*fence_log_fn)(void *userdata, int level, const char *text);

/* What every method may use. Borrowed; outlives every attempt started with it. */
struct fence_ctx {
	sd_event *event;
	struct runner *runner;            /* agent: children with deadlines (tests: argv capture) */
	const struct timeouts *timeouts;  /* the derived timing (fence_agent_kill_grace, ...) */
	fence_log_fn log;                 /* NULL: nothing is logged */
	void *log_userdata;
	void *ontap;                      /* ontap: the leader's ONTAP link (opaque to everyone but
					     the ONTAP module); NULL on a node that does not lead */
};

/* One configured parameter, in configuration order. Borrowed. */
struct fence_param {
	const char *key;
	const char *value;
};

/* Whom to fence, and how this method was configured for that node. Borrowed during start()
 * (and check()); a method copies what it keeps. */
struct fence_target {
	const char *node;                 /* the node's name, as in the cluster */
	const struct fence_param *params; /* the method's parameters for this node */
	size_t n_params;
	const void *extra;                /* method-specific structured input (ontap: the node's
					     initiators / host NQNs as the leader recorded them);
					     NULL for the agent method */
};

enum fence_outcome_kind {
	FENCE_OUTCOME_CONFIRMED,          /* positive evidence: the node cannot write any more */
	FENCE_OUTCOME_FAILED,             /* the method said no, or its answer could not be read */
	FENCE_OUTCOME_TIMED_OUT,          /* not ended by the deadline; what ran was stopped */
};

/* How an attempt ended. Borrowed during the done call. */
struct fence_outcome {
	enum fence_outcome_kind kind;
	/* CONFIRMED: the evidence, for the record and `fence history` ("power status: off
	 * (fence_ipmilan: Status: OFF)"); otherwise why, in words, naming the step ("off: exited
	 * with status 1: Failed: Unable to connect/login to fencing device"). Never a secret. */
	const char *text;
	uint64_t readback_usec;           /* ontap CONFIRMED: when the confirming read-back was
					     issued (fence_report.readback_usec); else 0 */
	uint64_t duration_usec;           /* start to end */
};

typedef void (*fence_done_fn)(void *userdata, const struct fence_outcome *outcome);

struct fence_handle;

/*
 * A fence method. The hooks run on the loop's thread. NULL hooks: unsupported.
 */
struct fence_method_ops {
	const char *name;                 /* fence_method_name(method): "agent", "ontap" */
	enum fence_method method;
	/*
	 * Validates t's parameters (keys known, required ones present, files it names readable by
	 * root only) without running anything. Returns 0, or -EINVAL / -ENOENT / -EPERM / ... with
	 * *error (owned; names the node, the key and the problem, never a secret's content).
	 * error may be NULL.
	 */
	int (*check)(const struct fence_target *t, char **error);
	/*
	 * Starts one attempt that must end by deadline_usec (CLOCK_MONOTONIC, absolute: the RUN
	 * decision's at_usec). Returns 0 with *out (borrowed: valid until done has run or cancel()
	 * returned), then done(userdata, outcome) exactly once, later, at the latest at the deadline;
	 * or < 0 with nothing started and no callback: -EINVAL for parameters check() refuses (and
	 * *error when error is not NULL: owned), -ETIME for a deadline already past, -ENOMEM, or what
	 * starting the work returned (-ENOENT: the agent's program is missing).
	 */
	int (*start)(struct fence_ctx *ctx, const struct fence_target *t, uint64_t deadline_usec,
		     fence_done_fn done, void *userdata, struct fence_handle **out, char **error);
	/* Stops the attempt; no callback follows, h is freed. h must be live (done not yet run). */
	void (*cancel)(struct fence_handle *h);
};

/* fence-agents power fencing (fencing/agent.c). */
extern const struct fence_method_ops fence_agent_ops;

/*
 * The methods built into kvmcd itself: FENCE_METHOD_AGENT -> &fence_agent_ops. NULL for
 * FENCE_METHOD_ONTAP (its table lives in the ONTAP module, which the daemon dlopens: take it
 * from there) and FENCE_METHOD_WATCHDOG (nothing runs on the survivors).
 */
const struct fence_method_ops *fence_method_builtin(enum fence_method m);

/* "confirmed", "failed", "timed-out"; NULL out of range. Static. */
const char *fence_outcome_name(enum fence_outcome_kind k);
