#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# kvmcctl vm migrate (issue 8) on 3 nodes: real libvirtd + QEMU TCG counter guests whose disks are
# files on a kvmcd datastore (simulated host backend for the datastore), the invariant monitor
# (vm-monitor: no domain of the spec ever runs on two nodes) on all along:
#   1. vm1 (prefers n1) runs on n1, vm2 (prefers n3, anti-affine with vm1) on n3, vm3 (prefers
#      n3, no rules) on n3;
#   2. refused, nothing moved (exit 2, the reason printed): vm1 to n3 (it runs vm2: the
#      anti-affinity), to a node that does not exist; vm1 to n1, where it runs: exit 0, "already";
#   3. `kvmcctl vm migrate vm1 n2 --max-downtime 200` asked on n3 (neither end, not the leader):
#      exit 0 once n2 owns it; vm1 runs on n2 only, shut off and still defined on n1 (every node
#      keeps every VM), persistent on n2; `vm list`: running on n2; `vm show`: the last migration
#      done; the counter goes on: one stream 0, 1, 2, ... across the move (nothing lost, nothing
#      twice); the guest's own view of its stall printed;
#   4. migrations made to fail mid-way: the migration stream to n1 throttled (`cluster throttle 1
#      1mbit --migration`), `vm migrate vm1 n1` in the background; while `vm list` says
#      "migrating" and n2's job has sent data: (a) n1's incoming QEMU SIGKILLed, (b) n1's libvirtd
#      SIGKILLed. Each time: exit 2 with the reason, vm1 keeps running on n2 (never stopped: its
#      counter goes on in one stream), nothing runs on n1, `vm list` and `vm show` give the reason;
#      (c) nothing killed, the stream to n1 throttled to 16 kbit/s so it cannot finish: kvmcd
#      aborts it at [vms] migration_timeout (10 s here) with virDomainAbortJob: exit 2, "aborted",
#      vm1 keeps running on n2; meanwhile `vm migrate vm3 n1` (eligible by every rule) is
#      refused at once for [vms] migrations_per_node (n1 receives vm1), naming the limit, not
#      queued, and vm3 stays on n3;
#   5. a last migration n2 -> n1 succeeds;
#   6. the source's kvmcd (n1: the leader too) SIGKILLed mid-way through a migration to n2 (asked
#      on n3): libvirtd finishes the peer-to-peer job on its own; once n1's kvmcd is back the VM
#      is handed over from what the nodes' libvirtds show (it runs on n2, not on n1), and the
#      command still gets its verdict (exit 0); the counter's stream unbroken.
. "$(dirname "$0")/lib.sh"
. "$MN_DIR/vm/kvmcd-vms.sh"
export MN_HOST_SIM=1
export MN_KVMCD_EXTRA=$'[vms]\nmigration_timeout=10s'
mn_begin vms-migrate 480
mn_need_libvirt
mn_need_guest_tools
command -v tc >/dev/null 2>&1 || mn_skip "tc not installed (iproute2)"
mn_up 3 --ontap --libvirt

MIGRATE_TIMEOUT=200
migrate() { # I VM NODE [OPTIONS...]: kvmcctl vm migrate on node I; sets MIG_RC, MIG_OUT, MIG_MS
	local i=$1 t0
	shift
	t0=$(now_ms)
	MIG_OUT=$("$CLUSTER" exec "$i" timeout "$MIGRATE_TIMEOUT" kvmcctl vm migrate "$@" 2>&1)
	MIG_RC=$?
	MIG_MS=$(( $(now_ms) - t0 ))
	log "n$i: kvmcctl vm migrate $* -> exit $MIG_RC in $MIG_MS ms: $(tr '\n' ' ' <<<"$MIG_OUT")"
}

log "a datastore for the VMs' disks"
wait_until 30 "a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
# 6. keeps n1's kvmcd (the leader's) away until libvirtd has finished alone, longer than the agent
# grace: this test checks the hand-over from what the libvirtds show; with HA armed the new leader
# would fence n1 and recover vm1 (multinode-ha-failover's subject). Disarmed, as an operator does
# for a maintenance window.
ha_disarm "$L"
apply_spec "$L" "{\"datastores\":[$(kv_ds1_spec)]}" || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 3 nodes" nx 1 kvmcctl pool verify
kv_disks vm1 vm2 vm3

