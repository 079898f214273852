#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The VM substrate of the multi-node tier (issue 8), without kvmcd: real libvirtd + QEMU (TCG)
# on 2 nodes (cluster up 2 --libvirt --no-kvmcd), the counter guest (guest/counter.s) with its
# raw disk and its serial log on the shared directory (vm/counter-domain.xml), the invariant
# monitor (vm-monitor) watching both libvirtds all along.
#   1. defined and started on n1 from the shared disk: the counter advances;
#   2. virsh migrate --live --p2p --persistent --undefinesource to n2, addressed by node name
#      (qemu+tcp://n2/system: every node's /etc/hosts): gone from n1 (definition and QEMU),
#      running and persistent on n2, and the serial stream -- one file both QEMUs append to --
#      is still 0, 1, 2, ... with no reset, nothing lost, nothing twice; and back to n1 by address;
#   3. a migration made to fail mid-way (traffic to n2 throttled so the transfer takes seconds;
#      killed once the source's job has sent data): (a) n2's QEMU SIGKILLed, (b) n2's libvirtd
#      SIGKILLed. virsh migrate fails; the guest still runs on n1 (persistent there), its
#      counter continuing in the same stream; n2 has no domain and, once its libvirtd is back,
#      no QEMU left;
#   4. after both failures a migration to n2 succeeds;
#   5. the monitor saw no domain on two nodes at once.
# Prints each migration's call time (virsh -t), libvirt's job time and downtime from its job
# stats, and the guest's own view of its stall (the longest silence in its time-stamped serial
# lines minus its period).
. "$(dirname "$0")/lib.sh"
MN_NO_KVMCD=1
mn_begin vm-migrate 300
mn_need_libvirt
mn_need_guest_tools
command -v tc >/dev/null 2>&1 || mn_skip "tc not installed (iproute2)"

VM=mn-counter
t_up=$(now_ms)
mn_up 2 --libvirt --no-kvmcd
log "cluster up 2 --libvirt --no-kvmcd: $(( $(now_ms) - t_up )) ms"
mn_vm_monitor_start "$VM"

# 1. Start on n1 from the shared disk.
assert_eq "$("$CLUSTER" exec 2 getent hosts n1 | awk '{print $1}')" 10.213.0.1 "n2: n1 resolves (/etc/hosts)"
mn_vm_image "$VM" || fail "cannot build the guest image"
mn_vm_stamp_start "$VM"
mn_vm_define 1 "$VM"
vsh 1 start "$VM" >/dev/null || fail "n1: start $VM: $(tail -3 "$MN_RUN_BASE/$MN_PREFIX/n1/log-libvirt/qemu/$VM.log" 2>/dev/null)"
wait_until 30 "n1: the guest counts (counter >= 5)" mn_vm_counting "$VM" 5
assert_eq "$(vm_state 1 "$VM")" running "n1: state of $VM"
mn_vm_continuous "$VM" || fail "serial stream: $VM_BAD"

continues_past() { mn_vm_counting "$VM" $(( $1 + 3 )) && mn_vm_continuous "$VM"; }
# check_moved SRC DST: after a successful migration.
check_moved() {
	local src=$1 dst=$2 c
	assert_eq "$(vm_state "$dst" "$VM")" running "n$dst: state of $VM"
	assert_eq "$(vsh "$dst" dominfo "$VM" | awk '/^Persistent:/{print $2}')" yes "n$dst: $VM persistent"
	assert_eq "$(vm_state "$src" "$VM")" absent "n$src: $VM after --undefinesource"
	assert_eq "$("$CLUSTER" pids "$src" qemu-system-x86 | wc -l)" 0 "n$src: QEMU processes"
	c=$(mn_vm_last_counter "$VM")
	wait_until 10 "the counter goes on after the move (past $(( c + 3 )))" continues_past "$c"
	mn_vm_continuous "$VM" || fail "serial stream after n$src -> n$dst: $VM_BAD"
	log "ok: one serial stream 0..$VM_LAST across the move: no reset, nothing lost, nothing twice"
}
TIMINGS=""
migrate_ok() { # SRC DST
	local stall
	mn_vm_migrate "$1" "$2" "$VM" || fail "virsh migrate n$1 -> n$2 (exit $MIG_RC): $MIG_OUT"
	sleep 1.2   # the stamps of the lines after the hand-over
	stall=$(mn_vm_stall "$VM" "$MIG_T0" "$MIG_T1")
	log "ok: n$1 -> n$2 ($("$CLUSTER" uri "$2" ${MIG_URI_FLAG:+"$MIG_URI_FLAG"})): virsh migrate ${MIG_MS} ms, libvirt job ${MIG_JOB_MS:-?} ms, downtime ${MIG_DOWNTIME_MS:-?} ms (libvirt), guest's own view of its stall ${stall:-?} ms"
	TIMINGS+=" n$1->n$2: ${MIG_MS}/${MIG_JOB_MS:-?}/${MIG_DOWNTIME_MS:-?}/${stall:-?};"
	check_moved "$1" "$2"
}

