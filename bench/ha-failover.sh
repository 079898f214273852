#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench/ha-failover.sh -- issue 9's benchmark: a host's failure -> its HA VMs running on a
# survivor, with the ONTAP storage fence. Not part of `meson test`. Needs root.
# (bench/failover.sh is the other failover: the LEADER's corosync killed -> a new leader.)
#
# `cluster up 3 --ontap --libvirt` (simulated host backend, real libvirtd + QEMU per node, the
# counter guests' disks on the datastore ds1), [ha] levels at their default (ontap first; no
# watchdog configured, so ontap alone). VMS (default 2) HA VMs prefer the victim V, a FOLLOWER
# (n3, or n2 when n3 leads); the leader L stays the same throughout (the bench fails otherwise).
# Before the first kill it waits until L has been acting for more than the ONTAP quiet point
# (`kvmcd --print-timeouts`: ontap_quiet, 39 s here, after L's "Acting as leader under epoch"):
# the fence's read-back never confirms before T_L + ontap_quiet (coord/timeouts.h 6.-7.), so a
# kill in a fresh cluster would measure that wait, not the steady state.
#
# ROUNDS times (default 20):
#   t_kill   just before `cluster kill V node` (a power cut: kvmcd, corosync, libvirtd, QEMU,
#            the node's FUSE mounts)
#   cs       L's corosync log: "[TOTEM ] A new membership (...) was formed. Members left: V"
#            (corosync's detection, as corosync reports it; hires local-time stamps)
#   view     L's kvmcd: `view [..] left: [{"node":V,"reason":"node down"}]`
#   fstart   L's kvmcd: "Fencing nV: ontap, attempt N" (the attempt starts)
#   cut      ontap-sim's request log: the last DELETE of V's access (initiators / hosts / rules)
#   conf     L's kvmcd: "Fence of nV: pending -> confirmed"
#   rec      L's kvmcd: the "VMs: recording" patch that first gives the VM an owner other than V
#   launch   the new owner's libvirt begins to start QEMU (its log-libvirt/qemu/NAME.log
#            "starting up" line, written in qemuProcessLaunch ~2 ms after virDomainCreate arrives)
#   started  the new owner's kvmcd: "VM 'NAME': started on this node" (virDomainCreate returned)
# per VM; a round counts its LAST VM to start (rec, launch and started of that VM). Segments:
#   detect    t_kill -> cs           corosync's failure detection (token 1000 ms, consensus 1200)
#   fence     cs -> conf             of which: delivery cs -> view, decide view -> fstart,
#                                    cut fstart -> cut, confirm cut -> conf (read-back)
#   place     conf -> rec            the VM service's leader pass, recorded in a leader patch
#   start     rec -> started         of which: kvmcd rec -> launch (the record commits, the owner
#                                    lists libvirt, its lock gate, the job's connection and lookup),
#                                    libvirt launch -> started (QEMU started and set up by libvirt,
#                                    the guest resumed; kvmcd's worker returns)
#   after     cs -> started          issue 9's target: <= 1 s at p95
#   total     t_kill -> started
# kvmcd's times come from its log ring (`kvmcctl log`: kvmcd's own UTC ms stamps), corosync's
# from its log file, the cut from ontap-sim's request log, t_kill from date(1): one machine, one
# clock (CLOCK_REALTIME), checked at the start (corosync logs local time, kvmcd and the sim UTC).
#
# Between rounds: V's dead ds1 mount is lazily unmounted inside its mount namespace (after a
# power cut the bind mount of the node's old bindfs is a dead FUSE mount, which the datastore
# service does not recover from yet -- tests/multinode/test-ha-failover.sh), `cluster start V
# node`, then wait until V is unfenced (L's `kvmcctl fence history --json`: .fences empty),
# ds1 active on every node (`pool verify`), and `kvmcctl cluster rebalance` has live-migrated
# the VMs back to V (they prefer it); then 2 s of quiet.
#
# Usage: bench/ha-failover.sh        ROUNDS=5 VMS=1 bench/ha-failover.sh
# Env as for tests/multinode/cluster (KVMCD_BUILD_DIR, MN_PREFIX, MN_RUN_BASE, MN_TOKEN, ...).
ROUNDS=${ROUNDS:-20}
VMS=${VMS:-2}
BENCH_DIR=$(dirname "$(readlink -f "$0")")
. "$BENCH_DIR/../tests/multinode/lib.sh"
. "$MN_DIR/vm/kvmcd-vms.sh"
export MN_HOST_SIM=1
mn_begin bench-ha-failover $(( ROUNDS * 150 + 400 ))
mn_need_libvirt
mn_need_guest_tools

