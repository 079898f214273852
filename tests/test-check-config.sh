#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# `kvmcd --check-config` refuses what the daemon would refuse at start-up, naming the problem,
# and says OK only for what it would accept (it runs config_check_runtime(), the same checks as
# start-up): [ontap] address alone, a missing or unsafe credentials file, missing PEM files, an
# empty port; a FIFO or a device as --config is refused at once instead of hanging; a too-long
# line is refused with its length; a duplicate with a bad value reports both. No root needed,
# except for the cases that need a root-owned credentials file (skipped otherwise).
set -u

BUILD=${KVMCD_BUILD_DIR:-$(dirname "$0")/../build}
KVMCD=$BUILD/agent/kvmcd
FAILED=0
[ -x "$KVMCD" ] || { echo "SKIP: no $KVMCD"; exit 77; }
T=$(mktemp -d /tmp/test-check-config.XXXXXX)
trap 'rm -rf "$T"' EXIT

ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; FAILED=1; }

# check NAME EXPECTED_RC(0|fail) PATTERN [FILE]: runs --check-config on FILE (default $T/c.conf).
check() {
	local name=$1 want=$2 pattern=$3 file=${4:-$T/c.conf} rc
	timeout 10 "$KVMCD" --check-config --config "$file" >"$T/out" 2>&1
	rc=$?
	if [ $rc = 124 ]; then
		fail "$name: --check-config hung"
	elif [ "$want" = 0 ] && [ $rc != 0 ]; then
		fail "$name: exit $rc, expected OK"; sed 's/^/    /' "$T/out"
	elif [ "$want" != 0 ] && [ $rc = 0 ]; then
		fail "$name: said OK, expected a refusal naming: $pattern"; sed 's/^/    /' "$T/out"
	elif ! grep -qF -- "$pattern" "$T/out"; then
		fail "$name: exit $rc but no '$pattern' in:"; sed 's/^/    /' "$T/out"
	else
		ok "$name (exit $rc)"
	fi
}

conf() { printf '[node]\nname = n1\n[paths]\nstate_dir = %s/state\nrun_dir = %s/run\n' "$T" "$T" >"$T/c.conf"; cat >>"$T/c.conf"; }

printf 'username=kvmcd\npassword=pw\n' >"$T/ontap.cred"
chmod 0600 "$T/ontap.cred"
echo "-----BEGIN CERTIFICATE-----" >"$T/ca.pem"

conf </dev/null
check "plain config" 0 "$T/c.conf: OK"

conf <<<$'[ontap]\naddress = cluster1\nsvm = svm1'
check "[ontap] address alone" fail "c.conf:7: [ontap] address: neither credentials_file nor client_cert is configured"

conf <<<"$(printf '[ontap]\naddress = cluster1\ncredentials_file = %s/none.cred' "$T")"
check "missing credentials file" fail "c.conf:8: [ontap] credentials_file: credentials file '$T/none.cred': cannot open: No such file"

chmod 0644 "$T/ontap.cred"
conf <<<"$(printf '[ontap]\naddress = cluster1\ncredentials_file = %s/ontap.cred' "$T")"
if [ "$(id -u)" = 0 ]; then
	check "credentials file mode 0644" fail "[ontap] credentials_file: credentials file '$T/ontap.cred': mode 0644"
else
	check "credentials file not root's" fail "[ontap] credentials_file: credentials file '$T/ontap.cred': owned by uid"
fi
chmod 0600 "$T/ontap.cred"

conf <<<"$(printf '[ontap]\naddress = cluster1\ncredentials_file = %s/ontap.cred\nca_file = %s/missing.pem' "$T" "$T")"
check "missing ca_file" fail "c.conf:9: [ontap] ca_file: ca_file '$T/missing.pem': No such file"

conf <<<"$(printf '[ontap]\naddress = cluster1\nclient_cert = %s/none.pem\nclient_key = %s/ca.pem' "$T" "$T")"
check "missing client_cert" fail "c.conf:8: [ontap] client_cert: client_cert '$T/none.pem': No such file"

conf <<<"$(printf '[ontap]\naddress = cluster1\nclient_cert = %s/ca.pem\nclient_key = %s/none.key' "$T" "$T")"
check "missing client_key" fail "c.conf:9: [ontap] client_key: client_key '$T/none.key': No such file"

conf <<<"$(printf '[ontap]\naddress = cluster1:\ncredentials_file = %s/ontap.cred' "$T")"
check "empty port" fail "c.conf:7: [ontap] address: 'cluster1:' has an empty port"

conf <<<"$(printf '[ontap]\naddress = cluster1:70000\ncredentials_file = %s/ontap.cred' "$T")"
check "port out of range" fail "[ontap] address: 'cluster1:70000' has a port outside 1..65535"

if [ "$(id -u)" = 0 ]; then
	conf <<<"$(printf '[ontap]\naddress = cluster1:8443\nsvm = svm1\ncredentials_file = %s/ontap.cred\nca_file = %s/ca.pem' "$T" "$T")"
	check "complete [ontap]" 0 "$T/c.conf: OK"
else
	echo "skip: complete [ontap] (the credentials file must be root's)"
fi

mkfifo "$T/fifo.conf"
check "FIFO as --config" fail "$T/fifo.conf: not a regular file" "$T/fifo.conf"
check "device as --config" fail "/dev/null: not a regular file" /dev/null
check "directory as --config" fail "$T: not a regular file" "$T"

conf <<<"$(printf '[cluster]\ngroup = %0200d' 0)"
check "line too long" fail "c.conf:7: line too long (208 bytes, at most 198)"

conf <<<$'[cluster]\ngroup = a\ngroup = a b'
check "duplicate key" fail "c.conf:8: [cluster] group: duplicate key (already set on line 7)"
grep -qF "c.conf:8: [cluster] group: 'a b' must not contain blanks" "$T/out" &&
	ok "duplicate key: the bad value is named too" || { fail "duplicate key: bad value not named"; cat "$T/out"; }

exit $FAILED
