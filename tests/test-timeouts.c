/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * coord/timeouts: the defaults derive to the numbers written in timeouts.h, every derived value
 * keeps its stated relation over many bases, bad bases are refused naming the value, the
 * worst-case watchdog timeline holds against the corosync and watchdog numbers measured in
 * shared/notes, and describe() names everything.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "tap.h"
#include "timeouts.h"

#define MS(x) ((uint64_t)(x) * 1000u)
#define SEC(x) ((uint64_t)(x) * 1000000u)

static bool derive_ok(const struct timeouts_base *b, struct timeouts *t)
{
	char *error = NULL;
	int r = timeouts_derive(b, t, &error);

	CHECK(r == 0, "derive failed: %d %s", r, error ? error : "(no text)");
	CHECK(r != 0 || error == NULL, "error text set on success");
	free(error);
	return r == 0;
}

/* ------------------------------------------------------------------ the defaults, golden */

static void test_defaults(void)
{
	struct timeouts_base b;
	struct timeouts t;

	timeouts_defaults(&b);
	CHECK(b.totem_token_usec == MS(3000) && b.totem_token_coefficient_usec == MS(650) && b.totem_nodes == 3 &&
		      b.totem_consensus_usec == 0,
	      "corosync defaults");
	CHECK(b.stall_timeout_usec == 0 && b.request_timeout_usec == SEC(30), "kvmcd defaults (stall_timeout derived)");
	CHECK(b.ontap_request_timeout_usec == SEC(30) && b.ontap_job_timeout_usec == SEC(600), "ontap defaults");
	if (!derive_ok(&b, &t))
		return;
	/* The numbers written down in timeouts.h: a formula change must change them too. */
	struct {
		const char *name;
		uint64_t got, want;
	} golden[] = {
		{ "totem_token_effective", t.totem_token_effective_usec, MS(3650) },
		{ "totem_consensus", t.totem_consensus_usec, MS(4380) },
		{ "detection", t.detection_usec, MS(8030) },
		{ "stall_timeout (derived)", t.base.stall_timeout_usec, MS(18060) },
		{ "heartbeat", t.heartbeat_usec, MS(9030) },
		{ "quorum_grace", t.quorum_grace_usec, 2257500 },
		{ "leader_lease", t.leader_lease_usec, MS(18060) },
		{ "stall_clean_min", t.stall_clean_min_usec, MS(18060) },
		{ "commit_max", t.commit_max_usec, MS(27090) },
		{ "notice_max", t.notice_max_usec, MS(18060) },
		{ "agent_grace", t.agent_grace_usec, MS(7000) },
		{ "watchdog_keepalive", t.watchdog_keepalive_usec, MS(2500) },
		{ "watchdog_fire_max", t.watchdog_fire_max_usec, 10312500 },
		{ "watchdog_dead_after_nodedown", t.watchdog_dead_after_nodedown_usec, 31872500 },
		{ "watchdog_dead_after_procdown", t.watchdog_dead_after_procdown_usec, 13812500 },
		{ "ontap_quiet", t.ontap_quiet_usec, MS(49060) },
		{ "ontap_jobs_settled", t.ontap_jobs_settled_usec, MS(649060) },
		{ "fence_ontap_attempt", t.fence_ontap_attempt_usec, MS(120000) },
		{ "fence_agent_kill_grace", t.fence_agent_kill_grace_usec, MS(6000) },
		{ "fence_agent_deadline", t.fence_agent_deadline_usec, MS(204000) },
		{ "fence_ontap_deadline", t.fence_ontap_deadline_usec, MS(366000) },
		{ "fence_round_pause", t.fence_round_pause_usec, MS(120000) },
		{ "shutdown_release", t.shutdown_release_usec, MS(27090) },
		{ "shutdown_drain", t.shutdown_drain_usec, MS(151910) },
	};
	for (size_t i = 0; i < ARRAY_SIZE(golden); i++)
		CHECK(golden[i].got == golden[i].want, "default %s: %" PRIu64 " usec, timeouts.h says %" PRIu64,
		      golden[i].name, golden[i].got, golden[i].want);
	/* Decided in timeouts.h: the derived default never takes a node failure for a stall (a
	 * leader stepping down would restart its epoch and hold every fence for the quiet point). */
	CHECK(!(t.notes & TIMEOUTS_NOTE_FAILURE_MAY_STALL), "defaults: no failure-may-stall note");
	CHECK(!(t.notes & TIMEOUTS_NOTE_NO_WATCHDOG), "defaults have a watchdog");
	b.stall_timeout_usec = MS(18060);
	CHECK(memcmp(&t.base, &b, sizeof(b)) == 0, "the bases are kept as given, stall_timeout derived");
	/* the 8000 ms it used to be does trip it, and is still taken (a note, not a refusal) */
	b.stall_timeout_usec = MS(8000);
	if (derive_ok(&b, &t))
		CHECK(t.notes & TIMEOUTS_NOTE_FAILURE_MAY_STALL, "stall 8000 on corosync's defaults: the note");
}

