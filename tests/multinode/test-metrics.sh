#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The metrics endpoint (issue 11) on 3 nodes: real corosync, kvmcd, libvirtd + QEMU, ontap-sim.
# What an admin pointing Prometheus at the cluster would check:
#   1. every node answers GET /metrics on its [metrics] listen (127.0.0.1:9478 here, not the
#      default 9477: the setting is honoured), in the Prometheus text format `promtool check
#      metrics` accepts; other paths are 404; `kvmcctl metrics` prints the same families;
#   2. the values say what `kvmcctl status` / `datastore list` say: quorate, 3 members, exactly
#      one leader (the one corosync elected), ds1 ready on every node, the ONTAP requests counted
#      on the leader only;
#   3. a follower's host killed: every survivor counts one ontap fence confirmed (with its
#      duration) and one VM recovery; the killed node's fence shows as active and confirmed,
#      the VM runs on a survivor, the members drop to 2.
. "$(dirname "$0")/lib.sh"
. "$MN_DIR/vm/kvmcd-vms.sh"
export MN_HOST_SIM=1
export MN_KVMCD_EXTRA=$'[metrics]\nlisten = 127.0.0.1:9478'
mn_begin metrics 300
mn_need_libvirt
mn_need_guest_tools
command -v promtool >/dev/null || fail "promtool is not installed (packaging/install-deps.sh installs it: prometheus)"
mn_up 3 --ontap --libvirt

scrape() { nx "$1" curl -sf --max-time 5 http://127.0.0.1:9478/metrics; }
# the value of one sample (exact name and labels as printed), "" when absent
value() { awk -v k="$2" '$1 == k { print $2 }' <<<"$1"; }

wait_until 30 "a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
F=$(( L % 3 + 1 )); [ "$F" != 3 ] || F=$(( F % 3 + 1 ))   # a follower that is not n3
[ "$L" != 3 ] || fail "n3 leads: this test kills a follower (n3)"
apply_spec "$L" "{\"datastores\":[$(kv_ds1_spec)]}" || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 3 nodes" nx 1 kvmcctl pool verify
kv_disks h1
spec=$(jq -n --arg h1 "$(kv_xml h1)" --argjson ds "$(kv_ds1_spec)" '{datastores: [$ds],
	vms: [{name: "h1", domain_xml: $h1, placement: {prefer: ["n3"]}}]}')
apply_spec "$L" "$spec" || fail "apply the VM: $APPLY_OUT"
wait_until 90 "h1 runs on n3 only" kv_runs_only_on h1 n3

# 1. The endpoint, its format, the other paths, kvmcctl metrics.
for i in 1 2 3; do
	m=$(scrape "$i") || fail "n$i: GET http://127.0.0.1:9478/metrics failed"
	printf '%s\n' "$m" | promtool check metrics >"$MN_RUN_BASE/promtool.$i" 2>&1 ||
		fail "n$i: promtool check metrics: $(cat "$MN_RUN_BASE/promtool.$i")"
	log "n$i: $(grep -vc '^#' <<<"$m") samples, promtool check metrics: ok"
	assert_eq "$(nx "$i" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9478/)" 404 "n$i: GET /"
	assert_eq "$(nx "$i" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9477/metrics)" 000 \
		"n$i: the default port (not configured here) answers"
done
ctl=$(nx 2 kvmcctl metrics) || fail "kvmcctl metrics on n2"
http=$(scrape 2)
assert_eq "$(grep '^# TYPE' <<<"$ctl" | sort)" "$(grep '^# TYPE' <<<"$http" | sort)" "the families of kvmcctl metrics and GET /metrics"

# 2. The values.
nleaders=0
for i in 1 2 3; do
	m=$(scrape "$i")
	assert_eq "$(value "$m" kvmcd_quorate)" 1 "n$i: kvmcd_quorate"
	assert_eq "$(value "$m" kvmcd_members)" 3 "n$i: kvmcd_members"
	assert_eq "$(value "$m" "kvmcd_leader_info{leader=\"n$L\"}")" 1 "n$i: kvmcd_leader_info names n$L"
	[ "$(value "$m" kvmcd_leader)" = 1 ] && { nleaders=$((nleaders + 1)); assert_eq "$i" "$L" "the node with kvmcd_leader 1"; }
	for n in 1 2 3; do
		assert_eq "$(value "$m" "kvmcd_datastore_node_ready{datastore=\"ds1\",node=\"n$n\"}")" 1 "n$i: ds1 ready on n$n"
	done
	assert_eq "$(value "$m" 'kvmcd_vm_info{vm="h1",state="running",node="n3"}')" 1 "n$i: h1 running on n3"
	reqs=$(awk '$1 ~ /^kvmcd_ontap_requests_total\{/ { s += $2 } END { print s + 0 }' <<<"$m")
	if [ "$i" = "$L" ]; then
		[ "$reqs" -gt 10 ] || fail "the leader n$i counts $reqs ONTAP requests"
		log "the leader counts $reqs ONTAP requests"
	else
		assert_eq "$reqs" 0 "n$i (a follower): ONTAP requests"
	fi
done
assert_eq "$nleaders" 1 "nodes with kvmcd_leader 1"

# 3. n3 killed: a fence and a recovery, counted on every survivor.
"$CLUSTER" kill 3 node || fail "cluster kill 3 node"
on_survivor() { kv_runs_only_on_owner h1 && case $(kv_owner 1 h1) in n1|n2) return 0 ;; esac; return 1; }
wait_until 120 "h1 runs again on a survivor" on_survivor
counted() { local m; m=$(scrape "$1") &&
	[ "$(value "$m" 'kvmcd_fences_total{method="ontap",result="confirmed"}')" = 1 ] &&
	[ "$(value "$m" kvmcd_vm_recoveries_total)" = 1 ]; }
for i in "$L" "$F"; do
	wait_until 30 "n$i counts the fence and the recovery" counted "$i"
	m=$(scrape "$i")
	assert_eq "$(value "$m" kvmcd_members)" 2 "n$i: kvmcd_members after the kill"
	assert_eq "$(value "$m" 'kvmcd_fence_active{node="n3",status="confirmed"}')" 1 "n$i: n3's fence"
	assert_eq "$(value "$m" kvmcd_fence_duration_seconds_count)" 1 "n$i: fence durations observed"
	d=$(value "$m" kvmcd_fence_duration_seconds_sum)
	awk -v d="$d" 'BEGIN { exit !(d >= 0 && d < 120) }' || fail "n$i: fence duration $d s"
	log "n$i: the fence took $d s (start to confirmation, as committed)"
	assert_eq "$(value "$m" 'kvmcd_vm_running{vm="h1"}')" 1 "n$i: h1 running"
	printf '%s\n' "$m" | promtool check metrics >/dev/null 2>&1 || fail "n$i: promtool after the failover"
done
mn_pass
