#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/failover.sh -- leader failover on a 3-node cluster of real corosync + kvmcd
# (tests/multinode/cluster). Not part of `meson test`. Needs root.
#
# ROUNDS times (default 20): SIGKILL the leader's corosync, then measure on the node that
# becomes the new leader, from timestamps in the logs (all wall clock, ms):
#   detect   kill -> corosync reports the new membership ("[TOTEM ] A new membership ... formed")
#   deliver  corosync's membership line -> kvmcd logs the CPG view change ("view [..] left: ...")
#   elect    kvmcd's view change -> kvmcd acts as leader ("This node is now the leader")
#   agent    corosync's membership line -> kvmcd acts as leader  (= deliver + elect: the agent's
#            own overhead on top of corosync's detection)
#   total    kill -> kvmcd acts as leader
#   lease    corosync's membership line -> the new leader ACTS ("Acting as leader under epoch":
#            ONTAP, fencing, VM starts), after the lease that covers an old leader whose
#            corosync stalled (stall_timeout + margin from the last contact; coord/cluster/core.h)
# kvmcd's times come from its in-memory log ring (`kvmcctl log`, stamped by the daemon itself);
# corosync's from its log file (timestamp: hires). Then the killed corosync is restarted and the
# cluster settles before the next round.
#
# Usage: bench/failover.sh            ROUNDS=5 bench/failover.sh
# Env as for tests/multinode/cluster (KVMCD_BUILD_DIR, MN_PREFIX, MN_TOKEN, ...).
ROUNDS=${ROUNDS:-20}
BENCH_DIR=$(dirname "$(readlink -f "$0")")
. "$BENCH_DIR/../tests/multinode/lib.sh"
mn_begin bench-failover $(( ROUNDS * 30 + 120 ))
mn_up 3
RUNDIR=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
OUT=$(mktemp /tmp/kvmcd-bench-failover.XXXXXX)

# "Nov 24 12:02:36.577 [pid] ..." -> epoch ms (corosync logs local time).
cs_ms() {
	local d=${1%%.*} ms=${1##*.}
	echo $(( $(date -d "$d" +%s) * 1000 + 10#$ms ))
}
# "2026-11-24T12:02:36.577Z ..." -> epoch ms
iso_ms() {
	local d=${1%%.*} ms=${1#*.}
	ms=${ms%%Z*}
	echo $(( $(date -u -d "${d}Z" +%s) * 1000 + 10#$ms ))
}

all_synced_3() {
	local i
	for i in 1 2 3; do
		has_members "$i" 3 || return 1
		[ "$(jget "$i" .sync.state)" = synced ] || return 1
	done
}
wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
for r in $(seq 1 "$ROUNDS"); do
	wait_until 30 "round $r: all 3 agree on a leader" all_agree_leader 1 2 3
	wait_until 30 "round $r: all 3 synced with 3 members" all_synced_3
	sleep 1
	L=${AGREED_LEADER%/*}
	S=""; for i in 1 2 3; do [ "$i" = "$L" ] || S+="$i "; done
	t_kill=$(( $(date +%s%N) / 1000000 ))
	"$CLUSTER" kill "$L" corosync >/dev/null || fail "kill corosync n$L"
	new_leader() { all_agree_leader $S && [ "${AGREED_LEADER%/*}" != "$L" ]; }
	wait_until 30 "round $r: survivors agree on a new leader" new_leader
	NL=${AGREED_LEADER%/*}
	acting() { nx "$NL" kvmcctl log | grep -q "Acting as leader under epoch ${AGREED_LEADER#*/}"; }
	wait_until 30 "round $r: n$NL acts as leader (after the lease)" acting

	# corosync's report on the new leader's node (first after the kill)
	cs_line=""
	while read -r line; do
		ts=$(cs_ms "$(awk '{print $1" "$2" "$3}' <<<"$line")")
		if [ "$ts" -ge "$t_kill" ]; then cs_line=$line; t_cs=$ts; break; fi
	done < <(grep 'A new membership' "$RUNDIR/n$NL/log-corosync/corosync.log")
	ring=$(nx "$NL" kvmcctl log)
	t_view=""; t_lead=""; t_act=""
	while read -r line; do
		ts=$(iso_ms "${line%% *}")
		[ "$ts" -ge "$t_kill" ] || continue
		if [ -z "$t_view" ] && [[ $line == *"view ["*"left:"* ]]; then t_view=$ts; fi
		if [ -z "$t_lead" ] && [[ $line == *"This node is now the leader"* ]]; then t_lead=$ts; fi
		if [ -z "$t_act" ] && [[ $line == *"Acting as leader under epoch"* ]]; then t_act=$ts; fi
	done <<<"$ring"
	if [ -z "$cs_line" ] || [ -z "$t_view" ] || [ -z "$t_lead" ] || [ -z "$t_act" ]; then
		log "round $r: could not find all log lines (corosync:${cs_line:+ok} view:$t_view lead:$t_lead); skipped"
	else
		printf '%s %s %s %s %s %s %s\n' "$r" $((t_cs - t_kill)) $((t_view - t_cs)) $((t_lead - t_view)) $((t_lead - t_cs)) $((t_lead - t_kill)) $((t_act - t_cs)) >>"$OUT"
		log "round $r: leader n$L killed -> n$NL leads; detect $((t_cs - t_kill)) ms, deliver $((t_view - t_cs)) ms, elect $((t_lead - t_view)) ms, agent $((t_lead - t_cs)) ms, total $((t_lead - t_kill)) ms, acts after $((t_act - t_cs)) ms"
	fi
	"$CLUSTER" start "$L" corosync >/dev/null || fail "restart corosync n$L"
done

pct() { # column percentile(0-100) -> nearest-rank value
	awk -v c="$1" '{print $c}' "$OUT" | sort -n | awk -v p="$2" '{v[NR]=$1} END { if (NR == 0) { print "-"; exit } i = int((p/100)*NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print v[i] }'
}
n=$(wc -l <"$OUT")
echo
echo "failover: $n rounds measured (token ${MN_TOKEN:-1000} ms, token_coefficient 0, 3 nodes), ms"
printf '%-10s %8s %8s %8s %8s\n' metric min p50 p95 max
for spec in "detect:2" "deliver:3" "elect:4" "agent:5" "total:6" "lease:7"; do
	printf '%-10s %8s %8s %8s %8s\n' "${spec%%:*}" "$(pct "${spec#*:}" 0)" "$(pct "${spec#*:}" 50)" "$(pct "${spec#*:}" 95)" "$(pct "${spec#*:}" 100)"
done
echo "raw: $OUT (round detect deliver elect agent total lease)"
mn_pass
