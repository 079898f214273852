#!/bin/bash
# The multi-node tier's simulated watchdog (cluster up --watchdog: tests/multinode/watchdog-sim)
# driven by kvmcd's own watchdog code (fencing/watchdog.c, "sim" device, through
# tests/watchdog-tool) inside node 1, with corosync and a stand-in guest running there:
#  - fed while healthy, then not (quorum lost): nothing happens before the timeout, then every
#    process of the node is killed (guest and corosync included), about one timeout after the
#    last keepalive;
#  - the feeder crashes (abort): the same -- a crash does not disarm it;
#  - a close without the magic close: the same;
#  - a deliberate disarm (clean shutdown): nothing is killed; a second opener meanwhile is
#    refused (one opener, like /dev/watchdog);
#  - the timeout it reports is the one it set (a request above its maximum is cut, and said so).
# About 40 s.
. "$(dirname "$0")/lib.sh"
export MN_NO_KVMCD=1
TOOL=$KVMCD_BUILD_DIR/tests/watchdog-tool
mn_begin watchdog-sim 240
[ -x "$TOOL" ] || mn_skip "no $TOOL"
command -v python3 >/dev/null || mn_skip "python3 not installed"
mn_up 1 --no-kvmcd --watchdog

WLOG=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}/n1/watchdog-sim.log
[ -f "$WLOG" ] || fail "no $WLOG"
OUT=$(mktemp -d /tmp/test-watchdog-sim.XXXXXX)

fired() { grep -c "fired after" "$WLOG"; }
fired_since() { [ "$(fired)" -gt "$1" ]; }
node_procs() { "$CLUSTER" pids 1 | wc -l; }
guest_alive() { [ -n "$("$CLUSTER" pids 1 sleep)" ]; }
start_guest() {
	"$CLUSTER" exec 1 setsid sleep 1000 </dev/null >/dev/null 2>&1 &
	wait_until 5 "n1: the stand-in guest runs" guest_alive
}
# feeder NAME ARGS...: watchdog-tool inside node 1, on the node's /run/watchdog.sock
feeder() {
	local name=$1; shift
	"$CLUSTER" exec 1 "$TOOL" --device sim --path /run/watchdog.sock "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
}
said() { grep -q -- "$2" "$OUT/$1.out"; }
# The node was reset: nothing of it runs any more.
node_reset() { [ "$(node_procs)" -eq 0 ]; }
# "fired after X s": the last one's X, in ms
last_fire_ms() { grep "fired after" "$WLOG" | tail -1 | awk '{printf "%d", $4 * 1000}'; }

expect_reset() { # case fires_before
	local c=$1 before=$2 ms
	wait_until 10 "$c: the simulated watchdog fires" fired_since "$before"
	wait_until 5 "$c: every process of n1 is gone (guest, corosync, the feeder)" node_reset
	ms=$(last_fire_ms)
	log "MEASURED: $c: last keepalive -> reset ${ms} ms (timeout 2000 ms)"
	assert_true "$c: fired one timeout after the last keepalive (2000 <= ${ms} <= 2600 ms)" \
		test "$ms" -ge 2000 -a "$ms" -le 2600
	"$CLUSTER" start 1 corosync >/dev/null || fail "cannot start corosync on n1 again"
}

# 1. Quorum lost: the feeder stops feeding and keeps running.
start_guest
f0=$(fired)
feeder stop --timeout 2 --healthy 3 --then stop
wait_until 5 "stop: armed with the timeout it asked for" said stop "armed timeout=2 requested=2 matches=1 crash_safe=1"
assert_true "stop: identity from the simulator" said stop "identity=simulated watchdog of n1"
wait_until 8 "stop: the feeder stops feeding" said stop unhealthy
sleep 1.2
assert_true "stop: 1.2 s after the feeding stopped nothing was reset yet (timeout 2 s)" test "$(fired)" -eq "$f0"
assert_true "stop: the guest still runs" guest_alive
expect_reset stop "$f0"

# 2. The feeder crashes while everything is healthy.
start_guest
f0=$(fired)
feeder crash --timeout 2 --healthy 1.5 --then crash
wait_until 8 "crash: the feeder aborts" said crash crashing
expect_reset crash "$f0"
assert_true "crash: the simulator saw the close without magic close" grep -q "closed without magic close: still armed" "$WLOG"

# 3. A close without the magic close, on purpose.
start_guest
f0=$(fired)
feeder close --timeout 2 --healthy 1 --then close
wait_until 8 "close: the feeder closes and exits" said close "^close$"
expect_reset close "$f0"

# 4. A clean, deliberate shutdown: disarmed, nothing killed. A second opener meanwhile is refused.
start_guest
f0=$(fired)
feeder disarm --timeout 2 --healthy 2 --then disarm
wait_until 5 "disarm: armed" said disarm "armed timeout=2"
"$CLUSTER" exec 1 "$TOOL" --device sim --path /run/watchdog.sock --timeout 2 --healthy 1 --then disarm \
	>"$OUT/second.out" 2>"$OUT/second.err" && fail "a second opener was let in"
assert_true "a second opener is refused: $(cat "$OUT/second.err")" grep -q "already open by another process" "$OUT/second.err"
wait_until 8 "disarm: the feeder disarms and exits" said disarm "^disarm$"
assert_true "disarm: the simulator was disarmed by the magic close" grep -q "closed with magic close: disarmed" "$WLOG"
sleep 3
assert_true "disarm: 3 s later (timeout 2 s) nothing was reset" test "$(fired)" -eq "$f0"
assert_true "disarm: the guest still runs" guest_alive
assert_true "disarm: corosync still runs" test -n "$("$CLUSTER" pids 1 corosync)"

# 5. A timeout above what the device can do: the one it set is reported, not the one asked.
feeder big --timeout 700 --healthy 0.5 --then disarm
wait_until 8 "big: the feeder disarms and exits" said big "^disarm$"
assert_true "big: the device's 600 s is reported, and that it does not match: $(head -1 "$OUT/big.out")" \
	said big "armed timeout=600 requested=700 matches=0"

rm -rf "$OUT"
mn_pass
