#!/bin/sh
# Installs everything kvmcd needs to build, run its demo and run its tests on Debian 12.
# Idempotent: safe to run again. Needs root (or sudo).
set -eu

BUILD="build-essential meson ninja-build pkg-config clang llvm libclang-rt-14-dev"
LIBS="libcpg-dev libquorum-dev libvotequorum-dev libcmap-dev libcfg-dev libcorosync-common-dev
      libsystemd-dev libjansson-dev libcurl4-openssl-dev libvirt-dev libdlm-dev libnvme-dev
      libinih-dev libmicrohttpd-dev libgnutls28-dev libjson-c-dev libxml2-dev"
# Runtime of the demo and the multi-node tests: real corosync per network namespace.
RUNTIME="corosync iproute2 nftables util-linux procps psmisc jq python3 ca-certificates curl openssl"
# A quorum device for the multi-node tests (`cluster up --qdevice`, multinode-ha-qdevice):
# corosync-qnetd (the arbiter) and corosync-qdevice (per node); both bring libnss3-tools
# (certutil, pk12util, about 5 MB) for their TLS certificates; the two themselves about 0.5 MB.
QDEVICE="corosync-qnetd corosync-qdevice"
# One real libvirtd per multi-node test node (monolithic libvirtd; NOT libvirt-daemon-system,
# which drags in udev, polkit, dnsmasq, ...), QEMU for the TCG test guest, bindfs for the
# shared directory libvirt takes for shared storage (fuse.glusterfs). About 7 MB installed
# on top of qemu-system-x86 (43 MB, plus about 45 MB of its dependencies). python3-fusepy (70 kB,
# on libfuse2) for faultfs, the FUSE file system whose storage test-vms-paused.sh fails.
LIBVIRT="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 bindfs python3-fusepy"
# The full-stack tier (tests/fullstack/): QEMU (already in LIBVIRT) and the guest image build's
# tools -- debootstrap and busybox-static add about 2.5 MB -- so the tier runs on every machine
# that runs the tests (CI included); xfsprogs formats the target guest's data disk (XFS with
# reflink, about 3.5 MB). KVMCD_FULLSTACK=0 leaves them out (its test then skips).
FULLSTACK="qemu-system-x86 debootstrap busybox-static cpio kmod xz-utils e2fsprogs xfsprogs"
[ "${KVMCD_FULLSTACK:-1}" = 0 ] && FULLSTACK=""
# Power fencing (fencing/agent.c runs fence-agents' programs: fence_ipmilan, fence_redfish, ...);
# test-fence-agent also runs its fence_dummy. Python; brings about 28 python3 modules along.
FENCING="fence-agents"
# The packages (packaging/build-deb, packaging/build-rpm; checked by tests/packaging/
# check-packages.sh): debhelper (brings dh-autoreconf, dh-strip-nondeterminism, po-debconf,
# ...), dpkg-dev and fakeroot for dpkg-buildpackage, lintian, rpm for rpmbuild, adduser for the
# package's postinst (Depends of kvmcd; on Debian's base system anyway).
PACKAGING="debhelper dpkg-dev fakeroot lintian rpm adduser scdoc groff-base"
# promtool, which checks the metrics' format (multinode-metrics): Debian 12 ships it only in the
# prometheus package (about 96 MB installed); its server is not started (policy-rc.d below).
METRICS="prometheus"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=""
for p in $BUILD $LIBS $RUNTIME $QDEVICE $LIBVIRT $FULLSTACK $FENCING $PACKAGING $METRICS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not start corosync on the host: the tests run their own per namespace.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod 755 "$policy"
	created_policy=1
fi
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
[ "$created_policy" -eq 0 ] || $SUDO rm -f "$policy"
