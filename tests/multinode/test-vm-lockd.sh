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
# Then kvmcd's VM service with [vms] vm_lock = lockd (cluster up 3 --ontap --lockd, the VM's disk
# on the datastore ds1 of the simulated host backend), under the monitor:
#   6. kvmcctl preflight: every node's "vm-lock" check passes, naming the lease directory;
#   7. vm1 of the spec (prefers n1) runs on n1 only, its lease in the lease directory, `vm show`
#      says n1 holds its lock;
#   8. a second copy by hand on n2: the domain kvmcd defined there (virsh start) fails and never
#      runs beside n1's -- libvirt starts QEMU paused and takes the lease before it resumes it, so
#      either libvirt refuses (the lease) or n2's kvmcd stops the paused copy it does not own
#      first, whichever comes first; a copy kvmcd does not know (vm1's XML renamed, the same
#      disk: virsh create) is refused by libvirt's lease alone;
#   9. kvmcctl vm migrate vm1 n2 works with the leases (the counter goes on in one stream), then
#      the same two copies by hand on n1 fail the same ways;
#  10. vm1 stopped in the spec; an intruder (another domain on vm1's disk) started by hand on n3;
#      vm1 started in the spec: its owner's start is refused by libvirt, `vm list` says "error"
#      with libvirt's lease refusal as the reason, vm1 runs nowhere; the intruder destroyed: kvmcd
#      starts vm1 on its own (the backoff), once.
. "$(dirname "$0")/lib.sh"
. "$MN_DIR/vm/kvmcd-vms.sh"
MN_NO_KVMCD=1
mn_begin vm-lockd 460
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

# ---- kvmcd's VM service with [vms] vm_lock = lockd ----------------------------------------------
[ -x "$KVMCD_BUILD_DIR/agent/kvmcd" ] && [ -x "$KVMCD_BUILD_DIR/agent/kvmcctl" ] ||
	fail "no kvmcd/kvmcctl in $KVMCD_BUILD_DIR/agent (ninja -C $KVMCD_BUILD_DIR)"
"$CLUSTER" down >/dev/null 2>&1 || fail "cluster down"
export MN_HOST_SIM=1
export MN_KVMCD_EXTRA=$'[vms]\nvm_lock = lockd'
mn_up 3 --ontap --lockd
wait_until 30 "a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}

# 6. preflight
vm_lock_ok() { # I: node I's preflight has a passing vm-lock finding for every node
	[ "$(nx "$1" kvmcctl preflight --json | jq '[.findings[] | select(.check == "vm-lock" and .ok)] | length')" = 3 ]
}
wait_until 30 "preflight on n2: the vm-lock check passes on the 3 nodes" vm_lock_ok 2
found=$(nx 2 kvmcctl preflight --json | jq -r '.findings[] | select(.check == "vm-lock" and .node == "n3") | .found')
log "n2: kvmcctl preflight --json: n3 vm-lock: $found"
case $found in "lockd ([vms] vm_lock = lockd): lockd: leases in $MN_SHARED/.virtlockd"*) ;;
*) fail "n3's vm-lock finding does not name the lease directory: $found" ;; esac

# 7. kvmcd starts vm1 on n1, with its lease
apply_spec "$L" "{\"datastores\":[$(kv_ds1_spec)]}" || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 3 nodes" nx 1 kvmcctl pool verify
kv_disks vm1
MN_VM_MON_INTERVAL=0.2 mn_vm_monitor_start vm1
spec=$(jq -n --arg x1 "$(kv_xml vm1)" --argjson ds "$(kv_ds1_spec)" \
	'{datastores: [$ds], vms: [{name: "vm1", domain_xml: $x1, placement: {prefer: ["n1"]}}]}')
apply_spec "$L" "$spec" || fail "apply vm1: $APPLY_OUT"
wait_until 60 "vm1 runs on n1 only" kv_runs_only_on vm1 n1
wait_until 30 "vm1 counts" mn_vm_counting vm1 3
leases=$(find "$LEASES" -maxdepth 1 -type f | wc -l)
[ "$leases" -ge 1 ] || fail "vm1 runs, but no lease file in $LEASES"
log "ok: vm1 runs on n1 with $leases lease file(s) in $LEASES"
assert_eq "$(nx 3 kvmcctl vm show vm1 --json | jq -r '.nodes.n1.lock // "none"')" lockd \
	"kvmcctl vm show vm1 --json | jq .nodes.n1.lock (asked on n3)"