MN_VM_MON_INTERVAL=0.2 mn_vm_monitor_start "vm1 vm2 vm3"
mn_vm_stamp_start vm1
spec=$(jq -n --arg x1 "$(kv_xml vm1)" --arg x2 "$(kv_xml vm2)" --arg x3 "$(kv_xml vm3)" --argjson ds "$(kv_ds1_spec)" '{
	datastores: [$ds],
	vms: [
	  {name: "vm1", domain_xml: $x1, placement: {prefer: ["n1"]}},
	  {name: "vm2", domain_xml: $x2, placement: {prefer: ["n3"], anti_affinity: ["vm1"]}},
	  {name: "vm3", domain_xml: $x3, placement: {prefer: ["n3"]}}]}')
apply_spec "$L" "$spec" || fail "apply the VMs: $APPLY_OUT"

# 1.
wait_until 60 "vm1 runs on n1 only" kv_runs_only_on vm1 n1
wait_until 60 "vm2 runs on n3 only" kv_runs_only_on vm2 n3
wait_until 60 "vm3 runs on n3 only" kv_runs_only_on vm3 n3
wait_until 30 "vm1 counts" mn_vm_counting vm1 5

# 2. Refusals.
migrate 2 vm1 n3
assert_eq "$MIG_RC" 2 "vm migrate vm1 n3 (n3 runs vm2, anti-affine with vm1): exit status"
grep -q "n3 runs vm2 (anti-affinity)" <<<"$MIG_OUT" || fail "the refusal does not say why: $MIG_OUT"
migrate 2 vm1 n9
assert_eq "$MIG_RC" 2 "vm migrate vm1 n9 (no such node): exit status"
grep -q "no node n9" <<<"$MIG_OUT" || fail "the refusal does not say why: $MIG_OUT"
migrate 2 vm1 n1
assert_eq "$MIG_RC" 0 "vm migrate vm1 n1 (it runs there): exit status"
grep -q "already" <<<"$MIG_OUT" || fail "no 'already': $MIG_OUT"
assert_eq "$(kv_running_on vm1)" n1 "vm1 still runs on n1 only after the refusals"

# 3. A live migration n1 -> n2, asked on n3.
c0=$(mn_vm_last_counter vm1)
t0=$(now_ms)
migrate 3 vm1 n2 --max-downtime 200
t1=$(now_ms)
[ "$MIG_RC" = 0 ] || fail "vm migrate vm1 n2: exit $MIG_RC: $MIG_OUT"
assert_eq "$(kv_owner 1 vm1)" n2 "vm1's owner right after the command returned (n1's view)"
assert_eq "$(kv_running_on vm1)" n2 "vm1 runs on"
assert_eq "$(vm_state 1 vm1)" "shut off" "n1: vm1 (defined, shut off)"
assert_eq "$(vsh 2 dominfo vm1 | awk '/^Persistent:/{print $2}')" yes "n2: vm1 persistent"
wait_until 20 "vm list (n2): vm1 running on n2" eval '[ "$(kv_vstate 2 vm1)" = running ] && [ "$(kv_owner 2 vm1)" = n2 ]'
assert_eq "$(nx 1 kvmcctl vm show vm1 --json | jq -r '.last_migration | "\(.from)->\(.to) ok=\(.ok)"')" "n1->n2 ok=true" "vm show vm1: last migration"
wait_until 15 "the counter goes on after the move (past $(( c0 + 5 )))" mn_vm_counting vm1 $(( c0 + 5 ))
mn_vm_continuous vm1 || fail "serial stream across n1 -> n2: $VM_BAD"
sleep 1.2
log "ok: vm1 migrated n1 -> n2 live: kvmcctl ${MIG_MS} ms ($(sed -n 1p <<<"$MIG_OUT")), guest's own view of its stall $(mn_vm_stall vm1 "$t0" "$t1") ms; one serial stream 0..$VM_LAST"

