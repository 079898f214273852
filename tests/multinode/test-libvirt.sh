#!/bin/bash
# One real libvirtd per node (cluster up --libvirt) and the shared directory every node mounts at
# the same path (bindfs, type fuse.glusterfs, which libvirt takes for shared storage):
#   - every libvirtd answers, each with its own host UUID;
#   - a dir pool with the same name and UUID, defined on every node over the shared directory,
#     is active everywhere; a file node 1 writes there is a volume on nodes 2 and 3 after
#     pool-refresh, with the same content;
#   - a tiny TCG guest (tests/multinode/guest/counter.s: a boot sector printing a counter to its
#     serial log) with its disk on that pool, started on node 1, live-migrates to node 2
#     (virsh migrate --live --p2p --persistent --undefinesource, no --unsafe): node 1 no longer
#     knows it, node 2 runs it persistently and the counter continues where node 1's log ended.
# Prints the time to `up` with libvirt and the migration's wall time, QEMU's part and downtime.
. "$(dirname "$0")/lib.sh"
mn_begin libvirt 180
mn_need_libvirt
for t in as ld; do command -v "$t" >/dev/null 2>&1 || mn_skip "$t not installed (binutils, to build the guest)"; done

POOL=mn-shared
POOL_UUID=6d1f3c52-6b0e-4c1a-9e39-5c1b7f0a2d11
VM=mn-guest
IMG=$VM.img
SERIAL=/var/log/libvirt/qemu/$VM-serial.log      # node-private (each node's /var/log/libvirt)

t_up=$(now_ms)
mn_up 3 --libvirt
UP_MS=$(( $(now_ms) - t_up ))
log "cluster up 3 --libvirt: ${UP_MS} ms"
RUN=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}

# 1. Every libvirtd answers, and each has its own host UUID (else libvirt refuses to migrate
#    between them as "the same host").
uuids=""
for i in 1 2 3; do
	v=$(vsh "$i" version 2>/dev/null | sed -n 's/^Running hypervisor: //p')
	[ -n "$v" ] || fail "n$i: virsh version does not answer: $(vsh "$i" version 2>&1 | tr '\n' ' ')"
	log "ok: n$i: virsh version: $v"
	uuids+="$(vsh "$i" capabilities | sed -n 's:.*<uuid>\(.*\)</uuid>.*:\1:p' | head -1) "
done
assert_eq "$(tr ' ' '\n' <<<"$uuids" | sed '/^$/d' | sort -u | wc -l)" 3 "distinct libvirt host UUIDs ($uuids)"

# 2. The same pool (name + UUID) over the shared directory on every node.
pool_xml="<pool type='dir'><name>$POOL</name><uuid>$POOL_UUID</uuid><target><path>$MN_SHARED</path></target></pool>"
for i in 1 2 3; do
	assert_eq "$("$CLUSTER" exec "$i" findmnt -n -o FSTYPE --mountpoint "$MN_SHARED")" fuse.glusterfs "n$i: type of $MN_SHARED"
	vsh "$i" pool-define /dev/stdin <<<"$pool_xml" >/dev/null || fail "n$i: pool-define"
	vsh "$i" pool-start "$POOL" >/dev/null || fail "n$i: pool-start"
done
for i in 1 2 3; do
	assert_eq "$(vsh "$i" pool-info "$POOL" | awk '/^State:/{print $2}') $(vsh "$i" pool-uuid "$POOL")" "running $POOL_UUID" "n$i: pool $POOL state, uuid"
done

# 3. Node 1 writes the guest's disk into the shared directory; nodes 2 and 3 see it as a volume.
"$MN_DIR/guest/build.sh" "$RUN/$IMG" 1M || fail "cannot build the guest image (guest/build.sh)"
want=$(sha256sum <"$RUN/$IMG" | cut -d' ' -f1)
"$CLUSTER" exec 1 sh -c "cat >'$MN_SHARED/$IMG.tmp' && mv '$MN_SHARED/$IMG.tmp' '$MN_SHARED/$IMG'" <"$RUN/$IMG" ||
	fail "n1: cannot write $MN_SHARED/$IMG"
for i in 2 3; do
	vsh "$i" pool-refresh "$POOL" >/dev/null || fail "n$i: pool-refresh"
	assert_eq "$(vsh "$i" vol-list "$POOL" | awk '{print $1 " " $2}')" "$IMG $MN_SHARED/$IMG" "n$i: volumes of $POOL after pool-refresh"
	assert_eq "$("$CLUSTER" exec "$i" sha256sum "$MN_SHARED/$IMG" | cut -d' ' -f1)" "$want" "n$i: sha256 of the volume written by n1"
