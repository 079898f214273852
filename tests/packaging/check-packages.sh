#!/bin/bash
# The packages, checked on this machine (meson test suite 'packaging'; root; 1-3 minutes):
#   1. packaging/build-deb builds kvmcd_*.deb and kvmcd-ontap-sim_*.deb (dpkg-buildpackage
#      -us -uc -b); the versions of meson.build, debian/changelog and the RPM spec agree;
#   2. lintian on both .debs: no tag (error, warning, info or pedantic) that
#      packaging/debian/*.lintian-overrides does not override with its reason;
#   3. installs both with apt-get (no recommends: the protocol tools are not wanted here) and
#      checks the installed layout: every file where it belongs with its mode, the conffile, the
#      relative fence_kvmcd link, the ONTAP module where kvmcd looks for it, no missing library,
#      `kvmcd --version`, `--check-config` on the installed config (which is exactly
#      `kvmcd --print-example-config`), the kvmcd system group, the tmpfiles directories,
#      dpkg --verify, and `systemd-analyze verify` on the installed unit (offline: PID 1 here
#      need not be systemd); starts the installed kvmcd (scratch state and run dirs, a network
#      namespace of its own, no corosync): its API socket belongs to group kvmcd, kvmcctl
#      status answers, SIGTERM stops it with exit 0;
#   4. packaging/build-rpm builds the RPMs from packaging/rpm/kvmcd.spec (rpmbuild -bb with
#      Debian's rpm, --nodeps) and checks their file lists;
#   5. purges the packages and checks that nothing is left: files, directories, the unit's
#      enable link, and the kvmcd group when the package created it.
# Skips (77) when not root, or when kvmcd is already installed or /etc/kvmcd exists: it must
# leave the machine as it found it. Env: KVMCD_BUILD_DIR (the meson build dir; the packages are
# built under its packages/), KVMCD_PACKAGING_KEEP=1 leaves the packages installed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${KVMCD_BUILD_DIR:-$top/build}/packages
failures=0
step() { echo "== $*"; }
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; failures=$((failures + 1)); }
die() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "needs root (installs the package)"
for t in dpkg-buildpackage dh lintian rpmbuild fakeroot apt-get systemd-analyze; do
	command -v "$t" >/dev/null || die "$t missing: packaging/install-deps.sh installs it"
done
installed() { dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q ' installed$'; }
for p in kvmcd kvmcd-ontap-sim; do
	! installed "$p" || skip "package $p is already installed here: not touching it"
done
# /etc/kvmcd may be the multi-node harness's mount point (tests/multinode/cluster: the nodes
# bind-mount their own over it; an empty one holds a marker so that no rmdir detaches those
# mounts). Such a one is fine: dpkg adds and removes kvmcd.conf in it and cannot remove it.
mp_marker=.kvmcd-multinode-mountpoint
mp_list=/run/kvmcd-multinode-mountpoints
etc_ours() { [ ! -e /etc/kvmcd ] || [ -z "$(ls -A /etc/kvmcd | grep -vx "$mp_marker")" ]; }
etc_ours || skip "/etc/kvmcd exists and holds files of no package: not touching it"
etc_before=0
[ -e /etc/kvmcd ] && etc_before=1
group_before=0
getent group kvmcd >/dev/null && group_before=1
wants=/etc/systemd/system/multi-user.target.wants/kvmcd.service
[ ! -e /var/lib/kvmcd ] && [ ! -e /run/kvmcd ] || skip "/var/lib/kvmcd or /run/kvmcd exists: not touching it"

export DEBIAN_FRONTEND=noninteractive
purge() {
	installed kvmcd || installed kvmcd-ontap-sim || return 0
	# A multi-node cluster that came up meanwhile found /etc/kvmcd holding kvmcd.conf and
	# marked nothing: dpkg's rmdir of the emptied directory would detach its nodes' mounts.
	if [ -s "$mp_list" ] && [ -d /etc/kvmcd ] && [ ! -e /etc/kvmcd/$mp_marker ]; then
		echo "note: a multi-node test cluster is up: /etc/kvmcd stays as its mount point"
		touch /etc/kvmcd/$mp_marker
	fi
	apt-get purge -y -q kvmcd kvmcd-ontap-sim >"$out/purge.log" 2>&1 || { cat "$out/purge.log"; return 1; }
}
cleanup() {
	[ "${KVMCD_PACKAGING_KEEP:-0}" = 1 ] && return
	purge || true
	[ "$group_before" -eq 1 ] || ! getent group kvmcd >/dev/null || groupdel kvmcd || true
}
trap cleanup EXIT
mkdir -p "$out"
start=$(date +%s)

