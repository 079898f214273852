#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# VM-consistent snapshots, the host side (issue 10), without kvmcd: resources/host/domain.h's
# fs_freeze / fs_thaw through tests/vm-freeze-tool (the real worker pool and event loop) against
# real libvirtd + QEMU (TCG) on one node (cluster up 1 --libvirt --no-kvmcd).
# The guest with an agent is guest/qga.s: a real-mode program with its own virtio-serial driver
# that opens org.qemu.guest_agent.0 (libvirt connects to an agent only once the guest has opened
# its port) and answers the QGA protocol; the test switches it through its COM2, a unix socket
# (a: answer, h: hang, s: silent, c: close the port, o: open it again); its COM1 log (a file on
# the shared dir) is the responder's log: "QGA freeze n=N", "QGA thaw n=N", "QGA mode X".
#   1. answer: frozen ("frozen 1"), then thawed ("thawed 1"); the log shows freeze n=1 then thaw;
#   2. hang: the freeze comes back by its deadline as agent-timeout, the guest froze all the same
#      (freeze n=2, never answered); the thaw then thaws it (thaw n=1 after it);
#   3. silent: agent-timeout by the deadline; nothing frozen (the command dropped); a thaw of the
#      guest once it answers again finds nothing frozen (thawed 0);
#   4. the port closed (no agent running): agent-not-connected at once; opened again: frozen and
#      thawed;
#   5. a domain without the channel (the counter guest): no-agent; paused: paused; shut off:
#      not-running; unknown: not-defined.
. "$(dirname "$0")/lib.sh"
MN_NO_KVMCD=1
mn_begin vm-freeze 150
mn_need_libvirt
mn_need_guest_tools
TOOL=$KVMCD_BUILD_DIR/tests/vm-freeze-tool
[ -x "$TOOL" ] || mn_skip "tests/vm-freeze-tool not built"
command -v python3 >/dev/null 2>&1 || mn_skip "python3 not installed (the test writes to the guest's COM2 socket)"

VM=mn-qga
PLAIN=mn-plain
CTL=/var/lib/libvirt/qemu/$VM.ctl
DEADLINE=3000     # ms: libvirt's agent timeout becomes 1 s (guest-sync + the command)
SLACK=1500        # ms a call may take beyond max(2000, DEADLINE): libvirt, the worker, the tool

mn_up 1 --libvirt --no-kvmcd

# The qga guest: the counter domain with COM2 on a unix socket and the agent channel at
# virtio-serial port 1 (where qga.s looks for it).
"$MN_DIR/guest/build.sh" "$MN_SHARED_BACKING/$VM.img.tmp" 1M qga && mv "$MN_SHARED_BACKING/$VM.img.tmp" "$MN_SHARED_BACKING/$VM.img" ||
	fail "cannot build the qga guest"
mn_vm_xml "$VM" | sed -e "s|    <memballoon model='none'/>|    <serial type='unix'><source mode='bind' path='$CTL'/><target port='1'/></serial>\n    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/><address type='virtio-serial' controller='0' bus='0' port='1'/></channel>\n&|" \
	| vsh 1 define /dev/stdin >/dev/null || fail "n1: virsh define $VM"
mn_vm_define 1 "$PLAIN"
vsh 1 start "$VM" >/dev/null || fail "n1: start $VM: $(tail -3 "$MN_RUN_BASE/$MN_PREFIX/n1/log-libvirt/qemu/$VM.log" 2>/dev/null)"
vsh 1 start "$PLAIN" >/dev/null || fail "n1: start $PLAIN"
QLOG=$(mn_vm_serial "$VM")

