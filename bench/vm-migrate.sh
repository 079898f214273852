#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/vm-migrate.sh -- live migration of a running guest between two nodes of the multi-node
# tier, with libvirt's own call and no kvmcd (issue 8's benchmark, the baseline kvmcd's
# `vm migrate` and `node drain` will be measured against). Not part of `meson test`. Needs root.
#
# `cluster up 2 --libvirt --no-kvmcd`; the counter guest (tests/multinode/vm/counter-domain.xml:
# 16 MiB, TCG, raw disk and serial log on the shared directory) started on n1, then ROUNDS
# (default 20) migrations back and forth, each
#   virsh -t migrate --live --p2p --persistent --undefinesource VM qemu+tcp://nJ/system
# run inside the source node. Per migration:
#   total     virsh's own timing of the migrate call (p2p: the source libvirtd connects to the
#             target, which starts its QEMU; memory moves; the target resumes; the source's
#             definition goes) -- what kvmcd's call to virDomainMigrateToURI3 will cost
#   job       libvirt's job statistics on the target (domjobinfo --completed): "Time elapsed",
#             from the source's Begin to the target's resume (mostly starting the target QEMU)
#   downtime  the same statistics' "Total downtime": from the source pausing the guest to the
#             target resuming it, as libvirt measures it
#   stall     the guest's own view: the longest silence between its time-stamped serial lines
#             around the migration minus its usual period (~220 ms); coarse (stamps every 20 ms,
#             scheduling delay on a loaded machine)
# and checks that the serial stream stays 0, 1, 2, ... (the state moved; nothing restarted).
# Prints p50 / p95 / max of each (nearest rank) and the machine's load.
#
# Then DRAIN (default 10) guests started on n1 are moved to n2, one after the other and then all
# at once (back to n1, virsh migrate calls in parallel): total wall time of each (the issue's
# "drain of a node with 10 guests", with libvirt alone). DRAIN=0 skips it.
#
# Usage: bench/vm-migrate.sh        ROUNDS=5 DRAIN=0 bench/vm-migrate.sh
# Env as for tests/multinode/cluster (MN_PREFIX, MN_RUN_BASE, ...).
ROUNDS=${ROUNDS:-20}
DRAIN=${DRAIN:-10}
BENCH_DIR=$(dirname "$(readlink -f "$0")")
. "$BENCH_DIR/../tests/multinode/lib.sh"
MN_NO_KVMCD=1
mn_begin bench-vm-migrate $(( ROUNDS * 20 + DRAIN * 30 + 180 ))
mn_need_libvirt
mn_need_guest_tools

VM=bench-vm
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
mn_up 2 --libvirt --no-kvmcd
mn_vm_image "$VM" || fail "cannot build the guest image"
mn_vm_stamp_start "$VM"
mn_vm_define 1 "$VM"
vsh 1 start "$VM" >/dev/null || fail "n1: start $VM"
wait_until 30 "n1: the guest counts" mn_vm_counting "$VM" 5

declare -a T_TOTAL T_JOB T_DOWN T_STALL
src=1
for r in $(seq 1 "$ROUNDS"); do
	dst=$(( 3 - src ))
	sleep 1   # stamps before the migration, and the previous one settled
	MIG_URI_FLAG=--name mn_vm_migrate "$src" "$dst" "$VM" || fail "round $r: virsh migrate n$src -> n$dst: $MIG_OUT"
	sleep 1.2 # stamps after the hand-over
	stall=$(mn_vm_stall "$VM" "$MIG_T0" "$MIG_T1")
	mn_vm_continuous "$VM" || fail "round $r: the serial stream broke: $VM_BAD"
	[ "$(vm_state "$src" "$VM")" = absent ] || fail "round $r: $VM still on n$src"
	T_TOTAL+=("$MIG_MS"); T_JOB+=("${MIG_JOB_MS:-0}"); T_DOWN+=("${MIG_DOWNTIME_MS:-0}"); T_STALL+=("${stall:-0}")
	log "round $r n$src -> n$dst: total ${MIG_MS} ms, job ${MIG_JOB_MS:-?} ms, downtime ${MIG_DOWNTIME_MS:-?} ms, guest stall ${stall:-?} ms (counter at $VM_LAST)"
	src=$dst
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
mn_vm_stamp_stop "$VM"

# p50/p95/max, nearest rank
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
	i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++
	i95 = int(NR * 0.95); if (i95 < NR * 0.95) i95++
	printf "p50 %d, p95 %d, max %d ms", v[i50], v[i95], v[NR] }'; }

DRAIN_OUT=""
if [ "$DRAIN" -gt 0 ]; then
	vsh "$src" destroy "$VM" >/dev/null
	for k in $(seq 1 "$DRAIN"); do
		mn_vm_image "drain$k" && mn_vm_define 1 "drain$k" && vsh 1 start "drain$k" >/dev/null || fail "n1: start drain$k"
	done
	for k in $(seq 1 "$DRAIN"); do wait_until 30 "drain$k counts" mn_vm_counting "drain$k" 2; done
	t0=$(now_ms)
	for k in $(seq 1 "$DRAIN"); do
		mn_vm_migrate 1 2 "drain$k" || fail "drain$k n1 -> n2: $MIG_OUT"
	done
	SEQ_MS=$(( $(now_ms) - t0 ))
	log "drain n1 -> n2 of $DRAIN guests, one after the other: $SEQ_MS ms"
	t0=$(now_ms)
	pids=()
	for k in $(seq 1 "$DRAIN"); do
		( mn_vm_migrate 2 1 "drain$k" || { echo "drain$k: $MIG_OUT" >&2; exit 1; } ) 9>&- & pids+=($!)
	done
	bad=0
	for p in "${pids[@]}"; do wait "$p" || bad=1; done
	PAR_MS=$(( $(now_ms) - t0 ))
	[ "$bad" = 0 ] || fail "a parallel migration failed"
	log "drain n2 -> n1 of $DRAIN guests, all at once: $PAR_MS ms"
	for k in $(seq 1 "$DRAIN"); do
		assert_eq "$(vm_state 1 "drain$k")" running "n1: drain$k"
		mn_vm_continuous "drain$k" || fail "drain$k: the serial stream broke: $VM_BAD"
	done
	DRAIN_OUT="drain of $DRAIN guests (virsh migrate per guest): sequential $SEQ_MS ms, all at once $PAR_MS ms"
fi

echo
echo "=== bench/vm-migrate.sh: $ROUNDS live migrations n1 <-> n2 of a 16 MiB TCG guest, libvirt alone (no kvmcd)"
echo "machine: $(nproc) vCPU ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(virsh --version 2>/dev/null | sed 's/^/libvirt /'), $(qemu-system-x86_64 --version | head -1 | sed 's/ (.*//'); $(date -u +%F)"
echo "load average (1/5/15 min) before: $LOAD0, after the migrations: $LOAD1"
echo "total (virsh migrate call): $(stats "${T_TOTAL[@]}")"
echo "libvirt's job (job stats):  $(stats "${T_JOB[@]}")"
echo "downtime (libvirt):         $(stats "${T_DOWN[@]}")"
echo "guest's stall (serial):     $(stats "${T_STALL[@]}")"
[ -n "$DRAIN_OUT" ] && echo "$DRAIN_OUT"
mn_pass