/* ------------------------------------------------------------------ relations, many bases */

static void check_relations(const char *what, const struct timeouts *t)
{
	const struct timeouts_base *b = &t->base;
	uint64_t eff = b->totem_token_usec +
		       (b->totem_nodes > 2 ? (uint64_t)(b->totem_nodes - 2) * b->totem_token_coefficient_usec : 0);

	/* corosync */
	CHECK(t->totem_token_effective_usec == eff, "%s: effective token", what);
	if (b->totem_consensus_usec)
		CHECK(t->totem_consensus_usec == b->totem_consensus_usec, "%s: explicit consensus kept", what);
	else
		CHECK(t->totem_consensus_usec * 5 >= eff * 6 && t->totem_consensus_usec * 5 < eff * 6 + 5,
		      "%s: default consensus is 1.2 * the effective token", what);
	CHECK(t->detection_usec == t->totem_token_effective_usec + t->totem_consensus_usec, "%s: detection", what);

	/* liveness */
	CHECK(t->heartbeat_usec == b->stall_timeout_usec / 2, "%s: heartbeat = stall/2", what);
	CHECK(t->heartbeat_usec * 3 < b->stall_timeout_usec * 2, "%s: heartbeat < stall/1.5 (core.h)", what);
	CHECK(t->quorum_grace_usec == b->stall_timeout_usec / 8, "%s: quorum_grace = stall/8", what);
	CHECK(t->quorum_grace_usec >= MS(100), "%s: quorum_grace >= 100 ms (votequorum measured 0-2 ms)", what);
	CHECK(t->leader_lease_usec == b->stall_timeout_usec, "%s: lease", what);
	CHECK(t->stall_clean_min_usec >= 2 * (t->detection_usec + b->margin_usec), "%s: stall_clean_min", what);
	bool may_stall = t->notes & TIMEOUTS_NOTE_FAILURE_MAY_STALL;
	CHECK(may_stall == (b->stall_timeout_usec < t->stall_clean_min_usec), "%s: note iff stall < clean min", what);
	if (!may_stall)
		CHECK(t->heartbeat_usec + t->detection_usec + b->margin_usec <= b->stall_timeout_usec,
		      "%s: without the note, a failure's silence fits in the stall", what);
	CHECK(t->commit_max_usec >= t->detection_usec + b->stall_timeout_usec + b->margin_usec, "%s: commit_max", what);
	CHECK((b->request_timeout_usec < t->commit_max_usec) == !!(t->notes & TIMEOUTS_NOTE_REQUEST_SHORT),
	      "%s: request_timeout < commit_max is noted", what);

	/* isolated node */
	CHECK(t->notice_max_usec >= t->detection_usec && t->notice_max_usec >= b->stall_timeout_usec,
	      "%s: notice_max covers both paths", what);

	/* agent loss and watchdog */
	CHECK(t->agent_grace_usec >= b->agent_restart_usec + b->margin_usec, "%s: agent_grace", what);
	if (b->watchdog_timeout_usec) {
		CHECK(t->watchdog_keepalive_usec > 0 && t->watchdog_keepalive_usec * 3 <= b->watchdog_timeout_usec,
		      "%s: keepalive well below the timeout", what);
		CHECK(t->watchdog_fire_max_usec * 1000 >= b->watchdog_timeout_usec * 1008,
		      "%s: fire_max covers the measured +0.8 %%", what);
		CHECK(t->watchdog_dead_after_nodedown_usec >= t->notice_max_usec + t->watchdog_keepalive_usec +
								    t->watchdog_fire_max_usec + b->margin_usec,
		      "%s: watchdog_dead_after_nodedown", what);
		CHECK(t->watchdog_dead_after_procdown_usec >=
			      t->watchdog_keepalive_usec + t->watchdog_fire_max_usec + b->margin_usec,
		      "%s: watchdog_dead_after_procdown", what);
		CHECK(t->agent_grace_usec + t->watchdog_keepalive_usec <= b->watchdog_timeout_usec,
		      "%s: a restart within the grace beats the host's own watchdog", what);
		CHECK(!(t->notes & TIMEOUTS_NOTE_NO_WATCHDOG), "%s: no no-watchdog note", what);
	} else {
		CHECK(t->watchdog_keepalive_usec == 0 && t->watchdog_fire_max_usec == 0 &&
			      t->watchdog_dead_after_nodedown_usec == 0 && t->watchdog_dead_after_procdown_usec == 0,
		      "%s: no watchdog values without a watchdog", what);
		CHECK(t->notes & TIMEOUTS_NOTE_NO_WATCHDOG, "%s: no-watchdog note", what);
	}

	/* ONTAP and fences */
	CHECK(t->ontap_quiet_usec >= t->notice_max_usec + b->ontap_request_timeout_usec + b->margin_usec,
	      "%s: ontap_quiet", what);
	CHECK(t->ontap_jobs_settled_usec >= t->ontap_quiet_usec + b->ontap_job_timeout_usec, "%s: jobs settled", what);
	CHECK(t->fence_ontap_attempt_usec >= 3 * b->ontap_request_timeout_usec, "%s: a few ONTAP requests", what);
	uint64_t backoffs = 0, d = b->fence_agent_backoff_usec;
	for (uint32_t i = 1; i < b->fence_agent_attempts; i++, d *= 2)
		backoffs += d;
	CHECK(t->fence_agent_deadline_usec >=
		      b->fence_agent_attempts * (b->fence_agent_timeout_usec + t->fence_agent_kill_grace_usec) + backoffs,
	      "%s: fence_agent_deadline covers every attempt, kill grace and backoff", what);
	CHECK(t->fence_agent_kill_grace_usec > 0 && t->fence_agent_kill_grace_usec < b->fence_agent_timeout_usec,
	      "%s: kill grace", what);
	CHECK(t->fence_ontap_deadline_usec >= b->fence_agent_attempts * t->fence_ontap_attempt_usec + backoffs,
	      "%s: fence_ontap_deadline covers every ontap attempt and backoff", what);
	CHECK(t->fence_round_pause_usec >= t->fence_ontap_attempt_usec &&
		      t->fence_round_pause_usec >= b->fence_agent_timeout_usec + t->fence_agent_kill_grace_usec,
	      "%s: a failed ladder pauses at least one slowest attempt", what);
}

