#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# test-datastores.sh -- issue 7's full-stack scenario: kvmcd itself, with its REAL host backend,
# turns one spec into storage on real kernels.
#   t runs tests/ontap-sim, which drives a real LIO iSCSI target and a real nvmet-tcp target
#   (guest/target-sync.py, its --target-hook): a LUN or namespace is a file, an igroup's
#   initiators are LIO ACLs with the LUN mapped, a subsystem's hosts are nvmet allowed hosts, so
#   a map or unmap over REST really grants or revokes a host's access.
#   n1..n3 run corosync, dlm_controld, iscsid, multipathd, libvirtd and kvmcd (the build under
#   test, copied in).
# Scenario: a spec with an iSCSI + OCFS2 and an NVMe/TCP + GFS2 datastore → the simulator holds
# one igroup per node with its IQN, the LUN mapped to each, the nodes in the subsystem; every node
# logged in on 2 portals, has a 2-path multipath map found by the LUN's serial and the namespace
# on 2 controllers found by its UUID (the devices kvmcd reports); exactly one node formatted each;
# all mounted; identical active pools (`kvmcctl pool verify`, and libvirt's own XML compared); a
# file written on one node is read on the others. The same spec applied again changes nothing (no
# ONTAP change, no mkfs, no login, no connect). The iSCSI datastore removed → on every node its
# pool, mount, sessions and multipath map are gone and the target serves its LUN to nobody; the
# NVMe datastore is untouched and the ONTAP volume kept.
# Before the removal, issue 8's VM lock on real DLM with kvmcd itself ([vms] vm_lock = auto, the
# default: status says "dlm"): a VM of the spec (the counter boot sector of tests/multinode/guest
# under nested QEMU TCG, its disk and serial log on the OCFS2 datastore) runs on its owner, whose
# DLM shows "vm:NAME" granted EX to it (dlm_tool lockdebug kvmcd); tests/vm-lock-tool on the
# other nodes is refused by the DLM itself (-EBUSY); `kvmcctl vm migrate` moves the guest (its
# counter goes on) and the lock (held on the target, not on the source); `kvmcctl vm stop` frees
# it (no node holds it, another node's tool takes and drops it); `vm remove` undefines it.
# After the removal, issue 9's failover on real kernels: kvmcd runs with [ha] watchdog =
# /dev/watchdog, and dlm_controld with fencing on and kvmcd's fence device (`fence_all
# fence_kvmcd`). An HA guest on the GFS2 datastore runs on a follower, n3 (n2 if n3 leads), whose
# watchdog (QEMU's i6300esb, which powers the guest off) its kvmcd then arms and feeds (the
# survivors have none: failover_phases says why); n3 is ISOLATED (`fs isolate`: all
# traffic between it and the other nodes cut, its storage network up, the guest running) ->
# alone and not quorate, n3's kvmcd logs the quorum loss, stops the HA guest itself (libvirt: shut
# off) and stops feeding its watchdog, which powers n3 off about one timeout (10 s) after the last
# keepalive (QEMU's exit on the host's clock against kvmcd's "last keepalive N ms ago", after the
# isolation began; no kernel panic or poweroff of its own). Meanwhile kvmcd's leader fences n3 on
# ONTAP: the simulator's subsystem loses n3's host NQN and the real nvmet target no longer allows
# it; `fence history`: confirmed by ontap; dlm_controld on the survivors ran fence_kvmcd, which
# returned 0 (its "fence result 3 ... result 0"); the guest was given to a survivor and started
# there only after the confirmation (kvmcd's logs); GFS2 is usable on both survivors (n3's files
# read) and the guest counts on its new host.
# Prints "phase NAME SECONDS" per phase; ends with PASS or FAIL. Skips (77) like test-smoke.sh,
# and without a build (KVMCD_BUILD_DIR, set by meson).
set -eu
set -o pipefail

HERE=$(dirname "$(readlink -f "$0")")
TEST_NAME=test-datastores
export FS_NAME=${FS_NAME:-datastores}
export FS_LIFETIME=${FS_LIFETIME:-1790}
# kvmcd keeps 1 GiB of a host for the host itself (agent/vms.c): 1280 MiB leave room for the VM
export FS_NODE_MEM=${FS_NODE_MEM:-1280}
# below meson's 1800 s, so our cleanup runs. It takes ~580 s on the AMD EPYC machines CI has had,
# ~1200 s on a 2.1 GHz Xeon (TCG in the nested guests is what is slow): the margin is for that.
OVERALL=${DS_TIMEOUT:-1770}
TOKEN=3000
CLUSTER=fsvm
NODES="n1 n2 n3"
BUILD=${KVMCD_BUILD_DIR:-}
ONTAP_USER=kvmcd
WD_TIMEOUT=10                  # kvmcd's watchdog_timeout (coord/timeouts.h: 10 s)
KVMCD_HA=$'[ha]\nwatchdog=/dev/watchdog'

# shellcheck source=tests/fullstack/test-lib.sh
. "$HERE/test-lib.sh"

SPEC_BOTH='{"datastores": [
 {"name": "ds_iscsi", "protocol": "iscsi", "size": "2G", "fs": "ocfs2"},
 {"name": "ds_nvme", "protocol": "nvme-tcp", "size": "2G", "fs": "gfs2"}]}'
# issue 10's clones: a policy over both, for `snapshot create` (a consistency group snapshot)
SPEC_POLICY='{"datastores": [
 {"name": "ds_iscsi", "protocol": "iscsi", "size": "2G", "fs": "ocfs2"},
 {"name": "ds_nvme", "protocol": "nvme-tcp", "size": "2G", "fs": "gfs2"}],
 "protection": [{"name": "gold", "datastores": ["ds_iscsi", "ds_nvme"], "schedules": [{"every": "1d", "keep": 2}]}]}'
SPEC_NVME='{"datastores": [
 {"name": "ds_nvme", "protocol": "nvme-tcp", "size": "2G", "fs": "gfs2"}]}'

# The simulator's view (its persisted state on t) and the target's configfs, as JSON on stdout.
sim_view() {
	"$FS" exec -i t python3 - <<'PY'
import json, os
st = json.load(open("/srv/sim/state.json"))
def names(c): return {r["uuid"]: r for r in st.get(c, [])}
igroups, luns, subs, nss = names("igroups"), names("luns"), names("subsystems"), names("namespaces")
out = {"igroups": {g["name"]: sorted(i["name"] for i in g.get("initiators", [])) for g in igroups.values()},
       "lun_maps": sorted([luns[m["lun"]["uuid"]]["name"], igroups[m["igroup"]["uuid"]]["name"]]
                          for m in st.get("lun_maps", [])),
       "subsystems": {s["name"]: sorted(h["nqn"] for h in s.get("hosts", [])) for s in subs.values()},
       "subsystem_maps": sorted([subs[m["subsystem"]["uuid"]]["name"], nss[m["namespace"]["uuid"]]["name"]]
                                for m in st.get("subsystem_maps", [])),
       "volumes": sorted(v["name"] for v in st.get("volumes", []) if v["name"].startswith("kvmcd_")),
       "hook": st.get("target_hook", {})}
cfs = "/sys/kernel/config"
acls = {}
for t in os.listdir(cfs + "/target/iscsi"):
    a = f"{cfs}/target/iscsi/{t}/tpgt_1/acls"
    for i in (os.listdir(a) if os.path.isdir(a) else []):
        acls[i] = sorted(x for x in os.listdir(f"{a}/{i}") if x.startswith("lun_"))
out["lio_acls"] = acls
out["nvmet_hosts"] = {s: sorted(os.listdir(f"{cfs}/nvmet/subsystems/{s}/allowed_hosts"))
                      for s in os.listdir(cfs + "/nvmet/subsystems")}
print(json.dumps(out, sort_keys=True))
PY
}

