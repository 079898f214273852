# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# test-lib.sh -- what every full-stack scenario shares: timing and phases ("phase NAME SECONDS"),
# PASS / FAIL / SKIP (77), cleanup (guests down, logs kept on failure), the overall watchdog,
# `on GUEST CMD` / `on_nodes CMD` and the image + lock prologue. Sourced by test-*.sh after they
# set TEST_NAME, FS_NAME, OVERALL (seconds, below meson's timeout) and NODES.
# shellcheck disable=SC2034  # variables used by the sourcing scenario

HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
FS=$HERE/fs

T0=$(date +%s.%N)
PHASE_T0=$T0
PHASE=""
PHASES=""
RESULT=""
WATCHDOG=""
TMP=$(mktemp -d "/tmp/fs-$TEST_NAME.XXXXXX")

log() { printf '[%7.2f] %s\n' "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" "$*"; }
skip() { echo "SKIP $TEST_NAME: $*"; RESULT=skip; exit 77; }
# The reason is printed again as the last line (after the guests' logs): CI shows only the tail.
fail() { FAIL_WHY="in phase '$PHASE': $*"; log "FAIL $FAIL_WHY"; RESULT=fail; exit 1; }
FAIL_WHY=""

phase() { # ends the running phase (prints its time), starts the next
	local t
	t=$(date +%s.%N)
	if [ -n "$PHASE" ]; then
		local d
		d=$(awk -v a="$PHASE_T0" -v b="$t" 'BEGIN{printf "%.1f", b-a}')
		echo "phase $PHASE $d"
		PHASES+="$PHASE=$d "
	fi
	PHASE=${1:-}; PHASE_T0=$t
	[ -z "$PHASE" ] || log "== $PHASE"
}

cleanup() {
	local rc=$? g
	trap - EXIT INT TERM
	[ -z "$WATCHDOG" ] || kill "$WATCHDOG" 2>/dev/null || true
	if [ "$RESULT" = skip ]; then rm -rf "$TMP"; exit 77; fi
	[ "$rc" -eq 0 ] && [ "$RESULT" != fail ] || RESULT=fail
	if [ "$RESULT" = fail ] && [ -n "$("$FS" guests 2>/dev/null)" ]; then
		log "guests at failure:"
		"$FS" status 2>&1 | sed 's/^/    /'
		for g in $("$FS" guests); do
			log "serial log of $g (last lines):"
			"$FS" logs "$g" 2>/dev/null | tail -n 15 | sed 's/^/    /'
		done
	fi
	"$FS" down >/dev/null 2>&1 || "$FS" down || true
	rm -rf "$TMP"
	if [ "$RESULT" = fail ]; then
		log "logs of the guests kept in ${KVMCD_FULLSTACK_RUN:-/tmp/kvmcd-fullstack}/last-$FS_NAME"
		echo "FAIL $TEST_NAME${FAIL_WHY:+ $FAIL_WHY}"
		exit 1
	fi
	echo "phases: $PHASES"
	echo "PASS $TEST_NAME ($(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.0f", b-a}') s)"
	exit 0
}

# Every guest command goes through here: the guest name and the step in the error.
on() { # GUEST CMD...
	local g=$1; shift
	"$FS" exec "$g" "$@" || fail "$g: '$*' failed (exit $?)"
}

# CMD on every node at once; fails naming each node that failed, with its output.
on_nodes() {
	local n pids=() rc=0 i=0
	for n in $NODES; do
		"$FS" exec "$n" "$@" >"$TMP/$n.out" 2>&1 &
		pids+=($!)
	done
	for n in $NODES; do
		if ! wait "${pids[$i]}"; then
			rc=1
			log "$n: '$*' failed:"
			sed 's/^/    /' "$TMP/$n.out"
		fi
		i=$((i + 1))
	done
	[ $rc -eq 0 ] || fail "'$*' failed on a node (see above)"
}

prerequisites() {
	local t
	[ "${KVMCD_FULLSTACK:-1}" != 0 ] || skip "KVMCD_FULLSTACK=0"
	[ "${KVMCD_FULLSTACK_SANITIZED:-0}" != 1 ] ||
		skip "sanitizer build: the full-stack tier runs once, in the plain build"
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	for t in qemu-system-x86_64 debootstrap busybox cpio depmod mkfs.ext4 mkfs.xfs xz python3 flock ss; do
		command -v "$t" >/dev/null 2>&1 || skip "host prerequisite '$t' missing (KVMCD_FULLSTACK=1 packaging/install-deps.sh)"
	done
}

# start: the prerequisites, the run lock, the traps, the overall watchdog and the guest image.
start() {
	prerequisites
	mkdir -p "${KVMCD_FULLSTACK_RUN:-/tmp/kvmcd-fullstack}"
	exec 9>"${KVMCD_FULLSTACK_RUN:-/tmp/kvmcd-fullstack}/$FS_NAME.lock"
	flock -w 600 9 || fail "another $TEST_NAME run holds the lock"
	trap cleanup EXIT
	trap 'fail "interrupted"' INT TERM
	# killing the guests first makes a blocked `fs exec` return at once, so the TERM is handled
	# (it must not hold the lock nor, after we are gone, meson's output pipe: its sleep dies with it)
	(
		exec 9>&-
		sleep "$OVERALL" & sp=$!
		trap 'kill $sp 2>/dev/null; exit 0' TERM
		wait $sp
		log "overall timeout ${OVERALL}s: stopping"
		"$FS" down
		kill -TERM $$
	) &
	WATCHDOG=$!

	phase image
	# (a cache hit takes no time; a build ~2 min, its output in the failure message only)
	"$HERE/build-image.sh" >/dev/null 2>"$TMP/build-image.log" || {
		tail -n 20 "$TMP/build-image.log"
		fail "building the guest image failed (build-image.sh)"
	}
	if grep -q '^build-image: built' "$TMP/build-image.log"; then
		log "$(grep '^build-image: built' "$TMP/build-image.log")"
	fi
}