/* Bases that must derive: corosync as measured in the notes, bigger clusters, other knobs. */
static bool relation_base(int i, struct timeouts_base *b, const char **what)
{
	timeouts_defaults(b);
	switch (i) {
	case 0: *what = "defaults"; return true;
	case 1: *what = "token 1000"; b->totem_token_usec = MS(1000); return true;
	case 2: *what = "token 1000 coefficient 0 (multinode harness)";
		b->totem_token_usec = MS(1000); b->totem_token_coefficient_usec = 0; return true;
	case 3: *what = "2 nodes"; b->totem_nodes = 2; return true;
	case 4: *what = "1 node"; b->totem_nodes = 1; return true;
	case 5: *what = "5 nodes, stall 20 s"; b->totem_nodes = 5; b->stall_timeout_usec = SEC(20);
		b->request_timeout_usec = SEC(60); return true;
	case 6: *what = "16 nodes, stall 40 s, request 120 s"; b->totem_nodes = 16; b->stall_timeout_usec = SEC(40);
		b->request_timeout_usec = SEC(120); return true;
	case 7: *what = "explicit consensus 5000"; b->totem_consensus_usec = MS(5000); return true;
	case 8: *what = "odd token 1001 ms (1.2 * is not whole)"; b->totem_token_usec = MS(1001); return true;
	case 9: *what = "no watchdog"; b->watchdog_timeout_usec = 0; return true;
	case 10: *what = "watchdog 5 s, fast restart"; b->watchdog_timeout_usec = SEC(5);
		b->agent_restart_usec = SEC(2); b->margin_usec = MS(500); return true;
	case 11: *what = "watchdog 60 s, keepalive 20 s"; b->watchdog_timeout_usec = SEC(60);
		b->watchdog_keepalive_usec = SEC(20); return true;
	case 12: *what = "stall clean (token 1000, coefficient 0, stall 8000)"; b->totem_token_usec = MS(1000);
		b->totem_token_coefficient_usec = 0; b->stall_timeout_usec = MS(8000); return true;
	case 13: *what = "fence agent 10 attempts"; b->fence_agent_attempts = 10;
		b->fence_agent_backoff_usec = SEC(60); b->fence_agent_timeout_usec = SEC(600); return true;
	case 14: *what = "one agent attempt"; b->fence_agent_attempts = 1; return true;
	case 15: *what = "short ONTAP timeouts"; b->ontap_request_timeout_usec = SEC(5);
		b->ontap_job_timeout_usec = SEC(5); return true;
	case 16: *what = "large values"; b->totem_token_usec = SEC(300); b->totem_token_coefficient_usec = SEC(1);
		b->totem_nodes = 100; b->totem_consensus_usec = SEC(600); b->stall_timeout_usec = SEC(600);
		b->request_timeout_usec = SEC(3600); b->ontap_request_timeout_usec = SEC(3600);
		b->ontap_job_timeout_usec = SEC(86400); b->agent_restart_usec = SEC(300);
		b->watchdog_timeout_usec = SEC(600); b->fence_agent_timeout_usec = SEC(600);
		b->fence_agent_attempts = 10; b->fence_agent_backoff_usec = SEC(60); b->margin_usec = SEC(60);
		b->agent_restart_usec = SEC(100); return true;
	}
	return false;
}

