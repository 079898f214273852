#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The spec's VMs through kvmcctl (agent/vm-spec-api.h, coord/spec/vm.h), against one kvmcd on one
# real corosync in private namespaces (tests/agent-lib.sh), as an admin would use them:
#   - a datastore in the spec; `vm add FILE.xml` of a VM whose disks are a volume of it and a file
#     under its path (with --prefer, --priority): in the spec as given, the XML untouched; added
#     again as it is: unchanged (0); added again otherwise: refused (2)
#   - `vm stop` / `vm start` change its state in the spec (again: unchanged, 0)
#   - a VM with a local disk is refused with the VM, the disk and the file named, exit 2,
#     nothing applied (the state version does not move); so are a broken XML file (FILE: line
#     N, nothing sent), an anti-affinity with an unknown VM, and `datastore remove` of the
#     datastore the VM uses
#   - `vm import NAME` of a domain of this node's libvirt ([host] libvirt_uri = libvirt's test
#     driver with a node file): one on the datastore is added; one with a local disk and one that
#     does not exist are refused (2)
#   - `vm remove`: out of the spec; an unknown NAME refused (2); usage errors exit 1
# Needs root, corosync, unshare/nsenter and jq; exits 77 (skipped) otherwise.
set -u

. "$(dirname "$0")/agent-lib.sh"
agent_init kvmcd-vms

# libvirt's test driver reads its domains from this file at each connection (read-only here).
cat >"$T/libvirt-node.xml" <<'EOF'
<node>
  <domain type='kvm'>
    <name>imp1</name>
    <uuid>6695eb01-f6a4-8304-79aa-97f2502e1930</uuid>
    <memory>65536</memory>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/srv/kvmcd/ds1/imp1.qcow2'/><target dev='vda' bus='virtio'/></disk>
    </devices>
  </domain>
  <domain type='kvm'>
    <name>implocal</name>
    <memory>65536</memory>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/var/lib/libvirt/images/implocal.qcow2'/><target dev='vda' bus='virtio'/></disk>
    </devices>
  </domain>
</node>
EOF

cat >"$T/kvmcd.conf" <<EOF
[node]
name = n1
[cluster]
stall_timeout = 4s
request_timeout = 10s
reconnect_max = 500
[paths]
state_dir = $T/state
run_dir = $T/run/kvmcd
[host]
libvirt_uri = test://$T/libvirt-node.xml
[log]
level = debug
target = stderr
EOF

cat >"$T/web1.xml" <<'EOF'
<domain type='kvm'>
  <name>web1</name>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='volume' device='disk'>
      <source pool='ds1' volume='web1.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <source file='/srv/kvmcd/ds1/web1-data.raw'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>
    <interface type='network'><source network='default'/></interface>
  </devices>
</domain>
EOF
cat >"$T/local1.xml" <<'EOF'
<domain type='kvm'>
  <name>local1</name>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/local1.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
EOF
printf "<domain type='kvm'>\n<name>bad</name>\n<devices><disk></devices>\n</domain>\n" >"$T/bad.xml"
sed 's/web1/web2/g' "$T/web1.xml" >"$T/web2.xml"

status_json() { ctl status --json 2>/dev/null; }
jq_is() { [ "$(status_json | jq -r "$1")" = "$2" ]; }
version() { status_json | jq -r '.state_version'; }
spec_q() { ctl spec get 2>/dev/null | jq -r "$1"; }
# expect_exit CODE DESCRIPTION COMMAND...: runs it, keeps its stdout+stderr in $OUT
expect_exit() {
	local want=$1 what=$2 rc
	shift 2
	OUT=$("$@" 2>&1)
	rc=$?
	if [ "$rc" = "$want" ]; then ok "$what (exit $rc)"; else fail "$what: exit $rc, expected $want: $OUT"; fi
}
# says TEXT DESCRIPTION: the last command's output contains TEXT
says() {
	if grep -qF -- "$1" <<<"$OUT"; then ok "$2"; else fail "$2: no '$1' in: $OUT"; fi
}
check() { # description command...
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi
}

start_corosync
start_kvmcd
wait_until 15 "kvmcd is quorate and leads" jq_is '.is_leader' true || exit 1

# --- a datastore, and a VM on it --------------------------------------------------------------
expect_exit 0 "spec apply: one node, one datastore" ctl spec apply - <<<'{"nodes":[{"name":"n1","id":1}],"datastores":[{"name":"ds1","protocol":"nfs","size":"1G"}]}'
expect_exit 0 "vm add web1.xml --prefer n1 --priority 5" ctl vm add "$T/web1.xml" --prefer n1 --priority 5
says "applied: version" "vm add says the version"
says "web1: in the spec, started" "vm add names the VM from its <name>"
check "web1 is in the spec with its placement and priority" \
	test "$(spec_q '.vms[0] | [.name, (.placement.prefer|join(",")), .ha.priority, (.state // "started")] | join(" ")')" = "web1 n1 5 started"