# jq-less JSON checks on the host: python3 EXPR over the document in $1 (as `d`).
jcheck() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"; }
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# Counts of what kvmcd ran on a node, from its log (the runner logs every child it starts).
ran() { # NODE PATTERN (of the command line, after "deadline N s: ")
	"$FS" exec "$1" sh_c 'grep -c "deadline [0-9.]* s: $1" /var/log/kvmcd.log || true' "$2"
}
# The same in one exec: "<iSCSI logins> <NVMe connects> <mkfs> <blkid> <ds_iscsi pool steps done>
# <ds_nvme pool steps done>" of NODE.
node_counts() { # NODE
	"$FS" exec "$1" sh_c 'c() { grep -c "$1" /var/log/kvmcd.log || true; }
		echo "$(c "deadline [0-9.]* s: iscsiadm .*--login") $(c "deadline [0-9.]* s: nvme connect")" \
			"$(c "deadline [0-9.]* s: mkfs") $(c "deadline [0-9.]* s: blkid")" \
			"$(c "Datastore .ds_iscsi.: libvirt pool: done") $(c "Datastore .ds_nvme.: libvirt pool: done")"'
}
mutations() { "$FS" exec t sh_c 'grep -vc "\"method\":\"GET\"" /srv/sim/requests.log || true'; }

wait_ready() { # SECS: until both datastores are ready everywhere and pool verify passes
	local end=$(( $(date +%s) + $1 ))
	until "$FS" exec -t 30 n1 sh_c 'kvmcctl pool verify' >"$TMP/verify" 2>&1; do
		if [ "$(date +%s)" -ge "$end" ]; then
			cat "$TMP/verify"
			"$FS" exec n1 sh_c 'kvmcctl datastore show ds_iscsi; kvmcctl datastore show ds_nvme' || true
			fail "datastores not ready on every node within $1 s"
		fi
		sleep 5
	done
}

# ---- issue 10: clones on real OCFS2 and GFS2 ---------------------------------------------------
# A snapshot of both datastores while every node has them mounted (crash-consistent, journals
# dirty), each cloned into a new datastore: the node the leader names makes the copied file
# system distinct with the real tools (tunefs.ocfs2 --cloned-volume, tunegfs2 -U -o locktable),
# then every node mounts the clone BESIDE its parent (same cluster, same DLM): another UUID, the
# clone's label / lock table, the parent's files as of the snapshot, a file written on the clone
# read on the other nodes and absent from the parent. Then the clones and the policy are
# removed again (detached everywhere: the parents' sessions and paths stay).
clone_phases() { # the token of phase share
	local token=$1 snap="" end n o dev pdev
	phase clone
	on n1 sh_c 'echo "$1" >/root/spec.json && kvmcctl spec apply /root/spec.json' "$SPEC_POLICY" >/dev/null
	on n1 sh_c 'kvmcctl snapshot create gold' >/dev/null
	end=$(( $(date +%s) + 120 ))
	until snap=$("$FS" exec n1 sh_c 'kvmcctl snapshot list --json' 2>/dev/null | python3 -c '
import json, sys
l = json.load(sys.stdin)
s = {x["name"] for x in l if x.get("label") == "ondemand" and x["datastore"] == "ds_iscsi"} & \
    {x["name"] for x in l if x.get("label") == "ondemand" and x["datastore"] == "ds_nvme"}
print(sorted(s)[0] if s else "")') && [ -n "$snap" ]; do
		[ "$(date +%s)" -lt "$end" ] || fail "the on-demand snapshot of gold is not listed on both datastores within 120 s"
		sleep 3
	done
	log "snapshot $snap of ds_iscsi and ds_nvme (taken with both mounted on every node)"
	on n1 sh_c 'kvmcctl datastore clone ds_iscsi "$1" ds_iscsi_c && kvmcctl datastore clone ds_nvme "$1" ds_nvme_c' "$snap" >/dev/null
	wait_ready 600
	# Each node's checks in one exec (a guest command costs ~1 s under TCG): the lines say what
	# was found, "FAIL <why>" ends them at the first check that does not hold.
	for n in $NODES; do
		"$FS" exec "$n" sh_c '
		findmnt -n -o FSTYPE /srv/kvmcd/ds_iscsi_c | grep -qx ocfs2 && findmnt -n -o FSTYPE /srv/kvmcd/ds_nvme_c | grep -qx gfs2 &&
			findmnt -n /srv/kvmcd/ds_iscsi >/dev/null && findmnt -n /srv/kvmcd/ds_nvme >/dev/null ||
			{ echo "FAIL the clones are not mounted beside their parents"; exit 0; }
		for o in ds_iscsi ds_nvme; do
			c=${o}_c
			dev=$(findmnt -n -o SOURCE "/srv/kvmcd/$c") && pdev=$(findmnt -n -o SOURCE "/srv/kvmcd/$o") &&
				u=$(blkid -o value -s UUID "$dev") && p=$(blkid -o value -s UUID "$pdev") && l=$(blkid -o value -s LABEL "$dev") ||
				{ echo "FAIL cannot read $c or $o (findmnt, blkid)"; exit 0; }
			line="$c: $dev uuid $u label $l; parent $pdev uuid $p"
			echo "$line"
			[ -n "$u" ] && [ "$u" != "$p" ] && case $l in "$c"|*:"$c") true ;; *) false ;; esac ||
				{ echo "FAIL $c is not distinct from its parent: $line"; exit 0; }
			for w in $2; do
				[ "$(cat "/srv/kvmcd/$c/hello-$w")" = "$w $1" ] || { echo "FAIL $c does not hold $w'"'"'s file of the snapshot"; exit 0; }
			done
		done' "$token" "$NODES" >"$TMP/clone.$n" || fail "$n: the clone checks did not run (exit $?)"
		while IFS= read -r line; do
			case $line in
			"FAIL "*) fail "$n: ${line#FAIL }" ;;
			*) log "$n: $line" ;;
			esac
		done <"$TMP/clone.$n"
		[ "$(grep -c '_c: ' "$TMP/clone.$n")" = 2 ] || fail "$n: the clone checks stopped early: $(cat "$TMP/clone.$n")"
	done
	local i=0 g=0
	for n in $NODES; do
		i=$((i + $(ran "$n" 'tunefs.ocfs2 .*--cloned-volume'))); g=$((g + $(ran "$n" tunegfs2)))
	done
	[ "$i" = 1 ] && [ "$g" = 1 ] || fail "expected the clones made distinct once each, ran tunefs.ocfs2 --cloned-volume $i and tunegfs2 $g times"
	on n2 sh_c 'for d in ds_iscsi_c ds_nvme_c; do echo clone-only >/srv/kvmcd/$d/clone.txt.tmp && sync /srv/kvmcd/$d/clone.txt.tmp &&
		mv /srv/kvmcd/$d/clone.txt.tmp /srv/kvmcd/$d/clone.txt; done'
	for n in n1 n3; do
		on "$n" sh_c 'for d in ds_iscsi ds_nvme; do [ "$(cat /srv/kvmcd/${d}_c/clone.txt)" = clone-only ] && [ ! -e /srv/kvmcd/$d/clone.txt ] || exit 1; done' ||
			fail "$n: a file written on the clones by n2 is not read there, or is in the parents"
	done
	log "the clones are made distinct once each (real tunefs.ocfs2 / tunegfs2), mounted beside their parents on every node with the snapshot's files; written on n2, read on n1 and n3, the parents untouched"

	phase clone-remove
	on n1 sh_c 'echo "$1" >/root/spec.json && kvmcctl spec apply /root/spec.json' "$SPEC_BOTH" >/dev/null
	end=$(( $(date +%s) + 300 ))
	until on_all_gone; do
		[ "$(date +%s)" -lt "$end" ] || fail "the clones are not detached from every node within 300 s"
		sleep 5
	done
	wait_ready 120
	for n in $NODES; do
		on "$n" sh_c '[ "$(iscsiadm -m session | grep -c ":3260,")" = 2 ] && for o in n1 n2 n3; do grep -q "^$o " /srv/kvmcd/ds_iscsi/hello-$o &&
			grep -q "^$o " /srv/kvmcd/ds_nvme/hello-$o || exit 1; done' || fail "$n: the parents lost their sessions or files with the clones"
	done
	log "the clones detached everywhere; the parents keep their 2 sessions and their files"
}
on_all_gone() {
	local n
	for n in $NODES; do
		"$FS" exec -t 60 "$n" sh_c 'for d in ds_iscsi_c ds_nvme_c; do ! virsh -q -c qemu:///system pool-info $d >/dev/null 2>&1 &&
			! findmnt -n /srv/kvmcd/$d >/dev/null || exit 1; done' || return 1
	done
}