qlog_has() { grep -qxF "QGA $1" "$QLOG"; }
qlog_count() { grep -cxF "QGA $1" "$QLOG"; }
channel_state() { vsh 1 dumpxml "$VM" | grep -o "name='org.qemu.guest_agent.0' state='[a-z]*'" | sed "s/.*state='//; s/'//"; }
channel_is() { [ "$(channel_state)" = "$1" ]; }
# ctl X: one byte to the guest's COM2; waits until the guest logged the switch.
ctl() {
	local before
	before=$(qlog_count "mode $1")
	"$CLUSTER" exec 1 python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()); s.close()' "$CTL" "$1" ||
		fail "cannot write to $CTL"
	wait_until 10 "the guest switched to mode $1" mode_logged "$1" "$before"
}
mode_logged() { [ "$(qlog_count "mode $1")" -gt "$2" ]; }
# call freeze|thaw DOMAIN: runs the tool on n1; sets OUT (its line), RES (the result name), MS.
call() {
	OUT=$("$CLUSTER" exec 1 "$TOOL" "$1" "$2" "$DEADLINE" 2>&1)
	RES=${OUT%% *}
	MS=$(echo "$OUT" | sed -n 's/^[a-z-]* ms=\([0-9]*\) .*/\1/p')
	log "$1 $2: $OUT"
}
# expect freeze|thaw DOMAIN RESULT [DETAIL-REGEX]
expect() {
	call "$1" "$2"
	assert_eq "$RES" "$3" "$1 $2: result"
	[ -z "${4:-}" ] || echo "$OUT" | grep -qE "$4" || fail "$1 $2: '$OUT' does not match /$4/"
	[ -n "$MS" ] && [ "$MS" -le $(( (DEADLINE > 2000 ? DEADLINE : 2000) + SLACK )) ] ||
		fail "$1 $2 took ${MS:-?} ms: more than its deadline ($DEADLINE ms) + $SLACK ms"
}
# the line numbers of the log's lines, in order: "order A B" = A's last line comes before B's last
order() {
	local a b
	a=$(grep -nxF "QGA $1" "$QLOG" | tail -1 | cut -d: -f1)
	b=$(grep -nxF "QGA $2" "$QLOG" | tail -1 | cut -d: -f1)
	[ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ] || fail "the responder's log: '$1' (line ${a:-none}) must come before '$2' (line ${b:-none})"
	log "ok: the responder's log: '$1' (line $a) before '$2' (line $b)"
}

wait_until 30 "the guest opened its agent port" qlog_has "port open"
wait_until 10 "libvirt sees the agent channel connected" channel_is connected

# 1. answer
expect freeze "$VM" ok '^ok ms=[0-9]+ frozen 1$'
assert_true "the responder froze once (freeze n=1)" qlog_has "freeze n=1"
expect thaw "$VM" ok '^ok ms=[0-9]+ thawed 1$'
order "freeze n=1" "thaw n=1"

# 2. hang: frozen but never answered; thawed by the thaw that follows
ctl h
expect freeze "$VM" agent-timeout 'did not answer within 1 s'
assert_true "the hung agent froze all the same (freeze n=2)" qlog_has "freeze n=2"
expect thaw "$VM" ok '^ok ms=[0-9]+ thawed 1$'
order "freeze n=2" "thaw n=1"
assert_eq "$(qlog_count "thaw n=1")" 2 "thaws that found the guest frozen"
ctl a

# 3. silent: nothing answered, nothing frozen
ctl s
expect freeze "$VM" agent-timeout 'did not answer within 1 s'
assert_true "the silent agent dropped it" qlog_has "silent: a command dropped"
assert_eq "$(grep -c '^QGA freeze n=' "$QLOG")" 2 "freezes done by the guest"
ctl a
expect thaw "$VM" ok '^ok ms=[0-9]+ thawed 0$'

# 4. the agent's port closed: libvirt has no agent to ask
ctl c
wait_until 10 "libvirt sees the agent channel disconnected" channel_is disconnected
expect freeze "$VM" agent-not-connected 'has opened its org.qemu.guest_agent.0 channel'
assert_eq "$(grep -c '^QGA freeze n=' "$QLOG")" 2 "freezes done by the guest"
ctl o
wait_until 10 "libvirt sees the agent channel connected again" channel_is connected
expect freeze "$VM" ok '^ok ms=[0-9]+ frozen 1$'
expect thaw "$VM" ok '^ok ms=[0-9]+ thawed 1$'
order "freeze n=3" "thaw n=1"

# 5. the cases libvirt refuses before the guest
expect freeze "$PLAIN" no-agent 'has no org.qemu.guest_agent.0 channel'
vsh 1 suspend "$VM" >/dev/null || fail "n1: suspend $VM"
expect freeze "$VM" paused 'is paused \(user\)'
expect thaw "$VM" paused
vsh 1 resume "$VM" >/dev/null || fail "n1: resume $VM"
vsh 1 destroy "$PLAIN" >/dev/null || fail "n1: destroy $PLAIN"
expect freeze "$PLAIN" not-running 'does not run here'
expect freeze mn-nonesuch not-defined
assert_eq "$(grep -c '^QGA freeze n=' "$QLOG")" 3 "freezes done by the guest in all"
log "the responder's log: $(grep -c '^QGA ' "$QLOG") lines, last: $(tail -1 "$QLOG")"
mn_pass