check "its domain_xml is the file, untouched" test "$(ctl spec get | jq -j '.vms[0].domain_xml')" = "$(cat "$T/web1.xml")"
expect_exit 0 "vm add of the same VM as it is: already in place" ctl vm add --prefer n1 "$T/web1.xml" --priority 5
says "unchanged: VM 'web1' is in the spec as given" "unchanged says so"
v=$(version)
expect_exit 2 "vm add of web1 with another entry: refused" ctl vm add "$T/web1.xml" --stopped
says "refused: VM 'web1' is in the spec already" "the refusal names the VM"
check "nothing applied" test "$(version)" = "$v"

# --- start / stop in the spec -------------------------------------------------------------------
expect_exit 0 "vm stop web1" ctl vm stop web1
check "web1 is stopped in the spec" test "$(spec_q '.vms[0].state')" = stopped
expect_exit 0 "vm stop web1 again: already in place" ctl vm stop web1
says "unchanged: VM 'web1' is stopped in the spec already" "stopped already"
expect_exit 0 "vm start web1" ctl vm start web1
check "web1 is started in the spec" test "$(spec_q '.vms[0].state')" = started
expect_exit 2 "vm start of an unknown VM: refused" ctl vm start nosuch
says "no VM 'nosuch' in the spec; nothing applied" "the unknown VM is named"

# --- refusals: nothing applied ------------------------------------------------------------------
v=$(version)
expect_exit 2 "vm add of a VM with a local disk: refused" ctl vm add "$T/local1.xml"
says "vms[1].domain_xml: local1: disk 'vda': file \"/var/lib/libvirt/images/local1.qcow2\" is on no datastore of the spec (/srv/kvmcd/ds1): the VM could not run on another node" \
	"the refusal names the VM, the disk and the file"
says "nothing applied" "the refusal says nothing was applied"
check "the state version did not move" test "$(version)" = "$v"
check "the spec still has web1 only" test "$(spec_q '[.vms[].name] | join(",")')" = web1
expect_exit 2 "vm add of a broken XML file: refused before sending" ctl vm add "$T/bad.xml"
says "$T/bad.xml: not well-formed XML: line " "the broken file is named with a line"
says "nothing sent" "nothing sent"
expect_exit 2 "vm add with an anti-affinity to an unknown VM: refused" ctl vm add "$T/web2.xml" --anti-affinity web1,ghost
says "vms[1].placement.anti_affinity[1]: web2: \"ghost\" is not a VM of the spec" "the unknown VM is named"
expect_exit 2 "datastore remove ds1 while web1 has disks on it: refused" ctl datastore remove ds1
says "a datastore cannot be removed while a VM has a disk on it" "the refusal says why"
check "nothing applied by any of them" test "$(version)" = "$v"

# --- vm import from this node's libvirt ---------------------------------------------------------
expect_exit 0 "vm import imp1 (libvirt's test driver) --stopped --no-ha" ctl vm import imp1 --stopped --no-ha
check "imp1 is in the spec, stopped, HA off, its disk on ds1" \
	test "$(spec_q '.vms[] | select(.name=="imp1") | [.state, .ha.enabled, (.domain_xml | contains("/srv/kvmcd/ds1/imp1.qcow2"))] | map(tostring) | join(" ")')" = "stopped false true"
v=$(version)
expect_exit 2 "vm import of a domain with a local disk: refused" ctl vm import implocal
says "implocal: disk 'vda': file \"/var/lib/libvirt/images/implocal.qcow2\" is on no datastore" "the local disk is named"
expect_exit 2 "vm import of a domain libvirt does not have: refused" ctl vm import ghost
says "has no domain 'ghost'" "the missing domain is named"
check "nothing applied" test "$(version)" = "$v"

# --- removal, usage ------------------------------------------------------------------------------
expect_exit 0 "vm remove web1" ctl vm remove web1
check "web1 is out of the spec, imp1 stays" test "$(spec_q '[.vms[].name] | join(",")')" = imp1
expect_exit 2 "vm remove web1 again: refused (unknown)" ctl vm remove web1
expect_exit 0 "vm remove imp1" ctl vm remove imp1
expect_exit 0 "datastore remove ds1 once no VM uses it" ctl datastore remove ds1
expect_exit 1 "vm add without a file: usage" ctl vm add
expect_exit 1 "vm add --priority high: usage" ctl vm add "$T/web1.xml" --priority high
expect_exit 1 "vm add --prefer with an empty name: usage" ctl vm add "$T/web1.xml" --prefer n1,,n2
expect_exit 1 "vm frobnicate: usage" ctl vm frobnicate
expect_exit 1 "vm stop without a name: usage" ctl vm stop

check "kvmcd still runs" alive "$KVMCD_PID"
stop_pid "$KVMCD_PID"
KVMCD_PID=""
sanitizer_check
[ "$FAILED" = 0 ] && log "PASS" || log "FAILED"
exit "$FAILED"
