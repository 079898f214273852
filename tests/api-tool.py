#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Hostile and fake clients/servers for kvmcd's local API (agent/api-server.h), for
tests/test-agent-api.sh.

  flood SOCKET N HOLD_FILE [--uid U --gid G] [--refill]
        Opens N connections that send nothing and keeps them until HOLD_FILE disappears (with
        --refill it re-opens what kvmcd closes, at most 500 a second). Prints one JSON line
        when the first round is in, and one at the end:
        {"phase":..,"attempts":..,"held":..,"refused":{error:count},"connect_errors":{..}}
  send SOCKET HEX|@FILE [--shut] [--read-bytes N] [--timeout S]
        Sends the bytes (hex, or FILE's), half-closes with --shut, then prints what came back as JSON
        {"reply": first line or null, "bytes": n, "eof_after": seconds, "error": ...};
        with --read-bytes N it closes after reading N bytes (a client vanishing mid-reply).
  fake SOCKET SCRIPT LOG
        A fake kvmcd: serves one connection per action in the JSON list SCRIPT, then exits.
        Each request (header, and body by spec_length) is appended to LOG as JSON. Actions:
        {"reply": {...}}       answer with that object
        {"close": true}        close after taking the whole request, without answering
        {"close_early": true}  close after the header, without reading the body
        {"reply_rst": {...}}   answer, then close with the body unread (ECONNRESET)
"""
import json
import os
import resource
import select
import socket
import sys
import time


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n)
    if hard != resource.RLIM_INFINITY and hard < want:
        hard = want  # root may raise the hard limit too
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass


def flood(path, n, hold_file, uid=None, gid=None, refill=False):
    raise_nofile(n + 64)
    if gid is not None:
        os.setgroups([])
        os.setgid(gid)
    if uid is not None:
        os.setuid(uid)
    socks = {}  # fd -> [sock, buffer]
    refused, errors = {}, {}
    attempts = 0
    done_first = False
    last_refill = time.monotonic()

    def open_some(k):
        nonlocal attempts
        for _ in range(k):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            attempts += 1
            r = s.connect_ex(path)
            if r != 0:
                errors[os.strerror(r)] = errors.get(os.strerror(r), 0) + 1
                s.close()
                continue
            socks[s.fileno()] = [s, b""]

    def report(phase):
        print(json.dumps({"phase": phase, "attempts": attempts, "held": len(socks), "refused": refused,
                          "connect_errors": errors}), flush=True)

    # The first round: N connections; a full backlog (EAGAIN) is retried.
    # Gives up after 3 s without a new connection (kvmcd not accepting).
    progress = time.monotonic()
    while attempts - sum(errors.values()) < n and time.monotonic() - progress < 3:
        before = attempts - sum(errors.values())
        open_some(min(100, n - before))
        if attempts - sum(errors.values()) > before:
            progress = time.monotonic()
        else:
            time.sleep(0.01)
        poll_replies(socks, refused, 0.01)
    poll_replies(socks, refused, 1.0)
    report("first")
    while os.path.exists(hold_file):
        poll_replies(socks, refused, 0.1)
        if refill:
            now = time.monotonic()
            k = min(n - len(socks), int((now - last_refill) * 500))
            if k > 0:
                open_some(k)
                last_refill = now
    for s, _ in socks.values():
        s.close()
    report("end")


def poll_replies(socks, refused, timeout):
    """Reads what kvmcd sent; counts refusals by their error text; forgets closed sockets."""
    if not socks:
        time.sleep(timeout)
        return
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        p = select.poll()
        for s, _ in socks.values():
            p.register(s.fileno(), select.POLLIN)
        r = [socks[fd][0] for fd, _ in p.poll(left * 1000)]
        if not r:
            return
        for s in r:
            fd = s.fileno()
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            ent = socks[fd]
            ent[1] += data
            if b"\n" in ent[1] or not data:
                line = ent[1].split(b"\n", 1)[0]
                try:
                    msg = json.loads(line).get("error", "?") if line else "closed without a reply"
                except ValueError:
                    msg = "unreadable: %r" % line[:80]
                refused[msg] = refused.get(msg, 0) + 1
                s.close()
                del socks[fd]


def send(path, data, shut, read_bytes, timeout):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    start = time.monotonic()
    out = {"reply": None, "bytes": 0, "eof_after": None, "error": None}
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
    except OSError as e:
        out["error"] = "send: " + e.strerror
    buf = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                out["eof_after"] = round(time.monotonic() - start, 2)
                break
            buf += d
            if read_bytes and len(buf) >= read_bytes:
                break
    except socket.timeout:
        out["error"] = "timeout"
    except OSError as e:
        out["error"] = "recv: " + e.strerror
    s.close()
    out["bytes"] = len(buf)
    if b"\n" in buf:
        try:
            out["reply"] = json.loads(buf.split(b"\n", 1)[0])
        except ValueError:
            out["reply"] = "unreadable"
    print(json.dumps(out), flush=True)


def fake(path, script, log):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    for action in script:
        c, _ = srv.accept()
        c.settimeout(30)
        buf = b""
        while b"\n" not in buf:
            d = c.recv(65536)
            if not d:
                break
            buf += d
        line, _, rest = buf.partition(b"\n")
        header = json.loads(line)
        want = header.get("spec_length")
        entry = {"header": header}
        if action.get("close_early"):
            with open(log, "a") as f:
                f.write(json.dumps(entry) + "\n")
            c.close()
            continue
        if want is not None and not action.get("reply_rst"):
            while len(rest) < want:
                d = c.recv(1 << 20)
                if not d:
                    break
                rest += d
            entry["body_len"] = len(rest)
            entry["body"] = rest.decode("utf-8", "replace")
        with open(log, "a") as f:
            f.write(json.dumps(entry) + "\n")
        if "reply" in action:
            c.sendall((json.dumps(action["reply"]) + "\n").encode())
        elif "reply_rst" in action:
            c.sendall((json.dumps(action["reply_rst"]) + "\n").encode())
        c.close()
    srv.close()
    os.unlink(path)


def main(argv):
    cmd = argv[1]
    if cmd == "flood":
        uid = gid = None
        if "--uid" in argv:
            uid = int(argv[argv.index("--uid") + 1])
        if "--gid" in argv:
            gid = int(argv[argv.index("--gid") + 1])
        flood(argv[2], int(argv[3]), argv[4], uid, gid, "--refill" in argv)
    elif cmd == "send":
        rb = int(argv[argv.index("--read-bytes") + 1]) if "--read-bytes" in argv else 0
        to = float(argv[argv.index("--timeout") + 1]) if "--timeout" in argv else 30.0
        if argv[3].startswith("@"):
            with open(argv[3][1:], "rb") as f:
                data = f.read()
        else:
            data = bytes.fromhex(argv[3])
        send(argv[2], data, "--shut" in argv, rb, to)
    elif cmd == "fake":
        with open(argv[3]) as f:
            script = json.load(f)
        fake(argv[2], script, argv[4])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
