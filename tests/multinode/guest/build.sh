#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# build.sh OUT.img [SIZE] [io|qga]: assembles counter.s (binutils: as + ld, part of
# build-essential) into a raw disk image: the 512-byte boot sector, zero-padded to SIZE (default
# 1M; with cache='none' a raw image must be a multiple of 4 KiB). "io": the variant that also
# writes and reads a disk sector at every tick (counter.s, DISKIO). "qga": the guest-agent
# responder instead (qga.s: a boot sector that loads 24 more sectors). Nothing is downloaded.
set -eu
out=${1:?usage: build.sh OUT.img [SIZE]}
size=${2:-1M}
defsym=""
src=counter.s
max=512
[ "${3:-}" = io ] && defsym="--defsym DISKIO=1"
[ "${3:-}" = qga ] && src=qga.s && max=$((25 * 512))
here=$(dirname "$(readlink -f "$0")")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086
as --32 $defsym "$here/$src" -o "$tmp/counter.o"
ld -m elf_i386 -Ttext 0x7c00 -e _start --oformat binary "$tmp/counter.o" -o "$tmp/counter.bin"
n=$(stat -c %s "$tmp/counter.bin")
if [ "$max" -eq 512 ]; then
	[ "$n" -eq 512 ] || { echo "build.sh: boot sector is $n bytes, not 512" >&2; exit 1; }
else
	[ "$n" -le "$max" ] || { echo "build.sh: $src is $n bytes, more than $max" >&2; exit 1; }
fi
[ "$(od -An -tx1 -j510 -N2 "$tmp/counter.bin" | tr -d ' ')" = 55aa ] || { echo "build.sh: no 55aa signature" >&2; exit 1; }
cp "$tmp/counter.bin" "$out.tmp"
truncate -s "$size" "$out.tmp"
chmod 644 "$out.tmp"
mv "$out.tmp" "$out"
