#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The planned-shutdown policy (issue 8, [vms] shutdown_policy) on 3 nodes with real libvirtd +
# QEMU TCG counter guests on a kvmcd datastore, the invariant monitor on all along. Every kvmcd
# runs with shutdown_policy_on = any-stop, so a SIGTERM is the planned shutdown (this machine's
# PID 1 is not systemd: the system-shutdown detection answers "no" here, kvmcd logs it):
#   1. migrate (n1, the default): `cluster stop 1 kvmcd` -> a1, a2 leave n1 live (each counter
#      one stream), then kvmcd exits by itself; while n1 is away `node list` says it is drained;
#      n1's kvmcd back -> not drained any more, nothing moves back.
#   2. stop (n2): b1 (and whatever runs there) is shut down on n2, then started on another node
#      (a cold restart: its counter starts again), never on two at once; n2 back -> not drained.
#   3. freeze (n3): its guests are shut down and started nowhere else: `vm list` says stopped,
#      "frozen: n3 shut down"; n3's kvmcd back -> they run on n3 again, the mark is gone.
. "$(dirname "$0")/lib.sh"
. "$MN_DIR/vm/kvmcd-vms.sh"
export MN_HOST_SIM=1
# 90 s: the guests' stop grace (60 s) and one committed change come out of it, the rest is the
# drain's (kvmcd --print-timeouts: shutdown_drain)
export MN_KVMCD_EXTRA=$'[vms]\nshutdown_policy_on = any-stop\nshutdown_timeout = 90000'
mn_begin vms-shutdown 600
mn_need_libvirt
mn_need_guest_tools
mn_up 3 --ontap --libvirt

VMS="a1 a2 b1"
set_policy() { # I POLICY: in node I's kvmcd.conf, applied by a reload (a restart would apply
	# the policy in force: any-stop)
	"$CLUSTER" exec "$1" sh -c "grep -q '^shutdown_policy = ' /etc/kvmcd/kvmcd.conf &&
		sed -i 's/^shutdown_policy = .*/shutdown_policy = $2/' /etc/kvmcd/kvmcd.conf ||
		sed -i 's/^shutdown_policy_on = any-stop/&\nshutdown_policy = $2/' /etc/kvmcd/kvmcd.conf" ||
		fail "n$1: cannot set shutdown_policy = $2"
	kill -HUP $("$CLUSTER" pids "$1" kvmcd) || fail "n$1: SIGHUP kvmcd"
	wait_until 10 "n$1's kvmcd reloaded shutdown_policy" kvmcd_log_has "$1" "Reload: vms.shutdown_policy changed, applied"
}
# stop_kvmcd I: SIGTERM and wait (the policy runs first); prints how long it took
stop_kvmcd() {
	local t0=$(now_ms)
	"$CLUSTER" stop "$1" kvmcd --timeout 100 || fail "n$1: cluster stop kvmcd"
	[ -z "$("$CLUSTER" pids "$1" kvmcd)" ] || fail "n$1: kvmcd still runs"
	STOP_MS=$(( $(now_ms) - t0 ))
}
kvmcd_log_has() { "$CLUSTER" logs "$1" kvmcd | grep -q -- "$2"; }
on_nodes() { local v out=""; for v in "$@"; do out+="$v:$(kv_running_on "$v") "; done; echo "${out% }"; }
nowhere() { local v; for v in "$@"; do [ -z "$(kv_running_on "$v")" ] || return 1; done; }

