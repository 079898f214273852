#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# kvmcd's persistence and action plumbing against one real corosync, in a private network +
# mount namespace, with the state directory on a small tmpfs of its own:
#   - every committed change is one line of <state_dir>/journal.jsonl (status reports its size);
#     a journal past max(1 MiB, the snapshot) is folded into state.json and emptied
#   - kill -9 with a torn line at the end of the journal: restart recovers the last committed
#     version, the torn line is gone, the journal is folded into state.json at start-up
#   - API replies carry "outcome" (committed / refused / unknown), spec-get says whether this
#     node's copy is "current" and why not; LEADING shows as "Acting as leader under epoch E" /
#     "Stopped acting as leader"; status has the services' sections ("ontap": null here)
#   - SIGTERM while a change is in flight (corosync frozen): the client hears "unknown"
#   - the state file system full: the apply is never acknowledged (exit 3), kvmcd stops, no torn
#     line is left in the journal, and after space is freed the node restarts at the last
#     committed version
# Needs root, corosync, unshare/nsenter, jq and python3; exits 77 (skipped) otherwise.
set -u

BUILD=${KVMCD_BUILD_DIR:-$(dirname "$0")/../build}
KVMCD=$BUILD/agent/kvmcd
KVMCCTL=$BUILD/agent/kvmcctl
NS=kvmcd-journal-$$
T=""
COROSYNC_PID=""
KVMCD_PID=""
FAILED=0
START=$(date +%s%N)

log() { printf '[%6.2f] %s\n' "$(( ($(date +%s%N) - START) / 10000000 ))e-2" "$*"; }
ok() { log "ok: $*"; }
fail() { log "FAIL: $*"; FAILED=1; }
skip() { echo "SKIP: $*"; exit 77; }
check() { # description command...
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi
}

[ "$(id -u)" = 0 ] || skip "needs root"
for c in corosync unshare nsenter ip jq python3; do command -v $c >/dev/null || skip "no $c"; done
[ -x "$KVMCD" ] && [ -x "$KVMCCTL" ] || skip "no $KVMCD / $KVMCCTL"
KVMCD=$(readlink -f "$KVMCD")
KVMCCTL=$(readlink -f "$KVMCCTL")

in_node() { nsenter --mount="$T/ns/mnt" --net="/run/netns/$NS" "$@"; }
ctl() { "$KVMCCTL" --socket "$T/run/kvmcd/kvmcd.sock" "$@"; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# api JSON: one raw request on the socket, prints the reply line (what kvmcctl gets).
api() {
	python3 - "$T/run/kvmcd/kvmcd.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
print(buf.decode().strip())
PY
}
# apply_raw SPEC-JSON: spec-apply with the spec inline.
apply_raw() { api "$(jq -cn --arg s "$1" '{cmd:"spec-apply",spec_text:$s}')"; }

wait_until() {
	local t=$1 what=$2 end
	shift 2
	end=$(( $(date +%s%N) + t * 1000000000 ))
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s%N)" -ge "$end" ]; then
			fail "timed out after ${t}s waiting for: $what"
			return 1
		fi
		sleep 0.1
	done
	ok "$what"
}

stop_pid() {
	local p=$1 i
	alive "$p" || return 0
	kill -CONT "$p" 2>/dev/null
	kill -TERM "$p" 2>/dev/null
	for i in $(seq 50); do alive "$p" || return 0; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null
}

cleanup() {
	local p
	stop_pid "$KVMCD_PID"
	stop_pid "$COROSYNC_PID"
	if [ -n "$T" ]; then
		for p in $(cat "$T/corosync.pids" 2>/dev/null); do
			alive "$p" || rm -rf /dev/shm/qb-"$p"-* /dev/shm/qb-corosync-"$p"-*
		done
		if [ "$FAILED" = 1 ]; then
			log "kvmcd log:"; sed 's/^/    /' "$T/kvmcd.log" 2>/dev/null | tail -40
		fi
		umount "$T/ns/mnt" 2>/dev/null
		umount "$T/ns" 2>/dev/null
		rm -rf "$T"
	fi
	ip netns del "$NS" 2>/dev/null
}
trap cleanup EXIT

# ---- the node: as tests/test-agent-single-node.sh, with <state_dir> a 16 MiB tmpfs -----------
T=$(mktemp -d /tmp/kvmcd-journal-test.XXXXXX)
mkdir -p "$T"/{ns,run,etc-corosync,lib-corosync,log-corosync,state}
ip netns add "$NS" || skip "cannot create a network namespace"
ip -n "$NS" link set lo up
mount --bind "$T/ns" "$T/ns" && mount --make-private "$T/ns"
touch "$T/ns/mnt"
unshare --mount="$T/ns/mnt" --propagation private true || skip "cannot create a mount namespace"
in_node sh -c "umount -R /run/netns 2>/dev/null; mount --bind $T/run /run &&
	mount --bind $T/etc-corosync /etc/corosync && mount --bind $T/lib-corosync /var/lib/corosync &&
	mount --bind $T/log-corosync /var/log/corosync && mount -t tmpfs -o size=16m,mode=0700 kvmcd-state $T/state" ||
	skip "cannot set up the node's mounts"
