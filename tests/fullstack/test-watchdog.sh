#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# test-watchdog.sh -- kvmcd's watchdog code (fencing/watchdog.c, the real "dev" device) on a real
# kernel: node guest n1 has QEMU's i6300esb (-action watchdog=poweroff), run through
# tests/watchdog-tool (the same feeder kvmcd uses, built from the same source).
#   arm      /dev/watchdog opened, WDIOC_SETTIMEOUT 5 read back as 5 by the driver ("i6300ESB
#            timer", magic close supported: crash-safe)
#   disarm   fed 3 s, then the magic close: the guest is still running 3 timeouts later
#   reset    fed 4 s, then not fed (as on quorum loss), the process still running: the guest is
#            powered off by the device about one timeout after the last keepalive, not before
# Prints "phase NAME SECONDS" per phase; ends with PASS or FAIL. Skips (77) like test-smoke.sh,
# and without a build (KVMCD_BUILD_DIR, set by meson).
set -eu
set -o pipefail

HERE=$(dirname "$(readlink -f "$0")")
TEST_NAME=test-watchdog
export FS_NAME=${FS_NAME:-watchdog}
export FS_LIFETIME=${FS_LIFETIME:-900}
OVERALL=${WD_TIMEOUT:-570}                    # below meson's 600 s, so our cleanup runs
BUILD=${KVMCD_BUILD_DIR:-}
TIMEOUT=5

# shellcheck source=tests/fullstack/test-lib.sh
. "$HERE/test-lib.sh"

TOOL=/opt/kvmcd/watchdog-tool

main() {
	[ -n "$BUILD" ] && [ -x "$BUILD/tests/watchdog-tool" ] || skip "no watchdog-tool build (KVMCD_BUILD_DIR, set by meson)"
	start
	local out run t_unh ago exit_at after

	phase boot
	"$FS" up --nodes 1 || fail "fs up failed"
	SHARE=$("$FS" paths | sed -n 's/^share *\([^ ]*\).*/\1/p')
	run=$("$FS" paths | sed -n 's/^run dir *\([^ ]*\).*/\1/p')
	[ -d "$SHARE/run" ] && [ -d "$run" ] || fail "no share or run dir ($SHARE, $run)"
	mkdir -p "$TMP/bin"
	cp "$BUILD/tests/watchdog-tool" "$TMP/bin/"
	"$FS" copy-in n1 "$TMP/bin" /opt/kvmcd || fail "copy-in failed"

	phase arm
	on n1 sh_c 'modprobe i6300esb 2>/dev/null; for i in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/watchdog ] && break; sleep 0.5; done; ls -l /dev/watchdog*'
	out=$("$FS" exec -t 120 n1 "$TOOL" --device dev --path /dev/watchdog --timeout "$TIMEOUT" --healthy 3 \
		--then disarm 2>&1) || fail "watchdog-tool (disarm) failed: $out"
	log "n1: $(head -1 <<<"$out")"
	grep -q "armed timeout=$TIMEOUT requested=$TIMEOUT matches=1 crash_safe=1 keepalive_ms=1250 identity=i6300ESB timer" <<<"$out" ||
		fail "not armed as expected: $out"

	phase disarm
	grep -q '^disarm$' <<<"$out" || fail "no disarm: $out"
	sleep $((3 * TIMEOUT))
	[ ! -f "$run/n1.exit" ] || fail "n1 was powered off after the magic close: $(cat "$run/n1.exit")"
	on n1 true
	log "n1 still runs $((3 * TIMEOUT)) s after the magic close"

	phase reset
	on n1 sh_c 'setsid "$@" </dev/null >/share/run/wd-reset.out 2>/share/run/wd-reset.err &' \
		"$TOOL" --device dev --path /dev/watchdog --timeout "$TIMEOUT" --healthy 4 --then stop
	local end=$(( $(date +%s) + 120 ))
	until grep -q '^unhealthy' "$SHARE/run/wd-reset.out" 2>/dev/null; do
		[ "$(date +%s)" -lt "$end" ] || fail "the tool never stopped feeding: $(cat "$SHARE/run/wd-reset.out" "$SHARE/run/wd-reset.err" 2>/dev/null)"
		[ ! -f "$run/n1.exit" ] || fail "n1 was reset while it was fed: $(cat "$SHARE/run/wd-reset.out")"
		sleep 0.2
	done
	# The 9p share gives the file the host's time of the guest's last write: the "unhealthy" line.
	t_unh=$(stat -c '%.3Y' "$SHARE/run/wd-reset.out")
	ago=$(sed -n 's/^unhealthy last_keepalive_ms_ago=\([0-9]*\)$/\1/p' "$SHARE/run/wd-reset.out")
	[ -n "$ago" ] || fail "no last_keepalive_ms_ago: $(cat "$SHARE/run/wd-reset.out")"
	end=$(( $(date +%s) + 60 ))
	until [ -f "$run/n1.exit" ]; do
		[ "$(date +%s)" -lt "$end" ] || fail "n1 was not reset within 60 s of the last keepalive"
		sleep 0.2
	done
	exit_at=$(awk '{print $1}' "$run/n1.exit")
	after=$(awk -v e="$exit_at" -v u="$t_unh" -v a="$ago" 'BEGIN{printf "%.2f", e - (u - a / 1000)}')
	log "MEASURED: last keepalive -> n1's qemu exit (watchdog poweroff): $after s (timeout $TIMEOUT s)"
	awk -v x="$after" -v t="$TIMEOUT" 'BEGIN{exit !(x >= t - 0.5 && x <= t + 2)}' ||
		fail "reset $after s after the last keepalive, expected about $TIMEOUT s"
	grep -q "watchdog\|i6300" "$run/log/n1.qemu.log" 2>/dev/null && log "qemu: $(grep -m1 -i watchdog "$run/log/n1.qemu.log")" || true

	phase ""
	RESULT=pass
}

main "$@"