static void test_relations(void)
{
	struct timeouts_base b;
	const char *what;
	int n = 0;

	for (int i = 0; relation_base(i, &b, &what); i++, n++) {
		struct timeouts t;
		if (derive_ok(&b, &t))
			check_relations(what, &t);
		else
			fprintf(stderr, "  (base: %s)\n", what);
	}
	CHECK(n >= 17, "all relation bases ran (%d)", n);

	/* Case 12 is the multinode harness: it must not carry the stall note, case 0 must. */
	struct timeouts t;
	relation_base(12, &b, &what);
	if (derive_ok(&b, &t))
		CHECK(!(t.notes & TIMEOUTS_NOTE_FAILURE_MAY_STALL), "token 1000/coefficient 0/stall 8000: no note");
}

/* ------------------------------------------------------------------ refusals */

struct bad {
	const char *what;
	void (*edit)(struct timeouts_base *b);
	const char *want[3]; /* substrings of the error */
};

static void stall_low(struct timeouts_base *b) { b->stall_timeout_usec = MS(500); }
static void stall_high(struct timeouts_base *b) { b->stall_timeout_usec = SEC(601); }
static void token_zero(struct timeouts_base *b) { b->totem_token_usec = 0; }
static void nodes_zero(struct timeouts_base *b) { b->totem_nodes = 0; }
static void consensus_low(struct timeouts_base *b) { b->totem_consensus_usec = MS(50); }
static void job_short(struct timeouts_base *b) { b->ontap_job_timeout_usec = SEC(10); }
static void wd_fraction(struct timeouts_base *b) { b->watchdog_timeout_usec = MS(7500); }
static void wd_tiny(struct timeouts_base *b) { b->watchdog_timeout_usec = SEC(1); }
static void keepalive_high(struct timeouts_base *b) { b->watchdog_keepalive_usec = SEC(4); }
static void keepalive_no_wd(struct timeouts_base *b) { b->watchdog_timeout_usec = 0; b->watchdog_keepalive_usec = SEC(1); }
static void restart_vs_wd(struct timeouts_base *b) { b->watchdog_timeout_usec = SEC(5); }
static void attempts_zero(struct timeouts_base *b) { b->fence_agent_attempts = 0; }
static void attempts_many(struct timeouts_base *b) { b->fence_agent_attempts = 11; }
static void margin_zero(struct timeouts_base *b) { b->margin_usec = 0; }
static void agent_timeout_low(struct timeouts_base *b) { b->fence_agent_timeout_usec = SEC(1); }
static void restart_zero(struct timeouts_base *b) { b->agent_restart_usec = 0; }
static void ontap_req_zero(struct timeouts_base *b) { b->ontap_request_timeout_usec = 0; }
static void backoff_zero(struct timeouts_base *b) { b->fence_agent_backoff_usec = 0; }
static void coefficient_high(struct timeouts_base *b) { b->totem_token_coefficient_usec = SEC(11); }