step "versions"
v_meson=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$top/meson.build" | head -1)
v_deb=$(sed -n '1s/^kvmcd (\([^)-]*\).*/\1/p' "$top/packaging/debian/changelog")
v_rpm=$(sed -n 's/^Version:[[:space:]]*//p' "$top/packaging/rpm/kvmcd.spec")
if [ -n "$v_meson" ] && [ "$v_meson" = "$v_deb" ] && [ "$v_meson" = "$v_rpm" ]; then
	ok "meson.build, debian/changelog and kvmcd.spec say $v_meson"
else
	bad "versions differ: meson.build '$v_meson', debian/changelog '$v_deb', kvmcd.spec '$v_rpm'"
fi
v=$v_meson

step "dpkg-buildpackage (packaging/build-deb)"
t0=$(date +%s)
if "$top/packaging/build-deb" "$out/deb" >"$out/build-deb.log" 2>&1; then
	ok "built in $(($(date +%s) - t0)) s: $(cd "$out/deb" && echo kvmcd*_"$v"_*.deb)"
else
	tail -40 "$out/build-deb.log"
	die "packaging/build-deb failed (log: $out/build-deb.log)"
fi
arch=$(dpkg --print-architecture)
deb=$out/deb/kvmcd_${v}_$arch.deb
simdeb=$out/deb/kvmcd-ontap-sim_${v}_$arch.deb
[ -f "$deb" ] && [ -f "$simdeb" ] || die "kvmcd_${v}_$arch.deb or kvmcd-ontap-sim_${v}_$arch.deb missing in $out/deb"

step "lintian"
# --fail-on every level: a tag is either fixed or overridden with its reason in debian/.
if lintian --pedantic -I --tag-display-limit 0 --fail-on error,warning,info,pedantic \
	"$deb" "$simdeb" >"$out/lintian.log" 2>&1; then
	ok "lintian: no tag left but the $(cat "$top"/packaging/debian/*.lintian-overrides | grep -c '^[a-z]') overridden, each with its reason, in packaging/debian/*.lintian-overrides"
else
	grep -v 'running with root privileges' "$out/lintian.log"
	bad "lintian reports tags not overridden (log: $out/lintian.log)"
fi

step "install"
if apt-get install -y -q --no-install-recommends "$deb" "$simdeb" >"$out/install.log" 2>&1; then
	ok "apt-get install ./kvmcd_${v}_$arch.deb ./kvmcd-ontap-sim_${v}_$arch.deb"
else
	tail -30 "$out/install.log"
	die "installing the packages failed (log: $out/install.log)"
fi

step "installed layout"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
module=/usr/lib/$multiarch/kvmcd/kvmcd-ontap.so
# path type mode owning-package
while read -r path type mode pkg; do
	case $type in
	f) [ -f "$path" ] && [ ! -L "$path" ] ;;
	d) [ -d "$path" ] && [ ! -L "$path" ] ;;
	l) [ -L "$path" ] ;;
	esac || { bad "$path: not a $type"; continue; }
	if [ "$mode" != - ]; then
		m=$(stat -c %a "$path")
		[ "$m" = "$mode" ] || { bad "$path: mode $m, not $mode"; continue; }
	fi
	if [ "$pkg" != - ]; then
		dpkg -S "$path" 2>/dev/null | grep -q "^$pkg: $path\$" || { bad "$path: not owned by $pkg"; continue; }
	fi
	ok "$path"
