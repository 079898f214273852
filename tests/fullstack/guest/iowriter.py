#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
# iowriter PATH STATUS [INTERVAL [EVENT]]: 4 KiB O_DIRECT|O_DSYNC writes to PATH (a ring of 256
# blocks, the fd kept open) every INTERVAL seconds (default 0.1), for ever. After each write STATUS
# holds "writes errors uptime-of-last-success uptime-of-last-error" (renamed into place, so a
# reader never sees half a line). A blocked write simply stops the counter: the host samples
# STATUS through `fs exec` to tell "blocks" from "keeps writing". A write that took 1 s or more
# also writes EVENT.resumed ("start=UPTIME now=UPTIME"; on the share, so its mtime is the host's
# time of the resume and mtime - (now - start) the host time the stalled write was issued).
# No fork per write (TCG forks are slow).
import mmap
import os
import sys
import time


def uptime():
    with open("/proc/uptime") as f:
        return f.read().split()[0]


def main():
    path, status = sys.argv[1], sys.argv[2]
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
    event = sys.argv[4] if len(sys.argv) > 4 else None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_DIRECT | os.O_DSYNC, 0o644)
    buf = mmap.mmap(-1, 4096)
    buf.write((os.uname().nodename + " ").encode().ljust(4096, b"x"))
    n = errors = 0
    ok_at = err_at = "0"
    while True:
        try:
            start = uptime()
            os.pwrite(fd, buf, (n % 256) * 4096)
            n += 1
            ok_at = uptime()
            if event and float(ok_at) - float(start) >= 1.0:
                with open(event + ".resumed", "w") as f:
                    f.write(f"start={start} now={ok_at}\n")
        except OSError as e:
            errors += 1
            err_at = uptime()
            print(f"{err_at} write error: {e}", flush=True)
        with open(status + ".tmp", "w") as f:
            f.write(f"{n} {errors} {ok_at} {err_at}\n")
        os.rename(status + ".tmp", status)
        time.sleep(interval)


if __name__ == "__main__":
    main()
