# shellcheck shell=bash
# shellcheck disable=SC2034  # AGREED_LEADER, SAME_VERSION, APPLY_OUT are results for the tests
# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for tests/multinode/test-*.sh. Source it, then:
#
#   mn_begin "name" [overall_timeout_s]   # skip (77) unless root + corosync + binaries; lock;
#                                         # trap: on any exit `cluster down`, PASS/FAIL line
#   mn_up 3                               # cluster up
#   ...  wait_until / assert_* / st / jget ...
#   mn_pass                               # (or just reach the end of the script)
#
# Everything prints what a person would check by hand, e.g.
#   "ok: n2 leader.id == 1   (cluster exec 2 kvmcctl status --json | jq .leader.id)".

MN_DIR=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
CLUSTER=$MN_DIR/cluster
export KVMCD_BUILD_DIR=${KVMCD_BUILD_DIR:-$MN_DIR/../../build}
KVMCD_BUILD_DIR=$(readlink -m "$KVMCD_BUILD_DIR")
MN_RUN_BASE=${MN_RUN_BASE:-$MN_DIR/.run}
export MN_RUN_BASE
MN_TEST=${MN_TEST:-$(basename "$0" .sh)}
MN_NODES=""
_mn_result=""
_mn_watchdog=""
_mn_t0=$(date +%s.%N)

log() { printf '[%6.2f] %s\n' "$(awk -v a="$_mn_t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" "$*"; }
# bash's own clock (no `date` process: benchmarks poll with this while they measure the machine)
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $(( t / 1000 )); }

fail() {
	log "FAIL: $*"
	_mn_result=fail
	exit 1
}

mn_skip() {
	echo "SKIP $MN_TEST: $*"
	_mn_result=skip
	exit 77
}

