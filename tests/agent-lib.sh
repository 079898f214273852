# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by tests/test-agent-*.sh: one kvmcd on one real corosync in a private network + mount
# namespace (so it never meets the host's corosync or tests/multinode's nodes). Needs root,
# corosync, unshare/nsenter, ip and jq; skips (exit 77) otherwise.
#
#   agent_init NAME       checks the tools, sets KVMCD/KVMCCTL, creates $T, the namespaces, the
#                         node's mounts and a one-node corosync.conf; cleanup runs at EXIT
#   start_corosync        corosync -f in the node ($COROSYNC_PID)
#   start_kvmcd [CMD...]  kvmcd --config $T/kvmcd.conf --foreground >>$T/kvmcd.log, run through
#                         CMD (e.g. prlimit --nofile=256:4096), exec'd so $KVMCD_PID is kvmcd
#   ctl ARGS              kvmcctl --socket $SOCK
#   log ok fail skip wait_until stop_pid alive in_node    as their names say
#   sanitizer_check       fails on any ASan/UBSan report in $T/*.log
# The caller writes $T/kvmcd.conf (state_dir = $T/state, run_dir = $T/run/kvmcd).

BUILD=${KVMCD_BUILD_DIR:-$(dirname "$0")/../build}
KVMCD=$BUILD/agent/kvmcd
KVMCCTL=$BUILD/agent/kvmcctl
T=""
COROSYNC_PID=""
KVMCD_PID=""
FAILED=0
START=$(date +%s%N)

log() { printf '[%6.2f] %s\n' "$(( ($(date +%s%N) - START) / 10000000 ))e-2" "$*"; }
ok() { log "ok: $*"; }
fail() { log "FAIL: $*"; FAILED=1; }
skip() { echo "SKIP: $*"; exit 77; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
in_node() { nsenter --mount="$T/ns/mnt" --net="/run/netns/$NS" "$@"; }
ctl() { "$KVMCCTL" --socket "$SOCK" "$@"; }

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

agent_cleanup() {
	local p
	for p in ${EXTRA_PIDS:-}; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
	[ -n "$COROSYNC_PID" ] && kill -CONT "$COROSYNC_PID" 2>/dev/null
	stop_pid "$KVMCD_PID"
	stop_pid "$COROSYNC_PID"
	if [ -n "$T" ]; then
		for p in $(cat "$T/corosync.pids" 2>/dev/null); do
			alive "$p" || rm -rf /dev/shm/qb-"$p"-* /dev/shm/qb-corosync-"$p"-*
		done
		if [ "$FAILED" = 1 ]; then
			log "kvmcd log:"; sed 's/^/    /' "$T/kvmcd.log" 2>/dev/null | tail -60
		fi
		umount "$T/ns/mnt" 2>/dev/null
		umount "$T/ns" 2>/dev/null
		rm -rf "$T"
	fi
	ip netns del "$NS" 2>/dev/null
}

agent_init() { # NAME
	local c
	NS=$1-$$
	[ "$(id -u)" = 0 ] || skip "needs root"
	for c in corosync unshare nsenter ip jq; do command -v $c >/dev/null || skip "no $c"; done
	[ -x "$KVMCD" ] && [ -x "$KVMCCTL" ] || skip "no $KVMCD / $KVMCCTL"
	KVMCD=$(readlink -f "$KVMCD")
	KVMCCTL=$(readlink -f "$KVMCCTL")
	trap agent_cleanup EXIT
	T=$(mktemp -d "/tmp/$1-test.XXXXXX")
	SOCK=$T/run/kvmcd/kvmcd.sock
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
	cat >"$T/etc-corosync/corosync.conf" <<-'EOF'
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
}

start_corosync() {
	in_node sh -c 'corosync -f >>'"$T"'/corosync.log 2>&1 & echo $!' >"$T/corosync.pid"
	COROSYNC_PID=$(cat "$T/corosync.pid")
	echo "$COROSYNC_PID" >>"$T/corosync.pids"
}

start_kvmcd() { # [CMD...] to run kvmcd through (it must exec it)
	# nsenter execs (no fork without --pid), so $! is kvmcd itself: signals and `wait`.
	nsenter --mount="$T/ns/mnt" --net="/run/netns/$NS" "$@" "$KVMCD" --config "$T/kvmcd.conf" --foreground \
		>>"$T/kvmcd.log" 2>&1 &
	KVMCD_PID=$!
}

# In the sanitizer build every kvmcd reports into its log, also at exit (leaks).
sanitizer_check() {
	if grep -q -E "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$T"/*.log 2>/dev/null; then
		fail "sanitizer reports:"; grep -h -A25 -E "ERROR: [A-Za-z]+Sanitizer|runtime error:" "$T"/*.log | head -60
	fi
}
