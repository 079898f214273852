#!/bin/bash
# Benchmark: a spec of N entries (default 10 000, each the size of a VM entry) synced to a
# joining node on a real 3-node cluster (corosync per network namespace on this machine).
# Node 3's kvmcd is stopped, its state file removed, and it is started again: the time from
# its CPG view to "took state" in its own log is the sync; the time until `kvmcctl status`
# shows the same state version is the end-to-end figure including process start.
# Usage (root): bench/state-sync.sh [N]
set -eu
N=${1:-10000}
cd "$(dirname "$0")/.."
export MN_PREFIX=${MN_PREFIX:-kvbench}
C=tests/multinode/cluster
trap '$C down >/dev/null 2>&1' EXIT
$C down >/dev/null 2>&1 || true
$C up 3 >/dev/null
python3 - "$N" > /tmp/kvmcd-bench-spec.json <<'PY'
import json, sys
n = int(sys.argv[1])
labels = {f"vm-{i:05d}": f"uuid={(i*2654435761)&0xffffffff:08x}-1111-2222-3333-{i:012d};host=kvm{i%3+1};datastore=ds{i%16:02d};cpus=4;memory=8192;ha=true;disks=/vol/ds{i%16:02d}/lun{i}" for i in range(n)}
print(json.dumps({"labels": labels}))
PY
size=$(stat -c %s /tmp/kvmcd-bench-spec.json)
$C exec 1 kvmcctl spec apply - < /tmp/kvmcd-bench-spec.json
want=$($C exec 1 kvmcctl status --json | jq .state_version)
state=$($C paths | sed -n 's/^  n3 .*, state \(.*\)$/\1/p')/state.json
[ -f "$state" ] || { echo "state-sync: cannot find node 3's state file ($state)" >&2; exit 1; }
$C stop 3 kvmcd
rm -f "$state"
t0=$(date +%s%N)
$C start 3 kvmcd --no-wait
while :; do
	v=$($C exec 3 kvmcctl status --json 2>/dev/null | jq -r '.state_version // empty' || true)
	[ "$v" = "$want" ] && [ "$($C exec 3 kvmcctl status --json | jq -r .sync.state)" = synced ] && break
	sleep 0.02
done
t1=$(date +%s%N)
log=$($C logs 3 kvmcd)
# The last start of node 3's kvmcd: its view, and the state it took.
last=$(printf '%s\n' "$log" | awk '/kvmcd start ---/{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}')
view=$(printf '%s' "$last" | grep -m1 'view \[' | awk '{print $1}')
took=$(printf '%s' "$last" | grep -m1 'took state' | awk '{print $1}')
printf 'spec: %d entries, %d bytes\n' "$N" "$size"
printf 'joining node: start -> synced as seen by kvmcctl: %d ms\n' $(( (t1 - t0) / 1000000 ))
printf 'joining node log: view at %s, state taken at %s\n' "$view" "$took"
