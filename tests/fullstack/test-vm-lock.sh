#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# test-vm-lock.sh -- the "dlm" VM lock (resources/host/vm-lock-dlm.c) on real kernels: three node
# guests with corosync + dlm_controld, each running tests/vm-lock-tool (the same ops table kvmcd
# uses, built from the same source) against the `kvmcd` lockspace.
#   exclusive  n1 takes vm1; n2 and n3 are refused AT ONCE by the DLM (-EBUSY, EX + NOQUEUE);
#              n2 takes vm2 meanwhile; n1 releases vm1, then n2 takes it.
#   orphan     n1's tool takes vm3 and exits (kvmcd stopping or crashing with the VM running):
#              the lock stays held (LKF_PERSISTENT), n2 is refused; the next tool on n1 ADOPTS it
#              (LKF_ORPHAN) and releases it; then n2 takes it.
#   failover   n1 holds vm4, n2 retries acquiring it every 0.5 s (3 s per attempt); n1 is
#              power-killed. dlm_controld (enable_fencing=1, a fence agent the test gates: it
#              reports the request and waits for the host's go) must not let n2 have vm4 while
#              n1 is not fenced: every attempt is refused or times out (the lockspace waits for
#              fencing), for 20 s after the request; once the agent returns success, n2's
#              attempt succeeds; n3 is then refused (n2 holds it).
# Prints "phase NAME SECONDS" per phase; ends with PASS or FAIL. Skips (77) like test-smoke.sh,
# and without a build (KVMCD_BUILD_DIR, set by meson).
set -eu
set -o pipefail

HERE=$(dirname "$(readlink -f "$0")")
TEST_NAME=test-vm-lock
export FS_NAME=${FS_NAME:-vmlock}
export FS_LIFETIME=${FS_LIFETIME:-900}
OVERALL=${VL_TIMEOUT:-570}                    # below meson's 600 s, so our cleanup runs
TOKEN=3000
CLUSTER=fsvm
NODES="n1 n2 n3"
BUILD=${KVMCD_BUILD_DIR:-}
GATE=20                                       # seconds the fence is held back

# shellcheck source=tests/fullstack/test-lib.sh
. "$HERE/test-lib.sh"

TOOL=/opt/kvmcd/vm-lock-tool

# vlt NODE ARGS...: vm-lock-tool in NODE; its lines on stdout, its exit status.
vlt() { local n=$1; shift; "$FS" exec -t 120 "$n" "$TOOL" "$@"; }
# vlt_bg NODE NAME ARGS...: vm-lock-tool in the background in NODE, its lines in $SHARE/run/NAME.out
vlt_bg() {
	local n=$1 name=$2; shift 2
	on "$n" sh_c 'o=$1; shift; setsid "$@" </dev/null >"/share/run/$o.out" 2>&1 &' "$name" "$TOOL" "$@"
}
# wait_line NAME REGEX SECS: until $SHARE/run/NAME.out has a line matching REGEX
wait_line() {
	local end=$(( $(date +%s) + $3 ))
	until grep -qE "$2" "$SHARE/run/$1.out" 2>/dev/null; do
		[ "$(date +%s)" -lt "$end" ] || fail "no line /$2/ in $1's output after $3 s: $(cat "$SHARE/run/$1.out" 2>/dev/null)"
		sleep 0.3
	done
}
# refused NODE VM: one acquire, which the DLM must refuse at once
refused() {
	local out rc t0
	t0=$(date +%s.%N)
	if out=$(vlt "$1" acquire:"$2" 2>&1); then fail "$1 acquired $2 while another node holds it: $out"; else rc=$?; fi
	[ "$rc" = 2 ] && grep -q -- '-> -EBUSY .*held elsewhere' <<<"$out" || fail "$1: acquire:$2 not refused as busy (exit $rc): $out"
	log "$1: $out ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s, tool start included)"
}

