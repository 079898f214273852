/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Safety timing derived from a few base values. Pure; the reasoning is in timeouts.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "timeouts.h"

#define MS(x) ((uint64_t)(x) * USEC_PER_MSEC)
#define SEC(x) ((uint64_t)(x) * USEC_PER_SEC)

void timeouts_defaults(struct timeouts_base *b)
{
	*b = (struct timeouts_base){
		.totem_token_usec = MS(3000),
		.totem_token_coefficient_usec = MS(650),
		.totem_nodes = 3,
		.totem_consensus_usec = 0,
		.stall_timeout_usec = 0, /* derived: stall_clean_min */
		.request_timeout_usec = SEC(30),
		.ontap_request_timeout_usec = SEC(30),
		.ontap_job_timeout_usec = SEC(600),
		.agent_restart_usec = MS(6000),
		.watchdog_timeout_usec = SEC(10),
		.watchdog_keepalive_usec = 0,
		.fence_agent_timeout_usec = SEC(60),
		.fence_agent_attempts = 3,
		.fence_agent_backoff_usec = SEC(2),
		.margin_usec = MS(1000),
		.shutdown_timeout_usec = SEC(240),
		.guest_stop_grace_usec = SEC(60),
	};
}

/* "8030 ms", or "10312.500 ms" when not whole milliseconds. buf: at least 32 bytes. */
static const char *ms(char *buf, uint64_t usec)
{
	if (usec % USEC_PER_MSEC == 0)
		snprintf(buf, 32, "%" PRIu64 " ms", (uint64_t)(usec / USEC_PER_MSEC));
	else
		snprintf(buf, 32, "%" PRIu64 ".%03" PRIu64 " ms", (uint64_t)(usec / USEC_PER_MSEC),
			 (uint64_t)(usec % USEC_PER_MSEC));
	return buf;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

_printf_(2, 3) static int refuse(char **error, const char *fmt, ...)
{
	va_list ap;

	if (!error)
		return -EINVAL;
	va_start(ap, fmt);
	int r = vasprintf(error, fmt, ap);
	va_end(ap);
	if (r < 0) {
		*error = NULL;
		return -ENOMEM;
	}
	return -EINVAL;
}

static int check_usec(const char *name, uint64_t v, uint64_t min, uint64_t max, char **error)
{
	char a[32], b[32], c[32];

	if (v >= min && v <= max)
		return 0;
	return refuse(error, "%s %s is out of bounds [%s, %s]", name, ms(a, v), ms(b, min), ms(c, max));
}

static int check_count(const char *name, uint32_t v, uint32_t min, uint32_t max, char **error)
{
	if (v >= min && v <= max)
		return 0;
	return refuse(error, "%s %" PRIu32 " is out of bounds [%" PRIu32 ", %" PRIu32 "]", name, v, min, max);
}

static int check_bounds(const struct timeouts_base *b, char **error)
{
	int r;

	if ((r = check_usec("totem_token", b->totem_token_usec, MS(100), SEC(300), error)) < 0 ||
	    (r = check_usec("totem_token_coefficient", b->totem_token_coefficient_usec, 0, SEC(10), error)) < 0 ||
	    (r = check_count("totem_nodes", b->totem_nodes, 1, 1000, error)) < 0 ||
	    (b->totem_consensus_usec != 0 &&
	     (r = check_usec("totem_consensus", b->totem_consensus_usec, MS(100), SEC(600), error)) < 0) ||
	    (b->stall_timeout_usec != 0 &&
	     (r = check_usec("stall_timeout", b->stall_timeout_usec, SEC(1), SEC(600), error)) < 0) ||
	    (r = check_usec("request_timeout", b->request_timeout_usec, SEC(1), SEC(3600), error)) < 0 ||
	    (r = check_usec("ontap_request_timeout", b->ontap_request_timeout_usec, SEC(1), SEC(3600), error)) < 0 ||
	    (r = check_usec("ontap_job_timeout", b->ontap_job_timeout_usec, SEC(1), SEC(86400), error)) < 0 ||
	    (r = check_usec("agent_restart", b->agent_restart_usec, SEC(1), SEC(300), error)) < 0 ||
	    (b->watchdog_timeout_usec != 0 &&
	     (r = check_usec("watchdog_timeout", b->watchdog_timeout_usec, SEC(2), SEC(600), error)) < 0) ||
	    (r = check_usec("fence_agent_timeout", b->fence_agent_timeout_usec, SEC(5), SEC(600), error)) < 0 ||
	    (r = check_count("fence_agent_attempts", b->fence_agent_attempts, 1, 10, error)) < 0 ||
	    (r = check_usec("fence_agent_backoff", b->fence_agent_backoff_usec, MS(100), SEC(60), error)) < 0 ||
	    (r = check_usec("margin", b->margin_usec, MS(100), SEC(60), error)) < 0 ||
	    (r = check_usec("shutdown_timeout", b->shutdown_timeout_usec, SEC(10), SEC(3600), error)) < 0 ||
	    (r = check_usec("guest_stop_grace", b->guest_stop_grace_usec, 0, SEC(600), error)) < 0)
		return r;
	return 0;
}

/* The watchdog's own consistency; t already holds agent_grace. */
static int check_watchdog(const struct timeouts_base *b, const struct timeouts *t, char **error)
{
	char a[32], c[32], d[32];

	if (b->watchdog_timeout_usec == 0) {
		if (b->watchdog_keepalive_usec != 0)
			return refuse(error, "watchdog_keepalive %s is set but there is no watchdog (watchdog_timeout 0)",
				      ms(a, b->watchdog_keepalive_usec));
		return 0;
	}
	if (b->watchdog_timeout_usec % USEC_PER_SEC != 0)
		return refuse(error, "watchdog_timeout %s is not whole seconds: the device counts seconds; "
			      "pass the timeout the driver reports after WDIOC_SETTIMEOUT",
			      ms(a, b->watchdog_timeout_usec));
	if (b->watchdog_keepalive_usec != 0 &&
	    (b->watchdog_keepalive_usec < MS(100) || b->watchdog_keepalive_usec > b->watchdog_timeout_usec / 3))
		return refuse(error, "watchdog_keepalive %s must be within [100 ms, watchdog_timeout / 3 = %s] "
			      "(watchdog_timeout %s): a late keepalive must not be the one that lets the device fire",
			      ms(a, b->watchdog_keepalive_usec), ms(c, b->watchdog_timeout_usec / 3),
			      ms(d, b->watchdog_timeout_usec));
	if (t->agent_grace_usec > b->watchdog_timeout_usec - t->watchdog_keepalive_usec) {
		char e[32], f[32];
		return refuse(error, "agent_grace %s (agent_restart %s + margin %s) is longer than watchdog_timeout %s "
			      "- watchdog_keepalive %s: the host's own watchdog would reset it during every kvmcd "
			      "restart that the grace is meant to allow",
			      ms(a, t->agent_grace_usec), ms(c, b->agent_restart_usec), ms(d, b->margin_usec),
			      ms(e, b->watchdog_timeout_usec), ms(f, t->watchdog_keepalive_usec));
	}
	return 0;
}

int timeouts_derive(const struct timeouts_base *given, struct timeouts *out, char **error)
{
	struct timeouts t = { .base = *given };
	const struct timeouts_base *b = &t.base;
	char x[32], y[32];
	int r;

	if (error)
		*error = NULL;
	if ((r = check_bounds(given, error)) < 0)
		return r;

	/* 2. corosync: the coefficient applies from 3 nodes on; the default consensus follows the
	 * effective token. 6/5 in integers is never below corosync's own (int)(1.2 * ms). */
	t.totem_token_effective_usec = b->totem_token_usec;
	if (b->totem_nodes > 2)
		t.totem_token_effective_usec += (uint64_t)(b->totem_nodes - 2) * b->totem_token_coefficient_usec;
	t.totem_consensus_usec = b->totem_consensus_usec ? b->totem_consensus_usec
							 : t.totem_token_effective_usec * 6 / 5;
	t.detection_usec = t.totem_token_effective_usec + t.totem_consensus_usec;

	/* 3. stall_timeout 0: the shortest that never takes a node failure for a stall, at least 1 s */
	t.stall_clean_min_usec = 2 * (t.detection_usec + b->margin_usec);
	if (!t.base.stall_timeout_usec) {
		t.base.stall_timeout_usec = max_u64(t.stall_clean_min_usec, SEC(1));
		if (t.base.stall_timeout_usec > SEC(600))
			return refuse(error, "stall_timeout derived from corosync's timing (%s) is above 600000 ms; "
				      "set [cluster] stall_timeout or lower totem.token",
				      ms(x, t.base.stall_timeout_usec));
	}

	/* 3. liveness */
	t.heartbeat_usec = b->stall_timeout_usec / 2;
	t.quorum_grace_usec = b->stall_timeout_usec / 8;
	t.leader_lease_usec = b->stall_timeout_usec;
	t.commit_max_usec = t.detection_usec + b->stall_timeout_usec + b->margin_usec;

	/* 4. */
	t.notice_max_usec = max_u64(t.detection_usec, b->stall_timeout_usec);

	/* 5. */
	t.agent_grace_usec = b->agent_restart_usec + b->margin_usec;
	if (b->watchdog_timeout_usec) {
		t.watchdog_keepalive_usec = b->watchdog_keepalive_usec ? b->watchdog_keepalive_usec
								       : b->watchdog_timeout_usec / 4;
		t.watchdog_fire_max_usec = b->watchdog_timeout_usec + b->watchdog_timeout_usec / 32;
		t.watchdog_dead_after_nodedown_usec = t.notice_max_usec + t.watchdog_keepalive_usec +
						      t.watchdog_fire_max_usec + b->margin_usec;
		t.watchdog_dead_after_procdown_usec = t.watchdog_keepalive_usec + t.watchdog_fire_max_usec +
						      b->margin_usec;
	}

	/* 6. */
	t.ontap_quiet_usec = t.notice_max_usec + b->ontap_request_timeout_usec + b->margin_usec;
	t.ontap_jobs_settled_usec = t.ontap_quiet_usec + b->ontap_job_timeout_usec;

	/* 7. */
	t.fence_ontap_attempt_usec = 4 * b->ontap_request_timeout_usec;
	t.fence_agent_kill_grace_usec = b->fence_agent_timeout_usec / 10;
	t.fence_agent_deadline_usec =
		b->fence_agent_attempts * (b->fence_agent_timeout_usec + t.fence_agent_kill_grace_usec) +
		b->fence_agent_backoff_usec * ((UINT64_C(1) << (b->fence_agent_attempts - 1)) - 1);
	t.fence_ontap_deadline_usec =
		b->fence_agent_attempts * t.fence_ontap_attempt_usec +
		b->fence_agent_backoff_usec * ((UINT64_C(1) << (b->fence_agent_attempts - 1)) - 1);
	t.fence_round_pause_usec = max_u64(t.fence_ontap_attempt_usec,
					   b->fence_agent_timeout_usec + t.fence_agent_kill_grace_usec);

	/* 8. A shutdown_timeout too short to drain leaves no time for live migrations: the guests
	 * are shut down at once (noted, not refused: it costs the guests a restart, not safety). */
	t.shutdown_release_usec = t.commit_max_usec;
	if (b->shutdown_timeout_usec >= b->guest_stop_grace_usec + t.shutdown_release_usec + 2 * b->margin_usec)
		t.shutdown_drain_usec = b->shutdown_timeout_usec - b->guest_stop_grace_usec - t.shutdown_release_usec -
					b->margin_usec;
	else
		t.notes |= TIMEOUTS_NOTE_SHUTDOWN_SHORT;

	/* The refused relations (timeouts.h says why each one is a refusal). */
	if (b->ontap_job_timeout_usec < b->ontap_request_timeout_usec)
		return refuse(error, "ontap_job_timeout %s is shorter than ontap_request_timeout %s",
			      ms(x, b->ontap_job_timeout_usec), ms(y, b->ontap_request_timeout_usec));
	if ((r = check_watchdog(b, &t, error)) < 0)
		return r;

	if (b->stall_timeout_usec < t.stall_clean_min_usec)
		t.notes |= TIMEOUTS_NOTE_FAILURE_MAY_STALL;
	if (b->request_timeout_usec < t.commit_max_usec)
		t.notes |= TIMEOUTS_NOTE_REQUEST_SHORT;
	if (!b->watchdog_timeout_usec)
		t.notes |= TIMEOUTS_NOTE_NO_WATCHDOG;
	*out = t;
	return 0;
}

/* ------------------------------------------------------------------------------ describe */

struct text {
	char *s;
	size_t len, cap;
	bool oom;
};

_printf_(2, 3) static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->oom = true;
		return;
	}
	if (t->s && t->len + (size_t)n < t->cap) {
		t->len += (size_t)n;
		return;
	}
	size_t cap = t->cap ? t->cap : 4096;
	while (cap <= t->len + (size_t)n)
		cap *= 2;
	char *s = realloc(t->s, cap);
	if (!s) {
		t->oom = true;
		return;
	}
	t->s = s;
	t->cap = cap;
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