static void test_refusals(void)
{
	const struct bad bad[] = {
		{ "stall below 1 s", stall_low, { "stall_timeout 500 ms", "out of bounds", "1000 ms" } },
		{ "stall above 600 s", stall_high, { "stall_timeout 601000 ms", "out of bounds" } },
		{ "token 0", token_zero, { "totem_token 0 ms", "out of bounds" } },
		{ "coefficient 11 s", coefficient_high, { "totem_token_coefficient 11000 ms" } },
		{ "nodes 0", nodes_zero, { "totem_nodes 0", "out of bounds" } },
		{ "consensus 50 ms", consensus_low, { "totem_consensus 50 ms" } },
		{ "job shorter than request", job_short, { "ontap_job_timeout 10000 ms", "ontap_request_timeout 30000 ms" } },
		{ "watchdog 7.5 s", wd_fraction, { "watchdog_timeout 7500 ms", "whole seconds" } },
		{ "watchdog 1 s", wd_tiny, { "watchdog_timeout 1000 ms", "out of bounds" } },
		{ "keepalive above timeout/3", keepalive_high,
		  { "watchdog_keepalive 4000 ms", "3333.333 ms", "watchdog_timeout 10000 ms" } },
		{ "keepalive without watchdog", keepalive_no_wd, { "watchdog_keepalive 1000 ms", "no watchdog" } },
		{ "agent restart vs a 5 s watchdog", restart_vs_wd,
		  { "agent_grace 7000 ms", "watchdog_timeout 5000 ms", "watchdog_keepalive 1250 ms" } },
		{ "0 attempts", attempts_zero, { "fence_agent_attempts 0" } },
		{ "11 attempts", attempts_many, { "fence_agent_attempts 11" } },
		{ "margin 0", margin_zero, { "margin 0 ms" } },
		{ "agent timeout 1 s", agent_timeout_low, { "fence_agent_timeout 1000 ms" } },
		{ "restart 0", restart_zero, { "agent_restart 0 ms" } },
		{ "ontap request 0", ontap_req_zero, { "ontap_request_timeout 0 ms" } },
		{ "backoff 0", backoff_zero, { "fence_agent_backoff 0 ms" } },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct timeouts_base b;
		struct timeouts t, before;
		char *error = NULL;

		timeouts_defaults(&b);
		bad[i].edit(&b);
		memset(&t, 0xa5, sizeof(t));
		before = t;
		int r = timeouts_derive(&b, &t, &error);
		CHECK(r == -EINVAL, "%s: refused (got %d)", bad[i].what, r);
		CHECK(memcmp(&t, &before, sizeof(t)) == 0, "%s: *out untouched on refusal", bad[i].what);
		CHECK(error != NULL, "%s: an error text", bad[i].what);
		for (size_t k = 0; error && k < ARRAY_SIZE(bad[i].want) && bad[i].want[k]; k++)
			CHECK(strstr(error, bad[i].want[k]), "%s: error names \"%s\": %s", bad[i].what, bad[i].want[k],
			      error);
		/* Without an error pointer it is refused all the same. */
		CHECK(timeouts_derive(&b, &t, NULL) == -EINVAL, "%s: refused without error pointer", bad[i].what);
		free(error);
	}
}

/* ------------------------------------------------------------------ the measured timeline */