# ---- issue 8: the DLM VM lock, with kvmcd ------------------------------------------------------
VM=vm1
VM_DIR=/srv/kvmcd/ds_iscsi     # the OCFS2 datastore
VM_RES=vm:$VM                  # its DLM resource in the lockspace kvmcd (vm-lock.h)
VM_SKIP=""

# vm_prepare: vm-lock-tool and the counter guest's disk into $TMP/bin (copied into the guests)
vm_prepare() {
	[ -x "$BUILD/tests/vm-lock-tool" ] || { VM_SKIP="kvmcd built without libdlm (no tests/vm-lock-tool)"; return 0; }
	cp "$BUILD/tests/vm-lock-tool" "$TMP/bin/"
	if [ -f "$BUILD/tests/multinode/counter.img" ]; then
		cp "$BUILD/tests/multinode/counter.img" "$TMP/bin/"
	else
		"$HERE/../multinode/guest/build.sh" "$TMP/bin/counter.img" 1M ||
			fail "the counter guest is not built and cannot be assembled (as, ld: build-essential)"
	fi
}

# The counter guest's domain for the spec: 16 MiB, TCG with a 16 MiB translation cache (nested
# QEMU in a TCG guest: the default cache is 1 GiB), disk and serial log on the OCFS2 datastore
# (append: the migration's source and target write one stream); no <uuid> (kvmcd derives one).
vm_xml() {
	sed -e '/<uuid>/d' -e "s/@NAME@/$VM/" -e 's/@MEMORY_MIB@/16/' -e "s|@DISK@|$VM_DIR/$VM.img|" \
		-e "s|@SERIAL@|$VM_DIR/$VM.serial|" \
		-e "s|</os>|</os>\n  <features><tcg><tb-cache unit='MiB'>16</tb-cache></tcg></features>|" \
		"$HERE/../multinode/vm/counter-domain.xml"
}

vm_show() { "$FS" exec n1 sh_c 'kvmcctl vm show "$1" --json' "$VM" >"$TMP/vm.json"; }
vm_is() { vm_show && jcheck "$TMP/vm.json" "$1"; }   # PYEXPR over n1's `vm show --json` (as d)
vm_wait() { # SECS WHAT PYEXPR
	local end=$(( $(date +%s) + $1 )) n
	until vm_is "$3"; do
		if [ "$(date +%s)" -ge "$end" ]; then
			cat "$TMP/vm.json"
			for n in $NODES; do
				log "$n: kvmcd's log, its last VM lines:"
				"$FS" exec "$n" sh_c 'grep -E "$1|VM lock" /var/log/kvmcd.log | tail -n 12' "$VM" | sed 's/^/    /' || true
			done
			fail "$2: not within $1 s"
		fi
		sleep 2
	done
}
# running_on: the nodes whose libvirtd runs the VM
running_on() {
	local n out=""
	for n in $NODES; do
		[ "$("$FS" exec "$n" sh_c 'virsh -q -c qemu:///system domstate "$1" 2>/dev/null' "$VM")" = running ] && out+="$n "
	done
	echo "${out% }"
}
# holders: the nodes where a lock of that node is granted EX on vm:NAME (dlm_tool lockdebug)
holders() {
	local n out=""
	for n in $NODES; do "$FS" exec "$n" dlm_held_here kvmcd "$VM_RES" && out+="$n "; done
	echo "${out% }"
}
# refused NODE: vm-lock-tool in NODE asks the DLM for the VM's lock: refused at once (-EBUSY)
refused() {
	local out rc
	if out=$("$FS" exec -t 60 "$1" /opt/kvmcd/vm-lock-tool acquire:"$VM" 2>&1); then
		fail "$1 acquired $VM_RES while kvmcd on another node holds it: $out"
	else rc=$?; fi
	[ "$rc" = 2 ] && grep -q -- '-> -EBUSY .*held elsewhere' <<<"$out" ||
		fail "$1: vm-lock-tool acquire:$VM not refused as busy (exit $rc): $out"
	log "$1: vm-lock-tool: $out"
}
# counters: the guest's counter values in its serial log (on OCFS2, read through n1)
counters() { "$FS" exec n1 sh_c 'grep -ao "C=[0-9A-F]\{8\}" "$1" | cut -c3-' "$VM_DIR/$VM.serial" >"$TMP/counters"; }
# counting N [CUTS]: the stream is 0, 1, 2, ... without a reset (a restarted guest), a repeat or a
# step back (a second copy writing too) or a gap, and has reached N. With CUTS (migrations), each
# may add up to 2 gaps of at most 3 values and 2 torn lines -- a single value that fits neither
# neighbour while they fit each other: the source QEMU on one node and the target on another
# append to one file on OCFS2, and at the hand-over a line can be lost or its bytes mixed. Seen
# here: one line lost per migration (143, 145; 81, 83; 152, 154), once also a torn one (82,
# 786515, 84: "C=000C0053"). A second copy running would interleave two streams for good, and a
# restart starts again from 0: neither is an isolated value, so both still fail.
counting() {
	counters && python3 -c 'import sys
v = [int(x, 16) for x in open(sys.argv[1]).read().split()]
cuts = int(sys.argv[3])
keep, torn = [], 0
for i, x in enumerate(v):
    if 0 < i < len(v) - 1 and not (v[i - 1] < x < v[i + 1]) and 2 <= v[i + 1] - v[i - 1] <= 4:
        torn += 1
        continue
    keep.append(x)
steps = [b - a for a, b in zip(keep, keep[1:])]
ok = keep and keep[0] == 0 and all(1 <= d <= 4 for d in steps) and sum(d > 1 for d in steps) <= 2 * cuts and torn <= 2 * cuts
sys.exit(0 if ok and keep[-1] >= int(sys.argv[2]) else 1)' "$TMP/counters" "$1" "${2:-0}"
}
# counter_report: what the stream looks like (for failures): values, last, the first break
counter_report() {
	counters; python3 -c 'import sys
v = [int(x, 16) for x in open(sys.argv[1]).read().split()]
b = [i for i in range(1, len(v)) if v[i] != v[i - 1] + 1]
print("%d values, last %s%s" % (len(v), v[-1] if v else "-",
      "".join(", break at line %d: %s" % (i, v[max(0, i - 3):i + 3]) for i in b[:3])))' "$TMP/counters"
}
last_counter() { counters && tail -n 1 "$TMP/counters" | python3 -c 'import sys; print(int(sys.stdin.read() or "-1", 16))'; }

