#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The paused-guest policy (issue 8, [vms] paused_policy) with a REAL I/O-error pause of QEMU, on 3
# nodes with real libvirtd + QEMU TCG. The guests are the counter guest's disk-I/O variant
# (guest/counter.s with DISKIO: every tick writes and reads a sector through the BIOS on an IDE
# disk with error_policy = rerror_policy = stop). Their disks are files on faultfs
# (vm/faultfs.py), a FUSE file system mounted in every node at /srv/kvmcd/ds1/io (inside the
# datastore ds1's path, as spec validation wants) over one backing directory on the host; its
# control file makes every read and write fail with EIO, on every node at once: "every path of
# the storage failed". The simulated datastore backend knows nothing of it -- ds1 stays ready --
# so here the owner's disk probe (open + O_DIRECT read of each disk) alone says the paths are back.
#   p1 on n1 (auto-resume), p2 on n2 (leave-paused), p3 on n3 (kill):
#   1. storage fails: each guest is paused by QEMU, libvirt's reason "ioerror"; vm list says
#      "paused" and why; nothing resumes while the storage fails; `vm resume p2` is refused.
#   2. storage back: p1 is resumed by n1 (its counter goes on from where it stopped, one stream);
#      p2 stays paused, vm show says how to resume it; p3 is destroyed and started again (its
#      counter starts again at 0).
#   3. `kvmcctl vm resume p2` asked on n1 goes to n2 and resumes it (one stream); a resume of a
#      running guest is refused.
#   4. a guest paused by a user (virsh suspend) is left alone: "paused by a user"; `vm resume`
#      resumes it.
. "$(dirname "$0")/lib.sh"
. "$MN_DIR/vm/kvmcd-vms.sh"
export MN_HOST_SIM=1
export MN_KVMCD_EXTRA=$'[vms]\npaused_policy = auto-resume'
mn_begin vms-paused 420
mn_need_libvirt
mn_need_guest_tools
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import fusepy' 2>/dev/null ||
	/usr/bin/python3 -c 'import fuse' 2>/dev/null || mn_skip "python3-fusepy not installed (packaging/install-deps.sh)"
mn_up 3 --ontap --libvirt

VMS="p1 p2 p3"
FDIR=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}-faultfs
CTL=$FDIR/control
MNT=/srv/kvmcd/ds1/io
rm -rf "$FDIR"
mkdir -p "$FDIR/back"
: >"$CTL"
storage() { echo "$1" >"$CTL"; } # eio | ok
set_policy() { # I POLICY, applied by a reload
	"$CLUSTER" exec "$1" sed -i "s/^paused_policy = .*/paused_policy = $2/" /etc/kvmcd/kvmcd.conf ||
		fail "n$1: cannot set paused_policy = $2"
	kill -HUP $("$CLUSTER" pids "$1" kvmcd) || fail "n$1: SIGHUP kvmcd"
	wait_until 10 "n$1's kvmcd reloaded paused_policy" kvmcd_log_has "$1" "Reload: vms.paused_policy changed, applied"
}
kvmcd_log_has() { "$CLUSTER" logs "$1" kvmcd | grep -q -- "$2"; }
# The counter guest with disk I/O: its disk on faultfs, the stop error policies on its IDE disk.
io_xml() {
	kv_xml "$1" | sed -e "s|<source file='[^']*/$1.img'/>|<source file='$MNT/$1.img'/>|" \
		-e "s|<driver name='qemu' type='raw' cache='none'/>|<driver name='qemu' type='raw' cache='none' error_policy='stop' rerror_policy='stop'/>|"
}
reason_of() { vsh "$1" domstate --reason "$2" 2>/dev/null | head -1; }
vfield() { kv_vmlist "$1" | jq -r --arg v "$2" ".[] | select(.name == \$v) | $3"; }
paused_ioerror() { [ "$(reason_of "$1" "$2")" = "paused (I/O error)" ]; }