/*
 * shared/notes/multinode-on-one-machine.md (3 nodes, knet+crypto): survivors' callbacks after
 * corosync was SIGKILLed or its link cut, largest of the runs, ms.
 */
static const struct {
	const char *what;
	uint64_t token, coefficient, measured_max;
} detection_runs[] = {
	{ "token 3000", 3000, 650, 8030 },                /* kill max 7.55 s, link cut max 8.03 s */
	{ "token 1000", 1000, 650, 3560 },                /* kill max 3.56 s, link cut max 3.50 s */
	{ "token 1000, coefficient 0", 1000, 0, 2200 },   /* kill max 2.15 s, link cut max 2.20 s */
};

/*
 * shared/notes/fullstack-fencing.md §3: last keepalive -> qemu exit. Timeout 5 s: 5.02-5.04 s,
 * timeout 10 s: 10.08 s; scaled: the device fires at timeout * 1008 / 1000 at the latest.
 */
static uint64_t measured_fire(uint64_t timeout)
{
	return timeout * 1008 / 1000;
}

/*
 * Plays the isolated node X against the survivors, all times from T_v (the survivors' verdict),
 * in 1 ms steps: X feeds every keepalive from its phase on while the state it tests says it
 * may. It notices by path a (its own corosync view, at most a full measured detection after
 * T_v) or path b (stall_timeout after its last delivery, which came no later than T_v). A
 * stale feeder tests the state as of one keepalive earlier. Returns the latest reset over
 * every phase.
 */
static int64_t worst_reset(const struct timeouts *t, int64_t notice, bool stale_feeder)
{
	int64_t k = (int64_t)t->watchdog_keepalive_usec, worst = INT64_MIN;

	for (int64_t phase = 0; phase < k; phase += (int64_t)MS(1)) {
		int64_t last = INT64_MIN;
		/* from a few intervals before T_v, while the tested state still says "member" */
		for (int64_t now = phase - 4 * k;; now += k) {
			int64_t tested = stale_feeder ? now - k : now;
			if (tested >= notice)
				break;
			last = now;
		}
		int64_t reset = last + (int64_t)measured_fire(t->base.watchdog_timeout_usec);
		if (reset > worst)
			worst = reset;
	}
	return worst;
}

static void test_watchdog_timeline(void)
{
	static const uint64_t watchdogs[] = { SEC(5), SEC(10), SEC(30) };

	for (size_t i = 0; i < ARRAY_SIZE(detection_runs); i++) {
		for (size_t w = 0; w < ARRAY_SIZE(watchdogs); w++) {
			struct timeouts_base b;
			struct timeouts t;

			timeouts_defaults(&b);
			b.totem_token_usec = MS(detection_runs[i].token);
			b.totem_token_coefficient_usec = MS(detection_runs[i].coefficient);
			b.watchdog_timeout_usec = watchdogs[w];
			if (watchdogs[w] == SEC(5)) { /* a 5 s watchdog needs a fast agent restart */
				b.agent_restart_usec = SEC(2);
				b.margin_usec = MS(500);
			}
			if (!derive_ok(&b, &t))
				continue;
			uint64_t measured = MS(detection_runs[i].measured_max);

			/* detection is corosync's timers; the ring forming is inside the margin */
			CHECK(measured <= t.detection_usec + b.margin_usec, "%s: measured detection %" PRIu64
			      " usec within detection + margin %" PRIu64, detection_runs[i].what, measured,
			      t.detection_usec + b.margin_usec);

			/* Both notice paths, with the feeder testing fresh or one-interval-old state. */
			uint64_t paths[2] = { measured, b.stall_timeout_usec };
			for (int p = 0; p < 2; p++)
				for (int stale = 0; stale < 2; stale++) {
					int64_t reset = worst_reset(&t, (int64_t)paths[p], stale);
					CHECK(reset < (int64_t)t.watchdog_dead_after_nodedown_usec,
					      "%s, watchdog %" PRIu64 " s, path %c%s: X resets at T_v + %" PRId64
					      " usec, survivors count it dead at T_v + %" PRIu64,
					      detection_runs[i].what, watchdogs[w] / SEC(1), "ab"[p],
					      stale ? ", stale feeder" : "", reset, t.watchdog_dead_after_nodedown_usec);
				}

			/* Teeth: without the notice term the survivors would start X's VMs while X
			 * still runs them. */
			uint64_t broken = t.watchdog_keepalive_usec + t.watchdog_fire_max_usec + b.margin_usec;
			CHECK(worst_reset(&t, (int64_t)paths[0], true) > (int64_t)broken, "%s: the notice term is needed",
			      detection_runs[i].what);

			/* PROCDOWN: X's kvmcd died at 0 having fed at most one keepalive before. The
			 * host lives through a restart within the grace, and is reset before the
			 * survivors count it dead otherwise. */
			uint64_t k = t.watchdog_keepalive_usec;
			uint64_t earliest_reset = SEC(1000) - k + b.watchdog_timeout_usec; /* shifted by 1000 s */
			CHECK(earliest_reset > SEC(1000) + t.agent_grace_usec,
			      "%s, watchdog %" PRIu64 " s: a restart within agent_grace beats the watchdog",
			      detection_runs[i].what, watchdogs[w] / SEC(1));
			CHECK(measured_fire(b.watchdog_timeout_usec) < t.watchdog_dead_after_procdown_usec,
			      "%s: reset after PROCDOWN before the survivors count the host dead", detection_runs[i].what);
		}
	}

	/* Why consensus follows the effective token: with 1.2 * the configured token the bound
	 * would fall below what was measured at token 3000. */
	uint64_t wrong = MS(3650) + MS(3000) * 6 / 5;
	CHECK(wrong < MS(detection_runs[0].measured_max) - MS(500),
	      "consensus from the configured token would under-estimate detection (%" PRIu64 " usec)", wrong);
}

