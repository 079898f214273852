#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/datastores.sh -- issue 7's datastore benchmark: from `kvmcctl spec apply` to every pool
# active on 3 nodes, for 1, 10 and 50 datastores, on the multi-node tier (real corosync, kvmcd
# and libvirtd per node, ontap-sim with LATENCY_MS (default 50) of injected latency on every
# /api request, the simulated host backend). Not part of `meson test`. Needs root.
#
# For each N (SIZES, default "1 10 50"), ROUNDS times (default 1), on a fresh cluster:
#   - a spec of N datastores, i % 3 = 0 iSCSI (ocfs2), 1 NVMe/TCP (gfs2), 2 NFS; N = 1 is one
#     iSCSI datastore (the longest chain); applied on n2;
#   - wall time: apply -> every node logs "Datastore '<x>' is ready on this node" for all N
#     (its libvirt pool is active; waited for on the log files, one awk per 0.2 s, so that the
#     harness does not load the machine it measures; `kvmcctl pool verify` then confirms), split into
#     ONTAP (apply -> the last ONTAP request before that: the leader's read that finds its plan
#     empty) and attach (the rest: what the nodes still do once ONTAP is done). The leader
#     records each datastore as soon as its own operations are done, so nodes attach while
#     the rest is provisioned: "first record" says when the first one was recorded;
#   - ONTAP calls from the simulator's request log (one line per /api request): GETs and
#     mutations (POST / PATCH / DELETE), by collection, against the minimum (below);
#   - one node's attach time, alone: n3's kvmcd stopped, its pools, mounts and simulated
#     devices removed, started again: its first "synced" -> n3 logs all N ready (no ONTAP work
#     left, and nothing to format: the file systems exist -- in the run the nodes but the
#     leader format them, each datastore's formatter picked by dsplan_formatter()).
# The minimum, for the layout of coord/decide/datastore-plan.h (one POST per object):
#   mutations  iSCSI: per datastore volume + LUN + 3 LUN maps, once 3 igroups (initiators in the
#              body); NVMe/TCP: volume + namespace + 1 map, once the subsystem (hosts in the
#              body); NFS: volume (junction + policy in the body), once the export policy and
#              3 rules;
#   GETs       one read of what ONTAP holds (the leader's observe: 15 requests + 1 per export
#              policy) and the volume jobs' polls (a volume create is an async job): one GET
#              answers up to 32 jobs (resources/ontap/jobs.c), so one per 32 volumes;
#   ONTAP critical path  the longest chain of dependent calls: read -> volume POST -> its job
#              poll -> LUN POST -> map POST = 5 calls x LATENCY_MS, plus the simulator's job
#              time (--job-ms, 300 ms: ONTAP-side time on that path);
#   throughput bound    minimum calls x LATENCY_MS / [ontap] max_concurrency (16 by default).
# Target (issue 7): 50 datastores in at most 1.5 x the ONTAP critical path + one node's attach.
#
# Usage: bench/datastores.sh     SIZES="1 10" ROUNDS=2 bench/datastores.sh
# Env as for tests/multinode/cluster (KVMCD_BUILD_DIR, MN_PREFIX, ...); KEEP_LOGS=DIR keeps
# every round's request log and kvmcd logs there; ONTAP_MAX_CONCURRENCY=N sets [ontap]
# max_concurrency on every node (default: kvmcd's, 16).
# TRACE_CMD=CMD runs CMD in the background from just before the apply (a profiler of the round).
# TOTEM_EXTRA: lines for corosync.conf's totem section on every node; by default
# "seqno_unchanged_const: 3", as doc/production-guide.md advises for hosts short of CPU -- here
# three nodes share 2 CPUs (README, "Datastores": corosync's token otherwise circles without a
# pause for 30 rotations after every message, 17-24 % of the CPU of a round); TOTEM_EXTRA= for
# corosync's own defaults.
# STATE_TMPFS: 1 (default) keeps each cluster's state -- the nodes' /etc/libvirt, /run and the
# shared directory, ontap-sim's files -- on a tmpfs (tests/multinode/cluster, MN_STATE_TMPFS):
# this machine's root ext4 has no journal, and after a round's deletes every file create there
# scans the recently deleted inodes, ~40 % of libvirtd's CPU in a round (its pool XML and
# autostart links) and a part of the simulated hosts'; a host's /etc/libvirt does not pay that.
# STATE_TMPFS=0 for the disk.
SIZES=${SIZES:-"1 10 50"}
ROUNDS=${ROUNDS:-1}
LATENCY_MS=${LATENCY_MS:-50}
JOB_MS=300 # ontap-sim's default --job-ms (the harness does not change it)
BENCH_DIR=$(dirname "$(readlink -f "$0")")
. "$BENCH_DIR/../tests/multinode/lib.sh"
export MN_HOST_SIM=1
export MN_TOTEM_EXTRA=${TOTEM_EXTRA-	seqno_unchanged_const: 3}
export MN_STATE_TMPFS=${STATE_TMPFS-1}
mn_begin bench-datastores $(( ROUNDS * $(wc -w <<<"$SIZES") * 420 + 120 ))
mn_need_libvirt
PREFIX=${MN_PREFIX:-kvmcd}
RUN=$MN_RUN_BASE/$PREFIX
HUB=/run/netns/$PREFIX-hub
SIM=https://10.213.0.254:8443
DSROOT=/srv/$PREFIX-bench-ds
OUT=$(mktemp -d /tmp/kvmcd-bench-datastores.XXXXXX)
sim_post() { nsenter --net="$HUB" curl -sk --max-time 5 -X POST -H 'Content-Type: application/json' -d "$2" "$SIM$1"; }

