# shellcheck shell=bash
# shellcheck disable=SC2034  # VM_LAST, VM_BAD, MIG_* are results for the tests
# SPDX-License-Identifier: GPL-2.0-or-later
# The multi-node tier's VM substrate, for tests and benchmarks (sourced by ../lib.sh; see
# README.md here). Needs `cluster up N --libvirt` (or --shared), MN_PREFIX and CLUSTER from lib.sh.
#
#   mn_vm_image NAME              the counter guest's raw disk as NAME.img in the shared dir
#   mn_vm_xml NAME [MEMORY_MIB]   the domain XML (counter-domain.xml filled in) on stdout
#   mn_vm_define I NAME           image + XML, `virsh define` on node I (persistent, not started)
#   mn_vm_counters NAME           the counter values (decimal) of the complete serial lines
#   mn_vm_continuous NAME         checks the serial stream: 0, 1, 2, ... no reset, no gap, no repeat
#   mn_vm_stamp_start NAME / mn_vm_stamp_stop NAME
#                                 time-stamp every serial line as it is written (epoch ms + line)
#   mn_vm_stall NAME FROM_MS TO_MS  the guest's longest silence in a window minus its usual period
#   mn_vm_migrate SRC DST NAME [VIRSH_ARGS...]
#                                 virsh -t migrate --live --p2p --persistent --undefinesource to
#                                 node DST's URI; sets MIG_RC MIG_OUT MIG_MS (virsh's own timing
#                                 of the call) MIG_JOB_MS MIG_DOWNTIME_MS (libvirt's job stats)
#   mn_vm_monitor_start [VMS]     the invariant monitor (../vm-monitor) in the background
#   mn_vm_monitor_stop            stop it; prints its summary line
#   mn_vm_monitor_check           stop it; fail when it saw a violation (or never sampled);
#                                 also done by lib.sh's exit trap for a monitor still running

MN_VM_DIR=$MN_DIR/vm
MN_VM_TEMPLATE=$MN_VM_DIR/counter-domain.xml
# The shared directory's backing dir on the host (what every node sees at $MN_SHARED).
MN_SHARED_BACKING=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}/shared
# The monitor's output (outside the cluster's run dir: it outlives `cluster down`).
MN_VM_MON_DIR=$MN_RUN_BASE/vm-monitor-${MN_PREFIX:-kvmcd}
MN_VM_MON_PID=""
MN_VM_MIN_ANSWERS=${MN_VM_MIN_ANSWERS:-5}
# Where the time-stamped serial lines go (per test run; removed by mn_vm_stamp_stop's caller).
MN_VM_STAMPS=$MN_RUN_BASE/vm-stamps-${MN_PREFIX:-kvmcd}
declare -A _mn_vm_stamp_pid=()

mn_need_guest_tools() {
	local t
	[ -s "$(_mn_vm_built_image)" ] && return 0
	for t in as ld; do command -v "$t" >/dev/null 2>&1 || mn_skip "$t not installed (binutils, to build the guest)"; done
}

# The image meson built (tests/multinode/counter.img in the build dir) if it is up to date with
# the source, else empty.
_mn_vm_built_image() {
	local img=$KVMCD_BUILD_DIR/tests/multinode/counter.img
	[ -s "$img" ] && [ "$img" -nt "$MN_DIR/guest/counter.s" ] && echo "$img"
}

# mn_vm_image NAME: the guest's raw disk (1 MiB: a multiple of 4 KiB, as cache='none' wants) at
# $MN_SHARED/NAME.img, written into the shared directory's backing dir.
mn_vm_image() {
	local name=$1 img
	img=$(_mn_vm_built_image)
	if [ -n "$img" ]; then
		cp "$img" "$MN_SHARED_BACKING/$name.img.tmp"
	else
		"$MN_DIR/guest/build.sh" "$MN_SHARED_BACKING/$name.img.tmp" 1M
	fi && mv "$MN_SHARED_BACKING/$name.img.tmp" "$MN_SHARED_BACKING/$name.img"
}

