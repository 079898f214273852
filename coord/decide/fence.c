/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fencing decisions (fence.h says what is decided and why). Pure: no I/O, no clock, no globals
 * beyond constant tables.
 *
 * Shape: every node is decided on its own from (its view, its record, the reports about it), on
 * a working copy of its record that only this file changes; the copy becomes the decision's
 * record, flagged changed when it differs from the input's. The ladder (attempt -> next attempt
 * -> next level -> failed round) is one loop whose every pass either returns a decision or moves
 * the record strictly forward, so it ends.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fence.h"
#include "macros.h"
#include "timeouts.h"

static const char *const method_names[_FENCE_METHOD_MAX] = {
	[FENCE_METHOD_ONTAP] = "ontap",
	[FENCE_METHOD_AGENT] = "agent",
	[FENCE_METHOD_WATCHDOG] = "watchdog",
};
static const char *const status_names[_FENCE_STATUS_MAX] = {
	[FENCE_NONE] = "none",       [FENCE_PENDING] = "pending",     [FENCE_CONFIRMED] = "confirmed",
	[FENCE_FAILED] = "failed",   [FENCE_UNFENCING] = "unfencing", [FENCE_RELEASING] = "releasing",
};
static const char *const action_names[_FENCE_ACT_MAX] = {
	[FENCE_ACT_NONE] = "none",       [FENCE_ACT_WAIT] = "wait",   [FENCE_ACT_RUN] = "run",
	[FENCE_ACT_CONFIRM] = "confirm", [FENCE_ACT_FAIL] = "fail",   [FENCE_ACT_HOLD] = "hold",
	[FENCE_ACT_UNFENCE] = "unfence", [FENCE_ACT_CLEAR] = "clear",
};
static const char *const loss_names[_FENCE_LOSS_MAX] = {
	[FENCE_LOSS_NODEDOWN] = "nodedown",
	[FENCE_LOSS_PROCDOWN] = "procdown",
};
static const char *const claim_names[] = {
	[FENCE_CLAIM_NONE] = "none", [FENCE_CLAIM_MAKE] = "make", [FENCE_CLAIM_WAIT] = "wait",
	[FENCE_CLAIM_SELF_FENCE] = "self-fence", [FENCE_CLAIM_WAIT_FOR_PEER] = "wait-for-peer",
};

const char *fence_method_name(enum fence_method m)
{
	return (unsigned)m < _FENCE_METHOD_MAX ? method_names[m] : NULL;
}

const char *fence_status_name(enum fence_status s)
{
	return (unsigned)s < _FENCE_STATUS_MAX ? status_names[s] : NULL;
}

const char *fence_action_name(enum fence_action a)
{
	return (unsigned)a < _FENCE_ACT_MAX ? action_names[a] : NULL;
}

const char *fence_loss_name(enum fence_loss l)
{
	return (unsigned)l < _FENCE_LOSS_MAX ? loss_names[l] : NULL;
}

const char *fence_claim_action_name(enum fence_claim_action a)
{
	return (unsigned)a < ARRAY_SIZE(claim_names) ? claim_names[a] : NULL;
}

int fence_method_from_name(const char *s, enum fence_method *out)
{
	for (unsigned m = 0; s && m < _FENCE_METHOD_MAX; m++)
		if (!strcmp(s, method_names[m])) {
			*out = (enum fence_method)m;
			return 0;
		}
	return -EINVAL;
}

_printf_(2, 3) static int config_error(char **error, const char *fmt, ...)
{
	va_list ap;

	if (error) {
		va_start(ap, fmt);
		if (vasprintf(error, fmt, ap) < 0)
			*error = NULL;
		va_end(ap);
	}
	return -EINVAL;
}

int fence_config_from_timeouts(const struct timeouts *t, const enum fence_method *levels, size_t n,
			       struct fence_config *out, char **error)
{
	struct fence_config c = { 0 };
	bool seen[_FENCE_METHOD_MAX] = { false };