log "a datastore for the VMs' disks"
wait_until 30 "a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
# Each node's kvmcd is stopped in turn (n1, likely the leader, first) and stays away for longer
# than the agent grace (the freeze check alone waits 8 s): this test checks the shutdown
# policies; with HA armed the leader would fence the node away and recover its frozen guests
# (fencing is multinode-ha-failover's subject). A planned shutdown is a maintenance window:
# disarmed, as an operator does.
ha_disarm "$L"
apply_spec "$L" "{\"datastores\":[$(kv_ds1_spec)]}" || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 3 nodes" nx 1 kvmcctl pool verify
kv_disks $VMS
MN_VM_MON_INTERVAL=0.2 mn_vm_monitor_start "$VMS"
spec=$(jq -n --arg a1 "$(kv_xml a1)" --arg a2 "$(kv_xml a2)" --arg b1 "$(kv_xml b1)" --argjson ds "$(kv_ds1_spec)" '{
	datastores: [$ds],
	vms: [
	  {name: "a1", domain_xml: $a1, placement: {prefer: ["n1"]}},
	  {name: "a2", domain_xml: $a2, placement: {prefer: ["n1"]}},
	  {name: "b1", domain_xml: $b1, placement: {prefer: ["n2"]}}]}')
apply_spec "$L" "$spec" || fail "apply the VMs: $APPLY_OUT"
for v in a1 a2; do wait_until 90 "$v runs on n1 only" kv_runs_only_on "$v" n1; done
wait_until 60 "b1 runs on n2 only" kv_runs_only_on b1 n2
for v in $VMS; do wait_until 30 "$v counts" mn_vm_counting "$v" 3; done

# 1. migrate (n1's policy: the default)
declare -A c0
for v in a1 a2; do c0[$v]=$(mn_vm_last_counter "$v"); done
log "n1: kvmcd stopped with shutdown_policy migrate"
stop_kvmcd 1
log "n1's kvmcd exited after $STOP_MS ms; running: $(on_nodes $VMS)"
kvmcd_log_has 1 "Shutdown policy migrate: every guest has left this node" ||
	fail "n1's log does not say every guest left: $("$CLUSTER" logs 1 kvmcd | grep 'Shutdown policy' | tail -3)"
for v in a1 a2; do
	case $(kv_running_on "$v") in n2|n3) ;; *) fail "$v runs on '$(kv_running_on "$v")' after n1's shutdown (want n2 or n3)" ;; esac
	wait_until 15 "$v's counter goes on (past $(( ${c0[$v]} + 3 )))" mn_vm_counting "$v" $(( ${c0[$v]} + 3 ))
	mn_vm_continuous "$v" || fail "$v's serial stream across n1's shutdown: $VM_BAD"
	assert_eq "$(nx 2 kvmcctl vm show "$v" --json | jq -r '.last_migration | "\(.from) \(.ok) \(.why)"')" "n1 true n1 is drained" \
		"vm show $v: last migration"
	log "ok: $v moved live to $(kv_owner 2 "$v"), one serial stream 0..$VM_LAST"
done
assert_eq "$(kv_node 2 n1 '"\(.member) \(.drained)"')" "false true" "node list (n2): n1 away and drained"
"$CLUSTER" start 1 kvmcd || fail "start n1's kvmcd"
wait_until 30 "all agree on a leader" all_agree_leader 1 2 3
wait_until 30 "n1 is not drained any more (its shutdown drain ended itself)" \
	eval '[ "$(kv_node 3 n1 .drained)" = false ] && [ "$(kv_node 1 n1 .drained)" = false ]'
kvmcd_log_has 1 "back from a planned shutdown (policy migrate" || fail "n1's log does not say it ended its shutdown drain"
sleep 3
for v in a1 a2; do [ "$(kv_owner 2 "$v")" != n1 ] || fail "$v moved back to n1 by itself"; done
log "ok: n1 back, undrained, nothing moved back"

# 2. stop (n2)
set_policy 2 stop
for v in $VMS; do wait_until 30 "$v runs on exactly its owner" kv_runs_only_on_owner "$v"; done
on2=$(for v in $VMS; do [ "$(kv_running_on "$v")" = n2 ] && echo "$v"; done | tr '\n' ' ')
on2=${on2% }
[ -n "$on2" ] || fail "nothing runs on n2 before its shutdown ($(on_nodes $VMS))"
log "n2 runs $on2; its kvmcd stopped with shutdown_policy stop"
stop_kvmcd 2
log "n2's kvmcd exited after $STOP_MS ms; running: $(on_nodes $VMS)"
kvmcd_log_has 2 "Shutdown policy stop: its guests are down here and the leader has given them to other nodes" ||
	fail "n2's log: $("$CLUSTER" logs 2 kvmcd | grep 'Shutdown policy' | tail -3)"