RUNDIR=$MN_RUN_BASE/${MN_PREFIX:-kvmcd}
REQLOG=$RUNDIR/ontap/requests.log
OUT=$(mktemp /tmp/kvmcd-bench-ha-failover.XXXXXX)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
mn_up 3 --ontap --libvirt
[ -f "$REQLOG" ] || fail "no ontap-sim request log at $REQLOG"

# One clock: corosync's local-time stamps, kvmcd's UTC ones and date(1) agree.
cs_now=$(perl -MPOSIX=mktime -e '@t = localtime; print mktime(@t) - time')
[ "$cs_now" = 0 ] || fail "local time and UTC disagree in perl's mktime ($cs_now s)"

wait_until 30 "a leader" all_agree_leader 1 2 3
L=${AGREED_LEADER%/*}
EPOCH=${AGREED_LEADER#*/}
V=3; [ "$L" != 3 ] || V=2
log "n$L leads (epoch $EPOCH); the victim is the follower n$V"
apply_spec "$L" "{\"datastores\":[$(kv_ds1_spec)]}" || fail "apply: $APPLY_OUT"
wait_until 60 "ds1 ready on the 3 nodes" nx "$L" kvmcctl pool verify
NAMES=$(for k in $(seq 1 "$VMS"); do printf 'fo%d ' "$k"; done)
# shellcheck disable=SC2086
kv_disks $NAMES
spec=$(jq -n --argjson ds "$(kv_ds1_spec)" '{datastores: [$ds], vms: []}')
for v in $NAMES; do
	spec=$(jq --arg v "$v" --arg x "$(kv_xml "$v")" --arg p "n$V" \
		'.vms += [{name: $v, domain_xml: $x, placement: {prefer: [$p]}, ha: {enabled: true}}]' <<<"$spec")
done
apply_spec "$L" "$spec" || fail "apply the VMs: $APPLY_OUT"
for v in $NAMES; do wait_until 90 "$v runs on n$V only" kv_runs_only_on "$v" "n$V"; done

# The quiet point: T_L = L's (last) "Acting as leader under epoch" (its log file: the harness's
# stamp of a NOTICE line, within ms of kvmcd's own; the ring's early lines may have wrapped).
quiet_ms=$(nx "$L" kvmcd --config /etc/kvmcd/kvmcd.conf --print-timeouts | awk '$2 == "ontap_quiet" { print int($3) }')
[ -n "$quiet_ms" ] || fail "kvmcd --print-timeouts gave no ontap_quiet"
t_l=$(grep "Acting as leader under epoch $EPOCH" "$RUNDIR/n$L/kvmcd.log" | tail -1 | cut -d' ' -f1)
[ -n "$t_l" ] || fail "n$L's log has no 'Acting as leader under epoch $EPOCH'"
t_l_ms=$(( $(date -u -d "${t_l%Z}" +%s%N) / 1000000 ))
wait_ms=$(( t_l_ms + quiet_ms + 5000 - $(now_ms) ))
log "n$L acts since $t_l; ontap_quiet $quiet_ms ms: waiting $(( wait_ms > 0 ? wait_ms : 0 )) ms more (quiet point + 5 s)"
[ "$wait_ms" -le 0 ] || sleep "$(awk -v m="$wait_ms" 'BEGIN { print m / 1000 }')"

fenced_none() { [ "$(nx "$L" kvmcctl fence history --json | jq '.fences | length')" = 0 ]; }
# Every VM owned by a survivor and running there only; one `vm list` on L per poll (every API
# request is a debug line in L's log ring, which holds 1000).
on_survivors() {
	local list v o
	list=$(kv_vmlist "$L") || return 1
	for v in $NAMES; do
		o=$(jq -r --arg v "$v" '.[] | select(.name == $v) | "\(.node // "none") \(.state)"' <<<"$list")
		[ "${o#* }" = running ] || return 1
		case ${o% *} in "n$V"|none) return 1 ;; esac
	done
}
on_victim() { local v; for v in $NAMES; do kv_runs_only_on "$v" "n$V" || return 1; done; }

