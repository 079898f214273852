# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the tests of kvmcd's own VM handling (test-vms-*.sh; sourced after ../lib.sh): the
# counter guest as a VM of the spec, and what `kvmcctl vm list` / `node list` and every node's
# libvirtd say about it.
#
#   kv_xml NAME                 the counter guest's domain XML for the spec: its disk on the
#                               datastore ds1 (/srv/kvmcd/ds1/NAME.img), its serial log on the shared
#                               directory (mn_vm_counters / mn_vm_continuous read it), no <uuid>
#   kv_disks NAME...            the guest's image copied onto ds1 for each NAME (through node 1)
#   kv_vmlist I                 kvmcctl vm list --json on node I
#   kv_owner I VM / kv_vstate I VM / kv_reason I VM
#   kv_running_on VM            the nodes whose libvirtd runs VM ("n2", "n1 n3", or "")
#   kv_runs_only_on_owner VM    running on exactly one node: the one the record names
#   kv_runs_only_on VM NODE     ... and that is NODE
#   kv_nodes I                  kvmcctl node list --json on node I
#   kv_node I NODE FILTER       a jq filter applied to NODE's entry of that list
#   kv_ds1_spec                 the datastore part of the spec

kv_ds1_spec() { echo '{"name":"ds1","protocol":"iscsi","size":"1G"}'; }

kv_xml() {
	mn_vm_xml "$1" 16 | sed -e '/<uuid>/d' -e "s|<source file='[^']*'/>|<source file='/srv/kvmcd/ds1/$1.img'/>|"
}

kv_disks() {
	local img v
	img=$(_mn_vm_built_image)
	[ -n "$img" ] || fail "the counter guest's image is not built (tests/multinode/counter.img)"
	for v in "$@"; do
		nx 1 cp "$img" "/srv/kvmcd/ds1/$v.img" || fail "cannot put $v's disk on ds1"
	done
}

kv_vmlist() { nx "$1" kvmcctl vm list --json; }
kv_owner() { kv_vmlist "$1" | jq -r --arg v "$2" '.[] | select(.name == $v) | .node // "none"'; }
kv_vstate() { kv_vmlist "$1" | jq -r --arg v "$2" '.[] | select(.name == $v) | .state'; }
kv_reason() { kv_vmlist "$1" | jq -r --arg v "$2" '.[] | select(.name == $v) | .reason // ""'; }
kv_running_on() {
	local i out=""
	for i in $MN_NODES; do [ "$(vm_state "$i" "$1")" = running ] && out+="n$i "; done
	echo "${out% }"
}
# The two below ask node KV_ASK (default 1) for the records: set it to a survivor when n1 may die.
kv_runs_only_on_owner() {
	local o
	o=$(kv_owner "${KV_ASK:-1}" "$1")
	[ "$o" != none ] && [ "$(kv_running_on "$1")" = "$o" ] && [ "$(kv_vstate "${KV_ASK:-1}" "$1")" = running ]
}
kv_runs_only_on() { kv_runs_only_on_owner "$1" && [ "$(kv_owner "${KV_ASK:-1}" "$1")" = "$2" ]; }
kv_nodes() { nx "$1" kvmcctl node list --json; }
kv_node() { kv_nodes "$1" | jq -r --arg n "$2" ".[] | select(.name == \$n) | $3"; }

# kv_counts_on VM: the serial stream is one continuous 0, 1, 2, ... and still growing.
kv_counts_on() {
	local c
	c=$(mn_vm_last_counter "$1")
	[ -n "$c" ] || return 1
	sleep 0.8
	mn_vm_counting "$1" $(( c + 2 )) && mn_vm_continuous "$1"
}
