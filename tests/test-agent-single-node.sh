#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# kvmcd + kvmcctl against one real corosync, in a private network + mount namespace (so it never
# meets the host's corosync or tests/multinode's nodes). Checks what an admin would check:
#   - quorate, this node leads with epoch 1; status --json has the documented keys
#   - spec apply / get / diff; an invalid spec lists every problem and changes nothing
#   - SIGHUP with a broken config keeps the old one; a good one applies runtime keys
#   - corosync SIGKILLed: no leader, "not connected", apply refused with exit 2; corosync back:
#     reconnected and leading with a new epoch
#   - SIGTERM exits 0; restart recovers state.json; a corrupt state.json refuses to start
#   - state.json unwritable: kvmcd stops (never acks unpersisted state), the client exits 3
# Needs root, corosync, unshare/nsenter and jq; exits 77 (skipped) otherwise.
set -u

BUILD=${KVMCD_BUILD_DIR:-$(dirname "$0")/../build}
KVMCD=$BUILD/agent/kvmcd
KVMCCTL=$BUILD/agent/kvmcctl
NS=kvmcd-agent-$$
T=""
COROSYNC_PID=""
KVMCD_PID=""
FAILED=0
START=$(date +%s%N)

log() { printf '[%6.2f] %s\n' "$(( ($(date +%s%N) - START) / 10000000 ))e-2" "$*"; }
ok() { log "ok: $*"; }
fail() { log "FAIL: $*"; FAILED=1; }
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root"
for c in corosync unshare nsenter ip jq; do command -v $c >/dev/null || skip "no $c"; done
[ -x "$KVMCD" ] && [ -x "$KVMCCTL" ] || skip "no $KVMCD / $KVMCCTL"
KVMCD=$(readlink -f "$KVMCD")
KVMCCTL=$(readlink -f "$KVMCCTL")