/* ------------------------------------------------------------------ ONTAP timeline */

static void test_ontap_timeline(void)
{
	struct timeouts_base b;
	struct timeouts t;

	timeouts_defaults(&b);
	if (!derive_ok(&b, &t))
		return;
	/* All times from T_L (the new leader's LEADING start). The old leader, partitioned, stops
	 * issuing at the latest at notice_max (either path); its last request may still be
	 * executed up to ontap_request_timeout after that. */
	uint64_t paths[2] = { t.detection_usec, b.stall_timeout_usec };
	for (int p = 0; p < 2; p++) {
		uint64_t last_landing = paths[p] + b.ontap_request_timeout_usec;
		CHECK(last_landing < t.ontap_quiet_usec, "path %c: old leader's last mutation lands at %" PRIu64
		      " usec, before ontap_quiet %" PRIu64, "ab"[p], last_landing, t.ontap_quiet_usec);
	}
	/* A job the old leader created at the quiet point at the latest, waited for in full. */
	CHECK(t.ontap_quiet_usec + b.ontap_job_timeout_usec <= t.ontap_jobs_settled_usec, "jobs settle in the bound");
	/* A fence attempt started at T_L cannot confirm before the quiet point, and has room for
	 * its four exchanges after it. */
	CHECK(t.fence_ontap_attempt_usec == 4 * b.ontap_request_timeout_usec, "four exchanges per ONTAP attempt");
}

/* ------------------------------------------------------------------ describe */