# 4. Migrations made to fail mid-way: vm1 stays on n2.
# fail_midway WHAT: WHAT (qemu | libvirtd) killed on n1, the target, once n2's job has sent data.
fail_midway() {
	local what=$1 out=$MN_RUN_BASE/$MN_PREFIX-vmmig.out c0 end sent="" p saw_migrating="" rate=1mbit
	[ "$what" = deadline ] && rate=16kbit
	"$CLUSTER" throttle 1 "$rate" --migration >/dev/null || fail "cluster throttle 1 $rate --migration"
	c0=$(mn_vm_last_counter vm1)
	( migrate 2 vm1 n1; printf '%s\n%s\n' "$MIG_RC" "$MIG_OUT" >"$out" ) 9>&- &
	local mpid=$!
	end=$(( $(now_ms) + 60000 ))
	while [ "$(now_ms)" -lt "$end" ] && kill -0 "$mpid" 2>/dev/null; do
		[ -z "$saw_migrating" ] && [ "$(kv_vstate 3 vm1)" = migrating ] && saw_migrating="$(kv_reason 3 vm1)"
		sent=$(vsh 2 domjobinfo vm1 2>/dev/null | sed -n 's/^Data processed: *//p')
		[ -n "$sent" ] && [ "${sent%% *}" != 0.000 ] && [ -n "$saw_migrating" ] && break
		sleep 0.1
	done
	[ -n "$saw_migrating" ] || fail "vm list never said 'migrating' (or the migration ended first: $(cat "$out" 2>/dev/null))"
	log "ok: vm list (n3) during the migration: vm1 migrating ($saw_migrating)"
	[ -n "$sent" ] || fail "the migration n2 -> n1 never started sending (or ended first: $(cat "$out" 2>/dev/null))"
	case $what in
	qemu)
		p=$("$CLUSTER" pids 1 qemu-system-x86)
		[ -n "$p" ] || fail "n1: no incoming QEMU while n2's job has sent $sent"
		kill -KILL $p
		log "n1's incoming QEMU ($p) SIGKILLed after n2 sent $sent"
		;;
	libvirtd)
		"$CLUSTER" kill 1 libvirtd >/dev/null || fail "cluster kill 1 libvirtd"
		log "n1's libvirtd SIGKILLed after n2 sent $sent"
		;;
	deadline)
		log "nothing killed: n2 has sent $sent at 16 kbit/s; kvmcd aborts the migration at its deadline"
		# meanwhile a second migration with n1 as an end is beyond [vms] migrations_per_node
		# (1): refused at once, naming the limit, not queued (vm3 stays on n3)
		migrate 3 vm3 n1
		assert_eq "$MIG_RC" 2 "vm migrate vm3 n1 while n1 receives vm1 (limit 1 per node): exit status"
		grep -q "n1 has 1 migration in flight (limit 1 per node): \[vms\] migrations_per_node = 1" <<<"$MIG_OUT" &&
			grep -q "not queued" <<<"$MIG_OUT" || fail "the refusal does not name the limit: $MIG_OUT"
		[ "$MIG_MS" -lt 5000 ] || fail "the refusal took $MIG_MS ms: queued?"
		assert_eq "$(kv_running_on vm3)" n3 "vm3 still runs on n3 only after the refusal"
		;;
	esac
	wait "$mpid"
	"$CLUSTER" throttle 1 off
	local rc msg
	rc=$(sed -n 1p "$out"); msg=$(sed -n '2,$p' "$out"); rm -f "$out"
	assert_eq "$rc" 2 "vm migrate vm1 n1 with n1's $what killed mid-way: exit status"
	grep -q "failed" <<<"$msg" && grep -q "stays with n2" <<<"$msg" || fail "the failure does not say what happened: $msg"
	if [ "$what" = deadline ]; then
		grep -q "did not finish within 10 s: aborted" <<<"$msg" || fail "the failure does not say it was aborted at the deadline: $msg"
	fi
	if [ "$what" = libvirtd ]; then
		"$CLUSTER" start 1 libvirtd >/dev/null || fail "n1: start libvirtd"
	fi
	assert_eq "$(kv_running_on vm1)" n2 "vm1 runs on (after the failed migration)"
	assert_eq "$(kv_owner 1 vm1)" n2 "vm1's owner"
	wait_until 20 "vm list: vm1 running on n2 with the failure as its reason" \
		eval '[ "$(kv_vstate 3 vm1)" = running ] && kv_reason 3 vm1 | grep -q "failed"'
	log "ok: vm list (n3): vm1 running on n2: $(kv_reason 3 vm1)"
	assert_eq "$(nx 1 kvmcctl vm show vm1 --json | jq -r '.last_migration | "\(.from)->\(.to) ok=\(.ok)"')" "n2->n1 ok=false" "vm show vm1: last migration"
	nx 1 kvmcctl vm show vm1 | grep -q "^Last move: .*FAILED" || fail "vm show (text) does not show the failure"
	wait_until 20 "n1: no QEMU left" test -z "$("$CLUSTER" pids 1 qemu-system-x86)"
	wait_until 15 "the counter goes on on n2 (past $(( c0 + 5 )))" mn_vm_counting vm1 $(( c0 + 5 ))
	mn_vm_continuous vm1 || fail "serial stream after the failed migration: $VM_BAD"
	log "ok: vm1 kept running on n2 through the failed migration ($what killed; counter $c0 -> $VM_LAST, one stream)"
}
fail_midway qemu
fail_midway libvirtd
fail_midway deadline