done <<EOF_LAYOUT
/usr/sbin/kvmcd f 755 kvmcd
/usr/bin/kvmcctl f 755 kvmcd
/usr/sbin/fence_kvmcd l - kvmcd
$module f 644 kvmcd
/lib/systemd/system/kvmcd.service f 644 kvmcd
/usr/lib/tmpfiles.d/kvmcd.conf f 644 kvmcd
/etc/kvmcd/kvmcd.conf f 644 kvmcd
/usr/share/doc/kvmcd/copyright f 644 kvmcd
/usr/share/doc/kvmcd/README.Debian f 644 kvmcd
/usr/share/doc/kvmcd/production-guide.md.gz f 644 kvmcd
/usr/share/doc/kvmcd/ontap-guide.md.gz f 644 kvmcd
/usr/share/doc/kvmcd/upgrade-guide.md f 644 kvmcd
/usr/share/man/man8/kvmcd.8.gz f 644 kvmcd
/usr/share/man/man8/kvmcctl.8.gz f 644 kvmcd
/usr/share/man/man8/fence_kvmcd.8.gz l - kvmcd
/usr/share/man/man5/kvmcd.conf.5.gz f 644 kvmcd
/usr/share/man/man5/kvmcd-spec.5.gz f 644 kvmcd
/usr/bin/kvmcd-ontap-sim l - kvmcd-ontap-sim
/usr/libexec/kvmcd/ontap-sim f 755 kvmcd-ontap-sim
/usr/share/doc/kvmcd-ontap-sim/README.md.gz f 644 kvmcd-ontap-sim
/usr/share/man/man1/kvmcd-ontap-sim.1.gz f 644 kvmcd-ontap-sim
/var/lib/kvmcd d 700 -
/run/kvmcd d 755 -
EOF_LAYOUT
[ "$(readlink /usr/sbin/fence_kvmcd)" = ../bin/kvmcctl ] && ok "fence_kvmcd -> ../bin/kvmcctl" ||
	bad "fence_kvmcd points to '$(readlink /usr/sbin/fence_kvmcd)', not ../bin/kvmcctl"
[ "$(readlink /usr/share/man/man8/fence_kvmcd.8.gz)" = kvmcctl.8.gz ] && ok "fence_kvmcd(8) -> kvmcctl(8)" ||
	bad "fence_kvmcd.8.gz points to '$(readlink /usr/share/man/man8/fence_kvmcd.8.gz)', not kvmcctl.8.gz"
# the man pages render, and kvmcd.conf(5) lists the keys of the installed kvmcd's schema
for page in man8/kvmcd.8 man8/kvmcctl.8 man5/kvmcd.conf.5 man5/kvmcd-spec.5 man1/kvmcd-ontap-sim.1; do
	zcat "/usr/share/man/$page.gz" | groff -man -Tutf8 -ww >/dev/null 2>"$out/groff.log" && [ ! -s "$out/groff.log" ] &&
		ok "$page renders (groff -ww: no warning)" || bad "$page: groff: $(cat "$out/groff.log")"
done
keys=$(/usr/sbin/kvmcd --print-example-config | sed -n 's/^#\([a-z_]*\) =.*/\1/p' | sort -u)
conf_man=$(zcat /usr/share/man/man5/kvmcd.conf.5.gz)
missing_keys=$(for k in $keys; do printf '%s\n' "$conf_man" | grep -qF "\\fB$k\\fR" || echo "$k"; done)
[ -z "$missing_keys" ] && ok "kvmcd.conf(5) documents every key of the schema ($(echo $keys | wc -w))" ||
	bad "kvmcd.conf(5) misses: $missing_keys"
[ "$(readlink -f /usr/bin/kvmcd-ontap-sim)" = /usr/libexec/kvmcd/ontap-sim ] && ok "kvmcd-ontap-sim -> the simulator" ||
	bad "kvmcd-ontap-sim points to '$(readlink /usr/bin/kvmcd-ontap-sim)'"
# kvmcd dlopen()s the module at its compiled-in path (KVMCD_ONTAP_MODULE_PATH, meson.build).
grep -aq "^$module\$" <(strings /usr/sbin/kvmcd) && ok "kvmcd loads its ONTAP module from $module" ||
	bad "kvmcd does not name $module (it looks elsewhere: $(strings /usr/sbin/kvmcd | grep 'kvmcd-ontap.so' | head -1))"
dpkg-query -W -f='${Conffiles}\n' kvmcd | grep -q '^ /etc/kvmcd/kvmcd.conf ' && ok "/etc/kvmcd/kvmcd.conf is a conffile" ||
	bad "/etc/kvmcd/kvmcd.conf is not a conffile"
