#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/vms.sh -- issue 8's benchmark of kvmcd's own live migration and drain, against the
# baseline bench/vm-migrate.sh measures with libvirt alone. Not part of `meson test`. Needs root.
#
# `cluster up 3 --ontap --libvirt` with kvmcd on every node (simulated host backend for the
# datastore ds1 that holds the guests' disks; n1 leads). The counter guest
# (tests/multinode/vm/counter-domain.xml: 16 MiB, TCG; its serial log on the shared directory)
# is a VM of the spec, started by kvmcd on n1; then ROUNDS (default 20) times
#   kvmcctl vm migrate bench-vm nJ          (n1 <-> n2, asked on node ASK, default n3: neither
#                                           end and not the leader, the longest path)
# Per run:
#   total     the kvmcctl call, process start to exit, timed inside the node (no harness
#             overhead): what the admin waits for
#   libvirt   libvirt's migration call as kvmcd's source timed it (last_migration.ms: the
#             virDomainMigrateToURI3 call, with the probe before it -- two local RPCs)
#   overhead  total - libvirt: kvmcd's own part (issue 8: < 100 ms)
#   downtime  libvirt's job statistics ("downtime_ms" kvmcd records from the source; the
#             target's domjobinfo --completed, as the baseline reads it), and the guest's own
#             view: the longest silence between its time-stamped serial lines (vm/vm.sh)
#   timeline  from the kvmcd logs of every node (`kvmcctl log`: kvmcd's own ms time stamps):
#             CLI start -> the request on the asking node -> the leader records the intent ->
#             the source starts libvirt's call -> libvirt returns -> the leader hands the VM over
#             -> the asking node answers -> CLI exit
# and checks that the serial stream stays 0, 1, 2, ... and the VM runs on its new node only.
# Prints p50 / p95 / max (nearest rank) and the median timeline.
#
# Then (DRAIN, default 10; 0 skips it) guests preferring n1 replace bench-vm in the spec, and
#   kvmcctl node drain n1                   (asked on n2) with the default [vms] limits
#                                           (migrations_per_node 1: one after the other)
#   kvmcctl node undrain n1; kvmcctl cluster rebalance   (back to n1, the same limits)
#   kvmcctl node drain n1                   with migrations_per_node = migrations_per_cluster =
#                                           DRAIN (SIGHUP): all at once, as the baseline's second
# each timed from the command to the leader's last hand-over record (every guest owned by and
# running on another node), every guest then checked on exactly one node, its stream unbroken.
# kvmcd gives a node 4 vCPUs per CPU (agent/vms.c); this machine's 2 CPUs make 8, fewer than 10
# one-vCPU guests, so n1's kvmcd is shown 4 CPUs (a bind mount over /sys/devices/system/cpu/online
# in n1's mount namespace only) when DRAIN > 8. The guests' load is real either way.
#
# Usage: bench/vms.sh        ROUNDS=5 DRAIN=0 bench/vms.sh        ASK=1 bench/vms.sh (the leader)
# Env as for tests/multinode/cluster (MN_PREFIX, MN_RUN_BASE, KVMCD_BUILD_DIR, ...).
ROUNDS=${ROUNDS:-20}
DRAIN=${DRAIN:-10}
ASK=${ASK:-3}
BENCH_DIR=$(dirname "$(readlink -f "$0")")
. "$BENCH_DIR/../tests/multinode/lib.sh"
. "$MN_DIR/vm/kvmcd-vms.sh"
export MN_HOST_SIM=1
mn_begin bench-vms $(( ROUNDS * 20 + DRAIN * 40 + 300 ))
mn_need_libvirt
mn_need_guest_tools

VM=bench-vm
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
mn_up 3 --ontap --libvirt

