#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Self-test of the invariant monitor (vm-monitor, started by mn_vm_monitor_start in vm/vm.sh)
# on real libvirtd + QEMU, without kvmcd (cluster up 2 --libvirt --no-kvmcd):
#   1. the counter guest runs on n1 and live-migrates n1 -> n2 -> n1 -> n2 under the monitor,
#      which samples both libvirtds every 0.1 s: no violation (a hand-over is never one);
#   2. a second copy of the same domain (same name, same disk: QEMU's image locks do not reach
#      across the nodes' FUSE mounts here) is started on n1 while it runs on n2: the monitor
#      reports a violation naming the domain and both nodes within a few seconds;
#   3. lib.sh's exit hook (_mn_vm_on_exit), which every multinode test runs before `cluster down`,
#      fails on it. The test then passes because it expected exactly that.
. "$(dirname "$0")/lib.sh"
MN_NO_KVMCD=1
mn_begin vm-monitor 240
mn_need_libvirt
mn_need_guest_tools

VM=mn-twice
mn_up 2 --libvirt --no-kvmcd
MN_VM_MON_INTERVAL=0.1 mn_vm_monitor_start

# 1. Migrations under the monitor.
mn_vm_image "$VM" || fail "cannot build the guest image"
mn_vm_define 1 "$VM"
vsh 1 start "$VM" >/dev/null || fail "n1: start $VM"
wait_until 30 "n1: the guest counts" mn_vm_counting "$VM" 3
src=1
for dst in 2 1 2; do
	mn_vm_migrate "$src" "$dst" "$VM" || fail "virsh migrate n$src -> n$dst: $MIG_OUT"
	log "ok: migrated n$src -> n$dst (${MIG_MS} ms, downtime ${MIG_DOWNTIME_MS:-?} ms)"
	src=$dst
done
sleep 1
[ ! -s "$MN_VM_MON_DIR/violations" ] || fail "violation reported across live migrations: $(cat "$MN_VM_MON_DIR/violations")"
log "ok: no violation across 3 live migrations ($(grep -c 'suspect:' "$MN_VM_MON_DIR/log") hand-overs logged as suspects)"

# 2. A second copy on n1 while the domain runs on n2.
assert_eq "$(vm_state 2 "$VM")" running "n2: state of $VM"
t0=$(now_ms)
mn_vm_xml "$VM" | vsh 1 create /dev/stdin >/dev/null || fail "n1: virsh create (the second copy)"
log "a second copy of $VM started on n1 while n2 runs it"
has_violation() { grep -q "VIOLATION: $VM ran on n[12] and n[12] at once" "$MN_VM_MON_DIR/violations" 2>/dev/null; }
wait_until 10 "the monitor reports $VM on n1 and n2 at once" has_violation
log "detected $(( $(now_ms) - t0 )) ms after virsh create was called: $(head -1 "$MN_VM_MON_DIR/violations" | cut -d' ' -f2-)"
vsh 1 destroy "$VM" >/dev/null || fail "n1: destroy the second copy"

# 3. The exit hook fails a test on it (it stops the monitor and judges it).
log "expecting the exit hook to report the violation:"
if _mn_vm_on_exit; then fail "lib.sh's exit hook (_mn_vm_on_exit) let a violation pass"; fi
log "ok: the exit hook fails the test on a violation"
[ -z "$MN_VM_MON_PID" ] || fail "the monitor still runs"
mn_pass