missing_libs=$(ldd /usr/sbin/kvmcd /usr/bin/kvmcctl "$module" /usr/libexec/kvmcd/ontap-sim 2>&1 | grep 'not found')
[ -z "$missing_libs" ] && ok "no missing shared library" || bad "missing libraries: $missing_libs"
# Nothing else in the packages (a file meson installs that the package does not list fails
# dh_missing... only as a warning, so check the lists here).
unexpected=$(dpkg -L kvmcd kvmcd-ontap-sim | grep -v -x -e '/\.' -e '/etc' -e '/etc/kvmcd' -e '/lib' \
	-e '/lib/systemd' -e '/lib/systemd/system' -e '/usr' -e '/usr/bin' -e '/usr/sbin' -e '/usr/lib' \
	-e '/usr/lib/tmpfiles.d' -e "/usr/lib/$multiarch" -e "/usr/lib/$multiarch/kvmcd" -e '/usr/libexec' \
	-e '/usr/libexec/kvmcd' -e '/usr/share' -e '/usr/share/doc' -e '/usr/share/doc/kvmcd' \
	-e '/usr/share/doc/kvmcd-ontap-sim' -e '/usr/share/lintian' -e '/usr/share/lintian/overrides' \
	-e '/usr/share/man' -e '/usr/share/man/man1' -e '/usr/share/man/man5' -e '/usr/share/man/man8' \
	-e '/usr/share/man/man1/kvmcd-ontap-sim.1.gz' \
	-e '/usr/share/man/man8/kvmcd.8.gz' -e '/usr/share/man/man8/kvmcctl.8.gz' -e '/usr/share/man/man8/fence_kvmcd.8.gz' \
	-e '/usr/share/man/man5/kvmcd.conf.5.gz' -e '/usr/share/man/man5/kvmcd-spec.5.gz' \
	-e '/usr/sbin/kvmcd' -e '/usr/bin/kvmcctl' -e '/usr/sbin/fence_kvmcd' -e "$module" \
	-e '/lib/systemd/system/kvmcd.service' -e '/usr/lib/tmpfiles.d/kvmcd.conf' -e '/etc/kvmcd/kvmcd.conf' \
	-e '/usr/share/doc/kvmcd/.*' -e '/usr/share/doc/kvmcd-ontap-sim/.*' -e '/usr/share/lintian/overrides/.*' \
	-e '/usr/bin/kvmcd-ontap-sim' -e '/usr/libexec/kvmcd/ontap-sim')
[ -z "$unexpected" ] && ok "no other files in the packages" || bad "unexpected files in the packages: $unexpected"
dpkg --verify kvmcd kvmcd-ontap-sim >"$out/verify.log" 2>&1 && [ ! -s "$out/verify.log" ] &&
	ok "dpkg --verify: every installed file as packaged" || bad "dpkg --verify: $(cat "$out/verify.log")"

step "the installed programs"
got=$(/usr/sbin/kvmcd --version 2>&1)
[ "$got" = "kvmcd $v" ] && ok "kvmcd --version: $got" || bad "kvmcd --version said '$got', not 'kvmcd $v'"
/usr/sbin/kvmcd --check-config --config /etc/kvmcd/kvmcd.conf >"$out/check-config.log" 2>&1 &&
	ok "kvmcd --check-config --config /etc/kvmcd/kvmcd.conf" || bad "kvmcd --check-config: $(cat "$out/check-config.log")"
/usr/sbin/kvmcd --check-config >"$out/check-config-default.log" 2>&1 &&
	ok "kvmcd --check-config (the default path)" || bad "kvmcd --check-config (default path): $(cat "$out/check-config-default.log")"
/usr/sbin/kvmcd --print-example-config | cmp -s - /etc/kvmcd/kvmcd.conf &&
	ok "/etc/kvmcd/kvmcd.conf is kvmcd --print-example-config" || bad "/etc/kvmcd/kvmcd.conf differs from kvmcd --print-example-config"
# Every line of the shipped config is a comment or a section header: the defaults, written down.
grep -v -e '^#' -e '^$' -e '^\[[a-z_]*\]$' /etc/kvmcd/kvmcd.conf | head -3 | grep -q . &&
	bad "/etc/kvmcd/kvmcd.conf sets keys (it should only comment the defaults)" || ok "/etc/kvmcd/kvmcd.conf only comments the defaults"