vm_lock_phases() {
	local t0 t1 c o end

	phase vm-start
	o=$("$FS" exec n2 sh_c 'kvmcctl status --json') || fail "n2: kvmcctl status --json"
	python3 -c 'import json, sys
def find(o):
    if isinstance(o, dict):
        if "vm_lock" in o: return o["vm_lock"]
        for v in o.values():
            r = find(v)
            if r is not None: return r
l = find(json.loads(sys.argv[1])) or {}
print(json.dumps(l, sort_keys=True))
sys.exit(0 if l.get("system") == "dlm" and l.get("ok") is True else 1)' "$o" >"$TMP/lock.json" ||
		fail "n2: kvmcctl status --json: vm_lock is not a working dlm: $(cat "$TMP/lock.json")"
	log "n2: kvmcctl status --json: vm_lock $(cat "$TMP/lock.json")"
	on n1 sh_c 'cp /opt/kvmcd/counter.img "$1/$2.img" && echo "$3" >/root/$2.xml' "$VM_DIR" "$VM" "$(vm_xml)"
	t0=$(date +%s.%N)
	on n1 sh_c 'kvmcctl vm add /root/$1.xml --prefer n2' "$VM" | sed 's/^/    /'
	vm_wait 300 "$VM running on n2" "d['state'] == 'running' and d['node'] == 'n2'"
	t1=$(date +%s.%N)
	end=$(( $(date +%s) + 120 ))
	until counting 3; do
		[ "$(date +%s)" -lt "$end" ] || fail "$VM's counter not counting in its serial log: $(counter_report)"
		sleep 1
	done
	log "$VM runs on n2 ($(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s from vm add to running; its counter at $(last_counter) $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s after vm add)"
	[ "$(running_on)" = n2 ] || fail "libvirt runs $VM on '$(running_on)', expected n2 alone"
	jcheck "$TMP/vm.json" "d['nodes']['n2'].get('lock') == 'dlm'" || fail "vm show: n2 does not report the dlm lock: $(cat "$TMP/vm.json")"
	log "n2: dlm_tool lockdebug kvmcd:"
	"$FS" exec n2 dlm_lockdebug kvmcd "$VM_RES" | sed 's/^/    /'
	[ "$(holders)" = n2 ] || fail "DLM: $VM_RES granted EX on '$(holders)', expected n2 alone"
	log "DLM: $VM_RES granted EX to n2 alone (vm show: lock dlm on n2)"
	refused n1
	refused n3

	phase vm-migrate
	c=$(last_counter)
	t0=$(date +%s.%N)
	on n1 sh_c 'kvmcctl vm migrate "$1" n3' "$VM" | sed 's/^/    /'
	vm_wait 300 "$VM migrated to n3" "d['state'] == 'running' and d['node'] == 'n3' and not d.get('migrating_to')"
	t1=$(date +%s.%N)
	wait_until_host 60 "$VM_RES held by n3 alone" holders_are n3
	log "$VM on n3 $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s after vm migrate; the lock held by n3 alone $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s after it"
	[ "$(running_on)" = n3 ] || fail "libvirt runs $VM on '$(running_on)' after the migration, expected n3 alone"
	end=$(( $(date +%s) + 60 ))
	until counting $(( c + 3 )) 1; do
		[ "$(date +%s)" -lt "$end" ] ||
			fail "$VM's counter did not go on as one stream after the migration ($c before): $(counter_report)"
		sleep 1
	done
	log "its counter went on across the migration: $c before, $(last_counter) now ($(counter_report)): not restarted, no second copy"
	"$FS" exec n3 dlm_lockdebug kvmcd "$VM_RES" | sed 's/^/    /'
	refused n2

	phase vm-stop
	t0=$(date +%s.%N)
	on n1 sh_c 'kvmcctl vm stop "$1"' "$VM" | sed 's/^/    /'
	vm_wait 120 "$VM stopped" "d['state'] == 'stopped'"
	wait_until_host 60 "$VM_RES held by nobody" holders_are ""
	[ -z "$(running_on)" ] || fail "libvirt still runs $VM on '$(running_on)' after vm stop"
	log "$VM stopped, no node holds $VM_RES ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s after vm stop)"
	o=$("$FS" exec -t 60 n2 /opt/kvmcd/vm-lock-tool acquire:"$VM" release:"$VM" 2>&1) ||
		fail "n2 cannot take $VM_RES after the stop: $o"
	log "n2: vm-lock-tool: $(tr '\n' ' ' <<<"$o")"
	on n1 sh_c 'kvmcctl vm remove "$1"' "$VM" | sed 's/^/    /'
	wait_until_host 60 "$VM gone from vm list and from every node's libvirt after vm remove" vm_gone
	log "$VM removed: gone from the spec and from every node's libvirt"
}
# ---- issue 9: a node guest isolated -> it stops its HA guest and its watchdog resets it; kvmcd
# fences it on ONTAP (the real nvmet), DLM waits for that fence through kvmcd's fence device, and
# the node's HA guest starts on a survivor --------------------------------------------------------
FO_VM=vm2
FO_DIR=/srv/kvmcd/ds_nvme      # the GFS2 datastore (the one left after the remove phase)

# dlm_fence_lines NODE: dlm_controld's fence lines (its debug buffer)
dlm_fence_lines() { "$FS" exec "$1" sh_c 'dlm_tool dump 2>/dev/null | grep -i fence || true'; }
# kvmcd_line_at NODE PATTERN: the UTC time of the first line of NODE's `kvmcctl log` matching it
kvmcd_line_at() { "$FS" exec "$1" sh_c 'kvmcctl log | grep -m1 -E "$1" | cut -d" " -f1' "$2"; }