# 5. Nothing left behind blocks the next migration.
wait_until 30 "n1's libvirtd listed again" eval '[ "$(nx 1 kvmcctl vm show vm1 --json | jq -r .nodes.n1.state)" = shutoff ]'
migrate 1 vm1 n1
[ "$MIG_RC" = 0 ] || fail "vm migrate vm1 n1 after the failures: exit $MIG_RC: $MIG_OUT"
assert_eq "$(kv_running_on vm1)" n1 "vm1 runs on"
wait_until 20 "vm list: vm1 running on n1, no reason left" eval '[ "$(kv_vstate 2 vm1)" = running ] && [ -z "$(kv_reason 2 vm1)" ]'
c0=$(mn_vm_last_counter vm1)
wait_until 15 "the counter goes on (past $(( c0 + 3 )))" mn_vm_counting vm1 $(( c0 + 3 ))
mn_vm_continuous vm1 || fail "serial stream: $VM_BAD"

# 6. The source's kvmcd dies mid-way.
L=$(leader_of 2); L=${L%%/*}
log "n1 runs vm1 (leader: n$L); the stream to n2 throttled, vm migrate vm1 n2 asked on n3"
"$CLUSTER" throttle 2 1mbit --migration >/dev/null || fail "cluster throttle 2 1mbit --migration"
out6=$MN_RUN_BASE/$MN_PREFIX-vmmig6.out
c0=$(mn_vm_last_counter vm1)
( migrate 3 vm1 n2; printf '%s\n%s\n' "$MIG_RC" "$MIG_OUT" >"$out6" ) 9>&- &
mpid=$!
wait_until 30 "n1's job has sent data" eval 'sent=$(vsh 1 domjobinfo vm1 2>/dev/null | sed -n "s/^Data processed: *//p"); [ -n "$sent" ] && [ "${sent%% *}" != 0.000 ]'
"$CLUSTER" kill 1 kvmcd >/dev/null || fail "kill n1's kvmcd"
log "n1's kvmcd SIGKILLed while its libvirtd migrates vm1 to n2"
wait_until 60 "libvirtd finished the migration alone: vm1 runs on n2 only" eval '[ "$(kv_running_on vm1)" = n2 ]'
"$CLUSTER" throttle 2 off
assert_eq "$(kv_owner 2 vm1)" n1 "vm1's owner while n1's kvmcd is away (never re-placed)"
for i in 2 3; do assert_true "HA still disarmed after n1's kvmcd left (n$i's status)" ha_disarmed "$i"; done
"$CLUSTER" start 1 kvmcd >/dev/null || fail "start n1's kvmcd"
wait "$mpid"
assert_eq "$(sed -n 1p "$out6")" 0 "vm migrate vm1 n2 (its source's kvmcd killed mid-way): exit status"
log "ok: $(sed -n 2p "$out6")"
rm -f "$out6"
wait_until 30 "vm list: vm1 running on n2" eval '[ "$(kv_vstate 1 vm1)" = running ] && [ "$(kv_owner 1 vm1)" = n2 ]'
assert_eq "$(kv_running_on vm1)" n2 "vm1 runs on"
wait_until 15 "the counter goes on (past $(( c0 + 5 )))" mn_vm_counting vm1 $(( c0 + 5 ))
mn_vm_continuous vm1 || fail "serial stream: $VM_BAD"
assert_eq "$(kv_running_on vm2)" n3 "vm2 (never touched) runs on"
mn_vm_stamp_stop vm1
mn_vm_monitor_check
mn_pass