grep -q '^#group = kvmcd$' /etc/kvmcd/kvmcd.conf && ok "[api] group defaults to kvmcd" || bad "[api] group's default is not kvmcd"
/usr/bin/kvmcd-ontap-sim --help >/dev/null 2>&1; rc=$?
[ "$rc" -eq 0 ] && ok "kvmcd-ontap-sim --help" || bad "kvmcd-ontap-sim --help exited $rc"
# No kvmcd runs from the package: kvmcctl says it cannot be reached (exit 2: refused, retry).
/usr/bin/kvmcctl status >"$out/kvmcctl.log" 2>&1; rc=$?
[ "$rc" -eq 2 ] && ok "kvmcctl status without a daemon: exit 2" || bad "kvmcctl status without a daemon exited $rc: $(cat "$out/kvmcctl.log")"

step "the installed daemon"
# The installed kvmcd with the installed config, but its state and run dirs in a scratch dir,
# in a network namespace of its own (no corosync: it starts and says "not connected"). The API
# socket must belong to group kvmcd, the package's group and [api] group's default.
scratch=$(mktemp -d /tmp/kvmcd-check-packages.XXXXXX)
cat >"$scratch/kvmcd.conf" <<EOF_CONF
[paths]
state_dir = $scratch/state
run_dir = $scratch/run
EOF_CONF
mkdir -p "$scratch/state" "$scratch/run"
unshare --net /usr/sbin/kvmcd --config "$scratch/kvmcd.conf" --foreground >"$out/kvmcd.log" 2>&1 &
kpid=$!
sock=$scratch/run/kvmcd.sock
for _ in $(seq 1 100); do [ -S "$sock" ] && break; kill -0 "$kpid" 2>/dev/null || break; sleep 0.1; done
if [ -S "$sock" ]; then
	ok "kvmcd started (socket $sock)"
	g=$(stat -c %G "$sock")
	[ "$g" = kvmcd ] && ok "the API socket belongs to group kvmcd ($(stat -c %A "$sock"))" || bad "the API socket's group is $g, not kvmcd"
	/usr/bin/kvmcctl --socket "$sock" status >"$out/status.log" 2>&1; rc=$?
	[ "$rc" -eq 0 ] && ok "kvmcctl status: $(head -1 "$out/status.log")" || bad "kvmcctl status exited $rc: $(cat "$out/status.log")"
else
	bad "kvmcd did not open its socket within 10 s: $(tail -5 "$out/kvmcd.log")"
fi
kill -TERM "$kpid" 2>/dev/null
for _ in $(seq 1 150); do kill -0 "$kpid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$kpid" 2>/dev/null; then
	kill -KILL "$kpid"; wait "$kpid" 2>/dev/null; bad "kvmcd did not stop within 15 s of SIGTERM"
else
	wait "$kpid"; rc=$?
	[ "$rc" -eq 0 ] && ok "kvmcd stopped on SIGTERM, exit 0" || bad "kvmcd exited $rc on SIGTERM: $(tail -5 "$out/kvmcd.log")"
fi
rm -rf "$scratch"

step "the kvmcd group"
gid=$(getent group kvmcd | cut -d: -f3)
if [ -z "$gid" ]; then
	bad "group kvmcd does not exist"
else
	sys_max=$(awk '$1 == "SYS_GID_MAX" { print $2 }' /etc/login.defs 2>/dev/null)
	[ "$gid" -lt "${sys_max:-1000}" ] && ok "group kvmcd exists, a system group (gid $gid)" || bad "group kvmcd has gid $gid, not a system gid"
fi

step "systemd"
if systemd-analyze verify --man=no /lib/systemd/system/kvmcd.service >"$out/systemd-analyze.log" 2>&1 &&
	! grep -q . "$out/systemd-analyze.log"; then
	ok "systemd-analyze verify --man=no kvmcd.service: clean"
else
	bad "systemd-analyze verify kvmcd.service: $(cat "$out/systemd-analyze.log")"
fi
[ -L "$wants" ] && ok "kvmcd.service enabled (multi-user.target.wants)" || bad "kvmcd.service not enabled: $wants missing"

