#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# kvmcd's local API (agent/api-server.h) and kvmcctl's contract with it, against one real
# corosync in private namespaces (tests/agent-lib.sh), with a hostile client (tests/api-tool.py):
#   1. floods: 1,100 connections held by root, by an API group member (root keeps its slots and
#      commits meanwhile), by a peer that may not connect (refused at once, holds nothing), with
#      descriptors short (the reserve keeps persistence working), and with accept() itself
#      failing for want of descriptors (paused, not spun); every time kvmcd still commits,
#      stays up and logs a few lines, not one per connection
#   2. exit statuses: 0 committed, 2 refused/nothing applied, 3 outcome unknown (kvmcd killed
#      mid-apply), 1 usage; the "outcome" field and the older-daemon fallbacks, against a fake
#      kvmcd; spec get of a stale copy; status with no_leader_reason and cluster_id
#   3. a 24 MB spec that triples when JSON-escaped commits; over 64 MiB is refused before sending
#   4. a NUL byte or a syntax error in the file is reported as FILE: byte N / FILE:LINE:COLUMN
#   5. clients that send nothing, garbage, a truncated body, or vanish mid-reply: kvmcd answers
#      or drops them and leaks no descriptor
# Needs root, corosync, unshare/nsenter, jq, python3, prlimit; exits 77 (skipped) otherwise.
set -u

. "$(dirname "$0")/agent-lib.sh"
TOOL=$(readlink -f "$(dirname "$0")/api-tool.py")
command -v python3 >/dev/null || skip "no python3"
command -v prlimit >/dev/null || skip "no prlimit"
getent group nogroup >/dev/null || skip "no group nogroup (the API group of this test)"
agent_init kvmcd-api
chmod 0711 "$T" # the API group member (uid 65534) must reach the socket
EXTRA_PIDS=""

cat >"$T/kvmcd.conf" <<EOF
[node]
name = n1
[cluster]
stall_timeout = 10s
request_timeout = 60s
reconnect_max = 500
[paths]
state_dir = $T/state
run_dir = $T/run/kvmcd
[api]
group = nogroup
[log]
level = info
target = stderr
EOF

