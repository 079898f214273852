#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# VM-consistent snapshots (issue 10, `consistency: vm`) end to end on the multi-node tier: 3 nodes
# with real corosync, kvmcd, libvirtd + QEMU (TCG), the ONTAP simulator, the simulated host
# backend for the datastore. Three tiny guests with a guest-agent responder (guest/qga.s), one
# per node (pairwise anti-affine), their disks on ds1; their agents are switched through COM2
# (a: answer, h: hang, c: close the port = no agent running), and their COM1 logs ("QGA freeze
# n=N", "QGA thaw n=N") are time-stamped as they land, as is the simulator's request log: the
# order below is compared on one clock. The roles follow the placement: the guest on the
# leader's node has no agent running (it is never frozen, so killing that node's kvmcd below
# cannot leave a frozen guest behind -- a frozen guest's thaw lives in its own node's kvmcd).
#   1. a policy "app" {every 1m, keep 3, consistency vm} on ds1: the first slot is taken; the
#      answering guest froze BEFORE the snapshot POST and thawed AFTER it, within the budget;
#      the hanging guest froze (the agent did the freeze, never answered) and was thawed by its
#      node; `snapshot list --json` and `protection status --json` name qa consistent, qh
#      crash-consistent (agent-timeout), qc crash-consistent (agent-not-connected);
#   then the guest without agent paused: the next slot records it crash-consistent, "paused";
#   2. the leader's kvmcd killed mid-freeze (the next slot; the hanging guest makes the run wait
#      ~2 s for its report; killed as soon as the answering guest froze): every frozen guest is
#      thawed by its node, within the budget of its freeze; the next leader takes that slot
#      exactly once (one snapshot POST for it in the request log) and VM-consistently again.
. "$(dirname "$0")/lib.sh"
export MN_HOST_SIM=1
CLOCK=$MN_RUN_BASE/protection-clock.${MN_PREFIX:-kvmcd}
T=$(( ($(date +%s) / 86400) * 86400 + 3600 + 30 ))   # today 01:00:30 UTC
BUDGET_MS=5000
mkdir -p "$MN_RUN_BASE"
echo "@$T" >"$CLOCK.tmp" && mv "$CLOCK.tmp" "$CLOCK"
export MN_KVMCD_EXTRA="[protection]
test_clock_offset_file = $CLOCK
freeze_budget = ${BUDGET_MS}ms"
mn_begin protection-vm 420
mn_need_libvirt
mn_need_guest_tools
command -v python3 >/dev/null 2>&1 || mn_skip "python3 not installed (the test writes to the guests' COM2 sockets)"
mn_up 3 --ontap --libvirt