failover_phases() {
	local t_cut t_run o conf rec started owner c1 n end leader victim vid survivors iso_pid run

	phase failover-prepare
	# The victim is a follower: the leader survives and fences at once. (Were the leader's own
	# host the victim, the new leader would first wait for the ONTAP quiet point, about 40 s with
	# the default [ontap] request_timeout: coord/timeouts.h section 6.)
	leader=$("$FS" exec n1 sh_c 'kvmcctl status --json' |
		python3 -c 'import json, sys; print("n%d" % json.load(sys.stdin)["leader"]["id"])') ||
		fail "n1: kvmcctl status --json names no leader"
	case $leader in n1|n2|n3) ;; *) fail "cannot tell the leader from kvmcctl status --json: '$leader'" ;; esac
	victim=n3; [ "$leader" != n3 ] || victim=n2
	vid=${victim#n}
	survivors=$(for n in n1 n2 n3; do [ "$n" = "$victim" ] || printf '%s ' "$n"; done); survivors=${survivors% }
	log "leader $leader; the victim is the follower $victim"
	SHARE=$("$FS" paths | sed -n 's/^share *\([^ ]*\).*/\1/p')
	run=$("$FS" paths | sed -n 's/^run dir *\([^ ]*\).*/\1/p')
	[ -d "$SHARE/run" ] && [ -d "$run" ] || fail "no share or run dir ($SHARE, $run)"
	VM=$FO_VM VM_DIR=$FO_DIR VM_RES=vm:$FO_VM
	on n1 sh_c 'cp /opt/kvmcd/counter.img "$1/$2.img" && echo "$3" >/root/$2.xml' "$VM_DIR" "$VM" "$(vm_xml)"
	on n1 sh_c 'kvmcctl vm add /root/$1.xml --prefer "$2"' "$VM" "$victim" | sed 's/^/    /'
	vm_wait 300 "$VM (HA) running on $victim" "d['state'] == 'running' and d['node'] == '$victim'"
	end=$(( $(date +%s) + 120 ))
	until [ "$(last_counter 2>/dev/null || echo -1)" -ge 3 ]; do
		[ "$(date +%s)" -lt "$end" ] || fail "$VM's counter not counting in its serial log: $(counter_report)"
		sleep 1
	done
	sim_view >"$TMP/sim.json" || fail "reading the simulator's state"
	jcheck "$TMP/sim.json" "any('nqn.2024-01.test.fsvm:host:$victim' in h for h in d['nvmet_hosts'].values())" ||
		fail "target: $victim's host NQN is not allowed before the failure: $(jget "$TMP/sim.json" 'd["nvmet_hosts"]')"
	log "$VM (HA, disk and serial on GFS2 over NVMe/TCP) runs on $victim; the target allows $victim's host NQN"

	# The victim's watchdog device appears now: its kvmcd (configured with it from the start and
	# retrying every 5 s) arms it with the cluster's timeout and feeds it. Not earlier, and not on
	# the survivors: a 1-vCPU TCG guest on a loaded host can be starved of CPU for 10 s, which resets
	# a healthy node -- seen in the provision phase at host load 10: n1's kvmcd fed nothing and
	# read no corosync delivery for ~18 s while it logged in to iSCSI and connected NVMe (kvmcd
	# runs at normal priority, corosync and multipathd real-time); the device fired.
	on "$victim" sh_c 'modprobe i6300esb && wait_until 10 "/dev/watchdog" test -c /dev/watchdog'
	wait_until_host 30 "$victim's kvmcd arms its watchdog" wd_fed "$victim"
	jget "$TMP/status.json" 'json.dumps(d["ha"]["watchdog"], sort_keys=True)' >"$TMP/wd.json"
	jcheck "$TMP/status.json" "(lambda w: w['device'] == '/dev/watchdog' and w['timeout_sec'] == $WD_TIMEOUT and w['matches'] is True
		and w['crash_safe'] is True and w['identity'] == 'i6300ESB timer')(d['ha']['watchdog'])" ||
		fail "$victim: its watchdog is not armed as expected (i6300ESB timer, $WD_TIMEOUT s, crash-safe): $(cat "$TMP/wd.json")"
	log "$victim: kvmcd feeds its watchdog: $(cat "$TMP/wd.json")"

	phase failover
	# Its cluster network cut (corosync, the DLM, everything to and from n1..n3), its storage
	# network (t) up, the guest running: alone and not quorate, its kvmcd stops the HA guest and
	# stops feeding the watchdog, which resets (powers off) the guest one timeout later.
	# What it does by itself is what its kvmcd writes to its stderr, a file on the share
	# (guest/lib.sh kvmcd_start) kept through the reset: its lines after the cut, with kvmcd's
	# UTC stamps (its clock). A watcher in the guest also polls `kvmcctl log` from BEFORE the cut
	# (the lines already there are its baseline), since the watchdog leaves only ~10 s after the
	# quorum loss and cutting n3 off takes its guests up to ~8 s: every new line it finds is
	# printed and the guest's clock sampled against the host's (a `kvmcctl log` call can take
	# seconds under load, so it may find nothing before the reset; then kvmcd's last line on the
	# share is the clock sample). Once kvmcd has asked libvirt to
	# stop the guest and libvirt has not said it did, the guest's QEMU is shown (state, kernel
	# wait channel) whenever that changes: a QEMU blocked in the kernel (its disk and serial log
	# are on GFS2, whose DLM lost its peers) ends only with the reset.
	rm -f "$SHARE/run/watching.$victim"
	"$FS" exec -t 150 "$victim" sh_c 'seen=/run/isolated.seen ps_last=
		pat="quorum (lost|regained)|stopped feeding it|feeding it again|no longer in a quorate view|VM .$1.: (destroyed|stopped) on|VM .$1.: .*([Ff]ail|[Tt]erminat|[Ee]rror)"
		{ kvmcctl log | grep -E "$pat" || true; } >"$seen"
		touch /share/run/watching.$(hostname)
		end=$(( $(date +%s) + 120 ))
		while :; do
			out=$(kvmcctl log) || out=
			if new=$(grep -E "$pat" <<<"$out" | grep -vxFf "$seen"); then
				grep -q "stopped feeding it" <<<"$new" && date +%s.%N >/share/run/clock.$(hostname)
				echo "$new"; echo "$new" >>"$seen"
			fi
			grep -q "stopped feeding it" "$seen" && grep -Eq "VM .$1.: (destroyed|stopped) on this node" "$seen" && break
			if grep -q "no longer in a quorate view" "$seen"; then
				p=$(ps -C qemu-system-x86_64 -o pid=,stat=,wchan:32= | tr -s " ")
				[ "$p" = "$ps_last" ] || { echo "qemu-ps $(date -u +%T.%N | cut -c1-12) ${p:-gone}"; ps_last=$p; }
			fi
			[ "$(date +%s)" -lt "$end" ] || { echo "timed out; the log ends:"; tail -n 30 <<<"$out"; exit 1; }
			sleep 0.3
		done
		echo "domstate $(virsh -q -c qemu:///system domstate "$1" 2>&1 | head -n 1)"' \
		"$VM" >"$TMP/isolated.out" 2>&1 &
	iso_pid=$!
	wait_until_host 60 "$victim's kvmcd log watched" test -e "$SHARE/run/watching.$victim"
	# kvmcd's stderr on the share (written line by line, kept through the reset): its lines from
	# here on are the evidence; the watcher's output may miss the last seconds before the reset
	# (seen: kvmcctl log too slow under load to catch any line in the ~10 s the watchdog leaves)
	iso_base=$(wc -l <"$SHARE/run/kvmcd.$victim.log" 2>/dev/null) || iso_base=0
	t_cut=$("$FS" isolate "$victim") || fail "fs isolate $victim"
	NODES=$survivors
	log "$victim isolated: nothing flows between it and $survivors any more; its storage network and the guest run on"
	vm_wait 300 "$VM running again on a survivor after $victim's isolation" "d['state'] == 'running' and d['node'] in '$survivors'.split()"
	t_run=$(date +%s.%N)
	owner=$(jget "$TMP/vm.json" 'd["node"]')
	log "$VM runs on $owner $(awk -v a="$t_cut" -v b="$t_run" 'BEGIN{printf "%.1f", b-a}') s after $victim's isolation"
	[ "$(running_on)" = "$owner" ] || fail "libvirt runs $VM on '$(running_on)' of $survivors, expected $owner alone"

	# the fence: on ONTAP and on the real target, confirmed by kvmcd
	sim_view >"$TMP/sim.json" || fail "reading the simulator's state"
	jcheck "$TMP/sim.json" "not any('nqn.2024-01.test.fsvm:host:$victim' in h for h in d['subsystems'].values())" ||
		fail "ONTAP: $victim's host NQN is still in a subsystem: $(jget "$TMP/sim.json" 'd["subsystems"]')"
	jcheck "$TMP/sim.json" "not any('nqn.2024-01.test.fsvm:host:$victim' in h for h in d['nvmet_hosts'].values())" ||
		fail "target: nvmet still allows $victim's host NQN: $(jget "$TMP/sim.json" 'd["nvmet_hosts"]')"
	jcheck "$TMP/sim.json" "d['hook'].get('failures', 0) == 0" || fail "the target hook failed: $(jget "$TMP/sim.json" 'd["hook"]')"
	o=$("$FS" exec "$leader" sh_c 'kvmcctl fence history --json') || fail "$leader: kvmcctl fence history --json"
	echo "$o" >"$TMP/fences.json"
	jcheck "$TMP/fences.json" "[(f['status'], f.get('confirmed_by')) for f in d['fences'] if f['node'] == '$victim'] == [('confirmed', 'ontap')]" ||
		fail "fence history: $victim is not confirmed fenced by ontap: $o"
	log "$victim fenced by kvmcd on ONTAP: its host NQN is out of the subsystem, and nvmet allows it no more"

	# DLM waited for that fence: dlm_controld ran kvmcd's device (fence_kvmcd), which returned 0
	# ("fence wait V pid P result 0" on the node that ran it; the others take its "fence status"),
	# and each lockspace's recovery went on only then ("check_fencing V done")
	for n in $survivors; do
		dlm_fence_lines "$n" >"$TMP/dlm-fence.$n"
		sed "s/^/    $n dlm: /" "$TMP/dlm-fence.$n" | tail -n 6
		grep -Eq "kvmcd check_fencing $vid done" "$TMP/dlm-fence.$n" && grep -Eq "ds_nvme check_fencing $vid done" "$TMP/dlm-fence.$n" ||
			fail "$n: dlm_controld did not finish fencing node $vid for the lockspaces kvmcd and ds_nvme"
	done
	# (no pipe: under pipefail, grep -q closing early would fail the cat feeding it)
	grep -Eqs "fence wait $vid pid [0-9]+ result 0" "$TMP"/dlm-fence.n* ||
		fail "dlm_controld on the survivors has no successful run of its device (fence_kvmcd) for node $vid"
	conf=$(kvmcd_line_at "$leader" "Fence of $victim: pending -> confirmed")
	rec=$("$FS" exec "$leader" sh_c 'kvmcctl log | grep "VMs: recording" | grep "\"vm/$1\":{[^}]*\"owner\":\"$2\"" | tail -1 | cut -d" " -f1' "$VM" "$owner")
	started=$(kvmcd_line_at "$owner" "VM '$VM': started on this node")
	log "$victim's fence confirmed at $conf ($leader), $VM given to $owner at ${rec:-?} ($leader), started at ${started:-?} ($owner)"
	[ -n "$conf" ] && [ -n "$started" ] || fail "kvmcd's logs lack the fence confirmation or the start"
	[ -z "$rec" ] || [[ "$conf" < "$rec" ]] || fail "$VM given to $owner ($rec) before $victim's fence was confirmed ($conf)"
	# (two guests' clocks: they drift 0.1-0.3 s apart; the start comes seconds after the fence)
	[[ "$conf" < "$started" ]] || fail "$VM started on $owner ($started) before $victim's fence was confirmed ($conf)"
	"$FS" exec "$leader" sh_c 'kvmcctl log | grep -E "view |Fence of|VM .'"$VM"'." | tail -n 12' | sed 's/^/    /' || true

	isolated_checks

	# GFS2 recovered on the survivors (journal replayed after the fence), and the guest counts
	for n in $survivors; do
		"$FS" exec -t 90 "$n" sh_c 'echo "$(hostname) after" >/srv/kvmcd/ds_nvme/after-$(hostname) && sync &&
			cat /srv/kvmcd/ds_nvme/hello-$1 >/dev/null' "$victim" || fail "$n: GFS2 not usable after $victim's fence"
	done
	c1=$(last_counter)
	end=$(( $(date +%s) + 60 ))
	until [ "$(last_counter)" -gt "$c1" ]; do
		[ "$(date +%s)" -lt "$end" ] || fail "$VM's counter does not move on $owner: $(counter_report)"
		sleep 1
	done
	log "GFS2 usable on $survivors ($victim's files read); $VM counts on $owner"
}
# isolated_checks: what the isolated victim did by itself (read in it by the background exec
# $iso_pid), then its watchdog's reset: its QEMU exits about one timeout after the last keepalive,
# which was sent before the node lost quorum -- after the isolation began, never before.
# (Variables of failover_phases: victim, t_cut, iso_pid, iso_base, run.)
isolated_checks() {
	local line stop_at ago last_ka exit_at st after why wd_off klog iso_rc=0 stopped=""
	# 125: the watchdog reset it while it was being read (what was printed before is in). Its
	# log lines only: `fs exec` names the command (which quotes the patterns) when the guest dies.
	wait "$iso_pid" || iso_rc=$?
	sed "s/^/    $victim: /" "$TMP/isolated.out"
	# The evidence: kvmcd's stderr as it wrote it on the share, from the cut to the reset (its
	# UTC stamps, its clock), and the watcher's QEMU and libvirt lines.
	klog="$SHARE/run/kvmcd.$victim.log"
	tail -n +"$((iso_base + 1))" "$klog" 2>/dev/null |
		grep -E "quorum (lost|regained)|stopped feeding it|feeding it again|no longer in a quorate view|VM '$VM': (destroyed|stopped) on|VM '$VM': .*([Ff]ail|[Tt]erminat|[Ee]rror)" \
		>"$TMP/isolated.log" || true
	sed "s/^/    $victim kvmcd: /" "$TMP/isolated.log"
	grep -E '^(qemu-ps |domstate )' "$TMP/isolated.out" >>"$TMP/isolated.log" || true
	{ [ "$iso_rc" = 0 ] || [ "$iso_rc" = 125 ]; } && grep -q 'stopped feeding it' "$TMP/isolated.log" ||
		fail "$victim (isolated) did not stop its watchdog's feeding by itself (watcher exec status $iso_rc)"
	grep -Eq "quorum lost" "$TMP/isolated.log" || fail "$victim: kvmcd's log does not say it lost quorum"
	grep -Eq "VM '$VM': this node is no longer in a quorate view" "$TMP/isolated.log" ||
		fail "$victim: kvmcd's log does not say it stopped $VM itself (no longer in a quorate view)"
	if grep -Eq "VM '$VM': (destroyed|stopped) on this node" "$TMP/isolated.log"; then
		stopped=libvirt
		! grep -q '^domstate ' "$TMP/isolated.log" || grep -q '^domstate shut off' "$TMP/isolated.log" ||
			fail "$victim: libvirt does not say $VM is shut off: $(grep '^domstate ' "$TMP/isolated.log")"
	elif [ "$iso_rc" = 125 ]; then
		# kvmcd asked libvirt to stop the guest, and the watchdog's reset (checked below: one
		# timeout after the last keepalive) came first: that reset is the stop the survivors
		# count on (coord/timeouts.h 5.), and why it exists
		stopped=watchdog
		log "$victim: libvirt had not stopped $VM when the watchdog reset $victim (kvmcd had asked); its QEMU: $(grep '^qemu-ps ' "$TMP/isolated.log" | tail -n 1)"
	else
		fail "$victim: kvmcd's log does not say libvirt stopped $VM, and $victim was not reset"
	fi
	line=$(grep 'stopped feeding it' "$TMP/isolated.log" | tail -n 1)
	why=$(sed -n 's/.*stopped feeding it (\([^)]*\)).*/\1/p' <<<"$line")
	ago=$(sed -n 's/.*last keepalive \([0-9]*\) ms ago.*/\1/p' <<<"$line")
	[ -n "$ago" ] || fail "$victim: no 'last keepalive N ms ago' in kvmcd's line: $line"
	[ "$why" = "not in a quorate view with a leader" ] || fail "$victim: kvmcd stopped feeding for another reason: '$why'"
	# its log's UTC stamps (its clock) on the host's: the clock file it wrote on the share last
	# has its time inside and the host's as mtime. (A TCG guest's clock can run several % off
	# under load, so the sample is taken right after the line, not before the isolation.)
	if [ -s "$SHARE/run/clock.$victim" ]; then
		wd_off=$(awk -v g="$(cat "$SHARE/run/clock.$victim")" -v h="$(stat -c %.6Y "$SHARE/run/clock.$victim")" 'BEGIN{printf "%.3f", g - h}')
	else
		# the watcher saw nothing before the reset: kvmcd's log is the sample, its last line's
		# stamp (guest clock) against the file's mtime (host clock, that line's write)
		local g_last
		g_last=$(date -u -d "$(tail -n 1 "$klog" | cut -d' ' -f1)" +%s.%N 2>/dev/null) ||
			fail "$victim: no clock sample on the share, and kvmcd's last log line has no time stamp: $(tail -n 1 "$klog")"
		wd_off=$(awk -v g="$g_last" -v h="$(stat -c %.6Y "$klog")" 'BEGIN{printf "%.3f", g - h}')
		log "$victim: its clock from kvmcd's last log line on the share (the watcher took no sample)"
	fi
	stop_at=$(awk -v g="$(date -u -d "${line%% *}" +%s.%N)" -v o="$wd_off" 'BEGIN{printf "%.3f", g - o}')
	last_ka=$(awk -v s="$stop_at" -v a="$ago" 'BEGIN{printf "%.3f", s - a / 1000}')
	awk -v s="$stop_at" -v c="$t_cut" 'BEGIN{exit !(s > c)}' ||
		fail "$victim's kvmcd stopped feeding ($stop_at) before the isolation began ($t_cut)"
	log "$victim: kvmcd stopped feeding its watchdog $(awk -v a="$t_cut" -v b="$stop_at" 'BEGIN{printf "%.1f", b-a}') s after the isolation began, the last keepalive ${ago} ms before (its clock: $wd_off s off the host's); $VM stopped by $stopped"
	local end=$(( $(date +%s) + 60 ))
	until [ -f "$run/$victim.exit" ]; do
		[ "$(date +%s)" -lt "$end" ] || fail "$victim's watchdog did not reset it within 60 s of its last keepalive"
		sleep 0.5
	done
	read -r exit_at st <"$run/$victim.exit"
	[ "$st" = 0 ] && [ ! -f "$run/$victim.killed" ] || fail "$victim's QEMU ended with status $st, not by the watchdog's poweroff (0)"
	! grep -Eq 'Kernel panic|reboot: Power down|reboot: Restarting' "$run/log/$victim.serial" ||
		fail "$victim powered off by its kernel, not by the watchdog: $(grep -Em1 'Kernel panic|reboot:' "$run/log/$victim.serial")"
	after=$(awk -v e="$exit_at" -v k="$last_ka" 'BEGIN{printf "%.2f", e - k}')
	log "MEASURED: $victim isolated -> its QEMU powered off by the watchdog: $(awk -v a="$t_cut" -v b="$exit_at" 'BEGIN{printf "%.1f", b-a}') s; last keepalive -> poweroff: $after s (timeout $WD_TIMEOUT s)"
	awk -v x="$after" -v t="$WD_TIMEOUT" 'BEGIN{exit !(x >= t - 0.5 && x <= t + 2.5)}' ||
		fail "$victim powered off $after s after its last keepalive, expected about $WD_TIMEOUT s"
}
# wd_fed NODE: its kvmcd status says the watchdog is armed and fed (into $TMP/status.json)
wd_fed() {
	"$FS" exec "$1" sh_c 'kvmcctl status --json' >"$TMP/status.json" &&
		jcheck "$TMP/status.json" "d['ha']['watchdog'].get('armed') is True and d['ha']['watchdog'].get('feeding') is True"
}
holders_are() { [ "$(holders)" = "$1" ]; }
vm_gone() {
	local n
	"$FS" exec n1 sh_c 'kvmcctl vm list --json' >"$TMP/vms.json" && jcheck "$TMP/vms.json" "'$VM' not in [v['name'] for v in d]" ||
		return 1
	for n in $NODES; do
		"$FS" exec "$n" sh_c '! virsh -q -c qemu:///system dominfo "$1" >/dev/null 2>&1' "$VM" || return 1
	done
}
wait_until_host() { # SECS WHAT CMD...
	local end=$(( $(date +%s) + $1 )) what=$2; shift 2
	until "$@"; do
		[ "$(date +%s)" -lt "$end" ] || fail "timed out waiting for: $what"
		sleep 1
	done
}