# 8. a second copy by hand on n2
# kv_copy_fails I: virsh start vm1 on node I fails, by the lease or by kvmcd's own stop, and no
# QEMU of vm1 is left there; then a renamed copy on vm1's disk is refused by the lease
kv_xml vm1 | sed -e "s|<name>vm1</name>|<name>intruder</name>|" -e "s|vm1.serial|intruder.serial|" \
	>"$MN_RUN_BASE/intruder.xml"
grep -q "<name>intruder</name>" "$MN_RUN_BASE/intruder.xml" || fail "cannot make the intruder's XML"
kv_copy_fails() {
	local i=$1 out rc
	out=$(vsh "$i" start vm1 2>&1); rc=$?
	[ "$rc" -ne 0 ] || fail "n$i: virsh start vm1 SUCCEEDED while another node runs it: $out"
	if grep -q -E "resource busy|is locked" <<<"$out"; then
		log "ok: n$i: virsh start vm1 refused by libvirt: $(tr '\n' ' ' <<<"$out" | sed 's/  */ /g')"
	elif grep -q "VM 'vm1' runs here but another node owns it: stopping it" <(tail -n 5 "$RUN/n$i/kvmcd.log" 2>/dev/null); then
		log "ok: n$i: virsh start vm1 failed: kvmcd stopped the paused copy before libvirt asked for the lease: $(tr '\n' ' ' <<<"$out")"
	else
		fail "n$i: virsh start vm1 failed, but neither for the lease nor by kvmcd: $out"
	fi
	out=$(vsh "$i" create /dev/stdin <"$MN_RUN_BASE/intruder.xml" 2>&1); rc=$?
	[ "$rc" -ne 0 ] || fail "n$i: a copy on vm1's disk (virsh create intruder) SUCCEEDED while another node runs vm1: $out"
	grep -q -E "resource busy|is locked" <<<"$out" || fail "n$i: virsh create intruder failed, but not for the lease: $out"
	log "ok: n$i: a copy on vm1's disk refused by libvirt: $(tr '\n' ' ' <<<"$out" | sed 's/  */ /g')"
	[ -z "$("$CLUSTER" pids "$i" qemu-system-x86)" ] || fail "n$i: a QEMU is left after the refusals"
}
RUN=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
kv_copy_fails 2
assert_eq "$(kv_running_on vm1)" n1 "vm1 still runs on n1 only"

# 9. kvmcctl vm migrate with the leases
out=$("$CLUSTER" exec 3 timeout 120 kvmcctl vm migrate vm1 n2 2>&1) || fail "kvmcctl vm migrate vm1 n2: $out"
log "n3: kvmcctl vm migrate vm1 n2: $(tr '\n' ' ' <<<"$out")"
wait_until 30 "vm1 runs on n2 only" kv_runs_only_on vm1 n2
wait_until 20 "vm1 counts on n2, one stream" kv_counts_on vm1
kv_copy_fails 1
assert_eq "$(kv_running_on vm1)" n2 "vm1 still runs on n2 only"

# 10. a start kvmcd asks for and libvirt refuses shows in vm list
out=$(nx 1 kvmcctl vm stop vm1 2>&1) || fail "kvmcctl vm stop vm1: $out"
wait_until 60 "vm1 runs nowhere" eval '[ -z "$(kv_running_on vm1)" ]'
vsh 3 create /dev/stdin <"$MN_RUN_BASE/intruder.xml" >/dev/null || fail "n3: virsh create intruder (vm1's disk)"
log "n3: intruder runs on vm1's disk (started by hand, not kvmcd's)"
out=$(nx 1 kvmcctl vm start vm1 2>&1) || fail "kvmcctl vm start vm1: $out"
refused_in_list() { [ "$(kv_vstate 3 vm1)" = error ] && grep -q -E "resource busy|is locked" <<<"$(kv_reason 3 vm1)"; }
wait_until 60 "vm list on n3: vm1 in error, libvirt's lease refusal the reason" refused_in_list
log "ok: kvmcctl vm list --json (n3): vm1 $(kv_vmlist 3 | jq -c '.[] | select(.name == "vm1") | {state, node, reason}')"
assert_eq "$(kv_running_on vm1)" "" "vm1 runs nowhere while the intruder holds its disk's lease"
vsh 3 destroy intruder >/dev/null || fail "n3: destroy intruder"
wait_until 90 "kvmcd starts vm1 once the lease is free" kv_runs_only_on_owner vm1
log "ok: vm1 runs on $(kv_owner 1 vm1) only, state $(kv_vstate 1 vm1)"
mn_vm_monitor_check
mn_pass
