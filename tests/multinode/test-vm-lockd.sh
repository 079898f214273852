#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The "lockd" VM lock (resources/host/vm-lock-lockd.c) for real: libvirt's lock manager on two
# nodes, without kvmcd (cluster up 2 --lockd --no-kvmcd: real libvirtd + virtlockd + QEMU per
# node, the disk leases in the shared directory), under the invariant monitor:
#   0. kvmcd's lockd backend (tests/vm-lock-tool, the same ops table) finds each node set up;
#   1. the counter guest starts on n1; its disk's lease appears in the shared lease directory;
#   2. starting the SAME domain (same disk) on n2 while it runs on n1 is REFUSED by libvirt
#      (virtlockd: the lease is held by n1), persistent or transient alike, and no QEMU is left on
#      n2 -- without --lockd that second copy starts (test-vm-monitor.sh: QEMU's own image locks
#      do not reach across the nodes' FUSE mounts);
#   3. n1's libvirtd killed and restarted: the guest and its lease stay, n2 is still refused;
#   4. a live migration n1 -> n2 hands the lease over (the counter goes on), then n1 is refused;
#   5. destroyed on n2: its lease is gone, and n1 may start it again.
. "$(dirname "$0")/lib.sh"
MN_NO_KVMCD=1
mn_begin vm-lockd 280
mn_need_libvirt
mn_need_guest_tools
command -v virtlockd >/dev/null 2>&1 || mn_skip "virtlockd not installed (libvirt-daemon)"
TOOL=$KVMCD_BUILD_DIR/tests/vm-lock-tool
[ -x "$TOOL" ] || mn_skip "no $TOOL (ninja -C $KVMCD_BUILD_DIR)"

VM=mn-lockd
LEASES=$MN_SHARED_BACKING/.virtlockd
mn_up 2 --lockd --no-kvmcd
mn_vm_monitor_start

# 0. What kvmcd's lockd backend checks before it lets a VM start.
for i in 1 2; do
	out=$("$CLUSTER" exec "$i" timeout 20 "$TOOL" --backend lockd probe 2>&1) || fail "n$i: vm-lock-tool probe: $out"
	log "n$i: $out"
	case $out in *"leases in $MN_SHARED/.virtlockd (fuse.glusterfs), virtlockd on /run/libvirt/virtlockd-sock"*) ;;
	*) fail "n$i: unexpected probe: $out" ;; esac
done
log "ok: vm-lock-tool --backend lockd probe: libvirt's lockd set up on both nodes"

# 1. Runs on n1.
mn_vm_image "$VM" || fail "cannot build the guest image"
mn_vm_define 1 "$VM"
mn_vm_define 2 "$VM"
vsh 1 start "$VM" >/dev/null || fail "n1: start $VM"
wait_until 30 "n1: the guest counts" mn_vm_counting "$VM" 3
leases=$(find "$LEASES" -maxdepth 1 -type f | wc -l)
[ "$leases" -ge 1 ] || fail "no lease file in $LEASES"
log "ok: $leases lease file(s) in the shared lease directory: $(ls "$LEASES" | tr '\n' ' ')"

# refused: virsh start / create on node I fails with libvirt's lock error, no QEMU left there
refused_on() { # I HOW
	local i=$1 how=$2 out rc
	if [ "$how" = create ]; then
		out=$(mn_vm_xml "$VM" | vsh "$i" create /dev/stdin 2>&1); rc=$?
	else
		out=$(vsh "$i" start "$VM" 2>&1); rc=$?
	fi
	[ "$rc" -ne 0 ] || fail "n$i: virsh $how $VM SUCCEEDED while another node runs it: $out"
	grep -q -E "resource busy|is locked" <<<"$out" || fail "n$i: virsh $how failed, but not for the lease: $out"
	log "ok: n$i: virsh $how $VM refused by libvirt: $(tr '\n' ' ' <<<"$out" | sed 's/  */ /g')"
	[ -z "$("$CLUSTER" pids "$i" qemu-system-x86)" ] || fail "n$i: a QEMU is left after the refusal"
	[ "$(vm_state "$i" "$VM")" != running ] || fail "n$i: $VM runs"
}

# 2. The second copy is refused.
refused_on 2 start
refused_on 2 create
assert_eq "$(vm_state 1 "$VM")" running "n1: $VM still runs"

# 3. libvirtd restarts on n1: virtlockd keeps the lease.
"$CLUSTER" kill 1 libvirtd || fail "kill n1 libvirtd"
"$CLUSTER" start 1 libvirtd || fail "start n1 libvirtd"
assert_eq "$(vm_state 1 "$VM")" running "n1: $VM after libvirtd's restart"
refused_on 2 start
c=$(mn_vm_last_counter "$VM")
wait_until 20 "the guest goes on counting on n1" mn_vm_counting "$VM" $(( c + 2 ))

# 4. A live migration hands the lease over.
mn_vm_migrate 1 2 "$VM" || fail "virsh migrate n1 -> n2: $MIG_OUT"
log "ok: migrated n1 -> n2 under lockd (${MIG_MS} ms, downtime ${MIG_DOWNTIME_MS:-?} ms)"
assert_eq "$(vm_state 2 "$VM")" running "n2: $VM after the migration"
c=$(mn_vm_last_counter "$VM")
wait_until 20 "the guest goes on counting on n2" mn_vm_counting "$VM" $(( c + 2 ))
mn_vm_continuous "$VM" || fail "the serial stream broke across the migration: $VM_BAD"
mn_vm_define 1 "$VM"   # --undefinesource took it off n1
refused_on 1 start

# 5. Stopped on n2: the lease goes with it, n1 may start it.
vsh 2 destroy "$VM" >/dev/null || fail "n2: destroy"
vsh 1 start "$VM" >/dev/null || fail "n1: start $VM once n2 stopped it: the lease was not released"
log "ok: n1 starts $VM once n2 destroyed it"
vsh 1 destroy "$VM" >/dev/null
mn_vm_monitor_check
mn_pass
