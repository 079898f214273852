#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The exec agent of a full-stack guest (run by init.sh, restarted if it exits).
#
# Control channel: requests arrive as lines on the virtio-serial port named "fsvm.ctl" (on the
# host a QEMU "pipe" chardev: the host writes lines into <guest>.ctl.in). The agent blocks in
# read(2) on the port, so an idle guest costs nothing and a request starts at once. Payloads
# and results travel over the 9p share, in /share/ctl/NAME/ID/:
#   cmd     bash script to run (written by the host: sources /run/fsvm/env and guest/lib.sh,
#           then the exact argv of `fs exec`)
#   stdin   optional input
#   out err the command's stdout and stderr (written by the guest)
#   pid     its process group id, once started
#   rc      its exit status, renamed into place when it has finished (the host waits for it)
# Lines: "run ID" starts ID in its own session; "kill ID" SIGKILLs that session.
set -u
CTL=/share/ctl/$(hostname)

port() {
	local p
	for p in /sys/class/virtio-ports/vport*; do
		[ "$(cat "$p/name" 2>/dev/null)" = fsvm.ctl ] && { echo "/dev/${p##*/}"; return 0; }
	done
	return 1
}

run_job() { # id: runs in a background subshell, so the agent goes on reading
	local d=$CTL/$1 pid rc in=/dev/null
	exec 3<&-
	[ -f "$d/cmd" ] || { echo "fsvm-agent: no $d/cmd" >/dev/console; return; }
	[ -f "$d/stdin" ] && in=$d/stdin
	cd /root || cd /
	# setsid: the job is a process group of its own, so "kill ID" takes its children too
	setsid /bin/bash "$d/cmd" <"$in" >"$d/out" 2>"$d/err" &
	pid=$!
	echo "$pid" >"$d/pid"
	wait "$pid"
	rc=$?
	echo "$rc" >"$d/rc.tmp" && mv "$d/rc.tmp" "$d/rc"
}

kill_job() {
	local pid
	pid=$(cat "$CTL/$1/pid" 2>/dev/null) || return 0
	[ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null
	return 0
}

main() {
	local p line verb id i=0
	mkdir -p "$CTL"
	until p=$(port); do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "fsvm-agent: no virtio port fsvm.ctl" >/dev/console; sleep 5; return 1; }
		sleep 0.1
	done
	exec 3<"$p" || return 1
	uptime_s=$(cut -d' ' -f1 /proc/uptime)
	echo "$uptime_s" >"/share/run/ev/$(hostname).ready"
	echo "fsvm-agent: ready on $p" >/dev/console
	while :; do
		if ! IFS= read -r line <&3; then
			# EOF: the host side is not connected (not expected with a pipe chardev)
			sleep 0.5
			continue
		fi
		verb=${line%% *}; id=${line#* }
		case $id in */*|.*|'') continue ;; esac
		case $verb in
		run) run_job "$id" & ;;
		kill) kill_job "$id" ;;
		esac
	done
}

main