main() {
	[ -n "$BUILD" ] && [ -x "$BUILD/tests/vm-lock-tool" ] || skip "no vm-lock-tool build (KVMCD_BUILD_DIR, set by meson)"
	start
	local n out t_kill t_req t_allow t_first

	phase boot
	"$FS" up --nodes 3 || fail "fs up failed"
	SHARE=$("$FS" paths | sed -n 's/^share *\([^ ]*\).*/\1/p')
	[ -d "$SHARE/run" ] || fail "no share dir ($SHARE)"
	mkdir -p "$TMP/bin"
	cp "$BUILD/tests/vm-lock-tool" "$TMP/bin/"
	for n in $NODES; do "$FS" copy-in "$n" "$TMP/bin" /opt/kvmcd || fail "copy-in to $n failed"; done

	phase cluster
	# dlm_controld fences through an agent the test gates (fullstack-fencing.md section 2: no argv,
	# the victim as node=ID on stdin, exit 0 = fenced)
	cat >"$SHARE/run/vmlock-fence" <<'EOF'
#!/bin/sh
node=""
while read -r l; do case $l in node=*) node=${l#node=} ;; esac; done
h=$(hostname)
cat /proc/uptime >"/share/run/ev/$h.fence-req-n$node"
i=0
while [ ! -e "/share/run/fence-allow-n$node" ]; do
	sleep 0.2
	i=$((i + 1))
	[ $i -lt 3000 ] || exit 1
done
cat /proc/uptime >"/share/run/ev/$h.fence-done-n$node"
exit 0
EOF
	chmod 755 "$SHARE/run/vmlock-fence"
	on_nodes sh_c 'printf "enable_fencing=1\nenable_startup_fencing=0\nfence_all /share/run/vmlock-fence\n" >/etc/dlm/dlm.conf &&
		corosync_start "$@" && wait_until 90 "corosync quorate" quorate && dlm_start' \
		"$CLUSTER" "$TOKEN" $(for n in $NODES; do printf '%s=%s ' "$n" "$("$FS" ip "$n")"; done)
	for n in $NODES; do
		out=$(vlt "$n" probe) || fail "$n: probe: $out"
		log "$n: $out"
	done
	on n1 dlm_tool ls | sed 's/^/    /'

	phase exclusive
	vlt_bg n1 n1-vm1 acquire:vm1 wait:/share/run/release-vm1 release:vm1 hold
	wait_line n1-vm1 '^acquire:vm1 -> 0 acquired' 60
	log "n1: $(head -1 "$SHARE/run/n1-vm1.out")"
	refused n2 vm1
	refused n3 vm1
	out=$(vlt n2 acquire:vm2 release:vm2) || fail "n2: vm2: $out"
	log "n2 meanwhile: $(tr '\n' ' ' <<<"$out")"
	touch "$SHARE/run/release-vm1"
	wait_line n1-vm1 '^release:vm1 -> 0 released' 60
	log "n1: release:vm1 -> 0 released"
	out=$(vlt n2 acquire:vm1 release:vm1) || fail "n2 cannot take vm1 after n1 released it: $out"
	log "n2: $(tr '\n' ' ' <<<"$out")"

	phase orphan
	out=$(vlt n1 acquire:vm3) || fail "n1: vm3: $out"
	log "n1: $out; the tool exits holding it (kvmcd stopped with the VM running)"
	refused n2 vm3
	out=$(vlt n1 acquire:vm3 release:vm3) || fail "n1: vm3 again: $out"
	grep -q '^acquire:vm3 -> 0 adopted' <<<"$out" || fail "n1's next tool did not adopt vm3: $out"
	log "n1, a new process: $(tr '\n' ' ' <<<"$out")"
	out=$(vlt n2 acquire:vm3 release:vm3) || fail "n2 cannot take vm3 after n1 released it: $out"
	log "n2: $(tr '\n' ' ' <<<"$out")"

	phase failover
	vlt_bg n1 n1-vm4 acquire:vm4 hold
	wait_line n1-vm4 '^acquire:vm4 -> 0 acquired' 60
	vlt_bg n2 n2-vm4 --timeout 3 acquire-retry:vm4:400 hold
	wait_line n2-vm4 'acquire-retry:vm4:.* -> -EBUSY' 60
	t_first=$(date +%s.%N)
	log "n2 retries vm4: $(head -1 "$SHARE/run/n2-vm4.out")"
	t_kill=$("$FS" kill n1) || fail "fs kill n1"
	log "n1 power-killed holding vm4"
	local end=$(( $(date +%s) + 120 ))
	until ls "$SHARE"/run/ev/*.fence-req-n1 >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || fail "dlm_controld did not ask to fence n1 within 120 s"
		sleep 0.3
	done
	t_req=$(date +%s.%N)
	log "dlm_controld asks to fence n1 ($(basename "$(ls "$SHARE"/run/ev/*.fence-req-n1 | head -1)"), $(awk -v a="$t_kill" -v b="$t_req" 'BEGIN{printf "%.1f", b-a}') s after the kill); holding the fence for $GATE s"
	sleep "$GATE"
	on n2 dlm_tool ls | sed 's/^/    /'
	if grep -qE 'acquire-retry:vm4:.* -> 0 ' "$SHARE/run/n2-vm4.out"; then
		fail "n2 acquired vm4 while n1 was not fenced: $(cat "$SHARE/run/n2-vm4.out")"
	fi
	log "before the fence: n2's attempts: $(grep -c -- '-> -EBUSY' "$SHARE/run/n2-vm4.out") refused, $(grep -c -- '-> -ETIMEDOUT' "$SHARE/run/n2-vm4.out") timed out (lockspace waiting for fencing), none granted"
	grep -q -- '-> -ETIMEDOUT' "$SHARE/run/n2-vm4.out" || fail "n2's attempts never waited on the recovery: $(cat "$SHARE/run/n2-vm4.out")"
	touch "$SHARE/run/fence-allow-n1"
	t_allow=$(date +%s.%N)
	wait_line n2-vm4 'acquire-retry:vm4:.* -> 0 ' 120
	log "n2: $(grep -E 'acquire-retry:vm4:.* -> 0 ' "$SHARE/run/n2-vm4.out") -- $(awk -v a="$t_allow" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s after the fence was allowed"
	log "n2's attempts (seconds since its first; n1 was killed $(awk -v a="$t_first" -v b="$t_kill" 'BEGIN{printf "%.1f", b-a}') s after that one was seen):"
	sed -e 's/ lock vm:vm4 in DLM.*/ .../' -e 's/^/    /' "$SHARE/run/n2-vm4.out"
	refused n3 vm4
	phase ""
	RESULT=pass
}

main "$@"