step "rpmbuild (packaging/build-rpm)"
t0=$(date +%s)
if "$top/packaging/build-rpm" "$out/rpm" >"$out/build-rpm.log" 2>&1; then
	rpms=$(find "$out/rpm/RPMS" -name '*.rpm' | sort)
	ok "built in $(($(date +%s) - t0)) s: $(for r in $rpms; do basename "$r"; done | tr '\n' ' ')"
	rpm_arch=$(rpm --eval '%{_arch}')
	main=$out/rpm/RPMS/$rpm_arch/kvmcd-$v-1.$rpm_arch.rpm
	sim=$out/rpm/RPMS/$rpm_arch/kvmcd-ontap-sim-$v-1.$rpm_arch.rpm
	libdir=$(rpm --eval '%{_libdir}')
	if [ -f "$main" ] && [ -f "$sim" ]; then
		list=$(rpm -qlp "$main" "$sim" 2>/dev/null)
		for f in /usr/sbin/kvmcd /usr/sbin/fence_kvmcd /usr/bin/kvmcctl "$libdir/kvmcd/kvmcd-ontap.so" \
			/usr/lib/systemd/system/kvmcd.service /usr/lib/tmpfiles.d/kvmcd.conf /etc/kvmcd/kvmcd.conf \
			/var/lib/kvmcd /usr/bin/kvmcd-ontap-sim /usr/libexec/kvmcd/ontap-sim; do
			printf '%s\n' "$list" | grep -qx "$f" || bad "$f missing in the RPMs"
		done
		for f in man8/kvmcd.8 man8/kvmcctl.8 man8/fence_kvmcd.8 man5/kvmcd.conf.5 man5/kvmcd-spec.5 man1/kvmcd-ontap-sim.1; do
			printf '%s\n' "$list" | grep -q "^/usr/share/man/$f" || bad "$f missing in the RPMs"
		done
		rpm -qp --configfiles "$main" 2>/dev/null | grep -qx /etc/kvmcd/kvmcd.conf || bad "kvmcd.conf is no %config in the RPM"
		rpm -qp --scripts "$main" 2>/dev/null | grep -q 'groupadd -r kvmcd' || bad "the RPM does not create the kvmcd group"
		ok "the RPMs hold the same layout (Fedora's paths), %config kvmcd.conf, the group"
	else
		bad "kvmcd-$v-1.$rpm_arch.rpm or kvmcd-ontap-sim-$v-1.$rpm_arch.rpm missing: $rpms"
	fi
else
	tail -40 "$out/build-rpm.log"
	bad "packaging/build-rpm failed (log: $out/build-rpm.log)"
fi

if [ "${KVMCD_PACKAGING_KEEP:-0}" = 1 ]; then
	echo "KVMCD_PACKAGING_KEEP=1: the packages stay installed"
else
	step "purge"
	purge && ok "apt-get purge kvmcd kvmcd-ontap-sim" || bad "purging failed"
	for p in kvmcd kvmcd-ontap-sim; do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
		[ -z "$st" ] || [ "$st" = not-installed ] || bad "$p is still '$st' for dpkg"
	done
	left=""
	etc_ours && [ ! -e /etc/kvmcd/kvmcd.conf ] || left="$left /etc/kvmcd/"
	for f in /usr/sbin/kvmcd /usr/bin/kvmcctl /usr/sbin/fence_kvmcd "$module" /usr/lib/$multiarch/kvmcd \
		/lib/systemd/system/kvmcd.service /usr/lib/tmpfiles.d/kvmcd.conf /var/lib/kvmcd /run/kvmcd \
		/usr/bin/kvmcd-ontap-sim /usr/libexec/kvmcd /usr/share/doc/kvmcd /usr/share/doc/kvmcd-ontap-sim "$wants" \
		/usr/share/man/man8/kvmcd.8.gz /usr/share/man/man8/kvmcctl.8.gz /usr/share/man/man5/kvmcd.conf.5.gz; do
		[ -e "$f" ] || [ -L "$f" ] && left="$left $f"
	done
	[ -z "$left" ] && ok "nothing left behind" || bad "left behind:$left"
	if [ -e /etc/kvmcd ] && [ "$etc_before" = 0 ]; then
		ls -A /etc/kvmcd | grep -qvx "$mp_marker" || echo "note: /etc/kvmcd stays: the multi-node harness's mount point (its last 'down' removes it)"
	fi
	if [ "$group_before" -eq 0 ] && getent group kvmcd >/dev/null; then
		groupdel kvmcd && ok "group kvmcd removed (the package keeps it on purge, as Debian does)" || bad "groupdel kvmcd failed"
	fi
fi

echo "check-packages: $failures failure(s), $(($(date +%s) - start)) s"
[ "$failures" -eq 0 ]