S=$T/state # seen through the node's mount namespace only: in_node for every look at it

cat >"$T/etc-corosync/corosync.conf" <<'EOF2'
totem {
	version: 2
	cluster_name: journaltest
	transport: knet
	crypto_cipher: none
	crypto_hash: none
	token: 1000
}
nodelist {
	node {
		ring0_addr: 127.0.0.1
		nodeid: 1
		name: n1
	}
}
quorum {
	provider: corosync_votequorum
}
logging {
	to_stderr: yes
	to_syslog: no
	to_logfile: no
}
EOF2

cat >"$T/kvmcd.conf" <<EOF2
[node]
name = n1
[cluster]
stall_timeout = 4s
request_timeout = 5s
reconnect_max = 500
[paths]
state_dir = $S
run_dir = $T/run/kvmcd
[log]
level = debug
target = stderr
EOF2

start_corosync() {
	in_node sh -c 'corosync -f >>'"$T"'/corosync.log 2>&1 & echo $!' >"$T/corosync.pid"
	COROSYNC_PID=$(cat "$T/corosync.pid")
	echo "$COROSYNC_PID" >>"$T/corosync.pids"
}
start_kvmcd() {
	nsenter --mount="$T/ns/mnt" --net="/run/netns/$NS" "$KVMCD" --config "$T/kvmcd.conf" --foreground \
		>>"$T/kvmcd.log" 2>&1 &
	KVMCD_PID=$!
}
restart_corosync() {
	kill -KILL "$COROSYNC_PID"
	while alive "$COROSYNC_PID"; do sleep 0.1; done
	rm -rf /dev/shm/qb-"$COROSYNC_PID"-* /dev/shm/qb-corosync-"$COROSYNC_PID"-*
	start_corosync
}
jq_is() { [ "$(ctl status --json | jq -r "$1")" = "$2" ]; }
journal_lines() { in_node sh -c "wc -l <$S/journal.jsonl"; }
journal_size() { in_node stat -c %s "$S/journal.jsonl"; }
# Every line of the journal is one JSON text, each ended by a newline (no torn line).
journal_whole() {
	in_node sh -c "[ ! -s $S/journal.jsonl ] || [ \"\$(tail -c1 $S/journal.jsonl | od -An -c | tr -d ' ')\" = '\\n' ]" &&
		in_node cat "$S/journal.jsonl" | jq -e -s 'all(type == "object")' >/dev/null
}
big_spec() { # N: a spec of about 730 KB, different for each N
	python3 -c 'import json,sys; n=sys.argv[1]; print(json.dumps({"labels": {"k%d" % i: (n + "-") * 20 + "x" * (230 - 21 * len(n)) for i in range(2800)}}))' "$1"
}

start_corosync
start_kvmcd
wait_until 15 "kvmcd leads with epoch 1" jq_is '"\(.is_leader) \(.leader.epoch)"' "true 1"

# ---- status, LEADING, outcome, current --------------------------------------------------------
S1=$(ctl status --json)
check "status has the ontap service's section, null when [ontap] is not configured" \
	test "$(jq -c 'has("ontap") and .ontap == null' <<<"$S1")" = true
check "status reports the journal's size ($(journal_size) bytes)" \
	test "$(jq -r .daemon.journal_bytes <<<"$S1")" = "$(journal_size)"
wait_until 5 "LEADING logged: Acting as leader under epoch 1" grep -q "Acting as leader under epoch 1" "$T/kvmcd.log"

n0=$(journal_lines)
R=$(apply_raw '{"labels":{"env":"prod"}}')
check "apply: ok, outcome committed ($R)" test "$(jq -r '"\(.ok) \(.outcome) \(.version)"' <<<"$R")" = "true committed 1"
check "the change is one more journal line" test "$(journal_lines)" = $((n0 + 1))
check "the journal is whole" journal_whole
R=$(api '{"cmd":"spec-get"}')
check "spec-get: current, no why_not_current ($R)" test "$(jq -c '[.current, has("why_not_current"), .spec.labels.env]' <<<"$R")" = '[true,false,"prod"]'

# ---- compaction --------------------------------------------------------------------------------
check "no snapshot yet on a fresh node" in_node test ! -e "$S/state.json"
big_spec 2 >"$T/big2.json"
big_spec 3 >"$T/big3.json"
out=$(ctl spec apply "$T/big2.json" 2>&1)
check "a 730 KB spec applied ($out)" test "$out" = "applied: version 2"
check "journal below 1 MiB: not folded yet ($(journal_size) bytes)" in_node test ! -e "$S/state.json"
out=$(ctl spec apply "$T/big3.json" 2>&1)
check "a second 730 KB spec applied ($out)" test "$out" = "applied: version 3"
check "journal past 1 MiB: folded into state.json" in_node test -s "$S/state.json"
check "the journal was emptied ($(journal_size) bytes)" test "$(journal_size)" -lt 4096
S1=$(ctl status --json)
check "status: snapshot_bytes is state.json's size" \
	test "$(jq -r .daemon.snapshot_bytes <<<"$S1")" = "$(in_node stat -c %s "$S/state.json")"