if [ "$DRAIN" -gt 8 ]; then
	cpus="$MN_RUN_BASE/${MN_PREFIX:-kvmcd}-bench-cpus"
	echo "0-$(( (DRAIN + 3) / 4 - 1 ))" >"$cpus"
	"$CLUSTER" exec 1 mount --bind "$cpus" /sys/devices/system/cpu/online ||
		fail "n1: cannot show kvmcd more CPUs"
	log "n1's kvmcd sees $("$CLUSTER" exec 1 getconf _NPROCESSORS_ONLN) CPUs (for $DRAIN one-vCPU guests)"
fi

wait_until 30 "a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
apply_spec "$L" "{\"datastores\":[$(kv_ds1_spec)]}" || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 3 nodes" nx 1 kvmcctl pool verify
kv_disks "$VM"
mn_vm_stamp_start "$VM"
spec=$(jq -n --arg x "$(kv_xml "$VM")" --arg v "$VM" --argjson ds "$(kv_ds1_spec)" \
	'{datastores: [$ds], vms: [{name: $v, domain_xml: $x, placement: {prefer: ["n1"]}}]}')
apply_spec "$L" "$spec" || fail "apply the VM: $APPLY_OUT"
wait_until 60 "$VM runs on n1 only" kv_runs_only_on "$VM" n1
wait_until 30 "$VM counts" mn_vm_counting "$VM" 5

# p50/p95/max, nearest rank
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
	i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++
	i95 = int(NR * 0.95); if (i95 < NR * 0.95) i95++
	printf "p50 %d, p95 %d, max %d ms", v[i50], v[i95], v[NR] }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.5); if (i < NR * 0.5) i++; print v[i] }'; }

# Every node's kvmcd log ring (kvmcd's own time stamps), concatenated.
all_logs() { local i; for i in 1 2 3; do nx "$i" kvmcctl log 2>/dev/null; done; }
file_logs() { cat "$MN_RUN_BASE/${MN_PREFIX:-kvmcd}"/n[123]/kvmcd.log; }