	if (error)
		*error = NULL;
	if (!t || !out || (n && !levels))
		return -EINVAL;
	if (n == 0)
		return config_error(error, "fencing has no level: configure at least one of ontap, agent, watchdog");
	if (n > FENCE_MAX_LEVELS)
		return config_error(error, "fencing has %zu levels, at most %d", n, FENCE_MAX_LEVELS);
	for (size_t i = 0; i < n; i++) {
		if ((unsigned)levels[i] >= _FENCE_METHOD_MAX)
			return config_error(error, "fencing level %zu: unknown method %d", i + 1, (int)levels[i]);
		if (seen[levels[i]])
			return config_error(error, "fencing level %zu: method %s is configured twice", i + 1,
					    method_names[levels[i]]);
		if (levels[i] == FENCE_METHOD_WATCHDOG && !t->watchdog_dead_after_nodedown_usec)
			return config_error(error, "fencing level %zu: watchdog, but there is no watchdog "
					    "(watchdog_timeout 0)", i + 1);
		seen[levels[i]] = true;
		c.levels[i] = levels[i];
	}
	c.n_levels = n;
	/* One retry policy for both active methods (timeouts.h, 7.). */
	c.method[FENCE_METHOD_ONTAP] = (struct fence_method_config){
		.attempts = t->base.fence_agent_attempts, .attempt_usec = t->fence_ontap_attempt_usec,
		.backoff_usec = t->base.fence_agent_backoff_usec };
	c.method[FENCE_METHOD_AGENT] = (struct fence_method_config){
		.attempts = t->base.fence_agent_attempts,
		.attempt_usec = t->base.fence_agent_timeout_usec + t->fence_agent_kill_grace_usec,
		.backoff_usec = t->base.fence_agent_backoff_usec };
	/* The watchdog has nothing to retry: its one "attempt" is the wait for the deadline. */
	c.method[FENCE_METHOD_WATCHDOG] = (struct fence_method_config){ .attempts = 1 };
	c.agent_grace_usec = t->agent_grace_usec;
	c.watchdog_nodedown_usec = t->watchdog_dead_after_nodedown_usec;
	c.watchdog_procdown_usec = t->watchdog_dead_after_procdown_usec;
	c.ontap_quiet_usec = t->ontap_quiet_usec;
	c.round_pause_usec = t->fence_round_pause_usec;
	c.unfence_backoff_usec = t->base.fence_agent_backoff_usec;
	*out = c;
	return 0;
}

/* ---- the working record ------------------------------------------------------------------ */

struct work {
	const struct fence_input *in;
	const struct fence_node *n;
	struct fence_record r;           /* strings: node borrowed from the input, error owned */
	uint64_t written_epoch;          /* the epoch the input record's times are on */
	char *error;
	struct fence_decision *d;
	bool oom;
};

_printf_(2, 3) static void set_error(struct work *w, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		s = NULL;
		w->oom = true;
	}
	va_end(ap);
	free(w->error);
	w->error = s;
}

_printf_(2, 3) static void say(struct work *w, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		s = NULL;
		w->oom = true;
	}
	va_end(ap);
	free(w->d->reason);
	w->d->reason = s;
}

static void act(struct work *w, enum fence_action a, uint64_t at)
{
	w->d->action = a;
	w->d->at_usec = at;
}