static void line(struct text *t, const char *kind, const char *name, uint64_t usec, const char *formula)
{
	char v[32];

	add(t, "%-7s %-30s %14s  %s\n", kind, name, ms(v, usec), formula);
}

static void line_wd(struct text *t, const struct timeouts *tt, const char *name, uint64_t usec, const char *formula)
{
	if (tt->base.watchdog_timeout_usec)
		line(t, "derived", name, usec, formula);
	else
		add(t, "%-7s %-30s %14s  %s\n", "derived", name, "-", "no watchdog");
}

int timeouts_describe(const struct timeouts *tt, char **out)
{
	const struct timeouts_base *b = &tt->base;
	struct text t = { 0 };
	char v[32], x[32], y[32];

	add(&t, "# kvmcd safety timing (the timeline is walked in coord/timeouts.h); name value formula\n");
	line(&t, "base", "totem_token", b->totem_token_usec, "corosync totem.token");
	line(&t, "base", "totem_token_coefficient", b->totem_token_coefficient_usec, "corosync totem.token_coefficient");
	add(&t, "%-7s %-30s %14" PRIu32 "  %s\n", "base", "totem_nodes", b->totem_nodes, "nodes in corosync's nodelist");
	line(&t, "base", "totem_consensus", b->totem_consensus_usec, "corosync totem.consensus (0 = 1.2 * effective token)");
	line(&t, "base", "stall_timeout", b->stall_timeout_usec, "[cluster] stall_timeout");
	line(&t, "base", "request_timeout", b->request_timeout_usec, "[cluster] request_timeout");
	line(&t, "base", "ontap_request_timeout", b->ontap_request_timeout_usec, "[ontap] request_timeout");
	line(&t, "base", "ontap_job_timeout", b->ontap_job_timeout_usec, "[ontap] job_timeout");
	line(&t, "base", "agent_restart", b->agent_restart_usec, "kvmcd restart, PROCDOWN to rejoined");
	line(&t, "base", "watchdog_timeout", b->watchdog_timeout_usec, "last keepalive -> reset (0 = no watchdog)");
	line(&t, "base", "watchdog_keepalive", b->watchdog_keepalive_usec, "0 = watchdog_timeout / 4");
	line(&t, "base", "fence_agent_timeout", b->fence_agent_timeout_usec, "one `off` + `status`");
	add(&t, "%-7s %-30s %14" PRIu32 "  %s\n", "base", "fence_agent_attempts", b->fence_agent_attempts,
	    "attempts per agent fence");
	line(&t, "base", "fence_agent_backoff", b->fence_agent_backoff_usec, "first retry delay, doubled per retry");
	line(&t, "base", "margin", b->margin_usec, "loop latency, timer slack, clock rates, one hop");
	line(&t, "base", "shutdown_timeout", b->shutdown_timeout_usec, "[vms] shutdown_timeout (a planned host shutdown)");
	line(&t, "base", "guest_stop_grace", b->guest_stop_grace_usec, "a guest's ACPI shutdown before destroy");

	line(&t, "derived", "totem_token_effective", tt->totem_token_effective_usec,
	     "= totem_token + (totem_nodes - 2) * totem_token_coefficient");
	line(&t, "derived", "totem_consensus_effective", tt->totem_consensus_usec,
	     "= totem_consensus, or 1.2 * totem_token_effective");
	line(&t, "derived", "detection", tt->detection_usec, "= totem_token_effective + totem_consensus_effective");
	line(&t, "derived", "heartbeat", tt->heartbeat_usec, "= stall_timeout / 2");
	line(&t, "derived", "quorum_grace", tt->quorum_grace_usec, "= stall_timeout / 8");
	line(&t, "derived", "leader_lease", tt->leader_lease_usec, "= stall_timeout (from the last delivery)");
	line(&t, "derived", "stall_clean_min", tt->stall_clean_min_usec, "= 2 * (detection + margin)");
	line(&t, "derived", "commit_max", tt->commit_max_usec, "= detection + stall_timeout + margin");
	line(&t, "derived", "notice_max", tt->notice_max_usec, "= max(detection, stall_timeout) (after the verdict)");
	line(&t, "derived", "agent_grace", tt->agent_grace_usec, "= agent_restart + margin (after PROCDOWN)");
	line_wd(&t, tt, "watchdog_keepalive", tt->watchdog_keepalive_usec,
		"= watchdog_keepalive, or watchdog_timeout / 4");
	line_wd(&t, tt, "watchdog_fire_max", tt->watchdog_fire_max_usec, "= watchdog_timeout + watchdog_timeout / 32");
	line_wd(&t, tt, "watchdog_dead_after_nodedown", tt->watchdog_dead_after_nodedown_usec,
		"= notice_max + watchdog_keepalive + watchdog_fire_max + margin (after the verdict)");
	line_wd(&t, tt, "watchdog_dead_after_procdown", tt->watchdog_dead_after_procdown_usec,
		"= watchdog_keepalive + watchdog_fire_max + margin (after PROCDOWN)");
	line(&t, "derived", "ontap_quiet", tt->ontap_quiet_usec,
	     "= notice_max + ontap_request_timeout + margin (after LEADING start)");
	line(&t, "derived", "ontap_jobs_settled", tt->ontap_jobs_settled_usec,
	     "= ontap_quiet + ontap_job_timeout (after LEADING start)");
	line(&t, "derived", "fence_ontap_attempt", tt->fence_ontap_attempt_usec, "= 4 * ontap_request_timeout");
	line(&t, "derived", "fence_agent_kill_grace", tt->fence_agent_kill_grace_usec, "= fence_agent_timeout / 10");
	line(&t, "derived", "fence_agent_deadline", tt->fence_agent_deadline_usec,
	     "= attempts * (fence_agent_timeout + kill_grace) + backoff * (2^(attempts-1) - 1)");
	line(&t, "derived", "fence_ontap_deadline", tt->fence_ontap_deadline_usec,
	     "= attempts * fence_ontap_attempt + backoff * (2^(attempts-1) - 1) (after the quiet point)");
	line(&t, "derived", "fence_round_pause", tt->fence_round_pause_usec,
	     "= max(fence_ontap_attempt, fence_agent_timeout + kill_grace) (after a failed ladder; doubled, <= 8x)");
	line(&t, "derived", "shutdown_release", tt->shutdown_release_usec, "= commit_max (after the guests stopped)");
	line(&t, "derived", "shutdown_drain", tt->shutdown_drain_usec,
	     "= shutdown_timeout - guest_stop_grace - shutdown_release - margin (after SIGTERM)");

	if (tt->notes & TIMEOUTS_NOTE_FAILURE_MAY_STALL)
		add(&t, "note: stall_timeout %s < stall_clean_min %s: after a node failure nothing is delivered for up "
		    "to heartbeat + detection (%s), so a failure can show as a stall first: the leader steps down and "
		    "pending requests fail. Safe, but churn; raise stall_timeout or lower totem.token.\n",
		    ms(v, b->stall_timeout_usec), ms(x, tt->stall_clean_min_usec),
		    ms(y, tt->heartbeat_usec + tt->detection_usec));
	if (tt->notes & TIMEOUTS_NOTE_REQUEST_SHORT)
		add(&t, "note: request_timeout %s < commit_max %s: a change interrupted by a failover may time out "
		    "(outcome unknown) before the next leader commits it. Safe, but raise request_timeout.\n",
		    ms(v, b->request_timeout_usec), ms(x, tt->commit_max_usec));
	if (tt->notes & TIMEOUTS_NOTE_SHUTDOWN_SHORT)
		add(&t, "note: shutdown_timeout %s < guest_stop_grace %s + shutdown_release %s + 2 * margin: a planned host "
		    "shutdown has no time to migrate guests live; shutdown_policy migrate shuts them down at once.\n",
		    ms(v, b->shutdown_timeout_usec), ms(x, b->guest_stop_grace_usec), ms(y, tt->shutdown_release_usec));
	if (tt->notes & TIMEOUTS_NOTE_NO_WATCHDOG)
		add(&t, "note: no watchdog (watchdog_timeout 0): the watchdog fence method is unavailable.\n");

	if (t.oom) {
		free(t.s);
		return -ENOMEM;
	}
	*out = t.s;
	return 0;
}