# "2026-11-24T12:02:36.577Z ..." -> epoch ms
iso_ms() {
	local d=${1%%.*} ms=${1#*.}
	ms=${ms%%Z*}
	echo $(( $(date -u -d "${d}Z" +%s) * 1000 + 10#$ms ))
}
# ready_times I T0: "<ms> <name>" for every "is ready on this node" of node I's kvmcd at or after T0.
ready_times() {
	"$CLUSTER" logs "$1" kvmcd 2>/dev/null | grep "is ready on this node" | while read -r ts rest; do
		t=$(iso_ms "$ts")
		[ "$t" -ge "$2" ] || continue
		n=${rest#*Datastore \'}
		echo "$t ${n%%\'*}"
	done
}
# last_ready I T0 N: the time node I had all N datastores ready (empty when it has not).
last_ready() {
	ready_times "$1" "$2" | awk -v n="$3" '!seen[$2]++ { c++; if ($1 > m) m = $1 } END { if (c >= n) print m }'
}
spec_of() { # N
	python3 - "$1" "$DSROOT" <<'PY'
import json, sys
n, root = int(sys.argv[1]), sys.argv[2]
ds = []
for i in range(n):
    name = f"b{i:03d}"
    p = ("iscsi", "nvme-tcp", "nfs")[i % 3]
    d = {"name": name, "protocol": p, "size": "1G", "path": f"{root}/{name}"}
    if p == "nvme-tcp":
        d["fs"] = "gfs2"
    ds.append(d)
print(json.dumps({"datastores": ds}))
PY
}
pools_ok() { nx 2 kvmcctl pool verify >/dev/null 2>&1; }
# every node's kvmcd log (a fresh cluster per round) says "is ready on this node" for N datastores
all_ready_logged() {
	awk -v n="$N" '/is ready on this node/ { split($0, a, "Datastore \047"); split(a[2], b, "\047")
		if (!seen[FILENAME, b[1]]++) c[FILENAME]++ }
		END { for (i = 1; i < ARGC; i++) if (c[ARGV[i]] < n) exit 1 }' "$RUN"/n1/kvmcd.log "$RUN"/n2/kvmcd.log "$RUN"/n3/kvmcd.log
}

# The analysis of one round: request log, times, minimum (python: easier than awk for this).
analyse() { # N T0 T_APPLIED T_DONE T_FIRST_READY NODE_TIMES ATTACH1 REQLOG LEADERLOG
	python3 - "$@" "$LATENCY_MS" "$JOB_MS" <<'PY'
import json, os, sys, re, datetime, collections
(n, t0, t_applied, t_done, t_first, node_times, attach1, reqlog, leaderlog,
 lat, job_ms) = sys.argv[1:]
n, t0, t_applied, t_done, t_first = int(n), int(t0), int(t_applied), int(t_done), int(t_first)
lat, job_ms = int(lat), int(job_ms)
def ms(s):
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp() * 1000 + 0.5)
reqs = []
for line in open(reqlog):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    t = ms(r["time"])
    if t0 <= t <= t_done:
        reqs.append((t, r))
# The ONTAP phase ends with the last ONTAP request before every node is ready (the leader's
# read that finds its plan empty); the leader records each datastore as soon as its own
# operations are done (its first leader patch after the spec), so nodes attach meanwhile.
leader = open(leaderlog).read().splitlines()
t_rec = [ms(l.split()[0]) for l in leader if "(leader-patch)" in l and "applied version" in l]
t_rec = [t for t in t_rec if t0 <= t <= t_done]
t_first_rec = t_rec[0] if t_rec else t_first
t_ontap_end = max([t for t, r in reqs], default=t_first_rec)
prov = [r for t, r in reqs if t <= t_ontap_end]
def coll(path):
    p = path.split("?")[0][len("/api"):]
    p = re.sub(r"/[0-9a-f]{8}-[0-9a-f-]{27,}", "/{uuid}", p)
    p = re.sub(r"/\d+(?=/|$)", "/{id}", p)
    return p
kinds = collections.Counter((r["method"], coll(r["path"])) for r in prov)
gets = sum(c for (m, _), c in kinds.items() if m == "GET")
muts = sum(c for (m, _), c in kinds.items() if m != "GET")
later = len(reqs) - len(prov)
ni = len(range(0, n, 3)); nv = len(range(1, n, 3)); nf = len(range(2, n, 3))
nodes = 3
min_mut = ni * (2 + nodes) + (nodes if ni else 0) + nv * 3 + (1 if nv else 0) + nf + ((1 + nodes) if nf else 0)
observe = 15 + (1 if nf else 0)  # ontap_ds_observe(): 9 lists, iSCSI service, 4 LIF lists, SVM
min_get = observe + -(-(ni + nv + nf) // 32)  # polls: up to 32 jobs per GET
chain = 5 if (ni or nv) else 4
cp = chain * lat + job_ms
conc = int(os.environ.get("ONTAP_MAX_CONCURRENCY") or 16)
tp = (min_mut + min_get) * lat / conc
rounds = [l for l in leader if "Datastores on ONTAP:" in l and "operation" in l]
def lt(l): return ms(l.split()[0])
rounds = [l for l in rounds if t0 <= lt(l) <= t_done]
total = t_done - t0
print(f"N={n} ({ni} iSCSI, {nv} NVMe/TCP, {nf} NFS), 3 nodes, latency {lat} ms")
print(f"  wall: apply -> all pools active on 3 nodes {total} ms (apply returned after {t_applied - t0} ms)")
print(f"    ONTAP phase (apply -> its last request: the read that finds the plan empty) {t_ontap_end - t0} ms; attach after it -> last node ready {t_done - t_ontap_end} ms")
print(f"    first datastore recorded for the nodes at +{t_first_rec - t0} ms, first ready on a node at +{t_first - t0} ms")
print(f"    per node, apply -> all ready: {node_times}")
print(f"    one node alone (n3 restarted without its pools/mounts/devices: synced -> all ready): {attach1} ms")
print(f"  leader patches (CPG rounds every node persists, each commit a walk on every node): {len(t_rec)}")
print(f"  leader rounds: {len(rounds)}: " + "; ".join(re.sub(r'.*Datastores on ONTAP: ', '', l.strip()) + f" at +{lt(l) - t0} ms" for l in rounds))
print(f"  ONTAP calls (ONTAP phase): {len(prov)} = {gets} GET + {muts} mutations; minimum {min_get + min_mut} = {min_get} GET + {min_mut} mutations")
for (m, c), k in sorted(kinds.items(), key=lambda x: (x[0][0] == 'GET', x[0][1])):
    print(f"    {k:5d} {m:6s} {c}")
if later:
    print(f"  ({later} more calls after that, before the last node was ready)")
print(f"  ONTAP critical path: {chain} calls x {lat} ms + {job_ms} ms volume job = {cp} ms; throughput bound (minimum calls x {lat} ms / {conc}) {tp:.0f} ms")
try:
    a1 = int(attach1)
    bound = 1.5 * max(cp, 0) + a1
    print(f"  target: <= 1.5 x {cp} + {a1} = {bound:.0f} ms -> {'MET' if total <= bound else 'NOT MET'} ({total / bound:.2f}x)")
except ValueError:
    pass
print(f"RESULT N={n} total_ms={total} ontap_ms={t_ontap_end - t0} first_rec_ms={t_first_rec - t0} attach_ms={t_done - t_ontap_end} attach1_ms={attach1} get={gets} mut={muts} min_get={min_get} min_mut={min_mut} cp_ms={cp} tp_ms={tp:.0f} rounds={len(rounds)} patches={len(t_rec)}")
PY
}

for N in $SIZES; do
	for r in $(seq 1 "$ROUNDS"); do
		log "=== N=$N round $r (load: $(cut -d' ' -f1-3 /proc/loadavg))"
		mn_up 3 --ontap --libvirt
		if [ -n "${ONTAP_MAX_CONCURRENCY:-}" ]; then
			# [ontap] keys need a restart
			for i in 1 2 3; do "$CLUSTER" stop "$i" kvmcd >/dev/null || fail "stop kvmcd n$i"; done
			for i in 1 2 3; do
				sed -i "/^\[ontap\]/a max_concurrency=$ONTAP_MAX_CONCURRENCY" "$RUN/n$i/etc-kvmcd/kvmcd.conf"
				"$CLUSTER" start "$i" kvmcd >/dev/null || fail "start kvmcd n$i"
			done
		fi
		wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
		L=${AGREED_LEADER%/*}
		# The leader acts (after the lease, when the cluster was restarted) and has reached ONTAP.
		# A restarted leader reaches ONTAP while it only records (its predecessor's lease has
		# not ended): its last "Recording as leader" must be followed by "Acting as leader".
		acting() { "$CLUSTER" logs "$L" kvmcd 2>/dev/null | awk '/kvmcd start ---/ { a = o = 0 } /Recording as leader/ { a = 0 } /Acting as leader/ { a = 1 } /reached ONTAP/ { o = 1 } END { exit !(a && o) }'; }
		wait_until 40 "n$L acts as leader and has reached ONTAP" acting
		sim_post /_sim/faults "{\"type\":\"latency\",\"ms\":$LATENCY_MS}" >/dev/null || fail "cannot install the latency fault"
		# Every node has published its inventory (the leader needs each IQN / NQN / address).
		inv_all() { for i in 1 2 3; do [ "$(jget "$i" '.datastores.inventory != null')" = true ] || return 1; done; }
		wait_until 30 "every node has its inventory" inv_all
		sleep 2
		SPEC=$(spec_of "$N")
		# TRACE_CMD: a command started in the background right before the apply (a profiler
		# of the round, e.g. "perf sched record -a -o /tmp/x -- sleep 5"); waited for below.
		trace_pid=
		if [ -n "${TRACE_CMD:-}" ]; then
			bash -c "$TRACE_CMD" >/dev/null 2>&1 &
			trace_pid=$!
			sleep 0.3
		fi
		t0=$(now_ms)
		apply_spec 2 "$SPEC" || fail "apply: $APPLY_OUT"
		t_applied=$(now_ms)
		# on the log files, one awk per 0.2 s: polling kvmcctl (a `cluster exec`, nsenter,
		# kvmcctl asking three kvmcds) would load the machine it measures
		wait_until 400 "N=$N: every node logs all $N datastores ready" all_ready_logged
		# (a node's section, which pool verify reads, follows its log line within 100 ms)
		wait_until 10 "N=$N: kvmcctl pool verify after every node logged all ready" pools_ok
		t_done=0 t_first=99999999999999 per=""
		for i in 1 2 3; do
			t=$(last_ready "$i" "$t0" "$N")
			[ -n "$t" ] || fail "n$i's log does not show all $N datastores ready"
			f=$(ready_times "$i" "$t0" | sort -n | head -1 | cut -d' ' -f1)
			[ "$f" -lt "$t_first" ] && t_first=$f
			[ "$t" -gt "$t_done" ] && t_done=$t
			per+="n$i $((t - t0)) ms; "
		done
		[ -z "$trace_pid" ] || wait "$trace_pid"
		cp "$RUN/ontap/requests.log" "$OUT/requests-$N-$r.log"
		"$CLUSTER" logs "$L" kvmcd >"$OUT/leader-$N-$r.log" 2>/dev/null

		# One node alone: n3 without its pools, mounts and simulated devices, started again.
		# HA disarmed meanwhile: under load the cleanup below outlasts the agent grace (7 s), and
		# the leader then fenced n3 and gave its access back only after a lease -- "one node
		# alone" measured 16-17 s of fencing, not an attach.
		nx 2 kvmcctl ha disarm >/dev/null || fail "ha disarm"
		"$CLUSTER" stop 3 kvmcd >/dev/null || fail "stop kvmcd n3"
		for i in $(seq 0 $((N - 1))); do
			name=$(printf 'b%03d' "$i")
			nx 3 virsh -q pool-destroy "$name" >/dev/null 2>&1
			nx 3 virsh -q pool-undefine "$name" >/dev/null 2>&1
			nx 3 umount "$DSROOT/$name" >/dev/null 2>&1
		done
		rm -rf "$RUN/n3/run/kvmcd/host/sim/dev"
		[ -z "$(nx 3 virsh -q pool-list --all)" ] || fail "n3 still has pools"
		t_s=$(now_ms)
		"$CLUSTER" start 3 kvmcd >/dev/null || fail "start kvmcd n3"
		# its log since this start says all N ready (awk: see all_ready_logged)
		n3_ready() {
			awk -v n="$N" '/kvmcd start ---/ { delete seen; c = 0 }
				/is ready on this node/ { split($0, a, "Datastore \047"); split(a[2], b, "\047"); if (!seen[b[1]]++) c++ }
				END { exit !(c >= n) }' "$RUN/n3/kvmcd.log"
		}
		wait_until 400 "N=$N: n3 alone: all $N ready again" n3_ready
		t3=$(last_ready 3 "$t_s" "$N")
		# (its section follows its log line within 100 ms, as above)
		wait_until 10 "N=$N: kvmcctl pool verify after n3 logged all ready" pools_ok
		nx 2 kvmcctl ha arm >/dev/null || fail "ha arm"
		# from its kvmcd's first "synced" (a member again, it reads the records)
		ts=$("$CLUSTER" logs 3 kvmcd 2>/dev/null | grep ' synced: ' | while read -r t _; do
			t=$(iso_ms "$t"); [ "$t" -ge "$t_s" ] && { echo "$t"; break; }; done)
		attach1=$((t3 - ${ts:-$t_s}))

		res=$(analyse "$N" "$t0" "$t_applied" "$t_done" "$t_first" "$per" "$attach1" \
			"$OUT/requests-$N-$r.log" "$OUT/leader-$N-$r.log")
		printf '%s\n' "$res" | tee -a "$OUT/summary"
		log "load after N=$N round $r: $(cut -d' ' -f1-3 /proc/loadavg)"
		if [ -n "${KEEP_LOGS:-}" ]; then
			mkdir -p "$KEEP_LOGS"
			cp "$OUT"/*-"$N"-"$r".log "$KEEP_LOGS"/
			for i in 1 2 3; do "$CLUSTER" logs "$i" kvmcd >"$KEEP_LOGS/n$i-kvmcd-$N-$r.log" 2>/dev/null; done
		fi
		"$CLUSTER" down >/dev/null 2>&1
	done
done
rmdir "$DSROOT"/* "$DSROOT" 2>/dev/null

echo
echo "datastores: $(date -u +%F), $(nproc) CPUs, load at the end $(cut -d' ' -f1-3 /proc/loadavg), state on $([ "$MN_STATE_TMPFS" = 1 ] && echo tmpfs || echo disk), corosync totem extra: '${MN_TOTEM_EXTRA:-none}'"
grep '^RESULT' "$OUT/summary"
rm -rf "$OUT"
mn_pass