log "a datastore for the VMs' disks; faultfs on every node at $MNT"
wait_until 30 "a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
apply_spec "$L" "{\"datastores\":[$(kv_ds1_spec)]}" || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 3 nodes" nx 1 kvmcctl pool verify
nx 1 mkdir -p "$MNT" || fail "mkdir $MNT"
for v in $VMS; do "$MN_DIR/guest/build.sh" "$FDIR/back/$v.img" 1M io || fail "cannot build $v's disk (the DISKIO guest)"; done
for i in 1 2 3; do
	"$CLUSTER" exec "$i" sh -c "setsid /usr/bin/python3 '$MN_DIR/vm/faultfs.py' '$FDIR/back' '$MNT' '$CTL' \
		</dev/null >>'$FDIR/n$i.log' 2>&1 &" || fail "n$i: cannot start faultfs"
	wait_until 10 "n$i: faultfs mounted at $MNT" "$CLUSTER" exec "$i" test -s "$MNT/p1.img"
done
set_policy 2 leave-paused
set_policy 3 kill

MN_VM_MON_INTERVAL=0.3 mn_vm_monitor_start "p1,p2,p3"
spec=$(jq -n --arg p1 "$(io_xml p1)" --arg p2 "$(io_xml p2)" --arg p3 "$(io_xml p3)" --argjson ds "$(kv_ds1_spec)" '{
	datastores: [$ds],
	vms: [
	  {name: "p1", domain_xml: $p1, placement: {prefer: ["n1"]}},
	  {name: "p2", domain_xml: $p2, placement: {prefer: ["n2"]}},
	  {name: "p3", domain_xml: $p3, placement: {prefer: ["n3"]}}]}')
apply_spec "$L" "$spec" || fail "apply the VMs: $APPLY_OUT"
wait_until 90 "p1 runs on n1 only" kv_runs_only_on p1 n1
wait_until 60 "p2 runs on n2 only" kv_runs_only_on p2 n2
wait_until 60 "p3 runs on n3 only" kv_runs_only_on p3 n3
for v in $VMS; do wait_until 30 "$v counts" mn_vm_counting "$v" 3; done
# the guest really does disk I/O: the counter lands in its disk's second sector
sleep 0.5
on_disk=$(od -An -tu4 -j512 -N4 "$FDIR/back/p1.img" | tr -d ' ')
[ "${on_disk:-0}" -ge 2 ] || fail "p1 writes no counter to its disk (sector 2 holds '${on_disk}')"
log "ok: p1 p2 p3 run on n1 n2 n3, counting, writing their disks (p1's disk holds $on_disk)"

# 1. every path fails
log "storage fails (faultfs: EIO on every node)"
storage eio
wait_until 20 "p1 paused by an I/O error on n1" paused_ioerror 1 p1
wait_until 20 "p2 paused by an I/O error on n2" paused_ioerror 2 p2
wait_until 20 "p3 paused by an I/O error on n3" paused_ioerror 3 p3
declare -A stopped_at
for v in $VMS; do
	wait_until 15 "vm list: $v paused, its storage still failing" \
		eval '[ "$(vfield 2 '"$v"' .state)" = paused ] && vfield 2 '"$v"' .reason | grep -q "paused on an I/O error; its storage still fails"'
	stopped_at[$v]=$(mn_vm_last_counter "$v")