# mig_timeline ID T0_MS: "req rec start migd done reply" in ms after T0_MS (the CLI's start),
# "-" for an event not found, from the logs on stdin.
mig_timeline() {
	perl -MTime::Local=timegm -e 'my ($id, $t0) = @ARGV; @ARGV = (); my %t;
		my @pat = (
			[req => qr/Request \Q$id\E to the leader/],
			[rec => qr/live migration \Q$id\E from \S+ to \S+ recorded/],
			[start => qr/live migration \Q$id\E to \S+ \(.*\) starts/],
			[migd => qr/migrated to \S+ \(migration \Q$id\E\)/],
			[done => qr/migration \Q$id\E from \S+ to \S+ done/],
			[reply => qr/Request \Q$id\E \(migrate\)/]);
		while (<>) {
			my ($Y, $M, $D, $h, $m, $s, $ms) = /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z / or next;
			my $at = timegm($s, $m, $h, $D, $M - 1, $Y) * 1000 + $ms - $t0;
			for my $p (@pat) { $t{$p->[0]} //= $at if $_ =~ $p->[1] }
		}
		print join(" ", map { $t{$_->[0]} // "-" } @pat), "\n";' "$1" "$2"
}

declare -a T_TOTAL T_LIBVIRT T_OVER T_DOWN T_TDOWN T_STALL E_REQ E_REC E_START E_MIGD E_DONE E_REPLY
src=1
for r in $(seq 1 "$ROUNDS"); do
	dst=$(( 3 - src ))
	sleep 1 # stamps before the migration, and the previous one settled
	W0=$(now_ms)
	# bash's EPOCHREALTIME: no fork of date(1) inside the timed span
	out=$("$CLUSTER" exec "$ASK" timeout 120 bash -c 't0=$EPOCHREALTIME; kvmcctl vm migrate "$1" "$2"; rc=$?
		echo "@T $t0 $EPOCHREALTIME"; exit $rc' bash "$VM" "n$dst" 2>&1)
	rc=$?
	W1=$(now_ms)
	[ "$rc" = 0 ] || fail "round $r: kvmcctl vm migrate $VM n$dst (on n$ASK): exit $rc: $out"
	read -r t0 t1 < <(sed -n 's/^@T //p' <<<"$out")
	t0=$(( ${t0/./} / 1000 )); t1=$(( ${t1/./} / 1000 ))
	total=$(( t1 - t0 ))
	sleep 1.2 # stamps after the hand-over
	stall=$(mn_vm_stall "$VM" "$W0" "$W1")
	mn_vm_continuous "$VM" || fail "round $r: the serial stream broke: $VM_BAD"
	[ "$(kv_running_on "$VM")" = "n$dst" ] || fail "round $r: $VM runs on '$(kv_running_on "$VM")', not n$dst only"
	last=$(nx "$ASK" kvmcctl vm show "$VM" --json | jq -c '.last_migration')
	[ "$(jq -r '"\(.ok) \(.from)->\(.to)"' <<<"$last")" = "true n$src->n$dst" ] || fail "round $r: last_migration $last"
	id=$(jq -r .id <<<"$last"); lv=$(jq -r '.ms // empty' <<<"$last"); down=$(jq -r '.downtime_ms // empty' <<<"$last")
	[ -n "$lv" ] || fail "round $r: no libvirt time in last_migration: $last"
	tdown=$(vsh "$dst" domjobinfo "$VM" --completed 2>/dev/null | awk -F: '/^Total downtime:/ { gsub(/[^0-9]/, "", $2); print $2 }')
	read -r req rec start migd hand reply < <(all_logs | mig_timeline "$id" "$t0")
	T_TOTAL+=("$total"); T_LIBVIRT+=("$lv"); T_OVER+=($(( total - lv ))); T_DOWN+=("${down:-0}")
	T_TDOWN+=("${tdown:-0}"); T_STALL+=("${stall:-0}")
	E_REQ+=("$req"); E_REC+=("$rec"); E_START+=("$start"); E_MIGD+=("$migd"); E_DONE+=("$hand"); E_REPLY+=("$reply")
	log "round $r n$src -> n$dst ($id): total $total ms, libvirt $lv ms, kvmcd $(( total - lv )) ms, downtime ${down:-?} ms (target's stats ${tdown:-?}), guest stall ${stall:-?} ms; timeline: request +$req, recorded +$rec, source starts +$start, libvirt done +$migd, handed over +$hand, answered +$reply, exit +$total (counter at $VM_LAST)"
	src=$dst
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
mn_vm_stamp_stop "$VM"

# The median of each phase (the runs whose timeline is complete).
phases() {
	local i a=() b=() c=() d=() e=() f=() g=()
	for i in "${!T_TOTAL[@]}"; do
		case " ${E_REQ[$i]} ${E_REC[$i]} ${E_START[$i]} ${E_MIGD[$i]} ${E_DONE[$i]} ${E_REPLY[$i]} " in *" - "*) continue ;; esac
		a+=("${E_REQ[$i]}")
		b+=($(( E_REC[i] - E_REQ[i] )))
		c+=($(( E_START[i] - E_REC[i] )))
		d+=($(( E_MIGD[i] - E_START[i] - T_LIBVIRT[i] )))
		e+=($(( E_DONE[i] - E_MIGD[i] )))
		f+=($(( E_REPLY[i] - E_DONE[i] )))
		g+=($(( T_TOTAL[i] - E_REPLY[i] )))
	done
	[ "${#a[@]}" -gt 0 ] || { echo "no complete timeline (the log rings lost lines?)"; return; }
	echo "kvmcd's part, median of ${#a[@]} runs: CLI start -> request sent $(median "${a[@]}") ms;" \
		"-> leader records it $(median "${b[@]}") ms; -> source starts $(median "${c[@]}") ms;" \
		"source's worker + libvirt connection, beside libvirt's call $(median "${d[@]}") ms;" \
		"libvirt done -> handed over $(median "${e[@]}") ms; -> answered $(median "${f[@]}") ms;" \
		"-> CLI exit $(median "${g[@]}") ms"
}

DRAIN_OUT=()
# drain_run WHAT PREDICATE CMD...: runs CMD (a kvmcctl command) on n2, waits until every drain
# guest runs on a node PREDICATE accepts, and measures from CMD's start to the leader's last
# hand-over of a drain guest (from the logs; also how many of those migrations were in flight at
# once at most); then checks every guest on exactly one node, its stream unbroken.
moved() { # PREDICATE: every drain guest running, owned by a node PREDICATE accepts (one vm list)
	local list v o
	list=$(kv_vmlist 2) || return 1
	for v in $GUESTS; do
		o=$(jq -r --arg v "$v" '.[] | select(.name == $v) | "\(.node // "none") \(.state)"' <<<"$list")
		"$1" "${o% *}" && [ "${o#* }" = running ] || return 1
	done
}
not_n1() { [ "$1" != n1 ] && [ "$1" != none ]; }
is_n1() { [ "$1" = n1 ]; }
drain_run() { # WHAT PREDICATE CMD...
	local what=$1 pred=$2 t0 out ms v conc sum
	shift 2
	t0=$(now_ms)
	out=$("$CLUSTER" exec 2 timeout 60 "$@" 2>&1) || fail "$*: $out"
	wait_until 180 "$what: every guest moved" moved "$pred"
	# the log files (the harness stamps each line as it comes): the rings of debug lines wrap
	ms=$(file_logs | perl -MTime::Local=timegm -e 'my $t0 = shift; my ($last, $n, $max, $prev, %run, %rec, %mig, @g1, @g2, @g3) = (0, 0, 0);
		@ARGV = ();
		my @l = sort { $a->[0] <=> $b->[0] } map { /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z (.*)/ ?
			[timegm($6, $5, $4, $3, $2 - 1, $1) * 1000 + $7, $8] : () } <>;
		sub med { my @v = sort { $a <=> $b } @_; @v ? $v[int((@v + 1) / 2) - 1] : "-" }
		for (@l) {
			my ($at, $msg) = @$_;
			next if $at < $t0;
			if ($msg =~ /VM .d\d+.: live migration (\S+) from \S+ to \S+ recorded/) {
				$run{$1} = 1; $rec{$1} = $at; $max = keys %run if keys %run > $max;
				push @g1, $at - $prev if defined $prev;
			}
			push @g2, $at - $rec{$1} if $msg =~ /VM .d\d+.: live migration (\S+) to \S+ \(.*\) starts/ && $rec{$1};
			$mig{$1} = $at if $msg =~ /VM .d\d+.: migrated to \S+ \(migration (\S+)\)/;
			if ($msg =~ /VM .d\d+.: migration (\S+) from \S+ to \S+ done/ && delete $run{$1}) {
				$n++; $last = $prev = $at; push @g3, $at - $mig{$1} if $mig{$1};
			}
		}
		printf "%d %d %d %s %s %s\n", $last ? $last - $t0 : -1, $n, $max, med(@g1), med(@g2), med(@g3);' "$t0")
	read -r ms n conc gap1 gap2 gap3 <<<"$ms"
	[ "$n" = "$DRAIN" ] || fail "$what: $n hand-overs of drain guests in the logs, not $DRAIN"
	for v in $GUESTS; do
		[ "$(kv_running_on "$v")" = "$(kv_owner 1 "$v")" ] || fail "$what: $v runs on '$(kv_running_on "$v")', owner $(kv_owner 1 "$v")"
		mn_vm_continuous "$v" || fail "$what: $v's serial stream broke: $VM_BAD"
	done
	sum=0
	for v in $GUESTS; do
		sum=$(( sum + $(nx 2 kvmcctl vm show "$v" --json | jq '.last_migration.ms // 0') ))
	done
	log "$what: $ms ms to the last hand-over (polled: ${WAITED_MS} ms after the command returned), $n migrations, at most $conc at once, libvirt's calls $sum ms summed; medians: a hand-over -> the next migration recorded $gap1 ms, recorded -> the source starts $gap2 ms, libvirt done -> handed over $gap3 ms; spread: $(for o in n1 n2 n3; do printf '%s %s ' "$o" "$(kv_node 2 "$o" '.vms | length')"; done)"
	DRAIN_OUT+=("$what: $ms ms ($n migrations, at most $conc at once; libvirt's calls $sum ms summed; medians: hand-over -> next recorded $gap1 ms, recorded -> source starts $gap2 ms, libvirt done -> handed over $gap3 ms)")
}

if [ "$DRAIN" -gt 0 ]; then
	GUESTS=$(for k in $(seq 1 "$DRAIN"); do printf 'd%02d ' "$k"; done)
	kv_disks $GUESTS
	spec=$(jq -n --argjson ds "$(kv_ds1_spec)" '{datastores: [$ds], vms: []}')
	for v in $GUESTS; do
		spec=$(jq --arg v "$v" --arg x "$(kv_xml "$v")" '.vms += [{name: $v, domain_xml: $x, placement: {prefer: ["n1"]}}]' <<<"$spec")
	done
	apply_spec "$L" "$spec" || fail "apply the drain guests: $APPLY_OUT"
	for v in $GUESTS; do wait_until 120 "$v runs on n1 only" kv_runs_only_on "$v" n1; done
	for v in $GUESTS; do wait_until 30 "$v counts" mn_vm_counting "$v" 3; done
	[ -z "$(kv_running_on "$VM")" ] || fail "$VM (left the spec) still runs on $(kv_running_on "$VM")"
	sleep 2
	drain_run "drain n1 ([vms] defaults: migrations_per_node 1, per_cluster 4)" not_n1 kvmcctl node drain n1
	wait_until 20 "n1 in maintenance" eval '[ "$(kv_node 2 n1 .maintenance)" = true ]'
	nx 2 kvmcctl node undrain n1 >/dev/null || fail "node undrain n1"
	sleep 2
	drain_run "rebalance back to n1 (defaults)" is_n1 kvmcctl cluster rebalance
	for i in 1 2 3; do
		printf '\n[vms]\nmigrations_per_node = %s\nmigrations_per_cluster = %s\n' "$DRAIN" "$DRAIN" \
			>>"$MN_RUN_BASE/${MN_PREFIX:-kvmcd}/n$i/etc-kvmcd/kvmcd.conf"
		kill -HUP "$("$CLUSTER" pids "$i" kvmcd)" || fail "n$i: SIGHUP kvmcd"
	done
	wait_until 10 "the leader took migrations_per_node = $DRAIN" eval \
		"nx $L kvmcctl log | grep -q 'migrations_per_node'"
	sleep 2
	drain_run "drain n1 (migrations_per_node = per_cluster = $DRAIN)" not_n1 kvmcctl node drain n1
fi

echo
echo "=== bench/vms.sh: $ROUNDS live migrations n1 <-> n2 of a 16 MiB TCG guest by kvmcctl vm migrate (asked on n$ASK; n$L leads)"
echo "machine: $(nproc) vCPU ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(virsh --version 2>/dev/null | sed 's/^/libvirt /'), $(qemu-system-x86_64 --version | head -1 | sed 's/ (.*//'); $(date -u +%F); commit $(git -C "$BENCH_DIR" describe --always --dirty 2>/dev/null) (build $KVMCD_BUILD_DIR)"
echo "load average (1/5/15 min) before: $LOAD0, after the migrations: $LOAD1, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "total (kvmcctl vm migrate):   $(stats "${T_TOTAL[@]}")"
echo "libvirt's migration call:     $(stats "${T_LIBVIRT[@]}")"
echo "kvmcd's overhead (total - libvirt): $(stats "${T_OVER[@]}")"
echo "downtime (libvirt, source):   $(stats "${T_DOWN[@]}")"
echo "downtime (target's job stats): $(stats "${T_TDOWN[@]}")"
echo "guest's stall (serial):       $(stats "${T_STALL[@]}")"
phases
for l in "${DRAIN_OUT[@]}"; do echo "$l"; done
mn_pass