tool() { python3 "$TOOL" "$@"; }
status_json() { ctl status --json 2>/dev/null; }
jq_is() { [ "$(status_json | jq -r "$1")" = "$2" ]; }
is_leader() { jq_is '.is_leader' true; }
nfds() { ls "/proc/$KVMCD_PID/fd" | wc -l; }
lines() { wc -l <"$T/kvmcd.log"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime, in clock ticks
# The lowest descriptor number kvmcd does not use: a soft limit there makes accept() fail.
lowest_free_fd() { ls "/proc/$KVMCD_PID/fd" | sort -n | awk 'BEGIN { n = 0 } $1 == n { n++ } END { print n }'; }
VERSION=0
apply_label() { # VALUE: applies {"labels":{"round":VALUE}} and expects a commit
	local out rc
	out=$(printf '{"labels":{"round":"%s"}}' "$1" | ctl spec apply - 2>&1); rc=$?
	if [ $rc = 0 ] && grep -q '^applied: version' <<<"$out"; then
		ok "$2: spec apply committed ($out)"
	else
		fail "$2: spec apply: exit $rc: $out"
	fi
}

# flood_start NAME N [api-tool flood options]: N connections held until flood_stop NAME.
flood_start() {
	local name=$1 n=$2
	shift 2
	touch "$T/hold-$name"
	python3 "$TOOL" flood "$SOCK" "$n" "$T/hold-$name" "$@" >"$T/flood-$name.out" 2>&1 &
	eval "FLOOD_$name=$!"
	EXTRA_PIDS="$EXTRA_PIDS $!"
	wait_until 30 "flood $name: the first $n connections are in" grep -q '"phase": "first"' "$T/flood-$name.out"
	FIRST=$(grep '"phase": "first"' "$T/flood-$name.out")
	log "flood $name: $FIRST"
}
flood_stop() {
	local pid
	rm -f "$T/hold-$1"
	eval "pid=\$FLOOD_$1"
	wait "$pid"
	log "flood $1: $(tail -1 "$T/flood-$1.out")"
}
refused_count() { jq -r --arg m "$1" '.refused[$m] // 0' <<<"$FIRST"; }

start_corosync
# A low soft limit, as systemd gives; kvmcd raises it toward the hard limit at start-up.
start_kvmcd prlimit --nofile=256:4096
wait_until 15 "kvmcd is quorate and leads" is_leader
soft=$(awk '/Max open files/ { print $4 }' "/proc/$KVMCD_PID/limits")
[ "$soft" = 4096 ] && grep -q "Raised the open files limit from 256 to 4096" "$T/kvmcd.log" &&
	ok "soft open files limit raised from 256 to the hard limit 4096 (and logged)" ||
	fail "soft limit is $soft: $(grep -i 'open files' "$T/kvmcd.log")"
apply_label r0 "start"

# ---- 1a. root floods 1,100 connections (re-opening what is closed) ---------------------------
n0=$(lines)
flood_start root 1100 --refill
held=$(jq -r .held <<<"$FIRST")
busy=$(refused_count "too many API connections (64); try again")
[ "$held" = 64 ] && [ "$busy" -ge 1000 ] &&
	ok "root flood: 64 connections held (the cap), $busy answered \"too many API connections (64); try again\"" ||
	fail "root flood: held $held, refused: $FIRST"
out=$(printf '{"labels":{"x":"y"}}' | ctl spec apply - 2>&1); rc=$?
[ $rc = 2 ] && grep -q "too many API connections" <<<"$out" &&
	ok "spec apply during the flood: exit 2 ($out)" || fail "spec apply during the flood: exit $rc: $out"
out=$(ctl status 2>&1); rc=$?
[ $rc = 2 ] && grep -q "too many API connections" <<<"$out" && ok "status during the flood: exit 2" ||
	fail "status during the flood: exit $rc: $out"
sleep 3 # the flood goes on re-opening
flood_stop root
alive "$KVMCD_PID" && ok "kvmcd survived the root flood" || fail "kvmcd died in the root flood"
apply_label r1 "after the root flood"
n=$(( $(lines) - n0 ))
[ "$n" -lt 20 ] && ok "root flood: $n log lines" || fail "root flood: $n log lines"
sed -n "$((n0 + 1)),\$p" "$T/kvmcd.log" | head -5 | sed 's/^/    /'

# ---- 1b. an API group member floods: root keeps the last eighth and commits meanwhile ------
n0=$(lines)
flood_start member 1100 --uid 65534 --gid 65534
held=$(jq -r .held <<<"$FIRST")
busy=$(refused_count "too many API connections (56); try again")
[ "$held" = 56 ] && [ "$busy" -ge 1000 ] &&
	ok "group member's flood: held 56 (64 minus root's 8), $busy refused" || fail "member flood: held $held: $FIRST"
apply_label r2 "root, during the member's flood"
[ "$(ctl spec get | jq -r .labels.round)" = r2 ] && ok "spec get during the member's flood" || fail "spec get"
flood_stop member
n=$(( $(lines) - n0 ))
[ "$n" -lt 20 ] && ok "member flood: $n log lines" || fail "member flood: $n log lines"

# ---- 1c. a peer that may not use the API: refused at once, holds nothing -------------------
# The socket is 0660 root:nogroup; opened up here by hand, SO_PEERCRED still says no.
chmod 0666 "$SOCK"
n0=$(lines); f0=$(nfds)
flood_start stranger 300 --uid 12345 --gid 12345
held=$(jq -r .held <<<"$FIRST")
denied=$(refused_count "permission denied: uid 12345 is neither root nor a member of group 'nogroup'")
[ "$held" = 0 ] && [ "$denied" = 300 ] && ok "stranger: all 300 refused at once, none held" ||
	fail "stranger: held $held: $FIRST"
[ "$(nfds)" = "$f0" ] && ok "stranger: no descriptor kept" || fail "stranger: fds $f0 -> $(nfds)"
flood_stop stranger
n=$(( $(lines) - n0 ))
[ "$n" -lt 5 ] && ok "stranger: $n log lines for 300 refusals" || fail "stranger: $n log lines"
chmod 0660 "$SOCK"

# ---- 1d. descriptors short: API connections leave the reserve to persistence --------------
f=$(nfds)
prlimit --pid "$KVMCD_PID" --nofile=$((f + 40)):4096
log "kvmcd uses $f descriptors; soft limit lowered to $((f + 40))"
n0=$(lines)
flood_start short 1100
held=$(jq -r .held <<<"$FIRST")
emfile=$(jq -r '[.refused | to_entries[] | select(.key | test("^too many API connections \\([0-9]+\\); try again$")) | .value] | add // 0' <<<"$FIRST")
[ "$held" -lt 40 ] && [ "$held" -gt 0 ] && [ "$emfile" -ge 1000 ] &&
	ok "descriptors short: $held held, $emfile refused \"too many API connections\"" ||
	fail "descriptors short: held $held: $FIRST"
out=$(printf '{"labels":{"x":"y"}}' | ctl spec apply - 2>&1); rc=$?
[ $rc = 2 ] && grep -q "too many API connections" <<<"$out" && ok "spec apply meanwhile: exit 2" ||
	fail "spec apply with descriptors short: exit $rc: $out"
flood_stop short
apply_label r3 "with the lowered limit, after the flood (persisted from the reserve)"
alive "$KVMCD_PID" && ok "kvmcd still running" || fail "kvmcd died with descriptors short"
n=$(( $(lines) - n0 ))
[ "$n" -lt 20 ] && ok "descriptors short: $n log lines" || fail "descriptors short: $n log lines"

# ---- 1e. accept() itself fails (EMFILE): paused, never spun --------------------------------
low=$(lowest_free_fd)
prlimit --pid "$KVMCD_PID" --nofile="$low":4096
log "soft limit lowered to $low, kvmcd's lowest free descriptor: accept() must fail with EMFILE"
n0=$(lines); c0=$(cpu_ticks "$KVMCD_PID"); t0=$(date +%s)
flood_start emfile 1100
sleep 3
c1=$(cpu_ticks "$KVMCD_PID"); t1=$(date +%s)
ticks=$(getconf CLK_TCK)
[ $((c1 - c0)) -lt "$ticks" ] && ok "accept() failing: kvmcd used $((c1 - c0)) ticks of CPU in $((t1 - t0)) s (no busy loop)" ||
	fail "accept() failing: kvmcd used $((c1 - c0)) ticks in $((t1 - t0)) s"
grep -q "accept: Too many open files; not accepting" "$T/kvmcd.log" && ok "accept failure logged (once)" ||
	fail "no accept failure line"
prlimit --pid "$KVMCD_PID" --nofile=4096:4096
flood_stop emfile
wait_until 10 "accepting again once descriptors are back" is_leader
apply_label r4 "after accept() failed"
n=$(( $(lines) - n0 ))
[ "$n" -lt 20 ] && ok "accept() failing: $n log lines" || fail "accept() failing: $n log lines"
sed -n "$((n0 + 1)),\$p" "$T/kvmcd.log" | sed 's/^/    /'
alive "$KVMCD_PID" && ok "kvmcd survived every flood" || fail "kvmcd died"

# ---- 3. a spec that triples when escaped; one over the limit --------------------------------
python3 - "$T/big.json" <<'EOF'
import json, sys
val = "é" * 128  # 256 bytes of UTF-8; \u00e9 when escaped: 3 times as long
labels, size, n = {}, 0, 0
while size < 24_000_000:
    labels["k%07d" % n] = val
    size += 8 + 256 + 6
    n += 1
open(sys.argv[1], "w", encoding="utf-8").write(json.dumps({"labels": labels}, ensure_ascii=False))
EOF
out=$(ctl spec apply "$T/big.json" 2>&1); rc=$?
[ $rc = 0 ] && ok "a $(stat -c %s "$T/big.json")-byte spec (~3x when escaped) commits: $out" ||
	fail "big spec: exit $rc: $out"
[ "$(ctl spec get | jq -cS . | md5sum)" = "$(jq -cS . "$T/big.json" | md5sum)" ] &&
	ok "spec get returns the big spec" || fail "big spec differs"
head -c $((64 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$T/huge.json"
out=$(ctl spec apply "$T/huge.json" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "$T/huge.json is 67108865 bytes; a spec may be at most 67108864 bytes (64 MiB); nothing sent" <<<"$out" &&
	ok "over 64 MiB: exit 2 before sending ($out)" || fail "over 64 MiB: exit $rc: $out"
out=$(head -c $((64 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' | ctl spec apply - 2>&1); rc=$?
[ $rc = 2 ] && grep -q "<stdin> is more than 67108864 bytes" <<<"$out" && ok "over 64 MiB on stdin: exit 2" ||
	fail "over 64 MiB on stdin: exit $rc: $out"
hdr() { printf '%s\n' "$1" | od -An -tx1 | tr -d ' \n'; }
r=$(tool send "$SOCK" "$(hdr '{"cmd":"spec-apply","spec_length":67108865}')")
jq -e '.reply.errno == 90 and .reply.outcome == "refused" and (.reply.error | test("larger than the limit of 67108864"))' <<<"$r" >/dev/null &&
	ok "server: spec_length over the limit refused (EMSGSIZE)" || fail "server, spec_length over: $r"

# ---- 4. the file's own problems ------------------------------------------------------------
printf '{"labels":{"a":"b\0c"}}' >"$T/nul.json"
out=$(ctl spec apply "$T/nul.json" 2>&1); rc=$?
[ $rc = 2 ] && [ "$out" = "$T/nul.json: byte 17 is a NUL byte; a spec is JSON text" ] && ok "NUL byte: $out (exit 2)" ||
	fail "NUL byte: exit $rc: $out"
printf '{"labels":\n  {"a": "b",\n   "c" 1}}\n' >"$T/syntax.json"
out=$(ctl spec apply "$T/syntax.json" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "^$T/syntax.json:3:8: " <<<"$out" && ok "syntax error: $out (exit 2)" ||
	fail "syntax error: exit $rc: $out"
printf '{"labels":\n{"a": "\xff"}}' >"$T/utf8.json"
out=$(ctl spec diff "$T/utf8.json" 2>&1); rc=$?
[ $rc = 2 ] && grep -q "^$T/utf8.json:2:" <<<"$out" && ok "invalid UTF-8: $out (exit 2)" ||
	fail "invalid UTF-8: exit $rc: $out"
out=$(printf '{"labels":{"a":1}}' | ctl spec apply - 2>&1); rc=$?
[ $rc = 2 ] && grep -q "invalid spec" <<<"$out" && ok "invalid spec: exit 2" || fail "invalid spec: exit $rc: $out"
# Past kvmcctl: the server says the same about the spec, not about the request's JSON.
r=$(tool send "$SOCK" "$(hdr '{"cmd":"spec-diff","spec_length":5}')7b00227d0a")
jq -e '.reply.error == "spec: byte 1 is a NUL byte; a spec is JSON text" and .reply.errno == 22' <<<"$r" >/dev/null &&
	ok "server: NUL in the body named by offset" || fail "server, NUL in body: $r"
r=$(tool send "$SOCK" "$(hdr '{"cmd":"spec-diff","spec_text":"{\u0000}"}')")
jq -e '.reply.error == "spec: byte 1 is a NUL byte; a spec is JSON text"' <<<"$r" >/dev/null &&
	ok "server: NUL in an inline spec_text named by offset" || fail "server, inline NUL: $r"
r=$(tool send "$SOCK" "$(hdr '{"cmd":"spec-diff","spec_length":3}')7bff7d")
jq -e '.reply.error == "spec: byte 1 is not UTF-8; a spec is JSON text"' <<<"$r" >/dev/null &&
	ok "server: invalid UTF-8 in the body named by offset" || fail "server, invalid UTF-8: $r"

# ---- 5. clients that misbehave; no descriptor leaks -----------------------------------------
f0=$(nfds)
python3 "$TOOL" send "$SOCK" "" --timeout 30 >"$T/idle.out" 2>&1 & # connects and sends nothing
idle=$!
r=$(tool send "$SOCK" "$(printf 'hello world\n' | od -An -tx1 | tr -d ' \n')")
jq -e '.reply.errno == 22 and (.reply.error | startswith("request header is not valid JSON"))' <<<"$r" >/dev/null &&
	ok "garbage line: answered EINVAL" || fail "garbage line: $r"
head -c 3000 /dev/urandom | tr -d '\n' >"$T/garbage"
r=$(tool send "$SOCK" "@$T/garbage" --shut)
jq -e '.reply.errno == 22' <<<"$r" >/dev/null && ok "binary garbage then EOF: answered EINVAL" || fail "binary garbage: $r"
head -c $((1024 * 1024 + 10)) /dev/zero | tr '\0' x >"$T/endless"
r=$(tool send "$SOCK" "@$T/endless")
jq -e '.reply.errno == 90 and (.reply.error | startswith("request header longer than"))' <<<"$r" >/dev/null &&
	ok "endless header: answered EMSGSIZE" || fail "endless header: $r"
r=$(tool send "$SOCK" "$(hdr '{"cmd":"spec-apply","spec_length":100}')$(printf '{"labels":' | od -An -tx1 | tr -d ' \n')" --shut)
jq -e '.reply.error == "request ended after 10 of the 100 spec bytes it announced"' <<<"$r" >/dev/null &&
	ok "truncated body: answered" || fail "truncated body: $r"
r=$(tool send "$SOCK" "$(hdr '{"cmd":"spec-apply","spec_length":"x"}')")
jq -e '.reply.errno == 22' <<<"$r" >/dev/null && ok "bad spec_length: answered EINVAL" || fail "bad spec_length: $r"
r=$(tool send "$SOCK" "$(hdr '{"cmd":5}')")
jq -e '.reply.errno == 22' <<<"$r" >/dev/null && ok "cmd not a string: answered EINVAL" || fail "cmd 5: $r"
for i in 1 2 3; do
	r=$(tool send "$SOCK" "$(hdr '{"cmd":"spec-get"}')" --read-bytes 4096)
done
jq -e '.bytes >= 4096' <<<"$r" >/dev/null && ok "3 clients vanished after 4 KiB of a 24 MB reply" || fail "vanish: $r"
tool send "$SOCK" "$(hdr '{"cmd":"status"}')" --read-bytes 1 >/dev/null
wait "$idle"
r=$(cat "$T/idle.out")
jq -e '.reply == null and .eof_after >= 9 and .eof_after < 13' <<<"$r" >/dev/null &&
	ok "silent client closed after the 10 s request timeout" || fail "silent client: $r"
sleep 0.5
[ "$(nfds)" = "$f0" ] && ok "no descriptor leaked ($f0 before and after)" || fail "descriptors: $f0 -> $(nfds)"
jq_is .is_leader true && ok "kvmcd answers after all of that" || fail "kvmcd does not answer"

# ---- 2. exit statuses against the real kvmcd -------------------------------------------------
ctl bogus >/dev/null 2>&1; rc=$?
[ $rc = 1 ] && ok "usage error: exit 1" || fail "usage error: exit $rc"
out=$(printf '{}' | "$KVMCCTL" --socket "$T/nowhere.sock" spec apply - 2>&1); rc=$?
[ $rc = 2 ] && ok "kvmcd unreachable: exit 2 ($out)" || fail "unreachable: exit $rc: $out"
# kvmcd dies while the change waits for its commit (corosync frozen: nothing is delivered).
kill -STOP "$COROSYNC_PID"
printf '{"labels":{"round":"killed"}}' | ctl spec apply - >"$T/killed.out" 2>&1 &
apply=$!
sleep 1
alive "$apply" && ok "spec apply waits for the commit" || fail "spec apply returned early: $(cat "$T/killed.out")"
kill -KILL "$KVMCD_PID"
wait "$apply"; rc=$?
out=$(cat "$T/killed.out")
[ $rc = 3 ] && grep -q "outcome unknown" <<<"$out" && ok "kvmcd killed mid-apply: exit 3 ($(tr '\n' ' ' <<<"$out"))" ||
	fail "kvmcd killed mid-apply: exit $rc: $out"
wait "$KVMCD_PID" 2>/dev/null
kill -CONT "$COROSYNC_PID"
start_kvmcd
wait_until 15 "kvmcd restarted and leads" is_leader
# The real daemon's new fields, once it sends them (until then the fake kvmcd below covers kvmcctl).
kill -KILL "$COROSYNC_PID"
wait_until 10 "corosync gone: no leader" jq_is '.leader' null
if status_json | jq -e 'has("no_leader_reason")' >/dev/null; then
	out=$(ctl status)
	grep -q '^Leader: *none (.\+)$' <<<"$out" && ok "status: $(grep '^Leader' <<<"$out")" || fail "status: $out"
else
	log "note: this kvmcd sends no no_leader_reason yet"
fi
if tool send "$SOCK" "$(hdr '{"cmd":"spec-get"}')" | jq -e '.reply | has("current")' >/dev/null; then
	out=$(ctl spec get 2>"$T/stale.err"); rc=$?
	[ $rc = 3 ] && grep -q "may be stale" "$T/stale.err" && [ -n "$out" ] && ok "spec get of a stale copy: exit 3, warned" ||
		fail "stale spec get: exit $rc: $(cat "$T/stale.err")"
	ctl spec get --allow-stale >/dev/null 2>&1 && ok "spec get --allow-stale: exit 0" || fail "--allow-stale"
else
	log "note: this kvmcd sends no \"current\" in spec-get yet"
fi
while alive "$COROSYNC_PID"; do sleep 0.1; done
start_corosync
wait_until 15 "corosync back: leads" is_leader

# ---- 2b. against a fake kvmcd: every mapping, the framing on the wire ----------------------
FAKE=$T/fake.sock
cat >"$T/fake.json" <<'EOF'
[
 {"reply": {"ok": true, "version": 7, "message": "applied: version 7", "outcome": "committed"}},
 {"reply": {"ok": false, "error": "x", "errno": 11, "outcome": "unknown"}},
 {"reply": {"ok": false, "error": "quorum lost before the change committed; retry when quorate", "errno": 11}},
 {"reply": {"ok": false, "error": "refused: not quorate; nothing applied", "errno": 11}},
 {"reply": {"ok": false, "error": "not committed within 5s", "errno": 110}},
 {"reply": {"ok": false, "error": "kvmcd stopped before the change was committed", "errno": 125}},
 {"reply": {"ok": false, "error": "refused by a newer daemon", "errno": 110, "outcome": "refused"}},
 {"close": true},
 {"close_early": true},
 {"reply_rst": {"ok": true, "version": 8, "message": "applied: version 8", "outcome": "committed"}},
 {"reply": {"ok": true, "spec": {"labels": {"a": "b"}}, "version": 3, "current": false, "why_not_current": "this node is not quorate"}},
 {"reply": {"ok": true, "spec": {"labels": {"a": "b"}}, "version": 3, "current": false, "why_not_current": "this node is not quorate"}},
 {"reply": {"ok": true, "spec": {"labels": {"a": "b"}}, "version": 3}},
 {"reply": {"ok": true, "status": {"node": {"id": 1, "name": "n1"}, "quorate": false, "leader": null, "no_leader_reason": "not quorate (votes 1 of 3 expected)", "cluster_id": "c0ffee", "members": []}}}
]
EOF
python3 "$TOOL" fake "$FAKE" "$T/fake.json" "$T/fake.log" >"$T/fake.out" 2>&1 &
fake=$!
EXTRA_PIDS="$EXTRA_PIDS $fake"
wait_until 5 "fake kvmcd listening" test -S "$FAKE"
fctl() { "$KVMCCTL" --socket "$FAKE" "$@"; }
printf '{"labels":{"tier":"é\\"x"}}' >"$T/small.json"
{ head -c $((4 * 1024 * 1024)) /dev/zero | tr '\0' ' '; printf '{}'; } >"$T/padded.json" # 4 MiB: sending outlasts the socket buffer
expect_exit() { # EXPECTED DESCRIPTION COMMAND...
	local want=$1 what=$2 out rc
	shift 2
	out=$("$@" 2>&1); rc=$?
	[ $rc = "$want" ] && ok "$what: exit $rc" || fail "$what: exit $rc (want $want): $out"
	LAST_OUT=$out
}
expect_exit 0 "outcome committed" fctl spec apply "$T/small.json"
expect_exit 3 "outcome unknown (errno EAGAIN ignored)" fctl spec apply "$T/small.json"
expect_exit 3 "older daemon, EAGAIN after sending (quorum lost)" fctl spec apply "$T/small.json"
grep -q "check \`kvmcctl spec get\`" <<<"$LAST_OUT" && ok "  ... and says to check spec get" || fail "no hint: $LAST_OUT"
expect_exit 2 "older daemon, EAGAIN \"refused: ...\"" fctl spec apply "$T/small.json"
expect_exit 3 "older daemon, ETIMEDOUT" fctl spec apply "$T/small.json"
expect_exit 3 "older daemon, ECANCELED" fctl spec apply "$T/small.json"
expect_exit 2 "outcome refused (errno ETIMEDOUT ignored)" fctl spec apply "$T/small.json"
expect_exit 3 "connection closed after the whole request, no answer" fctl spec apply "$T/small.json"
expect_exit 2 "connection closed before the body was taken" fctl spec apply "$T/padded.json"
grep -q "before taking the whole request" <<<"$LAST_OUT" && ok "  ... nothing applied, it says" || fail "$LAST_OUT"
expect_exit 0 "reply, then the connection reset with the body unread" fctl spec apply "$T/padded.json"
out=$(fctl spec get 2>"$T/fake-stale.err"); rc=$?
[ $rc = 3 ] && [ "$(jq -c . <<<"$out")" = '{"labels":{"a":"b"}}' ] &&
	grep -q "may be stale: this node is not quorate" "$T/fake-stale.err" &&
	ok "spec get, current false: spec on stdout, warning on stderr, exit 3" || fail "stale: exit $rc: $out / $(cat "$T/fake-stale.err")"
expect_exit 0 "spec get --allow-stale" fctl spec get --allow-stale
grep -q "may be stale" <<<"$LAST_OUT" && ok "  ... still warns" || fail "no warning with --allow-stale"
out=$(fctl spec get 2>&1); rc=$?
[ $rc = 0 ] && ! grep -q stale <<<"$out" && ok "spec get, no \"current\" (older daemon): exit 0, no warning" ||
	fail "older spec get: exit $rc: $out"
out=$(fctl status 2>&1); rc=$?
grep -q '^Leader: *none (not quorate (votes 1 of 3 expected))$' <<<"$out" && grep -q '^Cluster: *c0ffee$' <<<"$out" &&
	ok "status prints the no-leader reason and the cluster id" || fail "status: exit $rc: $out"
wait "$fake"
jq -e -s --rawfile b "$T/small.json" '.[0].header == {"cmd":"spec-apply","spec_length":($b | utf8bytelength)} and .[0].body == $b' \
	"$T/fake.log" >/dev/null && ok "on the wire: header {cmd, spec_length} then the file's bytes, unescaped" ||
	fail "wire: $(head -c 300 "$T/fake.log")"
# Refused before sending: the fake server must see no connection.
echo '[{"close": true}]' >"$T/fake2.json"
python3 "$TOOL" fake "$FAKE" "$T/fake2.json" "$T/fake2.log" >"$T/fake2.out" 2>&1 & # background: $! is python itself
fake=$!
EXTRA_PIDS="$EXTRA_PIDS $fake"
wait_until 5 "fake kvmcd listening again" test -S "$FAKE"
fctl spec apply "$T/nul.json" >/dev/null 2>&1
fctl spec apply "$T/syntax.json" >/dev/null 2>&1
fctl spec apply "$T/huge.json" >/dev/null 2>&1
[ ! -s "$T/fake2.log" ] && ok "NUL, syntax error, over 64 MiB: nothing sent" || fail "sent: $(cat "$T/fake2.log")"
kill "$fake" 2>/dev/null; wait "$fake" 2>/dev/null

# ---- the end ---------------------------------------------------------------------------------
alive "$KVMCD_PID" && ok "kvmcd still running at the end" || fail "kvmcd is gone"
kill -TERM "$KVMCD_PID"; wait "$KVMCD_PID"; rc=$?
[ $rc = 0 ] && ok "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"
KVMCD_PID=""
sanitizer_check
[ "$FAILED" = 0 ] && { log "PASS agent-api"; exit 0; }
log "FAIL agent-api"
exit 1