main() {
	[ -n "$BUILD" ] && [ -x "$BUILD/agent/kvmcd" ] && [ -x "$BUILD/tests/ontap-sim/ontap-sim" ] ||
		skip "no kvmcd build (KVMCD_BUILD_DIR, set by meson)"
	start
	local pw n o
	pw=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')

	phase boot
	"$FS" up --nodes 3 || fail "fs up failed"
	mkdir -p "$TMP/bin"
	cp "$BUILD/agent/kvmcd" "$BUILD/agent/kvmcctl" "$BUILD/resources/ontap/kvmcd-ontap.so" \
		"$BUILD/tests/ontap-sim/ontap-sim" "$TMP/bin/"
	vm_prepare
	for n in t $NODES; do "$FS" copy-in "$n" "$TMP/bin" /opt/kvmcd || fail "copy-in to $n failed"; done

	phase target
	on t sim_start "$ONTAP_USER" "$pw"

	phase cluster
	# dlm_controld fences through kvmcd (issue 9): its device is fence_kvmcd (a name of kvmcctl)
	on_nodes sh_c 'ln -sf kvmcctl /opt/kvmcd/fence_kvmcd &&
		printf "enable_fencing=1\nenable_startup_fencing=0\nfence_all /opt/kvmcd/fence_kvmcd socket=/run/kvmcd/kvmcd.sock timeout=60\n" >/etc/dlm/dlm.conf'
	# [ha] watchdog = /dev/watchdog everywhere, but the device (QEMU's i6300esb) appears on the
	# failover's victim only, late (failover_phases says why): until then kvmcd retries arming it
	on_nodes sh_c 'corosync_start "$@" && wait_until 90 "corosync quorate" quorate && dlm_start && node_host_prepare' \
		"$CLUSTER" "$TOKEN" $(for n in $NODES; do printf '%s=%s ' "$n" "$("$FS" ip "$n")"; done)
	on_nodes kvmcd_start "$("$FS" ip t | cut -d' ' -f1)" "$ONTAP_USER" "$pw" "$KVMCD_HA"
	on n1 sh_c 'kvmcctl status' | sed 's/^/    /'

	phase provision
	on n1 sh_c 'echo "$1" >/root/spec.json && kvmcctl spec apply /root/spec.json' "$SPEC_BOTH"
	wait_ready 600
	log "every node has both pools, identical and active (kvmcctl pool verify)"

	phase check
	sim_view >"$TMP/sim.json" || fail "reading the simulator's state"
	local igs
	igs=$(jget "$TMP/sim.json" 'json.dumps(d["igroups"], sort_keys=True)')
	for n in $NODES; do
		jcheck "$TMP/sim.json" "[v for k, v in d['igroups'].items() if k.endswith('_$n')] == [['iqn.2024-01.test.fsvm:$n']]" ||
			fail "ONTAP: expected one igroup holding exactly $n's IQN: $igs"
		jcheck "$TMP/sim.json" "any(m[1].endswith('_$n') for m in d['lun_maps'])" || fail "ONTAP: the LUN is not mapped to $n's igroup"
		jcheck "$TMP/sim.json" "d['lio_acls'].get('iqn.2024-01.test.fsvm:$n') == ['lun_0']" ||
			fail "target: $n's LIO ACL does not map exactly LUN 0: $(jget "$TMP/sim.json" 'd["lio_acls"]')"
	done
	jcheck "$TMP/sim.json" "len(d['igroups']) == 3 and len(d['lun_maps']) == 3" || fail "ONTAP: igroups/maps: $igs"
	jcheck "$TMP/sim.json" "len(d['subsystems']) == 1 and list(d['subsystems'].values())[0] == sorted('nqn.2024-01.test.fsvm:host:' + n for n in '$NODES'.split())" ||
		fail "ONTAP: expected one subsystem with the 3 host NQNs: $(jget "$TMP/sim.json" 'd["subsystems"]')"
	jcheck "$TMP/sim.json" "list(d['nvmet_hosts'].values()) == list(d['subsystems'].values())" ||
		fail "target: nvmet allowed hosts differ from ONTAP's subsystem: $(jget "$TMP/sim.json" 'd["nvmet_hosts"]')"
	jcheck "$TMP/sim.json" "d['hook'].get('failures', 0) == 0" || fail "the target hook failed: $(jget "$TMP/sim.json" 'd["hook"]')"
	log "ONTAP: one igroup per node with its IQN, the LUN mapped to each, one subsystem with the 3 hosts; the target serves the same"

	on n1 sh_c 'kvmcctl datastore show ds_iscsi --json' >"$TMP/iscsi.json"
	on n1 sh_c 'kvmcctl datastore show ds_nvme --json' >"$TMP/nvme.json"
	local serial uuid portals nportals mkfs_i mkfs_n
	serial=$(jget "$TMP/iscsi.json" 'd["ontap"]["lun_serial"]')
	uuid=$(jget "$TMP/nvme.json" 'd["ontap"]["ns_uuid"]')
	portals=$(jget "$TMP/iscsi.json" 'len(d["ontap"]["portals"])')
	nportals=$(jget "$TMP/nvme.json" 'len(d["ontap"]["nvme_portals"])')
	[ "$portals" = 2 ] && [ "$nportals" = 2 ] || fail "expected 2 iSCSI portals and 2 NVMe portals, got $portals and $nportals"
	for n in $NODES; do
		local mp nv
		mp=$(on "$n" sh_c 'iscsiadm -m session | grep -c ":3260," | grep -qx 2 && mpath_by_serial "$1" 2' "$serial") ||
			fail "$n: not logged in on 2 portals with a 2-path multipath map for serial $serial"
		nv=$(on "$n" nvme_by_uuid "$uuid" 2) || fail "$n: namespace $uuid not on 2 controllers"
		jcheck "$TMP/iscsi.json" "d['nodes']['$n']['device'] == '$mp'" ||
			fail "$n: kvmcd reports $(jget "$TMP/iscsi.json" "d['nodes']['$n']['device']") for ds_iscsi, the multipath map of serial $serial is $mp"
		jcheck "$TMP/nvme.json" "d['nodes']['$n']['device'] == '$nv'" ||
			fail "$n: kvmcd reports $(jget "$TMP/nvme.json" "d['nodes']['$n']['device']") for ds_nvme, the namespace $uuid is $nv"
		on "$n" sh_c 'findmnt -n -o FSTYPE /srv/kvmcd/ds_iscsi | grep -qx ocfs2 && findmnt -n -o FSTYPE /srv/kvmcd/ds_nvme | grep -qx gfs2' ||
			fail "$n: the datastores are not mounted as ocfs2 / gfs2"
		log "$n: 2 iSCSI sessions, $mp (2 paths, serial $serial), $nv (2 controllers), both mounted"
	done
	mkfs_i=0; mkfs_n=0
	for n in $NODES; do
		mkfs_i=$((mkfs_i + $(ran "$n" mkfs.ocfs2))); mkfs_n=$((mkfs_n + $(ran "$n" mkfs.gfs2)))
	done
	[ "$mkfs_i" = 1 ] && [ "$mkfs_n" = 1 ] || fail "expected one mkfs per datastore in the cluster, ran mkfs.ocfs2 $mkfs_i and mkfs.gfs2 $mkfs_n times"
	log "one mkfs each, by $(jget "$TMP/iscsi.json" 'd["ontap"]["mkfs_by"]') (ocfs2) and $(jget "$TMP/nvme.json" 'd["ontap"]["mkfs_by"]') (gfs2)"
	# libvirt's own view, not only kvmcd's hash: the same XML (name, UUID, target) everywhere
	for n in $NODES; do
		on "$n" sh_c 'for p in ds_iscsi ds_nvme; do virsh -q -c qemu:///system pool-info $p | grep -Eq "^State: +running" &&
			virsh -q -c qemu:///system pool-info $p | grep -Eq "^Autostart: +yes" || exit 1
			virsh -c qemu:///system pool-dumpxml --inactive $p | grep -v "<capacity\|<allocation\|<available" | sha256sum; done' >"$TMP/pools.$n" ||
			fail "$n: a pool is not running and autostarted"
	done
	for n in n2 n3; do cmp -s "$TMP/pools.n1" "$TMP/pools.$n" || fail "$n's pool XML differs from n1's"; done

	phase share
	local token
	token=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
	on_nodes sh_c 'for d in ds_iscsi ds_nvme; do f=/srv/kvmcd/$d/hello-$(hostname); echo "$(hostname) $1" >$f.tmp && sync $f.tmp && mv $f.tmp $f; done' "$token"
	for n in $NODES; do
		o=$("$FS" exec "$n" sh_c 'for o in $3; do [ "$o" = "$1" ] && continue
			for d in ds_iscsi ds_nvme; do [ "$(cat /srv/kvmcd/$d/hello-$o)" = "$o $2" ] || { echo "$o"; exit 0; }; done; done' \
			"$n" "$token" "$NODES") || fail "$n: reading the other nodes' files did not run (exit $?)"
		[ -z "$o" ] || fail "$n cannot read $o's file on both datastores"
	done
	log "every node read the other nodes' files on both datastores"

	phase reapply
	local m0 l0=0 c0=0 m1 l1=0 c1=0 end k
	# Every node checks every ready datastore again every 30 s (datastores.c): wait for one such
	# check of both on every node after the apply -- its last step, the pool, logged "done" --
	# instead of sleeping through one. A check probes the attachment, the mount and the pool,
	# not the file system it mounted (no blkid: nothing reads the shared superblocks again).
	# node_counts: one exec per node (a guest command costs ~1 s under TCG).
	local checks0="" blkid0=0 blkid1=0 checked
	m0=$(mutations); mkfs_i=0
	for n in $NODES; do
		set -- $(node_counts "$n")
		l0=$((l0 + $1)); c0=$((c0 + $2)); mkfs_i=$((mkfs_i + $3)); blkid0=$((blkid0 + $4)); checks0="$checks0 $5 $6"
	done
	on n1 sh_c 'kvmcctl spec apply /root/spec.json' | grep -q '^unchanged' || fail "the same spec applied again was not 'unchanged'"
	end=$(( $(date +%s) + 150 ))
	while :; do
		checked=1; k=0
		for n in $NODES; do
			set -- $checks0; shift $k; local was_i=$1 was_n=$2
			set -- $(node_counts "$n")
			[ "$5" -gt "$was_i" ] && [ "$6" -gt "$was_n" ] || checked=0
			k=$((k + 2))
		done
		[ "$checked" = 1 ] && break
		[ "$(date +%s)" -lt "$end" ] || fail "not every node checked both ready datastores again within 150 s"
		sleep 5
	done
	wait_ready 60
	m1=$(mutations)
	for n in $NODES; do
		set -- $(node_counts "$n")
		l1=$((l1 + $1)); c1=$((c1 + $2)); mkfs_i=$((mkfs_i - $3)); blkid1=$((blkid1 + $4))
	done
	[ "$m1" = "$m0" ] || fail "the same spec again changed ONTAP: $((m1 - m0)) mutating requests"
	[ "$l1" = "$l0" ] && [ "$c1" = "$c0" ] || fail "the same spec again logged in ($l0 → $l1) or connected ($c0 → $c1) again"
	[ "$mkfs_i" = 0 ] || fail "the same spec again ran mkfs"
	[ "$blkid1" = "$blkid0" ] || fail "the check of a ready datastore probed its file system again ($((blkid1 - blkid0)) blkid runs)"
	log "the same spec again, and every node's check of both ready datastores: no ONTAP change, no mkfs, no login, no connect, no file system probe"

	clone_phases "$token"

	if [ -z "$VM_SKIP" ]; then vm_lock_phases; else log "the VM lock phases skipped: $VM_SKIP"; fi

	phase remove
	on n1 sh_c 'echo "$1" >/root/spec.json && kvmcctl spec apply /root/spec.json' "$SPEC_NVME"
	local end=$(( $(date +%s) + 300 )) gone
	while :; do
		gone=1
		for n in $NODES; do
			"$FS" exec -t 60 "$n" sh_c '! virsh -q -c qemu:///system pool-info ds_iscsi >/dev/null 2>&1 &&
				! findmnt -n /srv/kvmcd/ds_iscsi >/dev/null && ! iscsiadm -m session >/dev/null 2>&1 &&
				[ -z "$(scsi_by_serial "$1")" ] && [ -z "$(dmsetup ls --target multipath | grep -v "^No devices")" ]' "$serial" || gone=0
		done
		[ $gone = 1 ] && break
		[ "$(date +%s)" -lt "$end" ] || fail "ds_iscsi not detached from every node within 300 s"
		sleep 5
	done
	log "ds_iscsi detached everywhere: no pool, no mount, no session, no SCSI disk or multipath map"
	end=$(( $(date +%s) + 120 ))
	until sim_view >"$TMP/sim.json" && jcheck "$TMP/sim.json" "not d['lun_maps'] and not d['igroups'] and not any(d['lio_acls'].values())"; do
		[ "$(date +%s)" -lt "$end" ] || fail "ONTAP / the target still serve the LUN: $(cat "$TMP/sim.json")"
		sleep 5
	done
	jcheck "$TMP/sim.json" "'kvmcd_${CLUSTER}_ds_iscsi' in d['volumes']" || fail "the volume of ds_iscsi was destroyed without --destroy-data"
	on n1 sh_c 'kvmcctl pool verify' >/dev/null || fail "ds_nvme is no longer identical and active everywhere"
	for n in $NODES; do
		on "$n" sh_c 'for o in n1 n2 n3; do grep -q "^$o " /srv/kvmcd/ds_nvme/hello-$o || exit 1; done' ||
			fail "$n: ds_nvme's files are not readable after the removal of ds_iscsi"
	done
	log "ONTAP unmapped the LUN and removed the igroups (volume kept); the target serves it to nobody; ds_nvme untouched"
	if [ -z "$VM_SKIP" ]; then failover_phases; else log "the failover phases skipped: $VM_SKIP"; fi
	phase ""
	RESULT=pass
}

main "$@"