for v in $on2; do
	wait_until 60 "$v started again on n1 or n3" eval 'case $(kv_running_on '"$v"') in n1|n3) true ;; *) false ;; esac'
	assert_eq "$(kv_owner 1 "$v")" "$(kv_running_on "$v")" "$v's owner (vm list on n1)"
	grep -q "destroyed on this node (shutdown policy)\|VM '$v': stopped on this node (shutdown policy)" \
		<("$CLUSTER" logs 2 kvmcd | grep "VM '$v'") || fail "n2's log does not say it shut $v down"
	log "ok: $v shut down on n2, started on $(kv_running_on "$v")"
done
"$CLUSTER" start 2 kvmcd || fail "start n2's kvmcd"
wait_until 30 "n2 not drained any more" eval '[ "$(kv_node 1 n2 .drained)" = false ]'

# 3. freeze (n3)
set_policy 3 freeze
for v in $VMS; do wait_until 30 "$v runs on exactly its owner" kv_runs_only_on_owner "$v"; done
on3=$(for v in $VMS; do [ "$(kv_running_on "$v")" = n3 ] && echo "$v"; done | tr '\n' ' ')
on3=${on3% }
if [ -z "$on3" ]; then
	# give n3 a guest: migrate one there
	v=$(for v in $VMS; do echo "$v"; done | head -1)
	out=$(nx 1 kvmcctl vm migrate "$v" n3 2>&1) || fail "vm migrate $v n3: $out"
	on3=$v
fi
log "n3 runs $on3; its kvmcd stopped with shutdown_policy freeze"
stop_kvmcd 3
log "n3's kvmcd exited after $STOP_MS ms; running: $(on_nodes $VMS)"
kvmcd_log_has 3 "Shutdown policy freeze: its guests are down and frozen" ||
	fail "n3's log: $("$CLUSTER" logs 3 kvmcd | grep 'Shutdown policy' | tail -3)"
nowhere $on3 || fail "frozen guests run: $(on_nodes $on3)"
for v in $on3; do
	assert_eq "$(kv_vmlist 1 | jq -r --arg v "$v" '.[] | select(.name == $v) | "\(.state) \(.node) \(.reason)"')" \
		"stopped n3 frozen: n3 shut down" "vm list (n1): $v"
done
sleep 8
nowhere $on3 || fail "frozen guests started elsewhere: $(on_nodes $on3)"
for i in 1 2; do assert_true "HA still disarmed after the leader changes (n$i's status)" ha_disarmed "$i"; done
log "ok: $on3 down and frozen, started nowhere else in 8 s"
"$CLUSTER" start 3 kvmcd || fail "start n3's kvmcd"
for v in $on3; do wait_until 60 "$v runs on n3 again" kv_runs_only_on "$v" n3; done
wait_until 30 "n3's freeze mark is gone (its log: the undrain answered)" eval 'kvmcd_log_has 3 "(undrain): undrained"'
kvmcd_log_has 3 "back from a planned shutdown (policy freeze" || fail "n3's log does not say it ended its freeze"
assert_eq "$(kv_vmlist 1 | jq -r '[.[] | .reason // "" | select(test("frozen"))] | length')" 0 "VMs still said to be frozen"
log "ok: n3 back, $on3 started there again"

# teardown without the policy: every kvmcd stops at once again ([vms] keys apply on SIGHUP)
for i in 1 2 3; do
	"$CLUSTER" exec "$i" sed -i 's/^shutdown_policy_on = any-stop/shutdown_policy_on = system-shutdown/' /etc/kvmcd/kvmcd.conf
	kill -HUP $("$CLUSTER" pids "$i" kvmcd) 2>/dev/null
done
mn_vm_monitor_check
mn_pass