in_node() { nsenter --mount="$T/ns/mnt" --net="/run/netns/$NS" "$@"; }
# --socket, not --config: the reload checks below break the config file on purpose.
ctl() { "$KVMCCTL" --socket "$T/run/kvmcd/kvmcd.sock" "$@"; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# wait_until SECONDS DESCRIPTION COMMAND...: the harness polls; the daemon never does.
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

stop_pid() { # pid: TERM, wait up to 5 s, KILL
	local p=$1 i
	alive "$p" || return 0
	kill -TERM "$p" 2>/dev/null
	for i in $(seq 50); do alive "$p" || return 0; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null
}

cleanup() {
	local p
	stop_pid "${SIM_PID:-}"
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

# ---- the node ------------------------------------------------------------------------------
T=$(mktemp -d /tmp/kvmcd-agent-test.XXXXXX)
mkdir -p "$T"/{ns,run,etc-corosync,lib-corosync,log-corosync,state}
ip netns add "$NS" || skip "cannot create a network namespace"
ip -n "$NS" link set lo up
mount --bind "$T/ns" "$T/ns" && mount --make-private "$T/ns"
touch "$T/ns/mnt"
unshare --mount="$T/ns/mnt" --propagation private true || skip "cannot create a mount namespace"
# corosync hard-codes /var/run/corosync.pid: every node needs its own /run.
in_node sh -c "umount -R /run/netns 2>/dev/null; mount --bind $T/run /run &&
	mount --bind $T/etc-corosync /etc/corosync && mount --bind $T/lib-corosync /var/lib/corosync &&
	mount --bind $T/log-corosync /var/log/corosync" || skip "cannot set up the node's mounts"

cat >"$T/etc-corosync/corosync.conf" <<'EOF'
totem {
	version: 2
	cluster_name: agenttest
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
EOF

cat >"$T/kvmcd.conf" <<EOF
[node]
name = n1
[cluster]
stall_timeout = 4s
request_timeout = 5s
reconnect_max = 500
[paths]
state_dir = $T/state
run_dir = $T/run/kvmcd
[log]
level = debug
target = stderr
EOF

start_corosync() {
	in_node sh -c 'corosync -f >>'"$T"'/corosync.log 2>&1 & echo $!' >"$T/corosync.pid"
	COROSYNC_PID=$(cat "$T/corosync.pid")
	echo "$COROSYNC_PID" >>"$T/corosync.pids"
}

start_kvmcd() {
	# nsenter execs kvmcd (no fork without --pid), so $! is kvmcd itself: signals and `wait`.
	nsenter --mount="$T/ns/mnt" --net="/run/netns/$NS" "$KVMCD" --config "$T/kvmcd.conf" --foreground \
		>>"$T/kvmcd.log" 2>&1 &
	KVMCD_PID=$!
}

status_json() { ctl status --json; }
jq_is() { # jq-filter expected
	[ "$(status_json | jq -r "$1")" = "$2" ]
}

start_corosync
start_kvmcd
wait_until 15 "kvmcd is quorate and leads with epoch 1" \
	jq_is '.quorate and .leader.id == .node.id and .leader.epoch == 1 and .is_leader' true

# ---- status ----------------------------------------------------------------------------------
S=$(status_json)
for k in node quorate leader members state_version; do
	[ "$(jq "has(\"$k\")" <<<"$S")" = true ] && ok "status --json has .$k" || fail "status --json lacks .$k"
done
[ "$(jq -r '.members | length' <<<"$S")" = 1 ] && ok "one member" || fail "members: $(jq -c .members <<<"$S")"
[ "$(jq -r '.node.name' <<<"$S")" = n1 ] && ok "node name n1" || fail "node name"
H=$(ctl status)
grep -q '^Leader: .*epoch 1 (this node)' <<<"$H" && ok "human status names the leader" || fail "human status: $H"

# ---- spec ------------------------------------------------------------------------------------
SPEC='{"nodes":[{"name":"n1","id":1,"labels":{"rack":"a"}}],"labels":{"env":"prod"}}'
out=$(printf '%s' "$SPEC" | ctl spec apply - 2>&1)
[ "$out" = "applied: version 1" ] && ok "spec apply: $out" || fail "spec apply: $out"
[ "$(ctl spec get | jq -cS .)" = "$(jq -cS . <<<"$SPEC")" ] && ok "spec get returns the spec" || fail "spec get"
out=$(printf '%s' "$SPEC" | ctl spec diff - 2>&1)
[ -z "$out" ] && ok "spec diff of the same spec is empty" || fail "spec diff same: '$out'"
# records: the leader's records, as one JSON object, filtered by a key prefix
R=$(ctl records) && jq -e 'type == "object"' <<<"$R" >/dev/null && ok "records: a JSON object ($(jq -c 'keys' <<<"$R"))" ||
	fail "records: '$R'"
[ "$(ctl records no-such-prefix/ | jq -c .)" = '{}' ] && ok "records PREFIX: only the keys with that prefix" ||
	fail "records no-such-prefix/"
ctl records a b >/dev/null 2>&1; rc=$?
[ $rc = 1 ] && ok "records with two arguments: a usage error (exit 1)" || fail "records a b: exit $rc"
out=$(printf '%s' '{"labels":{"env":"dev"}}' | ctl spec diff - 2>&1)
grep -q 'labels.env' <<<"$out" && ok "spec diff shows the change" || fail "spec diff: '$out'"

BAD='{"nodes":[{"name":"n1","id":0},{"name":"n1","id":1,"bogus":1}],"labels":{"env":5},"typo":1}'
out=$(printf '%s' "$BAD" | ctl spec apply - 2>&1); rc=$?
[ $rc = 2 ] && ok "invalid spec: exit 2 (refused, nothing applied)" || fail "invalid spec: exit $rc"
n=$(grep -c -E 'nodes\[0\]\.id|bogus|already used|labels\.env|typo' <<<"$out")
[ "$n" -ge 5 ] && ok "invalid spec: all $n problems listed" || fail "invalid spec problems: $out"
jq_is .state_version 1 && ok "invalid spec changed nothing" || fail "state_version moved"

# ---- reload ----------------------------------------------------------------------------------
cp "$T/kvmcd.conf" "$T/kvmcd.conf.good"
printf '[cluster]\nbogus = 1\n[log]\nlevel = loud\n' >>"$T/kvmcd.conf"
kill -HUP "$KVMCD_PID"
wait_until 5 "bad reload is refused" grep -q 'Reload failed (3 problems)' "$T/kvmcd.log"
alive "$KVMCD_PID" && jq_is .quorate true && ok "still running after a bad reload" || fail "died on bad reload"
sed 's/reconnect_max = 500/reconnect_max = 400/; s/stall_timeout = 4s/stall_timeout = 5s/' "$T/kvmcd.conf.good" >"$T/kvmcd.conf"
kill -HUP "$KVMCD_PID"
wait_until 5 "good reload applies reconnect_max" grep -q 'cluster.reconnect_max changed, applied' "$T/kvmcd.log"
grep -q 'cluster.stall_timeout changed, needs restart' "$T/kvmcd.log" && ok "stall_timeout needs restart" ||
	fail "stall_timeout reload message"
cp "$T/kvmcd.conf.good" "$T/kvmcd.conf"

# ---- corosync dies and comes back ------------------------------------------------------------
kill -KILL "$COROSYNC_PID"
wait_until 5 "corosync gone: not connected, no leader" jq_is '(.daemon.connected | not) and .leader == null' true
out=$(printf '%s' '{"labels":{"x":"y"}}' | ctl spec apply - 2>&1); rc=$?
[ $rc = 2 ] && ok "apply while disconnected: exit 2 ($out)" || fail "apply while disconnected: exit $rc: $out"
while alive "$COROSYNC_PID"; do sleep 0.1; done
rm -rf /dev/shm/qb-"$COROSYNC_PID"-* /dev/shm/qb-corosync-"$COROSYNC_PID"-*
start_corosync
wait_until 15 "reconnected and leading with epoch 2" jq_is '"\(.daemon.connected) \(.is_leader) \(.leader.epoch)"' "true true 2"

# ---- restart: state recovered ----------------------------------------------------------------
kill -TERM "$KVMCD_PID"; wait "$KVMCD_PID"; rc=$?
[ $rc = 0 ] && ok "SIGTERM: exit 0" || fail "SIGTERM: exit $rc"
grep -q "Left CPG group" "$T/kvmcd.log" && ok "left the CPG group" || fail "no clean leave"
start_kvmcd
wait_until 15 "restarted: leads with epoch 3, state version 1" \
	jq_is '"\(.leader.epoch) \(.state_version)"' "3 1"
[ "$(ctl spec get | jq -cS .)" = "$(jq -cS . <<<"$SPEC")" ] && ok "spec recovered from state.json" || fail "spec lost"

# ---- state.json cannot be written: stop, never ack -------------------------------------------
in_node sh -c "mount --bind $T/state $T/state && mount -o remount,bind,ro $T/state"
out=$(printf '%s' '{"labels":{"ro":"yes"}}' | ctl spec apply - 2>&1); rc=$?
[ $rc = 3 ] && ok "apply with read-only state: exit 3 ($out)" || fail "read-only state: exit $rc: $out"
wait "$KVMCD_PID"; rc=$?
[ $rc != 0 ] && ok "kvmcd stopped with exit $rc" || fail "kvmcd exit 0 after a persist failure"
in_node umount "$T/state"
grep -q '"version": 1' "$T/state/state.json" && ok "state.json still holds version 1" || fail "state.json changed"

# ---- a corrupt state.json refuses to start ---------------------------------------------------
cp "$T/state/state.json" "$T/state.json.good"
printf '{"format":1,' >"$T/state/state.json"
in_node "$KVMCD" --config "$T/kvmcd.conf" --foreground >"$T/refused.log" 2>&1; rc=$?
[ $rc != 0 ] && grep -q "State file $T/state/state.json is unusable" "$T/refused.log" &&
	ok "corrupt state.json: refused (exit $rc) naming the file" || { fail "corrupt state.json: exit $rc"; cat "$T/refused.log"; }
cp "$T/state.json.good" "$T/state/state.json"
KVMCD_PID=""

# ---- ONTAP: only a safe credentials file starts; the leader alone talks to ONTAP -------------
SIM=$BUILD/tests/ontap-sim/ontap-sim
if [ -x "$SIM" ]; then
	SIM=$(readlink -f "$SIM")
	in_node sh -c "'$SIM' --listen 127.0.0.1:0 --port-file '$T/sim.port' --user kvmcd:S3cret-pw \
		--tls-cert-out '$T/sim.pem' --request-log '$T/sim.log' >'$T/sim.out' 2>&1 & echo \$!" >"$T/sim.pid"
	SIM_PID=$(cat "$T/sim.pid")
	wait_until 10 "ontap-sim listening" test -s "$T/sim.port"
	printf 'username=kvmcd\npassword=S3cret-pw\n' >"$T/ontap.cred"
	chmod 0644 "$T/ontap.cred"
	cp "$T/kvmcd.conf" "$T/kvmcd.conf.no-ontap"
	{
		echo "[ontap]"
		echo "address = 127.0.0.1:$(cat "$T/sim.port")"
		echo "svm = svm1"
		echo "credentials_file = $T/ontap.cred"
		echo "ca_file = $T/sim.pem"
	} >>"$T/kvmcd.conf"
	in_node "$KVMCD" --config "$T/kvmcd.conf" --foreground >"$T/refused-cred.log" 2>&1; rc=$?
	[ $rc != 0 ] && grep -q "$T/ontap.cred" "$T/refused-cred.log" &&
		ok "credentials file readable by others: refused (exit $rc) naming the file" ||
		{ fail "unsafe credentials file: exit $rc"; cat "$T/refused-cred.log"; }
	chmod 0600 "$T/ontap.cred"
	sed -i "s|^ca_file = .*|ca_file = $T/missing.pem|" "$T/kvmcd.conf"
	in_node "$KVMCD" --config "$T/kvmcd.conf" --foreground >"$T/refused-ca.log" 2>&1; rc=$?
	[ $rc != 0 ] && grep -q "ca_file '$T/missing.pem': No such file" "$T/refused-ca.log" &&
		ok "missing ca_file: refused at start (exit $rc) naming it, before any leadership" ||
		{ fail "missing ca_file: exit $rc"; cat "$T/refused-ca.log"; }
	sed -i "s|^ca_file = .*|ca_file = $T/sim.pem|" "$T/kvmcd.conf"
	start_kvmcd
	wait_until 15 "leader reached ONTAP: version 9.14.1 under its epoch" \
		jq_is '"\(.is_leader) \(.ontap.version) \(.ontap.leader_epoch == .leader.epoch)"' "true 9.14.1 true"
	epoch=$(status_json | jq -r .leader.epoch)
	log "kvmcd $(grep VmRSS /proc/$KVMCD_PID/status | tr -s "\t " " ") with the ONTAP module loaded (for the README's idle numbers)"
	n=$(wc -l <"$T/sim.log")
	[ "$n" -gt 0 ] && ok "ONTAP saw $n request(s)" || fail "no ONTAP request logged"
	bad=$(jq -c --arg e "$epoch" 'select(.node != "n1" or .epoch != $e)' "$T/sim.log")
	[ -z "$bad" ] && ok "every ONTAP request came from n1 under epoch $epoch" || fail "requests not stamped by the leader: $bad"
	grep -q "S3cret-pw" "$T/kvmcd.log" && fail "the ONTAP password appears in kvmcd's log" || ok "password not in the log"
	# kvmcctl ontap check runs in the same module (kvmcctl does not link libcurl: it dlopens it)
	in_node "$KVMCCTL" ontap check -c "$T/kvmcd.conf" --json >"$T/check.json" 2>"$T/check.err"; rc=$?
	[ $rc = 0 ] && [ "$(jq -r '"\(.ok) \(.svm.state)"' "$T/check.json")" = "true running" ] &&
		ok "kvmcctl ontap check through the module: ok, SVM running" ||
		{ fail "kvmcctl ontap check: exit $rc"; cat "$T/check.json" "$T/check.err"; }
	in_node "$KVMCCTL" ontap check --peer -c "$T/kvmcd.conf" >"$T/check.out" 2>&1; rc=$?
	[ $rc = 1 ] && grep -q "has no \[ontap_peer\] section" "$T/check.out" &&
		ok "kvmcctl ontap check --peer without [ontap_peer]: exit 1, says so" ||
		{ fail "kvmcctl ontap check --peer without [ontap_peer]: exit $rc"; cat "$T/check.out"; }
	ldd "$KVMCCTL" | grep -q libcurl && fail "kvmcctl links libcurl" || ok "kvmcctl does not link libcurl"
	kill -KILL "$COROSYNC_PID"
	wait_until 5 "corosync gone: the ONTAP link has no leadership" jq_is '.ontap.leader_epoch' 0
	stop_pid "$KVMCD_PID"; KVMCD_PID=""

	# The credentials file turns unsafe after start-up: the new leader cannot build its client,
	# says why in status, leads on without ONTAP, and links up by itself once the file is fixed.
	start_kvmcd
	wait_until 10 "kvmcd answers (no corosync: not leader, no ONTAP client)" \
		jq_is '"\(.is_leader) \(.ontap.client_loaded)"' "false false"
	chmod 0644 "$T/ontap.cred"
	start_corosync
	wait_until 15 "leader without an ONTAP client names the unsafe file in status" \
		jq_is '"\(.is_leader) \(.ontap.client_loaded) \(.ontap.last_error | contains("'"$T/ontap.cred"'") and contains("mode 0644"))"' "true false true"
	ctl status | grep -q "CANNOT reach it: credentials file '$T/ontap.cred'" &&
		ok "kvmcctl status says the leader cannot reach ONTAP and why" || { fail "kvmcctl status:"; ctl status; }
	chmod 0600 "$T/ontap.cred"
	wait_until 15 "after the fix the leader links up by itself" \
		jq_is '"\(.ontap.client_loaded) \(.ontap.version) \(.ontap.leader_epoch == .leader.epoch) \(.ontap.last_error)"' "true 9.14.1 true null"
	n=$(grep -c "cannot set up the ONTAP client" "$T/kvmcd.log")
	[ "$n" = 1 ] && ok "the problem was logged once, not at every retry" || fail "logged $n times"
	kill -KILL "$COROSYNC_PID"
	wait_until 5 "corosync gone again" jq_is '.ontap.leader_epoch' 0
	stop_pid "$KVMCD_PID"; KVMCD_PID=""

	# A module from another build (a package upgrade under a running kvmcd, a build that relinked
	# only kvmcd): refused by its ABI stamp before any of its functions is called, said in status.
	if command -v cc >/dev/null; then
		printf 'const char *ontap_module_abi(void);\nconst char *ontap_module_abi(void) { return "0123456789abcdef"; }\n' >"$T/stale.c"
		cc -shared -fPIC -o "$T/stale-ontap.so" "$T/stale.c"
		KVMCD_ONTAP_MODULE="$T/stale-ontap.so" start_kvmcd
		start_corosync
		wait_until 15 "a module of another build is refused by its ABI stamp, said in status" \
			jq_is '"\(.is_leader) \(.ontap.client_loaded) \(.ontap.last_error | contains("stale-ontap.so") and contains("not this kvmcd"))"' "true false true" ||
			{ status_json | jq -c '{is_leader, ontap}'; grep -i "ontap" "$T/kvmcd.log" | tail -5; }
		kill -KILL "$COROSYNC_PID"
		wait_until 5 "corosync gone again" jq_is '.ontap.leader_epoch' 0
		stop_pid "$KVMCD_PID"; KVMCD_PID=""
	else
		log "skipped the stale-module check: no cc"
	fi
	stop_pid "$SIM_PID"; SIM_PID=""
	cp "$T/kvmcd.conf.no-ontap" "$T/kvmcd.conf"
else
	log "skipped the ONTAP part: no $SIM"
fi

# In the sanitizer build every kvmcd this test ran reported into its log, also at exit (leaks).
if grep -q -E "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$T"/*.log 2>/dev/null; then
	fail "sanitizer reports:"; grep -h -A25 -E "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$T"/*.log | head -60
fi

[ "$FAILED" = 0 ] && { log "PASS agent-single-node"; exit 0; }
log "FAIL agent-single-node"
exit 1
