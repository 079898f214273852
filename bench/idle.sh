#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/idle.sh -- cost of an idle 3-node cluster (tests/multinode/cluster). Not part of
# `meson test`. Needs root.
#
# For each kvmcd (and, for comparison, each corosync) over DURATION seconds (default 60) of an
# idle, synced cluster: RSS (VmRSS = anon + file-backed (shared libraries) + shmem, peak VmHWM;
# target for kvmcd <= 10 MB), context switches
# per second (voluntary + involuntary, from /proc/PID/status: each is a wakeup), CPU time, and,
# when perf's syscall tracepoints are usable, epoll_wait calls per second.
#
# With ONTAP=1 every node gets an [ontap] section (cluster up --ontap): the leader loads the
# ONTAP client module (libcurl and its TLS stack) and reaches ontap-sim; followers do not.
# Then the largest resident mappings (smaps) of the leader's kvmcd and a follower's (TOP=12).
#
# Every node runs libvirtd (cluster up --libvirt), as a KVM host does: kvmcd's VM service keeps
# its connection for libvirt's domain events. LIBVIRT=0: without libvirtd.
#
# Usage: bench/idle.sh        DURATION=20 bench/idle.sh        ONTAP=1 bench/idle.sh
DURATION=${DURATION:-60}
WARMUP=${WARMUP:-5}
BENCH_DIR=$(dirname "$(readlink -f "$0")")
. "$BENCH_DIR/../tests/multinode/lib.sh"
mn_begin bench-idle $(( DURATION + WARMUP + 120 ))
LIBVIRT=${LIBVIRT:-1}
libvirt_flag=; [ "$LIBVIRT" = 1 ] && libvirt_flag=--libvirt
mn_up 3 ${ONTAP:+--ontap} $libvirt_flag
wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
sleep "$WARMUP"

field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ctx() { echo $(( $(field "$1" voluntary_ctxt_switches) + $(field "$1" nonvoluntary_ctxt_switches) )); }

declare -A PID CTX0 CPU0 PERFOUT
rows=""
for i in 1 2 3; do
	for p in kvmcd corosync; do
		pid=$("$CLUSTER" pids "$i" "$p" | head -1)
		[ -n "$pid" ] || fail "no $p on n$i"
		PID[$i$p]=$pid
		rows+=" $i$p"
	done
done

perf_ok=0 perf_pids=""
if command -v perf >/dev/null 2>&1 && perf stat -e 'syscalls:sys_enter_epoll_wait' -x, -- true >/dev/null 2>&1; then
	perf_ok=1
fi
for k in $rows; do
	CTX0[$k]=$(ctx "${PID[$k]}"); CPU0[$k]=$(cpu_ticks "${PID[$k]}")
	if [ "$perf_ok" = 1 ]; then
		PERFOUT[$k]=$(mktemp /tmp/kvmcd-bench-idle.XXXXXX)
		perf stat -x, -e 'syscalls:sys_enter_epoll_wait' -p "${PID[$k]}" -o "${PERFOUT[$k]}" -- sleep "$DURATION" &
		perf_pids+=" $!"
	fi
done
log "measuring $DURATION s (perf epoll_wait tracepoint: $([ "$perf_ok" = 1 ] && echo yes || echo unavailable))"
sleep "$DURATION"
[ -z "$perf_pids" ] || wait $perf_pids
hz=$(getconf CLK_TCK)
warn=""

echo
echo "idle 3-node cluster, $DURATION s"
printf '%-4s %-9s %7s %9s %9s %9s %9s %10s %8s %12s\n' node process pid "RSS(KiB)" "anon" "file" "HWM(KiB)" "wakeups/s" "CPU %" "epoll_wait/s"
for k in $rows; do
	pid=${PID[$k]}
	rss=$(field "$pid" VmRSS); hwm=$(field "$pid" VmHWM)
	dctx=$(( $(ctx "$pid") - CTX0[$k] ))
	dcpu=$(( $(cpu_ticks "$pid") - CPU0[$k] ))
	ep="-"
	if [ "$perf_ok" = 1 ]; then
		ep=$(awk -F, -v d="$DURATION" '/epoll_wait/ { if ($1 ~ /^[0-9]+$/) printf "%.1f", $1 / d; else print "n/a" }' "${PERFOUT[$k]}")
		rm -f "${PERFOUT[$k]}"
	fi
	printf '%-4s %-9s %7s %9s %9s %9s %9s %10s %8s %12s\n' "n${k:0:1}" "${k:1}" "$pid" "$rss" \
		"$(field "$pid" RssAnon)" "$(( $(field "$pid" RssFile) + $(field "$pid" RssShmem) ))" "$hwm" \
		"$(awk -v a="$dctx" -v d="$DURATION" 'BEGIN{printf "%.1f", a/d}')" \
		"$(awk -v a="$dcpu" -v d="$DURATION" -v hz="$hz" 'BEGIN{printf "%.2f", 100*a/hz/d}')" "${ep:--}"
	if [ "${k:1}" = kvmcd ] && [ "${rss:-0}" -gt 10240 ]; then warn+="n${k:0:1} kvmcd RSS $rss KiB is above the 10 MB target; "; fi
done
[ -z "$warn" ] || log "WARNING: $warn"
# Where a kvmcd's resident pages are: the largest mappings (Rss by file; [anon] = heap and
# anonymous mappings) of the leader's and of a follower's.
L=${AGREED_LEADER%/*}
F=1; [ "$L" = 1 ] && F=2
for i in "$L" "$F"; do
	echo
	echo "n$i kvmcd ($([ "$i" = "$L" ] && echo leader || echo follower)): largest resident mappings, KiB"
	awk '/^[0-9a-f]+-[0-9a-f]+ / { n = $6 == "" ? "[anon]" : $6 } /^Rss:/ { r[n] += $2 }
	     END { for (n in r) printf "%8d %s\n", r[n], n }' "/proc/${PID[${i}kvmcd]}/smaps" | sort -rn | head -"${TOP:-12}"
done
mn_pass