RUN=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
HUB=/run/netns/${MN_PREFIX:-kvmcd}-hub
P=kvmcd_${MN_PREFIX:-kvmcd}_mn
REQLOG=$RUN/ontap/requests.log
SIM=https://10.213.0.254:8443
STAMPS=$MN_RUN_BASE/pvm-stamps-${MN_PREFIX:-kvmcd}
rm -rf "$STAMPS"; mkdir -p "$STAMPS"
sim() { nsenter --net="$HUB" curl -sk --max-time 5 "$@"; }
state() { sim "$SIM/_sim/state"; }
snaps() { state | jq -r --arg v "${P}_$1" '[.volumes[] | select(.name == $v) | .uuid] as $u |
	[.snapshots[] | select(.volume.uuid == $u[0]) | .name] | sort | .[]'; }
slot_name() { date -u -d "@$1" +kvmcd.app.1m.%Y%m%dT%H%MZ; }
advance() {
	T=$((T + $1))
	echo "@$T" >"$CLOCK.tmp" && mv "$CLOCK.tmp" "$CLOCK"
	sim -X POST "$SIM/_sim/clock" -d "{\"advance_seconds\":$1}" >/dev/null || fail "cannot advance the simulator's clock"
	log "clock -> $(date -u -d "@$T" +%FT%TZ)"
}
posts() { grep -c '"method":"POST","path":"/api/storage/volumes/[^"]*/snapshots' "$REQLOG"; }
ctl() { OUT=$("$CLUSTER" exec "$1" timeout 60 kvmcctl "${@:2}" 2>&1); RC=$?; }

# stamp FILE OUT: every line of FILE as it lands, "EPOCH_MS LINE" in OUT (perl, polling 20 ms)
stamp() {
	perl -MTime::HiRes=time,sleep -e 'my ($f, $out) = @ARGV; my ($fh, $part) = (undef, "");
		open(my $o, ">>", $out) or die; $o->autoflush(1); $SIG{TERM} = sub { exit 0 };
		while (1) {
			if (!$fh) { open(my $h, "<", $f) or do { sleep 0.02; next }; $fh = $h }
			my $n = sysread($fh, my $buf, 65536);
			if (!$n) { sleep 0.02; next }
			my $t = int(time * 1000); $part .= $buf;
			while ($part =~ s/^([^\n]*\n)//) { print $o "$t $1" }
		}' "$1" "$2" </dev/null 9>&- &
	_mn_vm_stamp_pid[$2]=$! # lib.sh's exit trap stops them (vm/vm.sh)
}
# Each file has its own poller, reading it every 20 ms (later on a loaded machine): two lines of
# different files that land close together may be stamped in either order. Seen under ASan in a
# clean-clone run: the new leader's kvmcd logged "taking snapshot" at .280, "thaw (snapshot taken)"
# at .603 and "Thawed VM" at .631, while the stamps put the POST 1 ms after the thaw. So "thawed
# after the POST" allows 50 ms; the freeze comes a CPG round and a POST earlier and stays strict.
STAMP_SLACK_MS=50
# at VM LINE: the stamp of VM's last COM1 line "QGA LINE" ("" when none)
at() { grep " QGA $2\$" "$STAMPS/$1" | tail -1 | cut -d' ' -f1; }
# thawed VM K: the stamp of the first thaw that found VM frozen ("QGA thaw n=1": the agent's
# count of file systems thawed) after its K-th freeze ("QGA freeze n=K": its count of freezes)
thawed() { awk -v k="QGA freeze n=$2" 'index($0, k) && substr($0, length($0) - length(k) + 1) == k { f = 1; next }
	f && / QGA thaw n=1$/ { print $1; exit }' "$STAMPS/$1"; }
# post_at N: the stamp of the N-th snapshot POST of the request log
post_at() { grep '"method":"POST","path":"/api/storage/volumes/[^"]*/snapshots' "$STAMPS/requests" | sed -n "${1}p" | cut -d' ' -f1; }

wait_until 30 "all 3 agree on a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
log "n$L leads"
ha_disarm "$L" # its kvmcd is killed below: this test is about the freeze and the slot, not HA's fence
apply_spec "$L" '{"datastores":[{"name":"ds1","protocol":"iscsi","size":"1G"}]}' || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 3 nodes" nx 1 kvmcctl pool verify

# --- three qga guests, one per node ---
VMS="q1 q2 q3"
for v in $VMS; do
	"$MN_DIR/guest/build.sh" "$MN_SHARED_BACKING/$v.img" 1M qga >/dev/null || fail "cannot build the qga guest"
	nx 1 cp "$MN_SHARED/$v.img" "/srv/kvmcd/ds1/$v.img" || fail "cannot put $v's disk on ds1"
	: >"$MN_SHARED_BACKING/$v.serial"
	stamp "$MN_SHARED_BACKING/$v.serial" "$STAMPS/$v"
done
: >"$STAMPS/requests"
stamp "$REQLOG" "$STAMPS/requests"
xml_of() { # NAME: the counter domain with the qga disk on ds1, COM2 on a socket, the agent channel
	mn_vm_xml "$1" 16 | sed -e '/<uuid>/d' \
		-e "s|<source file='[^']*'/>|<source file='/srv/kvmcd/ds1/$1.img'/>|" \
		-e "s|    <memballoon model='none'/>|    <serial type='unix'><source mode='bind' path='/var/lib/libvirt/qemu/$1.ctl'/><target port='1'/></serial>\n    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/><address type='virtio-serial' controller='0' bus='0' port='1'/></channel>\n&|"
}
vm_entries() {
	jq -n --arg x1 "$(xml_of q1)" --arg x2 "$(xml_of q2)" --arg x3 "$(xml_of q3)" '[
	  {name: "q1", domain_xml: $x1, placement: {anti_affinity: ["q2", "q3"]}},
	  {name: "q2", domain_xml: $x2, placement: {anti_affinity: ["q1", "q3"]}},
	  {name: "q3", domain_xml: $x3, placement: {anti_affinity: ["q1", "q2"]}}]'
}
DS='[{"name":"ds1","protocol":"iscsi","size":"1G"}]'
spec=$(jq -n --argjson ds "$DS" --argjson vms "$(vm_entries)" '{datastores: $ds, vms: $vms}')
apply_spec "$L" "$spec" || fail "apply: $APPLY_OUT"
owner_of() { nx "$L" kvmcctl vm list --json | jq -r --arg v "$1" '.[] | select(.name == $v) | .node // "none"'; }
all_running() {
	local v o
	for v in $VMS; do
		o=$(owner_of "$v"); [ "$o" != none ] && [ -n "$o" ] || return 1
		[ "$(vm_state "${o#n}" "$v")" = running ] || return 1
	done
}
wait_until 120 "q1 q2 q3 run, each on its owner" all_running
declare -A NODE
for v in $VMS; do NODE[$v]=$(owner_of "$v"); NODE[$v]=${NODE[$v]#n}; done
log "placement: q1 on n${NODE[q1]}, q2 on n${NODE[q2]}, q3 on n${NODE[q3]}"
assert_eq "$(printf '%s\n' "${NODE[@]}" | sort -u | wc -l)" 3 "the three guests run on three different nodes"
for v in $VMS; do wait_until 60 "$v opened its agent port" grep -q "QGA port open" "$STAMPS/$v"; done

# roles: the guest on the leader's node has no agent (closed), the other two answer / hang
QC=""; QA=""; QH=""
for v in $VMS; do
	if [ "${NODE[$v]}" = "$L" ]; then QC=$v; elif [ -z "$QA" ]; then QA=$v; else QH=$v; fi
done
log "roles: $QA answers (n${NODE[$QA]}), $QH hangs (n${NODE[$QH]}), $QC has no agent (n${NODE[$QC]}, the leader's node)"
# mode VM X: one byte to the guest's COM2 on its node; waits until the guest logged the switch
mode() {
	local before
	before=$(grep -c " QGA mode $2\$" "$STAMPS/$1")
	"$CLUSTER" exec "${NODE[$1]}" python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()); s.close()' \
		"/var/lib/libvirt/qemu/$1.ctl" "$2" || fail "cannot write to $1's COM2"
	wait_until 10 "$1 switched to mode $2" mode_logged "$1" "$2" "$before"
}
mode_logged() { [ "$(grep -c " QGA mode $2\$" "$STAMPS/$1")" -gt "$3" ]; }
channel_is() { [ "$(vsh "${NODE[$1]}" dumpxml "$1" | grep -o "name='org.qemu.guest_agent.0' state='[a-z]*'" | sed "s/.*state='//; s/'//")" = "$2" ]; }
mode "$QH" h
mode "$QC" c
wait_until 10 "libvirt sees $QC's agent channel disconnected" channel_is "$QC" disconnected
wait_until 10 "libvirt sees $QA's agent channel connected" channel_is "$QA" connected

# --- 1. the policy: the first slot, VM-consistent for the answering guest ---
p0=$(posts)
FIRST=$(( T - T % 60 ))
spec=$(jq -n --argjson ds "$DS" --argjson vms "$(vm_entries)" '{datastores: $ds, vms: $vms,
	protection: [{name: "app", datastores: ["ds1"], consistency: "vm", schedules: [{every: "1m", keep: 3}]}]}')
apply_spec "$L" "$spec" || fail "apply: $APPLY_OUT"
S1=$(slot_name "$FIRST")
wait_until 60 "the first slot $S1 on ds1" eval 'snaps ds1 | grep -qx "$S1"'
wait_until 10 "$QA thawed after the snapshot" eval '[ -n "$(thawed "$QA" 1)" ]'
sleep 1
assert_eq "$(posts)" "$((p0 + 1))" "one snapshot POST for the first slot"
fa=$(at "$QA" "freeze n=1"); ta=$(thawed "$QA" 1); pa=$(post_at 1)
fh=$(at "$QH" "freeze n=1"); th=$(thawed "$QH" 1)
log "stamps (ms): $QA freeze $fa, snapshot POST $pa, $QA thaw $ta; $QH freeze $fh, thaw $th"
[ -n "$fa" ] && [ -n "$pa" ] && [ -n "$ta" ] || fail "missing stamps: freeze '$fa' POST '$pa' thaw '$ta'"
[ "$fa" -lt "$pa" ] || fail "$QA froze at $fa, not before the snapshot POST at $pa"
[ "$pa" -lt $((ta + STAMP_SLACK_MS)) ] || fail "$QA thawed at $ta, not after the snapshot POST at $pa"
log "ok: $QA froze $((pa - fa)) ms before the snapshot POST and thawed $((ta - pa)) ms after it (frozen $((ta - fa)) ms)"
[ $((ta - fa)) -le "$BUDGET_MS" ] || fail "$QA was frozen $((ta - fa)) ms: more than the budget ($BUDGET_MS ms)"
[ -n "$fh" ] && [ -n "$th" ] && [ "$fh" -le "$th" ] || fail "$QH (hung agent) froze at '$fh' and must be thawed after: '$th'"
[ $((th - fh)) -le "$BUDGET_MS" ] || fail "$QH was frozen $((th - fh)) ms: more than the budget"
assert_eq "$(grep -c ' QGA freeze n=' "$STAMPS/$QC")" 0 "$QC (no agent) was never frozen"

vms_of() { jq -c --arg a "$QA" --arg h "$QH" --arg c "$QC" \
	'[.[$a].consistent, .[$h].consistent, .[$h].why, .[$c].consistent, .[$c].why]'; }
WANT_VMS='[true,false,"agent-timeout",false,"agent-not-connected"]'
listed_vms() {
	OUT=$("$CLUSTER" exec "$1" timeout 20 kvmcctl snapshot list ds1 --json) &&
		[ "$(jq -c --arg n "$2" '.[] | select(.name == $n) | .vms' <<<"$OUT" | vms_of)" = "$WANT_VMS" ]
}
wait_until 20 "snapshot list ds1 --json: $S1 names $QA consistent, $QH and $QC crash-consistent" listed_vms "$L" "$S1"
jq -c --arg n "$S1" '.[] | select(.name == $n)' <<<"$OUT" | sed 's/^/    /'
ctl "$L" protection status --json
assert_eq "$RC" 0 "protection status --json"
assert_eq "$(jq -r '.policies[0].consistency' <<<"$OUT")" vm "status: consistency vm"
assert_eq "$(jq -c '.policies[0].last_vms' <<<"$OUT" | vms_of)" "$WANT_VMS" "status: last_vms of the last snapshot"
ctl "$L" protection status
log "protection status: $(grep "VMs:" <<<"$OUT")"
assert_true "protection status (text) names $QA consistent, $QH crash-consistent (agent-timeout)" \
	eval 'grep "last snapshot'"'"'s VMs:" <<<"$OUT" | grep -q "$QA consistent" && grep -q "$QH crash-consistent (agent-timeout)" <<<"$OUT"'

# --- a paused guest: crash-consistent ("paused"), nothing asked of it ---
vsh "${NODE[$QC]}" suspend "$QC" >/dev/null || fail "suspend $QC"
paused_seen() { [ "$(nx "$L" kvmcctl vm list --json | jq -r --arg v "$QC" '.[] | select(.name == $v) | .state')" = paused ]; }
wait_until 20 "$QC reported paused" paused_seen
advance 60
SP=$(slot_name $((T - T % 60)))
wait_until 30 "the slot $SP" eval 'snaps ds1 | grep -qx "$SP"'
WANT_VMS='[true,false,"agent-timeout",false,"paused"]'
wait_until 20 "snapshot list: $SP names $QC crash-consistent (paused)" listed_vms "$L" "$SP"
vsh "${NODE[$QC]}" resume "$QC" >/dev/null || fail "resume $QC"

# --- 2. the leader's kvmcd killed mid-freeze ---
p1=$(posts)
freezes() { grep -c ' QGA freeze n=' "$STAMPS/$1"; }
K=$(( $(freezes "$QA") + 1 )); KH=$(( $(freezes "$QH") + 1 ))
advance 60
S2=$(slot_name $((T - T % 60)))
wait_until 30 "the next run froze $QA (freeze n=$K)" eval '[ -n "$(at "$QA" "freeze n=$K")" ]'
"$CLUSTER" kill "$L" kvmcd || fail "kill n$L kvmcd"
kill_ms=$(now_ms)
fa2=$(at "$QA" "freeze n=$K")
log "n$L's kvmcd killed $((kill_ms - fa2)) ms after $QA froze for $S2"
assert_true "the snapshot $S2 was not taken before the kill" eval '! snaps ds1 | grep -qx "$S2"'
wait_until 10 "$QA thawed by its node (after freeze n=$K)" eval '[ -n "$(thawed "$QA" $K)" ]'
ta2=$(thawed "$QA" $K)
log "$QA frozen $((ta2 - fa2)) ms (thawed $((ta2 - kill_ms)) ms after the kill)"
[ $((ta2 - fa2)) -le $((BUDGET_MS + 500)) ] || fail "$QA was frozen $((ta2 - fa2)) ms after the leader died: more than its deadline"
fh2=$(at "$QH" "freeze n=$KH")
if [ -n "$fh2" ]; then
	wait_until 10 "$QH thawed by its node (after freeze n=$KH)" eval '[ -n "$(thawed "$QH" $KH)" ]'
	[ $(( $(thawed "$QH" $KH) - fh2 )) -le $((BUDGET_MS + 500)) ] || fail "$QH was frozen longer than its deadline"
fi
survivors=$(printf '%s\n' 1 2 3 | grep -vx "$L" | tr '\n' ' ')
new_leader() { all_agree_leader $survivors && [ "${AGREED_LEADER%/*}" != "$L" ]; }
wait_until 60 "a new leader among $survivors" new_leader
NL=${AGREED_LEADER%/*}
log "n$NL leads now"
wait_until 90 "the next leader took $S2" eval 'snaps ds1 | grep -qx "$S2"'
wait_until 10 "$QA thawed after the new leader's snapshot (after freeze n=$((K + 1)))" eval '[ -n "$(thawed "$QA" $((K + 1)))" ]'
sleep 2
assert_eq "$(posts)" "$((p1 + 1))" "exactly one snapshot POST for $S2 (request log): not doubled"
fa3=$(at "$QA" "freeze n=$((K + 1))"); ta3=$(thawed "$QA" $((K + 1))); pa3=$(post_at $((p1 + 1)))
[ -n "$fa3" ] && [ "$fa3" -lt "$pa3" ] && [ "$pa3" -lt $((ta3 + STAMP_SLACK_MS)) ] ||
	fail "the new leader's run: $QA freeze '$fa3', POST '$pa3', thaw '$ta3' out of order"
log "ok: the new leader's run: $QA froze $((pa3 - fa3)) ms before the POST, thawed $((ta3 - pa3)) ms after"
# n$L's kvmcd is gone: its section with it; the record says what the new leader saw
WANT_VMS2=$(jq -nc --arg c "$QC" '[true,false,"agent-timeout",false]')
listed2() {
	OUT=$("$CLUSTER" exec "$1" timeout 20 kvmcctl snapshot list ds1 --json) &&
		[ "$(jq -c --arg n "$2" --arg a "$QA" --arg h "$QH" --arg c "$QC" '.[] | select(.name == $n) | .vms |
			[.[$a].consistent, .[$h].consistent, .[$h].why, (.[$c].consistent // false)]' <<<"$OUT")" = "$WANT_VMS2" ]
}
wait_until 20 "snapshot list: $S2 names $QA consistent, $QH crash-consistent" listed2 "$NL" "$S2"
jq -c --arg n "$S2" '.[] | select(.name == $n)' <<<"$OUT" | sed 's/^/    /'
mn_pass