_mn_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -n "$_mn_watchdog" ] && kill "$_mn_watchdog" 2>/dev/null
	if [ "$_mn_result" = skip ]; then exit 77; fi
	[ "$rc" -eq 0 ] && [ "$_mn_result" != fail ] || _mn_result=fail
	# The VM invariant monitor, if a test started one (vm/vm.sh): a violation fails the test.
	_mn_vm_on_exit || _mn_result=fail
	if [ "$_mn_result" = fail ]; then
		log "cluster status at failure:"
		"$CLUSTER" status 2>&1 | sed 's/^/    /'
		local i
		for i in $MN_NODES; do
			log "n$i: kvmcctl status --json:"
			"$CLUSTER" exec "$i" timeout 3 kvmcctl status --json 2>&1 | jq -c . 2>/dev/null | sed 's/^/    /'
		done
	fi
	"$CLUSTER" down >/dev/null 2>&1 || "$CLUSTER" down
	# A sanitizer build (run-tests' build-asan) reports into the daemons' logs, also at exit
	# (LeakSanitizer, when `down` stops them): any report fails the test.
	local san
	san=$(grep -l -E "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$MN_RUN_BASE"/last-"${MN_PREFIX:-kvmcd}"/*.log 2>/dev/null)
	if [ -n "$san" ]; then
		log "FAIL: sanitizer reports in $san:"
		grep -h -A25 -E "ERROR: [A-Za-z]+Sanitizer|runtime error:" $san | head -60 | sed 's/^/    /'
		_mn_result=fail
	fi
	if [ "$_mn_result" = fail ]; then
		local keep="$MN_RUN_BASE/failed/$MN_TEST"
		rm -rf "$keep"; mkdir -p "$keep"
		cp -a "$MN_RUN_BASE"/last-"${MN_PREFIX:-kvmcd}"/. "$keep"/ 2>/dev/null
		[ -d "$MN_VM_MON_DIR" ] && cp -a "$MN_VM_MON_DIR" "$keep/vm-monitor" 2>/dev/null
		for i in $MN_NODES; do
			if [ -f "$keep/n$i-kvmcd.log" ]; then
				log "last lines of n$i kvmcd log:"
				tail -n 25 "$keep/n$i-kvmcd.log" | sed 's/^/    /'
			fi
		done
		log "all logs kept in $keep"
		echo "FAIL $MN_TEST"
		exit 1
	fi
	echo "PASS $MN_TEST ($(awk -v a="$_mn_t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s)"
	exit 0
}

_mn_on_signal() {
	log "interrupted (signal or overall timeout)"
	_mn_result=fail
	exit 1
}

# mn_begin NAME [TIMEOUT_S]: checks prerequisites (exit 77 = skipped), serialises multinode
# tests on this machine, installs the cleanup trap and an overall watchdog. MN_NO_KVMCD=1: the
# test runs `up --no-kvmcd` and needs no kvmcd/kvmcctl binaries (the VM substrate's tests).
mn_begin() {
	MN_TEST=$1
	local timeout=${2:-240}
	[ "$(id -u)" -eq 0 ] || mn_skip "needs root"
	command -v corosync >/dev/null 2>&1 || mn_skip "corosync not installed"
	for t in nsenter unshare ip nft jq; do command -v "$t" >/dev/null 2>&1 || mn_skip "$t not installed"; done
	if [ "${MN_NO_KVMCD:-0}" != 1 ]; then
		[ -x "$KVMCD_BUILD_DIR/agent/kvmcd" ] && [ -x "$KVMCD_BUILD_DIR/agent/kvmcctl" ] ||
			mn_skip "no kvmcd/kvmcctl in $KVMCD_BUILD_DIR/agent"
	fi
	mkdir -p "$MN_RUN_BASE"
	# One multinode test at a time on this machine (two people running `meson test`).
	exec 9>"$MN_RUN_BASE/test.lock"
	if ! flock -n 9; then
		log "waiting for another multinode test to finish (lock $MN_RUN_BASE/test.lock)"
		flock -w 300 9 || mn_skip "another multinode test holds $MN_RUN_BASE/test.lock"
	fi
	trap _mn_cleanup EXIT
	trap _mn_on_signal INT TERM HUP
	# Overall watchdog: the trap still tears the cluster down when we run out of time.
	# (Its sleep is killed with it, so no stray process keeps the test's stdout open: meson
	# waits for EOF on it.)
	(
		trap 'kill "$sp" 2>/dev/null; exit 0' TERM
		sleep "$timeout" & sp=$!
		wait "$sp" && { echo "watchdog: $MN_TEST exceeded ${timeout}s" >&2; kill -TERM $$; }
	) 9>&- </dev/null &
	_mn_watchdog=$!
	log "=== $MN_TEST (build $KVMCD_BUILD_DIR)"
}

mn_up() { # [N] [cluster up options...]
	local n=${1:-3}
	MN_NODES=$(seq 1 "$n" | tr '\n' ' ')
	log "cluster up $n ${*:2}"
	"$CLUSTER" up "$n" "${@:2}" 9>&- || fail "cluster up $n ${*:2} failed"
}

mn_pass() { _mn_result=pass; exit 0; }

# Runs a command inside node I (output to stdout); never hangs longer than 10 s.
nx() { local i=$1; shift; "$CLUSTER" exec "$i" timeout 10 "$@"; }

# st I: kvmcctl status --json of node I (empty + non-zero when it does not answer).
st() { "$CLUSTER" exec "$1" timeout 5 kvmcctl status --json 2>/dev/null; }
# jget I FILTER: a jq filter applied to node I's status (-r output); "ERR" when no answer.
jget() {
	local s
	s=$(st "$1") || { echo ERR; return 1; }
	jq -r "$2" <<<"$s" 2>/dev/null || { echo ERR; return 1; }
}
# Leader as "id/epoch" or "none" as seen by node I.
leader_of() { jget "$1" 'if .leader then "\(.leader.id)/\(.leader.epoch)" else "none" end'; }

# wait_until TIMEOUT_S "description" CMD...: polls CMD every 0.2 s.
# Sets WAITED_MS to how long it took.
wait_until() {
	local timeout=$1 desc=$2; shift 2
	local start end
	start=$(now_ms); end=$(( start + timeout * 1000 ))
	while :; do
		if "$@" >/dev/null 2>&1; then
			WAITED_MS=$(( $(now_ms) - start ))
			log "ok: $desc (after ${WAITED_MS} ms)"
			return 0
		fi
		[ "$(now_ms)" -lt "$end" ] || fail "timed out after ${timeout}s waiting for: $desc"
		sleep 0.2
	done
}

assert_eq() { # actual expected what
	if [ "$1" = "$2" ]; then log "ok: $3 == $2"; else fail "$3: expected '$2', got '$1'"; fi
}
assert_ne() { # actual unexpected what
	if [ "$1" != "$2" ]; then log "ok: $3 = $1 (not $2)"; else fail "$3: must not be '$2'"; fi
}
assert_true() { # what CMD...
	local what=$1; shift
	if "$@"; then log "ok: $what"; else fail "$what"; fi
}

# --- predicates for wait_until ---------------------------------------------------------------
# all_agree_leader NODES...: every node answers, has a leader, and all report the same id/epoch.
all_agree_leader() {
	local i l first=""
	for i in "$@"; do
		l=$(leader_of "$i") || return 1
		[ "$l" != none ] && [ "$l" != ERR ] || return 1
		[ -z "$first" ] && first=$l
		[ "$l" = "$first" ] || return 1
	done
	AGREED_LEADER=$first
}
# is_synced_all NODES...: every node reports sync.state "synced" (or no sync field) + quorate.
node_quorate() { [ "$(jget "$1" .quorate)" = true ]; }
node_no_leader() { [ "$(jget "$1" '.leader == null')" = true ]; }
node_stalled() { [ "$(jget "$1" '(.sync.state? == "stalled") or (.sync.stalled? == true) or (.stalled? == true)')" = true ]; }
# same_state NODES...: identical state_version and spec on all.
same_state() {
	local i v s fv="" fs=""
	for i in "$@"; do
		v=$(jget "$i" .state_version) || return 1
		s=$(nx "$i" kvmcctl spec get 2>/dev/null | jq -cS . 2>/dev/null) || return 1
		if [ -z "$fv" ]; then fv=$v; fs=$s; fi
		[ "$v" = "$fv" ] && [ "$s" = "$fs" ] || return 1
	done
	SAME_VERSION=$fv
}
has_version() { # I VERSION: node I reports state_version >= VERSION
	local v
	v=$(jget "$1" .state_version) || return 1
	[ "$v" != ERR ] && [ "$v" -ge "$2" ]
}
spec_is() { # I JSON: node I's spec equals JSON (compared canonically)
	local a b
	a=$(nx "$1" kvmcctl spec get 2>/dev/null | jq -cS . 2>/dev/null) || return 1
	b=$(jq -cS . <<<"$2") || return 1
	[ -n "$a" ] && [ "$a" = "$b" ]
}
spec_is_all() { # JSON NODES...: every node's spec equals JSON
	local j=$1 i; shift
	for i in "$@"; do spec_is "$i" "$j" || return 1; done
}
members_count() { jget "$1" '.members | length'; }
has_members() { [ "$(members_count "$1")" = "$2" ]; }

# apply_spec I JSON: kvmcctl spec apply - on node I; logs its output (also in APPLY_OUT);
# returns its exit status (124 when it did not answer within APPLY_TIMEOUT, default 20 s).
apply_spec() {
	local i=$1 json=$2 out rc
	out=$(printf '%s\n' "$json" | "$CLUSTER" exec "$i" timeout "${APPLY_TIMEOUT:-20}" kvmcctl spec apply - 2>&1)
	rc=$?
	APPLY_OUT=$out
	log "n$i: kvmcctl spec apply -> exit $rc: $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-200)"
	return $rc
}

# ha_disarm I: `kvmcctl ha disarm` on node I, as an operator does for a maintenance window (issue
# 9: no fencing and no recovery while disarmed). For tests about something else that keep a
# node's kvmcd or host away longer than the agent grace (~7 s): with [ontap] configured the leader
# would fence it, which is multinode-ha-failover's subject. Fails unless node I's status says
# disarmed; ha_disarmed I checks it on any node (after a leader change too: a leader record).
ha_disarmed() { [ "$(jget "$1" .ha.armed)" = false ]; }
ha_disarm() {
	local out
	out=$("$CLUSTER" exec "$1" timeout 40 kvmcctl ha disarm 2>&1) || fail "n$1: kvmcctl ha disarm: $out"
	log "n$1: kvmcctl ha disarm: $(tr '\n' ' ' <<<"$out")"
	ha_disarmed "$1" || fail "n$1's status does not say HA is disarmed after kvmcctl ha disarm"
}

# A small valid spec (see coord/spec/spec.h): labels only.
spec_json() { # KEY VALUE...
	local args=()
	while [ $# -ge 2 ]; do args+=(--arg "$1" "$2"); shift 2; done
	jq -cn '$ARGS.named | {labels: .}' "${args[@]}"
}

show_status() { # prints one line per node: leader, quorate, version, sync state
	local i
	for i in "$@"; do
		log "  n$i: $(jget "$i" '"leader=\(if .leader then "\(.leader.id)/e\(.leader.epoch)" else "none" end) quorate=\(.quorate) version=\(.state_version) members=\([.members[].id]|join(",")) sync=\(.sync.state // "?")"' 2>/dev/null)"
	done
}

# --- libvirt (cluster up --libvirt) ----------------------------------------------------------
# Where the shared directory is mounted inside every node (see `cluster`).
MN_SHARED=${MN_SHARED_DIR:-/srv/${MN_PREFIX:-kvmcd}-shared}
# mn_need_libvirt: skip (77) unless libvirtd, virsh, QEMU, bindfs and /dev/fuse are here.
mn_need_libvirt() {
	local t
	for t in libvirtd virsh qemu-system-x86_64 bindfs; do
		command -v "$t" >/dev/null 2>&1 || mn_skip "$t not installed (packaging/install-deps.sh)"
	done
	[ -c /dev/fuse ] || mn_skip "no /dev/fuse"
}
# vsh I ARGS...: virsh -q against node I's libvirtd (qemu:///system inside the node); 20 s at most
# (VSH_TIMEOUT).
vsh() { local i=$1; shift; "$CLUSTER" exec "$i" timeout "${VSH_TIMEOUT:-20}" virsh -q "$@"; }
# vm_state I NAME: the domain's state on node I ("running", "shut off", ...), "absent" if unknown.
vm_state() { local s; s=$(vsh "$1" domstate "$2" 2>/dev/null | head -1) && [ -n "$s" ] && echo "$s" || echo absent; }

# --- VMs: the counter guest, its domain XML, migrations, the invariant monitor (vm/vm.sh) ------
. "$MN_DIR/vm/vm.sh"