# ---- kill -9 with a torn last line ------------------------------------------------------------
kill -KILL "$KVMCD_PID"; wait "$KVMCD_PID" 2>/dev/null
in_node sh -c "printf '%s' '{\"k\":1,\"v\":4,\"e\":1,\"p\":{\"lab' >>$S/journal.jsonl"
start_kvmcd
wait_until 15 "restarted after kill -9 with a torn journal line: version 3, leading" \
	jq_is '"\(.state_version) \(.is_leader)"' "3 true"
check "the torn line is gone" journal_whole
check "the spec is the last committed one" test "$(ctl spec get | jq -r .labels.k0)" = "$(jq -r .labels.k0 "$T/big3.json")"
grep -q "Recovered state version 3 from $S/state.json$" "$T/kvmcd.log" &&
	ok "recovered from the snapshot (the journal held only the torn line)" || fail "recovery log line"

# ---- corosync gone: refused, not current, LEADING stopped ---------------------------------------
# A restarted member of a led cluster acts only after the lease (coord/cluster/core.h): a leader
# of a view it never saw might still be acting.
wait_until 10 "acting again after the restart (after the lease)" \
	sh -c "[ \$(grep -c 'Acting as leader under epoch' '$T/kvmcd.log') -ge 2 ]"
kill -KILL "$COROSYNC_PID"
wait_until 5 "corosync gone: not connected" jq_is '.daemon.connected' false
wait_until 5 "LEADING logged: Stopped acting as leader" grep -q "Stopped acting as leader" "$T/kvmcd.log"
R=$(api '{"cmd":"spec-get"}')
check "spec-get: not current, says why ($(jq -c 'del(.spec)' <<<"$R"))" \
	test "$(jq -c '[.current, .why_not_current]' <<<"$R")" = '[false,"this node is not connected to corosync"]'
R=$(apply_raw '{"labels":{"env":"dev"}}')
check "apply while disconnected: outcome refused ($R)" test "$(jq -r '"\(.ok) \(.outcome)"' <<<"$R")" = "false refused"
while alive "$COROSYNC_PID"; do sleep 0.1; done
rm -rf /dev/shm/qb-"$COROSYNC_PID"-* /dev/shm/qb-corosync-"$COROSYNC_PID"-*
start_corosync
wait_until 15 "reconnected and leading" jq_is '"\(.daemon.connected) \(.is_leader)"' "true true"

# ---- SIGTERM with a change in flight: the answer is "unknown" ---------------------------------
kill -STOP "$COROSYNC_PID"
n=$(grep -c "API request 'spec-apply'" "$T/kvmcd.log")
apply_raw '{"labels":{"env":"inflight"}}' >"$T/inflight.out" &
APPLY=$!
applies_seen() { [ "$(grep -c "API request 'spec-apply'" "$T/kvmcd.log")" -gt "$1" ]; }
wait_until 5 "the change reached kvmcd (corosync frozen: it cannot commit)" applies_seen "$n"
sleep 0.2
kill -TERM "$KVMCD_PID"
sleep 1
kill -CONT "$COROSYNC_PID" # leaving the CPG group needs corosync
wait "$APPLY"
R=$(cat "$T/inflight.out")
check "in flight at SIGTERM: outcome unknown, ECANCELED ($R)" \
	test "$(jq -r '"\(.ok) \(.outcome) \(.errno)"' <<<"$R")" = "false unknown 125"
wait "$KVMCD_PID"; rc=$?
check "SIGTERM: exit 0" test "$rc" = 0
start_kvmcd
wait_until 15 "restarted: leading again" jq_is '.is_leader' true
V=$(ctl status --json | jq -r .state_version)

# ---- the state file system full: never acknowledged --------------------------------------------
in_node sh -c "dd if=/dev/zero of=$S/filler bs=64k >/dev/null 2>&1; true"
big_spec 5 >"$T/big5.json"
out=$(ctl spec apply "$T/big5.json" 2>&1); rc=$?
check "apply with the state file system full: exit 3 ($out)" test "$rc" = 3
wait "$KVMCD_PID"; rc=$?
check "kvmcd stopped (exit $rc)" test "$rc" != 0
grep -q "Cannot persist state to $S/journal.jsonl: No space left on device" "$T/kvmcd.log" &&
	ok "the log says the journal could not be written" || fail "no ENOSPC line in the log"
check "no torn line left in the journal" journal_whole
in_node rm -f "$S/filler"
start_kvmcd
wait_until 15 "after freeing space: back at version $V, leading" jq_is '"\(.state_version) \(.is_leader)"' "$V true"
stop_pid "$KVMCD_PID"; KVMCD_PID=""

if grep -q -E "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$T"/*.log 2>/dev/null; then
	fail "sanitizer reports:"; grep -h -A25 -E "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$T"/*.log | head -60
fi

[ "$FAILED" = 0 ] && { log "PASS agent-journal"; exit 0; }
log "FAIL agent-journal"
exit 1