# 2. Live migration n1 -> n2 (by name), then back n2 -> n1 (by address).
MIG_URI_FLAG=--name migrate_ok 1 2
migrate_ok 2 1

# 3. Failed migrations: the guest stays on n1.
# fail_midway WHAT: WHAT is qemu or libvirtd (on n2, the target).
fail_midway() {
	local what=$1 jobfile=$MN_RUN_BASE/$MN_PREFIX-mig.out c0 end sent="" p
	"$CLUSTER" throttle 2 1mbit >/dev/null || fail "cluster throttle 2 1mbit"
	c0=$(mn_vm_last_counter "$VM")
	( mn_vm_migrate 1 2 "$VM"; echo "$MIG_RC $MIG_OUT" >"$jobfile" ) 9>&- &
	local mpid=$!
	end=$(( $(now_ms) + 60000 ))
	# Mid-way: the source's migration job has sent memory to n2's QEMU.
	while [ "$(now_ms)" -lt "$end" ] && kill -0 "$mpid" 2>/dev/null; do
		sent=$(vsh 1 domjobinfo "$VM" 2>/dev/null | sed -n 's/^Data processed: *//p')
		[ -n "$sent" ] && [ "${sent%% *}" != 0.000 ] && break
		sleep 0.1
	done
	[ -n "$sent" ] || fail "the migration n1 -> n2 never started sending (or ended first: $(cat "$jobfile" 2>/dev/null))"
	case $what in
	qemu)
		p=$("$CLUSTER" pids 2 qemu-system-x86)
		[ -n "$p" ] || fail "n2: no incoming QEMU while the job has sent $sent"
		kill -KILL $p
		log "n2's incoming QEMU ($p) SIGKILLed after the source sent $sent"
		;;
	libvirtd)
		"$CLUSTER" kill 2 libvirtd >/dev/null || fail "cluster kill 2 libvirtd"
		log "n2's libvirtd SIGKILLed after the source sent $sent"
		;;
	esac
	wait "$mpid"
	local rc out
	read -r rc out <"$jobfile"; rm -f "$jobfile"
	"$CLUSTER" throttle 2 off
	[ "$rc" != 0 ] || fail "virsh migrate succeeded although n2's $what was killed mid-way"
	log "ok: virsh migrate n1 -> n2 failed (exit $rc): $out"
	assert_eq "$(vm_state 1 "$VM")" running "n1: state of $VM after the failed migration"
	assert_eq "$(vsh 1 dominfo "$VM" | awk '/^Persistent:/{print $2}')" yes "n1: $VM still persistent"
	if [ "$what" = libvirtd ]; then
		"$CLUSTER" start 2 libvirtd >/dev/null || fail "n2: start libvirtd"
	fi
	assert_eq "$(vm_state 2 "$VM")" absent "n2: $VM after the failed migration"
	wait_until 20 "n2: no QEMU left" test -z "$("$CLUSTER" pids 2 qemu-system-x86)"
	wait_until 10 "the counter goes on on n1 (past $(( c0 + 5 )))" continues_past $(( c0 + 2 ))
	log "ok: the guest kept running on n1 through the failed migration (counter $c0 -> $VM_LAST, one stream)"
}
fail_midway qemu
fail_midway libvirtd

# 4. Nothing left behind blocks the next migration.
migrate_ok 1 2

# 5. The invariant held throughout.
mn_vm_stamp_stop "$VM"
mn_vm_monitor_check
log "timings (virsh migrate ms / libvirt job ms / downtime ms / guest's stall ms):$TIMINGS"
mn_pass