done
log "ok: vm list: $(kv_vmlist 2 | jq -c '[.[] | {name, state, node, reason}]')"
assert_eq "$(nx 3 kvmcctl vm show p1 --json | jq -r '.nodes.n1.pause_reason')" ioerror "vm show p1: n1's pause reason"
out=$(nx 1 kvmcctl vm resume p2 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "its storage still fails on n2" <<<"$out" || fail "vm resume p2 while its storage fails: rc $rc: $out"
log "ok: vm resume p2 refused while the storage fails: $out"
sleep 4
for v in $VMS; do
	[ "$(vm_state "${v#p}" "$v")" = paused ] || fail "$v: $(vm_state "${v#p}" "$v") while its storage still fails"
	[ "$(mn_vm_last_counter "$v")" = "${stopped_at[$v]}" ] || fail "$v counted while paused"
done
log "ok: nothing resumed or killed in 4 s while the storage fails"

# 2. the paths return
log "storage back"
storage ok
wait_until 20 "p1 runs again on n1" eval '[ "$(vm_state 1 p1)" = running ]'
wait_until 15 "p1's counter goes on past $(( ${stopped_at[p1]} + 3 ))" mn_vm_counting p1 $(( ${stopped_at[p1]} + 3 ))
mn_vm_continuous p1 || fail "p1's serial stream across the pause: $VM_BAD"
kvmcd_log_has 1 "VM 'p1': resumed on this node (paused_policy auto-resume)" || fail "n1's log does not say it resumed p1"
log "ok: p1 resumed by n1 (auto-resume), one serial stream 0..$VM_LAST"

wait_until 30 "p3 started again on a node (its counter from 0)" eval '[ -n "$(kv_running_on p3)" ] && [ "$(mn_vm_last_counter p3)" -lt '"${stopped_at[p3]}"' ]'
kvmcd_log_has 3 "VM 'p3': destroyed on this node (paused_policy kill)" || fail "n3's log does not say it destroyed p3"
wait_until 30 "p3 runs only on its owner" kv_runs_only_on_owner p3
log "ok: p3 destroyed (kill) and started again on $(kv_running_on p3)"

wait_until 15 "vm show p2: storage back, left paused, how to resume" \
	eval 'nx 3 kvmcctl vm show p2 | grep -q "State: *paused: paused on an I/O error; its storage is back; left paused (\[vms\] paused_policy = leave-paused): kvmcctl vm resume p2"'
sleep 3
[ "$(vm_state 2 p2)" = paused ] || fail "p2 (leave-paused) is $(vm_state 2 p2)"
[ "$(mn_vm_last_counter p2)" = "${stopped_at[p2]}" ] || fail "p2 counted while left paused"
log "ok: p2 left paused: $(vfield 1 p2 .reason)"

# 3. vm resume, asked on another node than the owner
out=$(nx 1 kvmcctl vm resume p2 2>&1) || fail "vm resume p2 (on n1): $out"
assert_eq "$out" "p2 resumed on n2" "vm resume p2"
wait_until 15 "p2's counter goes on past $(( ${stopped_at[p2]} + 3 ))" mn_vm_counting p2 $(( ${stopped_at[p2]} + 3 ))
mn_vm_continuous p2 || fail "p2's serial stream across the pause: $VM_BAD"
assert_eq "$(vfield 1 p2 .state)" running "vm list: p2"
out=$(nx 3 kvmcctl vm resume p1 2>&1); rc=$?
[ "$rc" -eq 2 ] && grep -q "not paused on n1" <<<"$out" || fail "vm resume of a running p1: rc $rc: $out"
log "ok: vm resume p2 resumed it on n2 (one stream 0..$VM_LAST); a running guest refused: $out"

# 4. a guest a user paused is never touched
vsh 1 suspend p1 >/dev/null || fail "virsh suspend p1"
c=$(mn_vm_last_counter p1)
wait_until 15 "vm list: p1 paused by a user" eval 'vfield 2 p1 .reason | grep -q "^paused by a user; kvmcd leaves it"'
sleep 4
[ "$(reason_of 1 p1)" = "paused (user)" ] || fail "p1 after 4 s: $(reason_of 1 p1)"
[ "$(mn_vm_last_counter p1)" = "$c" ] || fail "p1 counted while a user paused it"
out=$(nx 2 kvmcctl vm resume p1 2>&1) || fail "vm resume p1 (user-paused): $out"
wait_until 15 "p1 counts again" mn_vm_counting p1 $(( c + 3 ))
mn_vm_continuous p1 || fail "p1's stream: $VM_BAD"
log "ok: a user's pause left alone 4 s; vm resume: $out"

for v in $VMS; do kv_runs_only_on_owner "$v" || fail "$v does not run on exactly its owner at the end"; done
mn_vm_monitor_check
rm -rf "$FDIR"
mn_pass