# timeline T_KILL: prints "cs view fstart cut conf rec launch started vm owner" (ms since the epoch;
# "-" when not found) for the round, from L's corosync log, the kvmcd log rings, the request log and
# the new owner's QEMU log.
timeline() {
	local t_kill=$1 d
	d=$(mktemp -d /tmp/kvmcd-bench-ha-failover-round.XXXXXX)
	for i in 1 2 3; do [ "$i" = "$V" ] || nx "$i" kvmcctl log >"$d/n$i" 2>/dev/null; done
	perl -MPOSIX=mktime -MTime::Local=timegm -e '
		my ($t_kill, $V, $L, $dir, $cslog, $reqlog, $rundir, @vms) = @ARGV; @ARGV = ();
		my %mon = (Jan=>0, Feb=>1, Mar=>2, Apr=>3, May=>4, Jun=>5, Jul=>6, Aug=>7, Sep=>8, Oct=>9, Nov=>10, Dec=>11);
		my $year = (localtime)[5];
		sub iso { my ($Y, $M, $D, $h, $m, $s, $ms) = $_[0] =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z/ or return;
			timegm($s, $m, $h, $D, $M - 1, $Y) * 1000 + $ms }
		my %t;
		open my $cs, "<", $cslog or die;
		while (<$cs>) {
			my ($mo, $d, $h, $m, $s, $ms) = /^(\w{3}) +(\d+) (\d+):(\d+):(\d+)\.(\d+) / or next;
			my $at = mktime($s, $m, $h, $d, $mon{$mo}, $year) * 1000 + $ms;
			next if $at < $t_kill;
			$t{cs} //= $at if /\[TOTEM \] A new membership .* was formed\. Members left: .*\b$V\b/;
		}
		my %ring;
		for my $n (glob "$dir/n*") {
			open my $f, "<", $n or die;
			my ($id) = $n =~ /n(\d+)$/;
			$ring{$id} = [ map { my $a = iso($_); defined $a && $a >= $t_kill ? [$a, $_] : () } <$f> ];
		}
		for (@{$ring{$L}}) {
			my ($at, $l) = @$_;
			$t{view} //= $at if $l =~ /INFO view \[.*\] left: .*"node":$V,"reason":"node down"/;
			$t{fstart} //= $at if $l =~ /Fencing n$V: ontap, attempt/;
			$t{conf} //= $at if $l =~ /Fence of n$V: pending -> confirmed/;
		}
		open my $rq, "<", $reqlog or die;
		while (<$rq>) {
			my ($time) = /"time":"([^"]+)"/ or next;
			my $at = iso($time) // next;
			next if $at < $t_kill || ($t{conf} && $at > $t{conf});
			$t{cut} = $at if /"method":"DELETE"/ && /"path":"[^"]*(initiators|hosts|rules)/;
		}
		my ($last, $lv, $lo, $lrec, $llaunch) = (-1, "-", "-", "-", "-");
		for my $vm (@vms) {
			my ($rec, $owner, $started, $launch);
			for (@{$ring{$L}}) {
				my ($at, $l) = @$_;
				next unless $l =~ /VMs: recording (\{.*\})\s*$/;
				my $j = $1;
				if ($j =~ /"vm\/\Q$vm\E":\{(?:[^{}]|\{[^{}]*\})*?"owner":"(n\d+)"/ && $1 ne "n$V") {
					($rec, $owner) = ($at, $1);
					last;
				}
			}
			if ($owner) {
				my ($oid) = $owner =~ /(\d+)/;
				for (@{$ring{$oid} // []}) {
					my ($at, $l) = @$_;
					if ($l =~ /VM .\Q$vm\E.: started on this node/) { $started = $at; last }
				}
				if (open my $q, "<", "$rundir/n$oid/log-libvirt/qemu/$vm.log") {
					while (<$q>) {
						my ($Y, $M, $D, $h, $m, $s, $ms) = /^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)\.(\d+)\+0000: starting up/ or next;
						my $at = timegm($s, $m, $h, $D, $M - 1, $Y) * 1000 + $ms;
						$launch = $at if $at >= $t_kill && !defined $launch;
					}
				}
			}
			if (!defined $started) { ($last, $lv, $lo, $lrec, $llaunch) = (undef, $vm, $owner // "-", $rec // "-", "-"); last }
			($last, $lv, $lo, $lrec, $llaunch) = ($started, $vm, $owner, $rec, $launch // "-") if $started > $last;
		}
		print join(" ", (map { $t{$_} // "-" } qw(cs view fstart cut conf)), $lrec, $llaunch, $last // "-", $lv, $lo), "\n";
	' "$t_kill" "$V" "$L" "$d" "$RUNDIR/n$L/log-corosync/corosync.log" "$REQLOG" "$RUNDIR" $NAMES
	rm -rf "$d"
}

for r in $(seq 1 "$ROUNDS"); do
	wait_until 60 "round $r: all 3 agree on n$L as the leader" all_agree_leader 1 2 3
	[ "${AGREED_LEADER%/*}" = "$L" ] || fail "round $r: the leader is now n${AGREED_LEADER%/*}, not n$L"
	wait_until 60 "round $r: no fence in force" fenced_none
	for v in $NAMES; do kv_runs_only_on "$v" "n$V" || fail "round $r: $v does not run on n$V only"; done
	sleep 1
	load=$(cut -d' ' -f1 /proc/loadavg)
	t_kill=$(now_ms)
	"$CLUSTER" kill "$V" node >/dev/null || fail "round $r: cluster kill $V node"
	wait_until 120 "round $r: every VM runs on a survivor" on_survivors
	read -r cs view fstart cut conf rec launch started vm owner < <(timeline "$t_kill")
	case " $cs $view $fstart $cut $conf $rec $launch $started " in
	*" - "*)
		log "round $r: a time stamp is missing (cs $cs view $view fence $fstart cut $cut confirmed $conf recorded $rec launch $launch started $started, $vm on $owner): not counted" ;;
	*)
		printf '%s %s %s %s %s %s %s %s %s %s %s %s %s %s\n' "$r" $((cs - t_kill)) $((conf - cs)) $((rec - conf)) \
			$((started - rec)) $((started - cs)) $((started - t_kill)) $((view - cs)) $((fstart - view)) \
			$((cut - fstart)) $((conf - cut)) "$load" $((launch - rec)) $((started - launch)) >>"$OUT"
		log "round $r (load $load): detect $((cs - t_kill)) ms | fence $((conf - cs)) ms (delivery $((view - cs)), decide $((fstart - view)), cut $((cut - fstart)), confirm $((conf - cut))) | place $((rec - conf)) ms | start $((started - rec)) ms (kvmcd $((launch - rec)), libvirt $((started - launch)); $vm on $owner) | after detection $((started - cs)) ms, total $((started - t_kill)) ms" ;;
	esac
	for v in $NAMES; do kv_runs_only_on_owner "$v" || fail "round $r: $v does not run on exactly its owner"; done

	# Back to the steady state: V up, unfenced, ds1 active there, the VMs back on V.
	if ! "$CLUSTER" exec "$V" stat /srv/kvmcd/ds1/. >/dev/null 2>&1; then
		"$CLUSTER" exec "$V" umount -l /srv/kvmcd/ds1 2>/dev/null
	fi
	"$CLUSTER" start "$V" node >/dev/null || fail "round $r: cluster start $V node"
	wait_until 60 "round $r: n$V unfenced" fenced_none
	wait_until 60 "round $r: ds1 active on every node" nx "$L" kvmcctl pool verify
	out=$(nx "$L" kvmcctl cluster rebalance 2>&1) || fail "round $r: cluster rebalance: $out"
	wait_until 120 "round $r: the VMs back on n$V" on_victim
	sleep 2
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

stats() { # COLUMN -> "p50 p95 max" (nearest rank)
	awk -v c="$1" '{ print $c }' "$OUT" | sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "- - -"; exit }
		i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++
		i95 = int(NR * 0.95); if (i95 < NR * 0.95) i95++
		print v[i50], v[i95], v[NR] }'
}
n=$(wc -l <"$OUT")
echo
echo "=== bench/ha-failover.sh: $n of $ROUNDS rounds measured; n$V (a follower, $VMS HA VMs) killed, n$L leads throughout"
echo "machine: $(nproc) vCPU ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)); $(corosync -v 2>/dev/null | head -1 | sed 's/ *$//'); $(virsh --version 2>/dev/null | sed 's/^/libvirt /'); $(date -u +%F); commit $(git -C "$BENCH_DIR" describe --always --dirty 2>/dev/null) (build $KVMCD_BUILD_DIR)"
echo "corosync: token ${MN_TOKEN:-1000} ms, token_coefficient 0, consensus 1200 ms (detection $(nx "$L" kvmcd --config /etc/kvmcd/kvmcd.conf --print-timeouts | awk '$2 == "detection" { print $3 " " $4 }') by formula); kvmcd: ontap_quiet $quiet_ms ms"
echo "load average (1/5/15 min) before: $LOAD0, at the end: $LOAD1; per round (1 min) min/max: $(awk '{ print $12 }' "$OUT" | sort -n | sed -n '1p;$p' | tr '\n' ' ')"
printf '%-44s %8s %8s %8s\n' "segment (ms)" p50 p95 max
for spec in "detect: kill -> corosync's new membership:2" "fence: -> fence confirmed:3" \
	"  delivery: -> kvmcd's view:8" "  decide: -> the ontap attempt starts:9" \
	"  cut: -> the last DELETE on ONTAP:10" "  confirm: -> confirmed (read-back):11" \
	"place: -> the new owner recorded:4" "start: -> domain started on the owner:5" \
	"  kvmcd: -> libvirt begins QEMU's start:13" "  libvirt: -> started (virDomainCreate):14" \
	"after detection (target <= 1000 at p95):6" "total: kill -> running on a survivor:7"; do
	read -r a b c < <(stats "${spec##*:}")
	printf '%-44s %8s %8s %8s\n' "${spec%:*}" "$a" "$b" "$c"
done
echo "raw: $OUT (round detect fence place start after total delivery decide cut confirm load1 start-kvmcd start-libvirt)"
mn_pass