# A stable UUID per name (the harness's uuid_of): the same VM has the same UUID on every node.
_mn_vm_uuid() {
	local h
	h=$(printf 'vm:%s' "$1" | md5sum | cut -c1-32)
	printf '%s-%s-4%s-%x%s-%s\n' "${h:0:8}" "${h:8:4}" "${h:13:3}" $(( (0x${h:16:1} & 3) | 8 )) "${h:17:3}" "${h:20:12}"
}

# mn_vm_xml NAME [MEMORY_MIB]: disk $MN_SHARED/NAME.img, serial log $MN_SHARED/NAME.serial.
mn_vm_xml() {
	local name=$1 mem=${2:-16}
	sed -e "s|@NAME@|$name|g" -e "s|@UUID@|$(_mn_vm_uuid "$name")|g" -e "s|@MEMORY_MIB@|$mem|g" \
		-e "s|@DISK@|$MN_SHARED/$name.img|g" -e "s|@SERIAL@|$MN_SHARED/$name.serial|g" "$MN_VM_TEMPLATE"
}

mn_vm_define() { # I NAME [MEMORY_MIB]
	local i=$1 name=$2
	[ -s "$MN_SHARED_BACKING/$name.img" ] || mn_vm_image "$name" || fail "cannot build the guest image for $name"
	mn_vm_xml "$name" "${3:-}" | vsh "$i" define /dev/stdin >/dev/null || fail "n$i: virsh define $name"
}

# The serial log as the host sees it (the backing dir of the shared directory).
mn_vm_serial() { echo "$MN_SHARED_BACKING/$1.serial"; }

# mn_vm_counters NAME: one decimal value per complete "C=XXXXXXXX" line (a line being written
# has fewer than 8 digits and is skipped; its value is whole once the 8th digit is there).
mn_vm_counters() {
	local f
	f=$(mn_vm_serial "$1")
	[ -f "$f" ] || return 0
	perl -ne 'print hex($1), "\n" if /^C=([0-9A-F]{8})$/' "$f"
}
mn_vm_last_counter() { mn_vm_counters "$1" | tail -1; }
mn_vm_counting() { local c; c=$(mn_vm_last_counter "$1"); [ -n "$c" ] && [ "$c" -ge "$2" ]; }

# mn_vm_continuous NAME: the whole serial stream is 0, 1, 2, ... N: one boot (no reset to 0),
# nothing lost, nothing twice. Sets VM_LAST (N) and prints nothing; returns 1 with VM_BAD set.
mn_vm_continuous() {
	local out
	out=$(mn_vm_counters "$1" | awk 'NR == 1 && $1 != 0 { print "starts at " $1; exit 1 }
		NR > 1 && $1 != prev + 1 { print "line " NR ": " prev " then " $1; exit 1 }
		{ prev = $1 } END { if (NR == 0) { print "empty"; exit 1 } print "last " prev }')
	case $out in
	"last "*) VM_LAST=${out#last }; return 0 ;;
	*) VM_BAD=$out; return 1 ;;
	esac
}