done
vsh 1 pool-refresh "$POOL" >/dev/null || fail "n1: pool-refresh"

# 4. The guest on node 1, its disk a volume of the shared pool (cache='none': what libvirt
#    wants for a safe migration; the image is a multiple of 4 KiB).
dom_xml="<domain type='qemu'>
  <name>$VM</name>
  <uuid>3f0c5d1e-2a4b-4c6d-8e9f-0a1b2c3d4e5f</uuid>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source pool='$POOL' volume='$IMG'/>
      <target dev='hda' bus='ide'/>
    </disk>
    <serial type='file'><source path='$SERIAL'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>"
vsh 1 define /dev/stdin <<<"$dom_xml" >/dev/null || fail "n1: define $VM"
vsh 1 start "$VM" >/dev/null || fail "n1: start $VM: $(tail -3 "$RUN/n1/log-libvirt/qemu/$VM.log" 2>/dev/null)"

# counters I: the guest's counter values (decimal), one per complete line of node I's serial log.
counters() {
	"$CLUSTER" exec "$1" cat "$SERIAL" 2>/dev/null | grep -E '^C=[0-9A-F]{8}$' |
		while read -r l; do echo $(( 16#${l#C=} )); done
}
last_counter() { counters "$1" | tail -1; }
counting() { local c; c=$(last_counter "$1"); [ -n "$c" ] && [ "$c" -ge "$2" ]; }
wait_until 20 "n1: the guest counts (counter >= 3 in its serial log)" counting 1 3

# 5. Live migration to node 2 over libvirtd's TCP listener (peer to peer).
t_mig=$(now_ms)
out=$(VSH_TIMEOUT=60 vsh 1 migrate --live --p2p --persistent --undefinesource "$VM" "qemu+tcp://10.213.0.2/system" 2>&1) ||
	fail "virsh migrate n1 -> n2: $out"
MIG_MS=$(( $(now_ms) - t_mig ))
log "ok: virsh migrate --live --p2p --persistent --undefinesource n1 -> n2: ${MIG_MS} ms"
job=$(vsh 2 domjobinfo "$VM" --completed 2>/dev/null)
QEMU_MS=$(awk -F: '/^Time elapsed:/{gsub(/[^0-9]/, "", $2); print $2}' <<<"$job")
DOWN_MS=$(awk -F: '/^Total downtime:/{gsub(/[^0-9]/, "", $2); print $2}' <<<"$job")
log "migration: QEMU's part ${QEMU_MS:-?} ms, guest paused ${DOWN_MS:-?} ms (virsh domjobinfo --completed on n2)"

assert_eq "$(vm_state 2 "$VM")" running "n2: state of $VM"
assert_eq "$(vsh 2 dominfo "$VM" | awk '/^Persistent:/{print $2}')" yes "n2: $VM persistent"
assert_eq "$(vm_state 1 "$VM")" absent "n1: $VM after --undefinesource"
assert_eq "$("$CLUSTER" pids 1 qemu-system-x86 | wc -l)" 0 "n1: QEMU processes"

# 6. The state moved: node 2's log continues node 1's sequence (a line cut by the switch-over
#    appears on neither side as a complete line, so the next may be +2).
src_last=$(last_counter 1)
wait_until 10 "n2: the guest prints on node 2" test -n "$(counters 2 | head -1)"
dst_first=$(counters 2 | head -1)
log "n1's last counter $src_last, n2's first $dst_first"
[ -n "$src_last" ] && [ "$src_last" -ge 3 ] || fail "n1's serial log ends at '$src_last'"
gap=$(( dst_first - src_last ))
[ "$gap" -ge 1 ] && [ "$gap" -le 2 ] || fail "the counter does not continue: n1 ended at $src_last, n2 began at $dst_first"
log "ok: the counter continues on n2 ($src_last -> $dst_first)"
wait_until 10 "n2: the guest keeps counting (counter >= $(( dst_first + 3 )))" counting 2 $(( dst_first + 3 ))

log "timings: up 3 --libvirt ${UP_MS} ms; migrate ${MIG_MS} ms wall, QEMU ${QEMU_MS:-?} ms, downtime ${DOWN_MS:-?} ms"
mn_pass
