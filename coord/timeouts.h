/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Safety timing: every timeout that safety depends on, as a named function of a few base values.
 *
 * Pure: no clock, no I/O. The daemon fills struct timeouts_base from its configuration and from
 * corosync's cmap, calls timeouts_derive() once (and on reload), and hands the derived values to
 * the core, the watchdog feeder, the fencers and the ONTAP link. All values are microseconds of
 * CLOCK_MONOTONIC (uint64_t); there is no floating point anywhere on this path.
 *
 * The numbers below are the defaults (timeouts_defaults(): corosync's own defaults on a 3-node
 * nodelist, kvmcd's defaults, a 10 s watchdog); `kvmcd --print-timeouts` prints the same table
 * for the configured values (timeouts_describe()).
 *
 * ============================================================================================
 * 1. Base values (struct timeouts_base)
 * ============================================================================================
 *
 *   token          3000 ms   corosync totem.token                  (cmap totem.token)
 *   coefficient     650 ms   corosync totem.token_coefficient      (cmap totem.token_coefficient)
 *   nodes             3      nodes in corosync's nodelist          (cmap nodelist.node.*)
 *   consensus         0      corosync totem.consensus; 0 = corosync's default (cmap totem.consensus)
 *   stall_timeout     0      kvmcd [cluster] stall_timeout; 0 (the default) = stall_clean_min
 *                            (3.), the shortest that never takes a node failure for a stall:
 *                            18060 ms here
 *   request_timeout 30 s     kvmcd [cluster] request_timeout
 *   ontap_request_timeout 30 s, ontap_job_timeout 600 s   kvmcd [ontap] request_/job_timeout
 *   agent_restart  6000 ms   how long a kvmcd restart takes, PROCDOWN to rejoined: systemd's
 *                            RestartSec=2s plus the start-to-rejoin measured in the multinode
 *                            tests ("a few seconds")
 *   watchdog_timeout 10 s    last keepalive -> reset, as the driver reports it after
 *                            WDIOC_SETTIMEOUT (whole seconds); 0 = no watchdog
 *   watchdog_keepalive 0     0 = watchdog_timeout / 4
 *   fence_agent_timeout 60 s, fence_agent_attempts 3, fence_agent_backoff 2 s (doubled per retry)
 *   margin         1000 ms   event-loop latency, timer slack, clock-rate differences between
 *                            hosts (NTP keeps them within 500 ppm: 20 ms over the longest wait
 *                            here), a network hop
 *
 * The daemon may instead read corosync's runtime values (runtime.config.totem.token, which
 * already includes the coefficient, and runtime.config.totem.consensus): pass coefficient 0 then.
 *
 * ============================================================================================
 * 2. Failure detection (corosync)
 * ============================================================================================
 *
 *   token_effective = token + (nodes - 2) * coefficient           (nodes > 2)    3650 ms
 *   consensus       = consensus, or 1.2 * token_effective when 0                 4380 ms
 *   detection       = token_effective + consensus                                8030 ms
 *
 * corosync computes its default consensus from the token *after* the coefficient is added
 * (exec/totemconfig.c). The notes measured (3 nodes, corosync SIGKILLed or its link cut, the
 * largest of the runs): token 3000 -> 8.03 s (formula 8.03), token 1000 -> 3.56 s (3.63),
 * token 1000 with coefficient 0 -> 2.20 s (2.20). The formula is the timers alone; forming the
 * new ring adds ~50 ms (corosync.conf(5)) and the maxima do reach it, so every wait below adds
 * margin on top of detection. With 1.2 * the *configured* token the formula would give 7.25 s,
 * below what was measured; tests/test-timeouts.c pins both.
 *
 * During detection nothing at all is delivered: the token is lost, so no message is ordered.
 *
 * ============================================================================================
 * 3. kvmcd's own liveness
 * ============================================================================================
 *
 *   heartbeat    = stall_timeout / 2       9030 ms  the leader multicasts a heartbeat; two
 *                                                   missed beats make a stall
 *   quorum_grace = stall_timeout / 8     2257.5 ms  after a NODEDOWN view, how long a member
 *                                                   waits for votequorum's verdict; the notes
 *                                                   measured it 0-2 ms after the view. (A node
 *                                                   in a minority stops leading at once anyway.)
 *   leader_lease = stall_timeout          18060 ms  a leader's authority (its ONTAP epoch)
 *                                                   lapses at last_delivery + leader_lease on its
 *                                                   own clock, even before the tick that notices
 *                                                   the stall has run (see 6.)
 *
 * A healthy membership change after a node failure delivers nothing for up to
 * heartbeat + detection (the last beat may have been just before the failure). So
 *
 *   stall_clean_min = 2 * (detection + margin)     18060 ms
 *
 * is the shortest stall_timeout that never takes a node failure for a stall, and the default
 * (stall_timeout 0 = this). DECIDED: a shorter stall_timeout is accepted with a note
 * (TIMEOUTS_NOTE_FAILURE_MAY_STALL), not refused: a false stall only ever makes a leader step
 * down early (the safe direction) and fails pending requests; every safety wait below is derived
 * from max(detection, stall_timeout), so it stays correct either way; and raising stall_timeout
 * lengthens every one of those waits and the detection of a wedged corosync. But the cost of a
 * false stall is high: the leader that steps down starts a new epoch, and its ONTAP fences then
 * wait for the new epoch's quiet point (6.) -- every host failure would take ~40 s to recover
 * instead of about a second. Hence the derived default. (Before it, a fixed 8000 ms tripped on
 * corosync's defaults and even on token 1000 with the default coefficient; the full-stack tier
 * measured the fence of a killed follower wait 39 s for that reason.) The multinode tests run
 * token 1000, coefficient 0 and an explicit 8000, which do not trip it.
 *
 * A client's change. Sent at s; a node fails at s. The new view comes at most detection later;
 * then a sync round, the re-sent REQUEST, PROPOSE and the ACKs, all of which deliver messages,
 * so each gap is shorter than stall_timeout or the member stalls and the request fails anyway:
 *
 *   commit_max = detection + stall_timeout + margin     27090 ms
 *
 * NOTED (TIMEOUTS_NOTE_REQUEST_SHORT): request_timeout < commit_max. The protocol promises that
 * a request interrupted by a membership change is re-sent to the next leader; a request_timeout
 * shorter than one failover may end such a request first -- its client then hears "outcome
 * unknown" and checks with `spec get`. Not unsafe, so not refused (tests use short ones on
 * purpose); raising request_timeout costs nothing.
 *
 * ============================================================================================
 * 4. When does an isolated node stop acting? (the root of every wait below)
 * ============================================================================================
 *
 * Let T_v be the moment the survivors' corosync delivers the view without node X (the verdict).
 * X stops leading, stops acting on the replicated state and stops feeding its watchdog (5.) as
 * soon as it notices that it is no longer a member of a quorate view, by either path:
 *
 *   a. its own corosync gives it the view (X alone, or in a minority): at most detection after
 *      T_v. (Both sides' token timers started at the same lost token; we do not subtract the
 *      survivors' own wait, so this is conservative by about token_effective, which also
 *      absorbs the ~50 ms of ring forming on X's side.)
 *   b. its corosync is wedged and delivers nothing (an asymmetric partition: the notes saw no
 *      callback for 60+ s): X's last delivery came no later than T_v (the survivors' new ring
 *      excludes X), so X stalls at most stall_timeout after T_v.
 *
 * We cannot know which path X takes, so:
 *
 *   notice_max = max(detection, stall_timeout)          18060 ms after T_v
 *
 * Requirement on the code: X's decision to feed the watchdog or to issue an ONTAP mutation is
 * taken with the state current at that instant: the corosync fds and the core's deadline timer
 * are dispatched before the watchdog timer and curl's sources (sd-event priorities), and the
 * "not stalled" test is now < last_delivery + stall_timeout, not a cached flag.
 *
 * ============================================================================================
 * 5. Watchdog self-fence: when may the survivors count X dead?
 * ============================================================================================
 *
 *   watchdog_keepalive = watchdog_timeout / 4                  2500 ms
 *   watchdog_fire_max  = watchdog_timeout + watchdog_timeout/32  10312.5 ms
 *                        (the notes measured 5.02-5.04 s for 5 s and 10.08 s for 10 s, i.e.
 *                        +0.8 %; 1/32 = 3.1 % covers it and the two clocks' rates)
 *
 * kvmcd's event loop feeds /dev/watchdog every watchdog_keepalive while, at that instant, it is
 * connected to corosync, a member of a quorate view (votequorum and the majority-of-expected
 * rule), not stalled, and the replicated records hold no fence decision against it. Timeline
 * after the verdict (X isolated, its corosync either working or wedged):
 *
 *   T_v                                the survivors see X leave (NODEDOWN)
 *   T_v + notice_max         (18060)   X has noticed (4.) and stops feeding; it also stops its
 *                                      VMs, but nothing below waits for that
 *   ... + watchdog_keepalive (20560)   the last keepalive may have been decided on a state one
 *                                      interval old (a feeder that tests an expiry posted by
 *                                      the loop, as sanlock's wdmd does; with the in-loop test
 *                                      above this term is spare)
 *   ... + watchdog_fire_max  (30872.5) the device resets X: its VMs are gone
 *   ... + margin             (31872.5) watchdog_dead_after_nodedown: the survivors may count X
 *                                      dead and start its VMs elsewhere
 *
 *   watchdog_dead_after_nodedown = notice_max + watchdog_keepalive + watchdog_fire_max + margin
 *
 * PROCDOWN (X's kvmcd gone, its corosync up; also a clean LEAVE: X may still run VMs). The
 * survivors first wait
 *
 *   agent_grace = agent_restart + margin                       7000 ms
 *
 * for it to come back; only then may the leader record a fence decision. A dead kvmcd feeds
 * nothing, and a restarted kvmcd feeds only once it has rejoined a synced quorate view whose
 * records hold no fence decision against it (total order settles the race between its rejoin
 * and the leader's fence record). The last keepalive therefore came before PROCDOWN:
 *
 *   watchdog_dead_after_procdown = watchdog_keepalive + watchdog_fire_max + margin   13812.5 ms
 *
 * REFUSED: agent_grace > watchdog_timeout - watchdog_keepalive: the old kvmcd's last keepalive
 * may be one interval before its death, so a restart that takes the whole grace would be cut
 * short by the host's own watchdog: every kvmcd restart would reset the host, contradicting the
 * grace. REFUSED: a watchdog_timeout that is not whole seconds (the device counts seconds; pass
 * what the driver reports), and a keepalive above watchdog_timeout / 3.
 *
 * Assumptions: the watchdog is a hardware one (softdog needs a working kernel timer and does not
 * reset a hard-locked kernel); kvmcd never disarms it (no magic close 'V') while the host runs
 * cluster VMs; a driver that resets on a second expiry reports the doubled time; hosts do not
 * suspend (CLOCK_MONOTONIC stops); every host uses the same watchdog_timeout (a host that
 * publishes another value is not fenced by watchdog). systemd's WatchdogSec only restarts a hung
 * agent; it bounds nothing here.
 *
 * ============================================================================================
 * 6. ONTAP: when can the old leader's last mutation still land?
 * ============================================================================================
 *
 * Only the leader mutates ONTAP, under its epoch. ONTAP itself checks no epoch, so the bound is
 * in time:
 *
 *   T_L        the new leader's CORE_ACT_RECORDING start for a new epoch (a kept epoch across
 *              sync rounds does not restart anything, nor does a ROLE that ends and comes back
 *              with the same epoch -- a NODEDOWN view ends it until votequorum's verdict --
 *              unless its end cancelled ONTAP mutations already sent: agent/ha.c then counts
 *              from the new LEADING start, as a new leader does). Every verdict that ended the
 *              old epoch came before T_L, so the old leader X stopped issuing by T_L + notice_max:
 *              - X still a member (it stalled, or a round replaced its epoch): X sent its
 *                SYNC_INFO for the round after it stopped, so it stopped before T_L;
 *              - X gone (NODEDOWN): 4.;
 *              - X's kvmcd dead (PROCDOWN): it sends nothing more, see (ii).
 *   What the old leader's code must do (so that "stopped issuing" means "nothing more leaves"):
 *     (i)  on CORE_ACT_ROLE lost / LEADING stop, take the epoch from the ONTAP client before
 *          performing the next action (cancels queued, in-flight, retrying and job-polling
 *          requests), and let the epoch source refuse once now >= last_delivery + leader_lease;
 *     (ii) give ONTAP sockets SO_LINGER {on, 0}, so a cancelled request or a dead process
 *          resets the connection instead of leaving the kernel to retransmit the unsent part
 *          of a request for minutes (orphan retries) -- it could land long after any bound.
 *   A request that ONTAP already received may still be executed. We assume ONTAP finishes or
 *   rejects a synchronous call within ontap_request_timeout of receiving it (the client's own
 *   budget for one exchange; ONTAP documents no server-side bound, mutating calls default to
 *   return_timeout=0 and the fence operations -- igroup initiators, LUN maps, NVMe subsystem
 *   hosts -- are synchronous through 9.15):
 *
 *   ontap_quiet = notice_max + ontap_request_timeout + margin      49060 ms after T_L
 *
 *   An asynchronous job the old leader started keeps running in ONTAP after its client stopped
 *   polling; it was created (202) before T_L + ontap_quiet. So, after the quiet point, the new
 *   leader lists the SVM's jobs in state queued, running or paused (GET /api/cluster/jobs),
 *   treats each as possibly the old leader's, re-reads what they touch once they end, and waits
 *   at most ontap_job_timeout for them:
 *
 *   ontap_jobs_settled = ontap_quiet + ontap_job_timeout         649060 ms after T_L
 *
 *   A job still running then: alarm, and ONTAP fences stay unconfirmed (try the next method).
 *   REFUSED: ontap_job_timeout < ontap_request_timeout (a job is never waited for less than
 *   one exchange).
 *
 * What the new leader does before the quiet point: every operation probes first and is
 * idempotent, so it may re-run the half-finished plan at once (concurrent idempotent ensures
 * converge), but no read issued before T_L + ontap_quiet may be taken as final for a decision
 * that is unsafe if an old mutation lands later -- above all, it may not confirm a fence.
 *
 * Except when the old leader is known to have had no ACCESS GRANT in flight. Only a grant (a
 * map, an initiator or host added, an export rule, an unfence) can undo a fence; a removal
 * landing late only removes. Every leader commits records["ontap/grants"] = {epoch, in_flight
 * true} before its datastore plan sends a grant -- committed = ACKed by every member, so every
 * possible successor holds it -- and {epoch, false} once each was answered (or ontap_job_timeout
 * + margin passed after the plan gave up on it: it may be a job) and nothing older can land.
 * A new leader that finds {older epoch, false} takes grants_settled = T_L: its ontap fence
 * confirms at once (agent/leader-ontap.h, coord/decide/fence.h). Found in flight, or absent (a
 * kvmcd that keeps no such record): T_L + ontap_quiet as above. Its own grants in flight: the
 * ontap attempt starts once they are answered. The new leader records from RECORDING start,
 * without waiting for the lease (core.h): the old leader commits nothing any more, and
 * everything else it might still do outside -- cut access, power a host off -- only fences
 * more. So when the leader's own host fails:
 *
 *   T_v                    the survivors' view without the leader (detection after its death)
 *   T_v + quorum verdict   the new leader is elected, synced: RECORDING (T_L), not yet LEADING
 *   T_L + one exchange     ontap cut + read-back of the old leader's access: CONFIRMED (no grant
 *                          in flight) -- its HA VMs are placed and started on the survivors
 *   T_v + leader_lease + margin   LEADING (the daemon gives the core leader_lease + margin;
 *                          a node that restarted meanwhile adds no lease to a KEPT leadership,
 *                          only to a new one): the datastore plan and other ONTAP work resume
 *
 * ============================================================================================
 * 7. Fences: deadlines and when each counts as confirmed
 * ============================================================================================
 *
 *   ontap   Remove the node's initiators / host NQNs from every igroup and NVMe subsystem (and
 *           export rules). One attempt may take
 *             fence_ontap_attempt = 4 * ontap_request_timeout        120000 ms
 *           (look up, remove, read back, list jobs; each one full exchange), counted from
 *           max(start, grants_settled) (6.: T_L when no older grant was in flight, else
 *           T_L + ontap_quiet). CONFIRMED when a read-back issued after both the removal
 *           succeeded and grants_settled shows none of the node's access; when grants_settled
 *           is the quiet point, the read-back also waits until the SVM lists no queued,
 *           running or paused job (6.; listed every second, until T_L + ontap_jobs_settled:
 *           a job still active then leaves the fence unconfirmed, the job named;
 *           resources/ontap/ontap-fence.h settle_jobs). The fence operations and the maps, hosts,
 *           initiators and rules kvmcd grants are synchronous calls; the one grant that runs as
 *           a job is a NAS volume created or mounted with its export policy: a leader that
 *           gives up on one counts it settled only ontap_job_timeout + margin later (its own
 *           fences wait that long), and an older leader's is covered by the quiet point only
 *           up to ontap_request_timeout. (Whether ONTAP drops an NVMe
 *           host's live controllers when the host is removed is unconfirmed; nvmet does not.)
 *   agent   A fence agent (power), run as a child: `off`, then `status`, both within
 *           fence_agent_timeout; past it TERM, and KILL after
 *             fence_agent_kill_grace = fence_agent_timeout / 10          6000 ms;
 *           at most fence_agent_attempts attempts, backoff doubling from fence_agent_backoff:
 *             fence_agent_deadline = attempts * (timeout + kill_grace)
 *                                    + backoff * (2^(attempts-1) - 1)    204000 ms
 *           CONFIRMED when `status` run after a successful `off` reports the power off.
 *   watchdog CONFIRMED when now >= T_v + watchdog_dead_after_nodedown (or PROCDOWN +
 *           watchdog_dead_after_procdown) and X has not been seen in a view since; only for a
 *           host that published an armed hardware watchdog with this cluster's timeout.
 *
 * The fence core (coord/decide/fence.h) walks the configured levels in order. The ontap level
 * retries like the agent level (fence_agent_attempts, backoff doubling from
 * fence_agent_backoff: one retry policy for both active methods), so the whole level takes
 *
 *   fence_ontap_deadline = attempts * fence_ontap_attempt
 *                          + backoff * (2^(attempts-1) - 1)                        366000 ms
 *
 * after max(start, grants_settled). When every level has failed the fence is FAILED (an
 * operator-visible alarm) and the ladder runs again only after
 *
 *   fence_round_pause = max(fence_ontap_attempt, fence_agent_timeout + kill_grace)  120000 ms
 *
 * doubled after each failed round up to 8 times that (16 min): one round of the slowest single
 * attempt between rounds, so a fence that cannot succeed never becomes a storm of requests to
 * ONTAP or to a BMC, and one that can (a BMC back on the network) still does without an operator.
 * A fence attempt's times live in the replicated records with the epoch of the leader that wrote
 * them; CLOCK_MONOTONIC differs between hosts, so a new leader reads none of them: an attempt in
 * flight under an older epoch counts as used and failed (its report died with that leader), a
 * backoff ends at once, and the watchdog level counts from the new leader's own sight of the
 * failure (from when it joined, when it did not see it: later, never earlier).
 *
 * ============================================================================================
 * 8. A planned host shutdown (agent/vms-shutdown.c: [vms] shutdown_policy)
 * ============================================================================================
 *
 * kvmcd stopped by systemd while the host shuts down delays its exit while the policy runs, all
 * of it within shutdown_timeout of the SIGTERM ([vms] shutdown_timeout, 240 s). Not a safety
 * bound (the host powers off whatever kvmcd does), but the unit's TimeoutStopSec must exceed it
 * (packaging/kvmcd.service: 300 s; kvmcd also sends EXTEND_TIMEOUT_USEC), or systemd kills kvmcd
 * mid-way and its guests die with the host instead of shutting down cleanly. Timeline:
 *
 *   0                                 SIGTERM; migrate: the drain is requested, guests leave live
 *   shutdown_drain          (151910)  what has not left by then is aborted and shut down here
 *     = shutdown_timeout - guest_stop_grace - shutdown_release - margin
 *   ... + guest_stop_grace   (60 s)   ACPI shutdown, then destroy (a guest without ACPI: at once)
 *   ... + shutdown_release  (27090)   the leader records the stopped guests as no longer this
 *     = commit_max                    node's (one committed change, across a failover at worst),
 *                                     so it restarts them elsewhere: an owner that left the view
 *                                     keeps its VMs until it is back (placement's safety rule)
 *   ... + margin = shutdown_timeout   kvmcd leaves the CPG and exits
 *
 * NOTED (TIMEOUTS_NOTE_SHUTDOWN_SHORT), not refused: shutdown_timeout < guest_stop_grace +
 * shutdown_release + 2 * margin. shutdown_drain is then 0: migrate shuts the guests down at once
 * (a cold restart elsewhere instead of a live move; nothing unsafe).
 */
#pragma once

#include <stdint.h>

/* Notes: consistent bases that cost availability (timeouts_describe() explains each). */
enum {
	TIMEOUTS_NOTE_FAILURE_MAY_STALL = 1u << 0, /* stall_timeout < stall_clean_min */
	TIMEOUTS_NOTE_NO_WATCHDOG = 1u << 1,       /* watchdog_timeout 0: no watchdog fence */
	TIMEOUTS_NOTE_REQUEST_SHORT = 1u << 2,     /* request_timeout < commit_max */
	TIMEOUTS_NOTE_SHUTDOWN_SHORT = 1u << 3,    /* shutdown_timeout leaves no time to drain */
};

/*
 * The inputs. Durations in microseconds; bounds (checked by timeouts_derive()) in brackets.
 */
struct timeouts_base {
	uint64_t totem_token_usec;             /* corosync totem.token [100 ms, 300 s]; 3000 ms */
	uint64_t totem_token_coefficient_usec; /* totem.token_coefficient [0, 10 s]; 650 ms */
	uint32_t totem_nodes;                  /* nodes in corosync's nodelist [1, 1000]; 3 */
	uint64_t totem_consensus_usec;         /* totem.consensus; 0 = 1.2 * effective token, else
						  [100 ms, 600 s]; 0 */
	uint64_t stall_timeout_usec;           /* [cluster] stall_timeout [1 s, 600 s], or 0 =
						  stall_clean_min (at least 1 s); 0 */
	uint64_t request_timeout_usec;         /* [cluster] request_timeout [1 s, 3600 s]; 30 s */
	uint64_t ontap_request_timeout_usec;   /* [ontap] request_timeout [1 s, 3600 s]; 30 s */
	uint64_t ontap_job_timeout_usec;       /* [ontap] job_timeout [1 s, 86400 s]; 600 s */
	uint64_t agent_restart_usec;           /* kvmcd restart, PROCDOWN to rejoined [1 s, 300 s];
						  6000 ms */
	uint64_t watchdog_timeout_usec;        /* last keepalive -> reset, whole seconds [2 s,
						  600 s], or 0 = no watchdog; 10 s */
	uint64_t watchdog_keepalive_usec;      /* 0 = watchdog_timeout / 4, else [100 ms,
						  watchdog_timeout / 3]; 0 */
	uint64_t fence_agent_timeout_usec;     /* one `off` + `status` [5 s, 600 s]; 60 s */
	uint32_t fence_agent_attempts;         /* [1, 10]; 3 */
	uint64_t fence_agent_backoff_usec;     /* first retry delay, doubled [100 ms, 60 s]; 2 s */
	uint64_t margin_usec;                  /* [100 ms, 60 s]; 1000 ms */
	uint64_t shutdown_timeout_usec;        /* [vms] shutdown_timeout [10 s, 3600 s]; 240 s */
	uint64_t guest_stop_grace_usec;        /* a guest's ACPI shutdown before destroy [0, 600 s];
						  60 s */
};

/*
 * The derived values; the header comment above gives each one's formula and reason.
 * timeouts_derive() fills every field or none.
 */
struct timeouts {
	struct timeouts_base base;                   /* the inputs, as given -- but a stall_timeout
							given as 0 holds the value derived for it */
	/* 2. corosync */
	uint64_t totem_token_effective_usec;
	uint64_t totem_consensus_usec;               /* as corosync uses it (explicit or default) */
	uint64_t detection_usec;
	/* 3. kvmcd liveness */
	uint64_t heartbeat_usec;
	uint64_t quorum_grace_usec;
	uint64_t leader_lease_usec;
	uint64_t stall_clean_min_usec;
	uint64_t commit_max_usec;
	/* 4. */
	uint64_t notice_max_usec;
	/* 5. watchdog and agent loss; the watchdog ones are 0 without a watchdog */
	uint64_t agent_grace_usec;
	uint64_t watchdog_keepalive_usec;
	uint64_t watchdog_fire_max_usec;
	uint64_t watchdog_dead_after_nodedown_usec;
	uint64_t watchdog_dead_after_procdown_usec;
	/* 6. ONTAP, after the new leader's LEADING start */
	uint64_t ontap_quiet_usec;
	uint64_t ontap_jobs_settled_usec;
	/* 7. fences */
	uint64_t fence_ontap_attempt_usec;
	uint64_t fence_agent_kill_grace_usec;
	uint64_t fence_agent_deadline_usec;
	uint64_t fence_ontap_deadline_usec;          /* the whole ontap level, after the quiet point */
	uint64_t fence_round_pause_usec;             /* after a failed ladder (doubled, up to 8x) */
	/* 8. a planned shutdown, after the SIGTERM */
	uint64_t shutdown_release_usec;
	uint64_t shutdown_drain_usec;
	unsigned notes;                              /* TIMEOUTS_NOTE_* */
};

/* Fills *base with the defaults listed in 1. */
void timeouts_defaults(struct timeouts_base *base);

/*
 * Checks the bases (bounds and the REFUSED relations above) and derives. Returns 0 and fills
 * *out; -EINVAL with *error (owned; names the values, e.g. "request_timeout 10000 ms is shorter
 * than commit_max 27090 ms ...") and *out untouched; -ENOMEM. error may be NULL.
 */
int timeouts_derive(const struct timeouts_base *base, struct timeouts *out, char **error);

/*
 * The timeline for `kvmcd --print-timeouts`: one line per base and derived value ("name value
 * formula"), then one line per note. Returns 0 and *out (owned, '\n'-terminated lines), or
 * -ENOMEM.
 */
int timeouts_describe(const struct timeouts *t, char **out);