static void test_describe(void)
{
	static const char *const names[] = {
		"totem_token", "totem_token_coefficient", "totem_nodes", "totem_consensus", "stall_timeout",
		"request_timeout", "ontap_request_timeout", "ontap_job_timeout", "agent_restart",
		"watchdog_timeout", "watchdog_keepalive", "fence_agent_timeout", "fence_agent_attempts",
		"fence_agent_backoff", "margin",
		"totem_token_effective", "totem_consensus_effective", "detection", "heartbeat", "quorum_grace",
		"leader_lease", "stall_clean_min", "commit_max", "notice_max", "agent_grace", "watchdog_fire_max",
		"watchdog_dead_after_nodedown", "watchdog_dead_after_procdown", "ontap_quiet", "ontap_jobs_settled",
		"fence_ontap_attempt", "fence_agent_kill_grace", "fence_agent_deadline",
	};
	struct timeouts_base b;
	struct timeouts t;
	char *text = NULL;

	timeouts_defaults(&b);
	if (!derive_ok(&b, &t))
		return;
	CHECK(timeouts_describe(&t, &text) == 0 && text, "describe");
	if (!text)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		/* a whole word: the name followed by a blank */
		char word[64];
		snprintf(word, sizeof(word), " %s ", names[i]);
		CHECK(strstr(text, word), "describe names %s", names[i]);
	}
	CHECK(strstr(text, "31872.500 ms"), "watchdog_dead_after_nodedown's value is shown");
	CHECK(strstr(text, "= notice_max + watchdog_keepalive + watchdog_fire_max + margin"), "formulas are shown");
	CHECK(!strstr(text, "note: stall_timeout"), "no stall note on the defaults");
	CHECK(text[strlen(text) - 1] == '\n', "lines end in newlines");
	free(text);
	b.stall_timeout_usec = MS(8000);
	if (!derive_ok(&b, &t))
		return;
	CHECK(timeouts_describe(&t, &text) == 0 && text && strstr(text, "note: stall_timeout 8000 ms < stall_clean_min 18060 ms"),
	      "the stall note");
	free(text);
	b.stall_timeout_usec = 0;

	b.watchdog_timeout_usec = 0;
	if (!derive_ok(&b, &t))
		return;
	CHECK(timeouts_describe(&t, &text) == 0 && text, "describe without watchdog");
	if (text) {
		CHECK(strstr(text, "note: no watchdog"), "no-watchdog note");
		CHECK(strstr(text, " watchdog_dead_after_nodedown ") && strstr(text, "no watchdog"),
		      "watchdog lines say there is none");
	}
	free(text);
}

/* A request_timeout shorter than one failover is accepted with a note that names both values. */
static void test_request_note(void)
{
	struct timeouts_base b;
	struct timeouts t;
	char *err = NULL, *text = NULL;

	timeouts_defaults(&b);
	b.request_timeout_usec = SEC(10);
	CHECK(timeouts_derive(&b, &t, &err) == 0, "short request_timeout accepted: %s", err ? err : "");
	CHECK(t.notes & TIMEOUTS_NOTE_REQUEST_SHORT, "short request_timeout noted");
	CHECK(timeouts_describe(&t, &text) == 0 && strstr(text, "request_timeout 10000 ms < commit_max 27090 ms"),
	      "note text: %s", text ? text : "");
	free(text);
	free(err);
	timeouts_defaults(&b);
	CHECK(timeouts_derive(&b, &t, &err) == 0 && !(t.notes & TIMEOUTS_NOTE_REQUEST_SHORT), "defaults not noted");
}

/* A shutdown_timeout too short to drain: accepted, no drain at all, noted with the values. */
static void test_shutdown_note(void)
{
	struct timeouts_base b;
	struct timeouts t;
	char *err = NULL, *text = NULL;

	timeouts_defaults(&b);
	b.shutdown_timeout_usec = SEC(60);
	CHECK(timeouts_derive(&b, &t, &err) == 0, "short shutdown_timeout accepted: %s", err ? err : "");
	CHECK((t.notes & TIMEOUTS_NOTE_SHUTDOWN_SHORT) && t.shutdown_drain_usec == 0, "short shutdown_timeout: no drain, noted");
	CHECK(timeouts_describe(&t, &text) == 0 && strstr(text, "shutdown_timeout 60000 ms < guest_stop_grace 60000 ms"),
	      "note text: %s", text ? text : "");
	free(text);
	free(err);
	b.shutdown_timeout_usec = SEC(80);
	b.guest_stop_grace_usec = 0;
	CHECK(timeouts_derive(&b, &t, NULL) == 0 && t.shutdown_drain_usec == MS(80000 - 27090 - 1000) &&
		      !(t.notes & TIMEOUTS_NOTE_SHUTDOWN_SHORT),
	      "shutdown_drain = shutdown_timeout - guest_stop_grace - commit_max - margin");
}

int main(void)
{
	test_shutdown_note();
	test_request_note();
	test_defaults();
	test_relations();
	test_refusals();
	test_watchdog_timeline();
	test_ontap_timeline();
	test_describe();
	return tap_done("test-timeouts");
}