# Time stamps: every serial line as it lands in the file, "EPOCH_MS LINE" in $MN_VM_STAMPS/NAME.
# perl polls the backing file every 20 ms (inotify does not see writes made through the nodes'
# FUSE mounts on this machine: tail -F fell back to polling once a second), so a stamp is at most
# ~20 ms (plus scheduling delay) after the guest wrote the line.
mn_vm_stamp_start() {
	local name=$1 f
	f=$(mn_vm_serial "$name")
	mkdir -p "$MN_VM_STAMPS"
	: >"$MN_VM_STAMPS/$name"
	perl -MTime::HiRes=time,sleep -e 'my ($f, $out) = @ARGV; my ($fh, $part) = (undef, "");
		open(my $o, ">>", $out) or die; $o->autoflush(1);
		$SIG{TERM} = sub { exit 0 };
		while (1) {
			if (!$fh) { open(my $h, "<", $f) or do { sleep 0.02; next }; $fh = $h }
			my $n = sysread($fh, my $buf, 65536);
			if (!$n) { sleep 0.02; next }
			my $t = int(time * 1000);
			$part .= $buf;
			while ($part =~ s/^([^\n]*\n)//) { print $o "$t $1" }
		}' "$f" "$MN_VM_STAMPS/$name" </dev/null 9>&- &
	_mn_vm_stamp_pid[$name]=$!
}
mn_vm_stamp_stop() {
	local name=$1 p=${_mn_vm_stamp_pid[$1]:-}
	[ -n "$p" ] && kill "$p" 2>/dev/null
	unset "_mn_vm_stamp_pid[$name]"
	return 0
}
# mn_vm_stall NAME FROM_MS TO_MS: the longest gap between two stamped lines that ends inside
# [FROM_MS, TO_MS + 1000] minus the median gap of the whole stamp file (the guest's period,
# ~220 ms). Prints ms (the guest's view of its downtime; coarse: stamping jitter on a loaded
# machine is tens of ms), or nothing without stamps.
mn_vm_stall() {
	[ -s "$MN_VM_STAMPS/$1" ] || return 0
	perl -e 'my ($from, $to) = (shift, shift); my ($prev, $worst, @gaps);
		while (<>) {
			my ($t) = /^(\d+) / or next;
			if (defined $prev) { my $g = $t - $prev; push @gaps, $g; $worst = $g if $t >= $from && $t <= $to && $g > ($worst // 0); }
			$prev = $t;
		}
		exit unless @gaps >= 3 && defined $worst;
		@gaps = sort { $a <=> $b } @gaps;
		my $d = $worst - $gaps[$#gaps / 2]; print $d < 0 ? 0 : $d, "\n";' "$2" "$(( $3 + 1000 ))" "$MN_VM_STAMPS/$1"
}

# mn_vm_migrate SRC DST NAME [VIRSH_ARGS...]: a live peer-to-peer migration, persistent on the
# target, undefined on the source, to `cluster uri DST` (MIG_URI_FLAG=--name: by node name).
mn_vm_migrate() {
	local src=$1 dst=$2 name=$3 uri job
	shift 3
	uri=$("$CLUSTER" uri "$dst" ${MIG_URI_FLAG:+"$MIG_URI_FLAG"})
	MIG_JOB_MS=""; MIG_DOWNTIME_MS=""; MIG_MS=""
	MIG_T0=$(now_ms)
	MIG_OUT=$("$CLUSTER" exec "$src" timeout "${MIG_TIMEOUT:-120}" virsh -q -t migrate --live --p2p \
		--persistent --undefinesource "$@" "$name" "$uri" 2>&1)
	MIG_RC=$?
	MIG_T1=$(now_ms)
	MIG_MS=$(sed -n 's/^(Time: \([0-9]*\)\.[0-9]* ms)$/\1/p' <<<"$MIG_OUT" | tail -1)
	[ "$MIG_RC" -eq 0 ] || return "$MIG_RC"
	job=$(vsh "$dst" domjobinfo "$name" --completed 2>/dev/null)
	MIG_JOB_MS=$(awk -F: '/^Time elapsed:/ { gsub(/[^0-9]/, "", $2); print $2 }' <<<"$job")
	MIG_DOWNTIME_MS=$(awk -F: '/^Total downtime:/ { gsub(/[^0-9]/, "", $2); print $2 }' <<<"$job")
	return 0
}

# --- the invariant monitor ------------------------------------------------------------------
# mn_vm_monitor_start [VM,VM...]: starts ../vm-monitor on every node of the cluster (all
# domains unless named) and waits until every node has answered once.
mn_vm_monitor_start() {
	rm -rf "$MN_VM_MON_DIR"; mkdir -p "$MN_VM_MON_DIR"
	"$MN_DIR/vm-monitor" --out "$MN_VM_MON_DIR" ${1:+--vms "$1"} ${MN_VM_MON_INTERVAL:+--interval "$MN_VM_MON_INTERVAL"} \
		</dev/null >>"$MN_VM_MON_DIR/stderr" 2>&1 9>&- &
	MN_VM_MON_PID=$!
	local end=$(( $(now_ms) + 20000 ))
	until [ -e "$MN_VM_MON_DIR/ready" ]; do
		kill -0 "$MN_VM_MON_PID" 2>/dev/null || fail "vm-monitor exited: $(tail -3 "$MN_VM_MON_DIR/stderr" "$MN_VM_MON_DIR/log" 2>/dev/null)"
		[ "$(now_ms)" -lt "$end" ] || fail "vm-monitor: not every node answered within 20 s ($MN_VM_MON_DIR/log)"
		sleep 0.1
	done
	log "vm-monitor running (pid $MN_VM_MON_PID, ${1:-all domains}, log $MN_VM_MON_DIR/log)"
}
_mn_vm_sum() { sed -n "s/^$1=//p" "$MN_VM_MON_DIR/summary" 2>/dev/null; }
mn_vm_monitor_stop() {
	[ -n "$MN_VM_MON_PID" ] || return 0
	kill -TERM "$MN_VM_MON_PID" 2>/dev/null
	local end=$(( $(now_ms) + 10000 ))
	while kill -0 "$MN_VM_MON_PID" 2>/dev/null && [ "$(now_ms)" -lt "$end" ]; do sleep 0.05; done
	kill -KILL "$MN_VM_MON_PID" 2>/dev/null
	wait "$MN_VM_MON_PID" 2>/dev/null
	MN_VM_MON_PID=""
	log "vm-monitor: $(grep ' stop: ' "$MN_VM_MON_DIR/log" | tail -1 | cut -d' ' -f3-)"
}
# mn_vm_monitor_verdict: after stop; 0 = no violation and every node sampled at least
# MN_VM_MIN_ANSWERS times. Sets MN_VM_MON_WHY.
mn_vm_monitor_verdict() {
	MN_VM_MON_WHY=""
	if [ -s "$MN_VM_MON_DIR/violations" ]; then
		MN_VM_MON_WHY="vm-monitor saw a domain running on two nodes at once: $(cat "$MN_VM_MON_DIR/violations")"
		return 1
	fi
	local a
	a=$(_mn_vm_sum answers)
	if [ -z "$a" ] || [ "$a" -lt "$MN_VM_MIN_ANSWERS" ]; then
		MN_VM_MON_WHY="vm-monitor sampled too little (answers '${a:-none}' < $MN_VM_MIN_ANSWERS): it proves nothing"
		return 1
	fi
	return 0
}
mn_vm_monitor_check() {
	mn_vm_monitor_stop
	mn_vm_monitor_verdict || fail "$MN_VM_MON_WHY"
	log "ok: vm-monitor: no domain ran on two nodes at once ($(_mn_vm_sum answers)+ answers per node, longest blind spell $(grep -o 'longest blind spell [^,]*' "$MN_VM_MON_DIR/log" | tail -1 | cut -d' ' -f4-))"
}
# Called by lib.sh's exit trap before `cluster down`: a monitor still running is stopped and
# judged (a test that forgot mn_vm_monitor_check still fails on a violation). Returns 1 on one.
_mn_vm_on_exit() {
	local p
	for p in "${_mn_vm_stamp_pid[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$MN_VM_STAMPS"
	[ -n "$MN_VM_MON_PID" ] || return 0
	mn_vm_monitor_stop
	if ! mn_vm_monitor_verdict; then
		log "FAIL: $MN_VM_MON_WHY"
		return 1
	fi
	return 0
}