static uint64_t ms(uint64_t usec)
{
	return usec / 1000;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static const struct fence_report *find_report(const struct work *w, enum fence_report_kind kind)
{
	const struct fence_input *in = w->in;

	for (size_t i = 0; i < in->n_reports; i++) {
		const struct fence_report *p = &in->reports[i];
		if (p->kind != kind || strcmp(p->node, w->n->name) || p->failure != w->r.failure || p->epoch != in->epoch)
			continue;
		if (kind == FENCE_REPORT_ATTEMPT && (p->level != w->r.level || p->attempt != w->r.attempt))
			continue;
		return p;
	}
	return NULL;
}

static enum fence_method level_method(const struct work *w)
{
	return w->in->config->levels[w->r.level];
}

/* When every mutation an older leader sent has landed (coord/timeouts.h 6.). */
static uint64_t quiet_point(const struct work *w)
{
	return sat_add(w->in->leading_since_usec, w->in->config->ontap_quiet_usec);
}

/* When a read-back may confirm: no access grant can land after it (fence_input). */
static uint64_t readback_after(const struct work *w)
{
	return w->in->grants_settled_usec ? w->in->grants_settled_usec : quiet_point(w);
}

/* The PROCDOWN deadline assumes the host stopped feeding when its kvmcd left: it holds for a
 * departure that BEGAN so (its host may go down later: it fed no more anyway), never for one that
 * began NODEDOWN (its kvmcd may have fed until it noticed) -- nor does the record's loss count,
 * which may be an earlier departure's (a record held while disarmed). */
static uint64_t watchdog_deadline(const struct work *w)
{
	const struct fence_config *c = w->in->config;
	bool procdown = w->n->began == FENCE_LOSS_PROCDOWN;

	return sat_add(w->n->since_usec, procdown ? c->watchdog_procdown_usec : c->watchdog_nodedown_usec);
}

/* The running attempt's deadline (same epoch). */
static uint64_t attempt_deadline(const struct work *w)
{
	enum fence_method m = level_method(w);
	uint64_t from = w->r.started_usec;

	if (m == FENCE_METHOD_WATCHDOG)
		return watchdog_deadline(w);
	if (m == FENCE_METHOD_ONTAP)
		from = max_u64(from, readback_after(w));
	return sat_add(from, w->in->config->method[m].attempt_usec);
}

static void confirm(struct work *w, enum fence_method m)
{
	w->r.status = FENCE_CONFIRMED;
	w->r.running = false;
	w->r.confirmed_by = m;
	act(w, FENCE_ACT_CONFIRM, 0);
	if (m == FENCE_METHOD_WATCHDOG)
		say(w, "%s fenced by its watchdog: not seen for %" PRIu64 " ms since it left (%s)", w->n->name,
		    ms(w->in->now_usec - w->n->since_usec), loss_names[w->n->began]);
	else
		say(w, "%s fenced by %s (level %u, attempt %u)", w->n->name, method_names[m], w->r.level + 1, w->r.attempt);
}

static void run_decision(struct work *w)
{
	struct fence_decision *d = w->d;

	act(w, FENCE_ACT_RUN, attempt_deadline(w));
	d->method = level_method(w);
	d->level = w->r.level;
	d->attempt = w->r.attempt;
	d->failure = w->r.failure;
	if (d->method == FENCE_METHOD_ONTAP)
		d->readback_after_usec = readback_after(w);
	if (d->method == FENCE_METHOD_WATCHDOG)
		say(w, "fencing %s by its watchdog: confirmed at the deadline if it is not seen before", w->n->name);
	else
		say(w, "fencing %s: %s, level %u, attempt %u of %u", w->n->name, method_names[d->method], w->r.level + 1,
		    w->r.attempt, w->in->config->method[d->method].attempts);
}

/* The attempt in flight ended without a confirmation. */
static void attempt_failed(struct work *w)
{
	const struct fence_method_config *mc = &w->in->config->method[level_method(w)];
	unsigned shift = w->r.attempt > 1 ? w->r.attempt - 1 : 0;

	w->r.running = false;
	w->r.not_before_usec = sat_add(w->in->now_usec, shift >= 16 ? mc->backoff_usec << 16 : mc->backoff_usec << shift);
}

/* PENDING, not a member, armed: walk the ladder. */
static void ladder(struct work *w)
{
	const struct fence_input *in = w->in;
	const struct fence_config *c = in->config;
	uint64_t now = in->now_usec;

	for (unsigned guard = 0; guard < 4 * FENCE_MAX_LEVELS + 8; guard++) {
		enum fence_method m = level_method(w);

		if (w->r.running) {
			const struct fence_report *p;

			if (m == FENCE_METHOD_WATCHDOG) {
				if (now >= watchdog_deadline(w))
					confirm(w, m);
				else
					run_decision(w);
				return;
			}
			p = find_report(w, FENCE_REPORT_ATTEMPT);
			if (p && p->ok && m == FENCE_METHOD_ONTAP && readback_after(w) == UINT64_MAX) {
				set_error(w, "ontap: read back while an access grant of this leader was in flight: not a confirmation");
			} else if (p && p->ok && m == FENCE_METHOD_ONTAP && p->readback_usec < readback_after(w)) {
				set_error(w, "ontap: read back at %" PRIu64 " ms, before the quiet point %" PRIu64
					  " ms: not a confirmation", ms(p->readback_usec), ms(readback_after(w)));
			} else if (p && p->ok) {
				confirm(w, m);
				return;
			} else if (p) {
				set_error(w, "%s, attempt %u: %s", method_names[m], w->r.attempt,
					  p->error && *p->error ? p->error : "failed");
			} else if (now >= attempt_deadline(w)) {
				set_error(w, "%s, attempt %u: no result within %" PRIu64 " ms", method_names[m], w->r.attempt,
					  ms(attempt_deadline(w) - w->r.started_usec));
			} else {
				run_decision(w);
				return;
			}
			attempt_failed(w);
			continue;
		}
		bool usable = m != FENCE_METHOD_WATCHDOG || (w->n->watchdog && c->watchdog_nodedown_usec);
		if (!usable || w->r.attempt >= c->method[m].attempts) {
			if (!usable)
				set_error(w, "watchdog: %s published no armed watchdog with this cluster's timeout", w->n->name);
			w->r.level++;
			w->r.attempt = 0;
			w->r.not_before_usec = now;
			if (w->r.level < c->n_levels)
				continue;
			/* every level failed: a round */
			unsigned k = w->r.rounds < 3 ? w->r.rounds : 3;
			w->r.rounds++;
			w->r.level = 0;
			w->r.status = FENCE_FAILED;
			w->r.not_before_usec = sat_add(now, c->round_pause_usec << k);
			act(w, FENCE_ACT_FAIL, w->r.not_before_usec);
			say(w, "fencing %s failed at every level (round %u; last: %s): its VMs wait; next round in %" PRIu64
			    " ms", w->n->name, w->r.rounds, w->error ? w->error : "?", ms(w->r.not_before_usec - now));
			return;
		}
		if (now < w->r.not_before_usec) {
			act(w, FENCE_ACT_WAIT, w->r.not_before_usec);
			say(w, "fencing %s: %s attempt %u in %" PRIu64 " ms (last: %s)", w->n->name, method_names[m],
			    w->r.attempt + 1, ms(w->r.not_before_usec - now), w->error ? w->error : "?");
			return;
		}
		if (m == FENCE_METHOD_ONTAP && readback_after(w) == UINT64_MAX) {
			/* this leader's own grants are in flight (one may be for this node, decided before
			 * its fence): a read-back now could not confirm; start once they are answered */
			act(w, FENCE_ACT_WAIT, 0);
			say(w, "fencing %s: ontap attempt %u waits for this leader's access grants in flight", w->n->name,
			    w->r.attempt + 1);
			return;
		}
		w->r.attempt++;
		w->r.running = true;
		w->r.started_usec = now;
		w->r.epoch = in->epoch;
		if (m == FENCE_METHOD_ONTAP)
			w->r.access_cut = true;
	}
	/* unreachable: every pass above moves the record forward */
	act(w, FENCE_ACT_WAIT, 0);
}

/* UNFENCING: give the access back. */
static void unfence(struct work *w)
{
	const struct fence_input *in = w->in;
	uint64_t now = in->now_usec, limit = in->config->method[FENCE_METHOD_ONTAP].attempt_usec;

	if (w->r.running) {
		const struct fence_report *p = find_report(w, FENCE_REPORT_UNFENCE);
		if (p && p->ok) {
			w->r = (struct fence_record){ .node = w->r.node, .status = FENCE_NONE };
			act(w, FENCE_ACT_CLEAR, 0);
			say(w, "%s has its access back: in service again", w->n->name);
			return;
		}
		if (!p && now < sat_add(w->r.started_usec, limit)) {
			act(w, FENCE_ACT_UNFENCE, sat_add(w->r.started_usec, limit));
			w->d->failure = w->r.failure;
			say(w, "giving %s its access back", w->n->name);
			return;
		}
		set_error(w, "unfence: %s", p ? (p->error && *p->error ? p->error : "failed") : "no result in time");
		w->r.running = false;
		w->r.not_before_usec = sat_add(now, in->config->unfence_backoff_usec);
	}
	if (now < w->r.not_before_usec) {
		act(w, FENCE_ACT_WAIT, w->r.not_before_usec);
		say(w, "giving %s its access back in %" PRIu64 " ms%s%s", w->n->name, ms(w->r.not_before_usec - now),
		    w->error ? " (last: " : "", w->error ? w->error : "");
		if (w->error && w->d->reason) {
			char *s;
			if (asprintf(&s, "%s)", w->d->reason) < 0)
				w->oom = true;
			else {
				free(w->d->reason);
				w->d->reason = s;
			}
		}
		return;
	}
	w->r.running = true;
	w->r.started_usec = now;
	w->r.epoch = in->epoch;
	act(w, FENCE_ACT_UNFENCE, sat_add(now, limit));
	w->d->failure = w->r.failure;
	say(w, "giving %s its access back", w->n->name);
}

/* A record written under another epoch: its times are another host's. */
static void adopt(struct work *w)
{
	const struct fence_input *in = w->in;
	uint64_t now = in->now_usec;

	if (w->r.status == FENCE_NONE || w->r.epoch == in->epoch)
		return;
	if (w->r.status == FENCE_PENDING) {
		if (w->r.running)
			set_error(w, "%s, attempt %u was in flight under epoch %" PRIu64 ": counted as failed",
				  method_names[level_method(w)], w->r.attempt, w->r.epoch);
		w->r.running = false;
		w->r.not_before_usec = now;
	} else if (w->r.status == FENCE_FAILED) {
		unsigned k = w->r.rounds ? (w->r.rounds - 1 < 3 ? w->r.rounds - 1 : 3) : 0;
		w->r.not_before_usec = sat_add(now, in->config->round_pause_usec << k);
	} else if (w->r.status == FENCE_UNFENCING || w->r.status == FENCE_RELEASING) {
		/* An unfence of the old leader may still land; giving access again is idempotent. */
		w->r.running = false;
		w->r.not_before_usec = now;
	}
	w->r.epoch = in->epoch;
}

static void decide_disarmed(struct work *w)
{
	const struct fence_node *n = w->n;

	switch (w->r.status) {
	case FENCE_NONE:
		if (!n->member) {
			act(w, FENCE_ACT_WAIT, 0);
			say(w, "%s left the view (%s) but HA is disarmed: not fenced, its VMs wait", n->name,
			    loss_names[n->loss]);
		}
		return;
	case FENCE_CONFIRMED:
		act(w, FENCE_ACT_NONE, 0);
		say(w, "%s is fenced (%s); HA is disarmed: nothing moves", n->name, method_names[w->r.confirmed_by]);
		return;
	case FENCE_PENDING:
	case FENCE_FAILED:
		if (n->member && !w->r.access_cut) {
			/* Back in the view: dropping a fence fences nobody; keeping it would resume a
			 * fence for a departure that is over (its timing no longer holds). */
			w->r = (struct fence_record){ .node = w->r.node, .status = FENCE_NONE };
			act(w, FENCE_ACT_CLEAR, 0);
			say(w, "%s is back in the view before its fence was confirmed: fence dropped (HA is disarmed)",
			    n->name);
			return;
		}
		_fallthrough_;
	case FENCE_UNFENCING:
	default:
		if (w->r.running) {
			/* cancelled, not failed: re-arming runs the same attempt again */
			w->r.running = false;
			if (w->r.status == FENCE_PENDING && w->r.attempt > 0)
				w->r.attempt--;
		}
		act(w, FENCE_ACT_HOLD, 0);
		say(w, "HA is disarmed: the %s fence of %s is held", status_names[w->r.status], n->name);
		return;
	}
}

static void decide_member(struct work *w)
{
	const struct fence_input *in = w->in;
	const struct fence_node *n = w->n;

	switch (w->r.status) {
	case FENCE_NONE:
		return;
	case FENCE_PENDING:
	case FENCE_FAILED: {
		/* Back before its fence was confirmed: its VMs never moved, it keeps them. */
		if (!w->r.access_cut) {
			w->r = (struct fence_record){ .node = w->r.node, .status = FENCE_NONE };
			act(w, FENCE_ACT_CLEAR, 0);
			say(w, "%s is back in the view before its fence was confirmed: fence dropped", n->name);
			return;
		}
		uint64_t nb = in->now_usec;
		/* Its removal may still land: give the access back only once it cannot (this leader's
		 * attempt: at its deadline; an older leader's: at this leader's quiet point). */
		if (w->written_epoch != in->epoch)
			nb = max_u64(nb, quiet_point(w));
		else if (w->r.running && level_method(w) == FENCE_METHOD_ONTAP)
			nb = attempt_deadline(w);
		w->r.status = FENCE_RELEASING;
		w->r.running = false;
		w->r.not_before_usec = nb;
		unfence(w);
		say(w, "%s is back in the view before its fence was confirmed: %s", n->name,
		    w->d->action == FENCE_ACT_UNFENCE ? "giving its access back" : "its access is given back once the "
		    "removal in flight cannot land any more");
		return;
	}
	case FENCE_CONFIRMED:
		if (!n->clean) {
			act(w, FENCE_ACT_WAIT, 0);
			say(w, "%s is back but dirty: it still runs VMs it does not own; unfenced once it runs none", n->name);
			return;
		}
		if (!w->r.access_cut) {
			w->r = (struct fence_record){ .node = w->r.node, .status = FENCE_NONE };
			act(w, FENCE_ACT_CLEAR, 0);
			say(w, "%s is back and clean: in service again", n->name);
			return;
		}
		w->r.status = FENCE_UNFENCING;
		w->r.running = false;
		w->r.started_usec = 0; /* no unfence sent yet (decide_out: leaving again before one) */
		w->r.not_before_usec = in->now_usec;
		unfence(w);
		return;
	case FENCE_UNFENCING:
	case FENCE_RELEASING:
	default:
		unfence(w);
		return;
	}
}

static void decide_out(struct work *w)
{
	const struct fence_input *in = w->in;
	const struct fence_node *n = w->n;
	uint64_t now = in->now_usec;

	switch (w->r.status) {
	case FENCE_NONE:
		if (n->loss == FENCE_LOSS_PROCDOWN && now < sat_add(n->since_usec, in->config->agent_grace_usec)) {
			act(w, FENCE_ACT_WAIT, sat_add(n->since_usec, in->config->agent_grace_usec));
			say(w, "kvmcd on %s left, its corosync stayed: waiting %" PRIu64 " ms for it to come back before "
			    "fencing", n->name, ms(w->d->at_usec - now));
			return;
		}
		w->r = (struct fence_record){ .node = w->r.node, .status = FENCE_PENDING, .failure = n->failure,
					      .loss = n->loss, .epoch = in->epoch, .not_before_usec = now };
		ladder(w);
		return;
	case FENCE_PENDING:
		ladder(w);
		return;
	case FENCE_FAILED:
		if (now < w->r.not_before_usec) {
			act(w, FENCE_ACT_WAIT, w->r.not_before_usec);
			say(w, "fencing %s failed at every level (round %u; last: %s): next round in %" PRIu64 " ms", n->name,
			    w->r.rounds, w->error ? w->error : "?", ms(w->r.not_before_usec - now));
			return;
		}
		w->r.status = FENCE_PENDING;
		w->r.level = 0;
		w->r.attempt = 0;
		ladder(w);
		return;
	case FENCE_CONFIRMED:
		act(w, FENCE_ACT_NONE, 0);
		say(w, "%s is fenced (%s)", n->name, method_names[w->r.confirmed_by]);
		return;
	case FENCE_UNFENCING:
		if (!w->r.running && !w->r.started_usec) {
			/* It left again before its access was given back: still fenced, it owns nothing. */
			w->r.status = FENCE_CONFIRMED;
			act(w, FENCE_ACT_NONE, 0);
			say(w, "%s left again before it was unfenced: it stays fenced", n->name);
			return;
		}
		/* The unfence -- an access grant -- was sent: the access may be back, or come back
		 * later. Not fenced any more: fenced anew, like a RELEASING node. */
		_fallthrough_;
	case FENCE_RELEASING:
		/* It left again before its access was back, never fenced: a new departure, a new
		 * fence (the grace first, for a PROCDOWN). */
		if (n->loss == FENCE_LOSS_PROCDOWN && now < sat_add(n->since_usec, in->config->agent_grace_usec)) {
			w->r.running = false;
			act(w, FENCE_ACT_WAIT, sat_add(n->since_usec, in->config->agent_grace_usec));
			say(w, "kvmcd on %s left again, its corosync stayed: waiting %" PRIu64 " ms for it to come back "
			    "before fencing", n->name, ms(w->d->at_usec - now));
			return;
		}
		w->r = (struct fence_record){ .node = w->r.node, .status = FENCE_PENDING, .failure = n->failure,
					      .loss = n->loss, .epoch = in->epoch, .not_before_usec = now,
					      .access_cut = true };
		ladder(w);
		return;
	default:
		act(w, FENCE_ACT_NONE, 0);
		return;
	}
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool record_equal(const struct fence_record *a, const struct fence_record *b)
{
	if (a->status == FENCE_NONE && b->status == FENCE_NONE)
		return true;
	return a->status == b->status && a->failure == b->failure && a->loss == b->loss && a->level == b->level &&
	       a->attempt == b->attempt && a->rounds == b->rounds && a->running == b->running &&
	       a->access_cut == b->access_cut && a->confirmed_by == b->confirmed_by && a->epoch == b->epoch &&
	       a->started_usec == b->started_usec && a->not_before_usec == b->not_before_usec &&
	       str_eq(a->error, b->error);
}

/* ---- the entry point --------------------------------------------------------------------- */

static int check_input(const struct fence_input *in)
{
	const struct fence_config *c = in->config;

	if (!c || c->n_levels == 0 || c->n_levels > FENCE_MAX_LEVELS || (in->n_nodes && !in->nodes) ||
	    (in->n_records && !in->records) || (in->n_reports && !in->reports))
		return -EINVAL;
	for (size_t i = 0; i < c->n_levels; i++)
		if ((unsigned)c->levels[i] >= _FENCE_METHOD_MAX || c->method[c->levels[i]].attempts == 0)
			return -EINVAL;
	for (size_t i = 0; i < in->n_nodes; i++) {
		const struct fence_node *n = &in->nodes[i];
		if (!n->name || (!n->member && (n->failure == 0 || (unsigned)n->loss >= _FENCE_LOSS_MAX ||
						 (unsigned)n->began >= _FENCE_LOSS_MAX)))
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(in->nodes[j].name, n->name))
				return -EINVAL;
	}
	for (size_t i = 0; i < in->n_records; i++) {
		const struct fence_record *r = &in->records[i];
		if (!r->node || (unsigned)r->status >= _FENCE_STATUS_MAX || (unsigned)r->loss >= _FENCE_LOSS_MAX ||
		    (r->status != FENCE_NONE && r->level >= c->n_levels) ||
		    (unsigned)r->confirmed_by >= _FENCE_METHOD_MAX)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(in->records[j].node, r->node))
				return -EINVAL;
	}
	for (size_t i = 0; i < in->n_reports; i++)
		if (!in->reports[i].node)
			return -EINVAL;
	return 0;
}

