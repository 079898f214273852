#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""faultfs.py BACKING_DIR MOUNTPOINT CONTROL_FILE: a FUSE file system whose storage can fail.

Passes every file operation through to BACKING_DIR, except that while CONTROL_FILE holds "eio"
every read, write and fsync of a file answers EIO: a guest's disk on it sees what a LUN whose
paths all failed gives QEMU (opens, stats and directory reads still work, as on a block device
that is there but cannot do I/O). Anything else in CONTROL_FILE, or no file, passes through
again. Mounted with direct_io (the kernel's page cache never answers for the backing file: a
read after the switch reaches this program) and allow_other (QEMU may run as another user).
O_DIRECT is dropped when the backing file is opened (the backing directory may not take it).

The multi-node tier mounts one per node (test-vms-paused.sh), inside the node's mount
namespace, under a datastore's path, all of them over the same backing directory and control
file: switching the control file fails the storage on every node at once.
Needs python3-fusepy (packaging/install-deps.sh).
"""
import errno
import os
import sys

try:  # Debian's python3-fusepy names the module fusepy; pip's fusepy names it fuse
    from fusepy import FUSE, FuseOSError, Operations
except ImportError:
    from fuse import FUSE, FuseOSError, Operations


class FaultFS(Operations):
    def __init__(self, root, control):
        self.root = root
        self.control = control

    def _path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def _failing(self):
        try:
            with open(self.control, encoding="ascii") as f:
                return f.read().strip() == "eio"
        except OSError:
            return False

    def _io(self):
        if self._failing():
            raise FuseOSError(errno.EIO)

    def getattr(self, path, fh=None):
        st = os.lstat(self._path(path))
        return {k: getattr(st, k) for k in ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink",
                                            "st_size", "st_uid")}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._path(path))

    def access(self, path, amode):
        if not os.access(self._path(path), amode):
            raise FuseOSError(errno.EACCES)

    def open(self, path, flags):
        return os.open(self._path(path), flags & ~os.O_DIRECT)

    def create(self, path, mode, fi=None):
        return os.open(self._path(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)

    def read(self, path, size, offset, fh):
        self._io()
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self._io()
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        os.truncate(self._path(path), length)

    def fsync(self, path, datasync, fh):
        self._io()
        os.fsync(fh)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        os.close(fh)

    def unlink(self, path):
        os.unlink(self._path(path))

    def rename(self, old, new):
        os.rename(self._path(old), self._path(new))

    def chmod(self, path, mode):
        os.chmod(self._path(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self._path(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self._path(path), times)

    def statfs(self, path):
        st = os.statvfs(self._path(path))
        return {k: getattr(st, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree",
                                            "f_files", "f_flag", "f_frsize", "f_namemax")}


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: faultfs.py BACKING_DIR MOUNTPOINT CONTROL_FILE")
    root, mnt, control = sys.argv[1:]
    FUSE(FaultFS(os.path.realpath(root), control), mnt, foreground=True, allow_other=True, direct_io=True,
         fsname="faultfs")


if __name__ == "__main__":
    main()