void fence_result_free(struct fence_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_decisions; i++) {
		free(r->decisions[i].node);
		free(r->decisions[i].reason);
		free((char *)r->decisions[i].record.error);
	}
	free(r->decisions);
	free(r);
}

int fence_decide(const struct fence_input *in, struct fence_result **out)
{
	struct fence_result *res;
	int rc;

	if (!in || !out)
		return -EINVAL;
	rc = check_input(in);
	if (rc < 0)
		return rc;
	res = calloc(1, sizeof(*res));
	if (!res)
		return -ENOMEM;
	res->decisions = calloc(in->n_nodes ? in->n_nodes : 1, sizeof(*res->decisions));
	if (!res->decisions) {
		free(res);
		return -ENOMEM;
	}

	/* Nobody but the acting leader decides anything; the claim comes first in a two-node
	 * cluster, and only while armed (a lost claim fences this node). */
	if (!in->acting) {
		*out = res;
		return 0;
	}
	if (in->claim.needed) {
		if (!in->armed) {
			*out = res;
			return 0;
		}
		switch (in->claim.state) {
		case FENCE_CLAIM_STATE_NONE:
			res->claim = in->claim.peer_seen ? FENCE_CLAIM_MAKE : FENCE_CLAIM_WAIT_FOR_PEER;
			break;
		case FENCE_CLAIM_STATE_PENDING:
			res->claim = FENCE_CLAIM_WAIT;
			break;
		case FENCE_CLAIM_STATE_LOST:
			res->claim = FENCE_CLAIM_SELF_FENCE;
			break;
		case FENCE_CLAIM_STATE_WON:
		default:
			break;
		}
		if (in->claim.state != FENCE_CLAIM_STATE_WON) {
			*out = res;
			return 0;
		}
	}
	res->may_act = true;

	for (size_t i = 0; i < in->n_nodes; i++) {
		const struct fence_node *n = &in->nodes[i];
		const struct fence_record *rec = NULL;
		struct fence_decision *d = &res->decisions[res->n_decisions];
		struct work w = { .in = in, .n = n, .d = d };

		for (size_t j = 0; j < in->n_records; j++)
			if (!strcmp(in->records[j].node, n->name))
				rec = &in->records[j];
		if (rec) {
			w.r = *rec;
			w.r.node = n->name;
			if (rec->error && !(w.error = strdup(rec->error)))
				w.oom = true;
		} else {
			w.r = (struct fence_record){ .node = n->name, .status = FENCE_NONE };
		}
		if (w.r.status == FENCE_NONE && n->member) {
			free(w.error);
			if (w.oom)
				goto oom;
			continue;
		}
		*d = (struct fence_decision){ .action = FENCE_ACT_NONE };
		w.written_epoch = w.r.epoch;
		if (in->armed)
			adopt(&w);
		if (!in->armed)
			decide_disarmed(&w);
		else if (n->member)
			decide_member(&w);
		else
			decide_out(&w);
		if (w.r.status == FENCE_NONE) {
			free(w.error);
			w.error = NULL;
		}
		w.r.error = w.error;
		d->record = w.r;
		d->record_changed = rec ? !record_equal(rec, &w.r) : w.r.status != FENCE_NONE;
		d->node = strdup(n->name);
		res->n_decisions++;
		if (!d->node || w.oom) {
			d->record.error = w.error;
			goto oom;
		}
		if ((d->action == FENCE_ACT_WAIT || d->action == FENCE_ACT_RUN || d->action == FENCE_ACT_FAIL ||
		     d->action == FENCE_ACT_UNFENCE) && d->at_usec &&
		    (!res->wake_usec || d->at_usec < res->wake_usec))
			res->wake_usec = d->at_usec;
	}
	*out = res;
	return 0;
oom:
	fence_result_free(res);
	return -ENOMEM;
}
