#!/usr/bin/python3 -IS
# SPDX-License-Identifier: GPL-2.0-or-later
"""target-sync.py DOC: make the target guest's LIO iSCSI target and nvmet-tcp target serve
exactly what the ONTAP simulator's target document says (tests/ontap-sim/target.c describes
it; the simulator runs this as its --target-hook after every change, and answers the REST call
only afterwards).

Everything is configfs, written directly (targetcli costs 3-6 s of python start-up per call
under TCG). Idempotent: it reads what is configured and changes only the difference, so it can
run again after any failure. Objects it manages are named so it recognises them: backstores
"k<uuid without dashes>" in core/fileio_0, targets/subsystems by the document's names.

Revoking a host's access follows /work/shared/notes/fullstack-fencing.md: for iSCSI, an ACL that
goes away or loses its last LUN has its live connections dropped FIRST (ss -K, with a policy rule
keeping iscsid from logging straight back in meanwhile), because LIO answers I/O of a live
session whose LUN vanished with write-protect errors (OCFS2 panics on those); for NVMe the host
leaves allowed_hosts first (nvmet checks it only at connect) and then its queues are aborted.
Exit status 0 when the target matches the document; otherwise 1 with the failing step on stderr.
"""
import json
import os
import re
import socket
import subprocess
import sys

CFS = "/sys/kernel/config"
LIO = CFS + "/target"
HBA = LIO + "/core/fileio_0"
NVMET = CFS + "/nvmet"


class Fail(Exception):
    pass


def log(msg):
    print("target-sync: " + msg, file=sys.stderr)


def write(path, value):
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except OSError as e:
        raise Fail(f"writing '{value}' to {path}: {e.strerror}")


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def mkdir(path):
    if not os.path.isdir(path):
        try:
            os.mkdir(path)
        except OSError as e:
            raise Fail(f"mkdir {path}: {e.strerror}")


def rmdir(path):
    if os.path.isdir(path):
        try:
            os.rmdir(path)
        except OSError as e:
            raise Fail(f"rmdir {path}: {e.strerror}")


def symlink(src, dst):
    if not os.path.islink(dst):
        try:
            os.symlink(src, dst)
        except OSError as e:
            raise Fail(f"ln -s {src} {dst}: {e.strerror}")


def unlink(path):
    if os.path.islink(path):
        try:
            os.unlink(path)
        except OSError as e:
            raise Fail(f"unlink {path}: {e.strerror}")


def links_in(d):
    return [os.path.join(d, n) for n in os.listdir(d) if os.path.islink(os.path.join(d, n))] if os.path.isdir(d) else []


def ls(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def run(argv):
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise Fail(f"{' '.join(argv)}: {p.stderr.strip() or 'exit %d' % p.returncode}")


def host_ip_of(name):
    """The address of a test host from the last part of its IQN / NQN (…:n3, …:host:n3)."""
    try:
        return socket.gethostbyname(name.rsplit(":", 1)[-1])
    except OSError:
        return None


def backstore_name(uuid):
    return "k" + uuid.replace("-", "")


# ---------------------------------------------------------------------------------- iSCSI

def acl_addresses(acl_dir):
    return set(re.findall(r"Address\s+(\S+)\s+TCP", read(acl_dir + "/info")))


def drop_connections(ips, port):
    """ss -K the hosts' connections to PORT while a rule drops our replies to them."""
    rules = [f"to {ip}/32 ipproto 6 sport {port} prohibit pref 100".split() for ip in ips]
    for r in rules:
        run(["ip", "rule", "add"] + r)
    return rules


def undo_rules(rules):
    for r in rules:
        subprocess.run(["ip", "rule", "del"] + r, stderr=subprocess.DEVNULL)


def tpg_luns(tpg):
    """{backstore name: lun_N dir} of a TPG."""
    out = {}
    for d in ls(tpg + "/lun"):
        for link in links_in(f"{tpg}/lun/{d}"):
            out[os.path.basename(os.readlink(link))] = f"{tpg}/lun/{d}"
    return out


def acl_luns(acl):
    """{mapped lun id: tpg lun dir} of an ACL."""
    out = {}
    for d in ls(acl):
        if d.startswith("lun_"):
            links = links_in(f"{acl}/{d}")
            out[int(d[4:])] = os.path.realpath(links[0]) if links else None
    return out


def remove_mapped(acl, lun_id):
    d = f"{acl}/lun_{lun_id}"
    for link in links_in(d):
        unlink(link)
    rmdir(d)


def ensure_backstore(lun):
    name = backstore_name(lun["uuid"])
    so = f"{HBA}/{name}"
    if os.path.isdir(so) and read(so + "/enable") == "1":
        return name
    mkdir(HBA)
    mkdir(so)
    write(so + "/control", f"fd_dev_name={lun['backing_file']},fd_dev_size={lun['size']}")
    # the serial (VPD page 0x80) is the LUN's ONTAP serial, as on the array; set before export
    write(so + "/wwn/vpd_unit_serial", lun["serial_number"])
    write(so + "/enable", 1)
    return name


def sync_iscsi_target(t):
    iqn = t["target_iqn"].lower()
    tdir = f"{LIO}/iscsi/{iqn}"
    tpg = tdir + "/tpgt_1"
    mkdir(tdir)
    mkdir(tpg)
    want_np = {f"{ip}:3260" for ip in t["portals"]}
    for np in ls(tpg + "/np"):
        if np not in want_np:
            rmdir(f"{tpg}/np/{np}")
    for np in want_np:
        mkdir(f"{tpg}/np/{np}")
    for k, v in (("authentication", 0), ("generate_node_acls", 0), ("demo_mode_write_protect", 1),
                 ("cache_dynamic_acls", 0)):
        if read(f"{tpg}/attrib/{k}") != str(v):
            write(f"{tpg}/attrib/{k}", v)

    want_acls = {a["initiator"].lower(): {m["lun"]: backstore_name(m["uuid"]) for m in a["luns"]} for a in t["acls"]}
    luns = {backstore_name(l["uuid"]): l for l in t["luns"]}

    # 1. revocations: every ACL that goes or loses mapped LUNs, connections first when it keeps none
    tl = tpg_luns(tpg)
    by_dir = {v: k for k, v in tl.items()}
    for ini in ls(tpg + "/acls"):
        acl = f"{tpg}/acls/{ini}"
        have = {n: by_dir.get(d) for n, d in acl_luns(acl).items()}
        want = want_acls.get(ini)
        gone = [n for n, bs in have.items() if want is None or want.get(n) != bs]
        if not gone and want is not None:
            continue
        rules = []
        try:
            if want is None or not want:
                ips = acl_addresses(acl) or ({host_ip_of(ini)} - {None})
                if ips:
                    rules = drop_connections(ips, 3260)
                    for ip in ips:
                        run(["ss", "-K", "dst", ip, "and", "sport", "=", ":3260"])
                    log(f"{ini}: connections from {' '.join(sorted(ips))} dropped before its access goes")
            for n in gone:
                remove_mapped(acl, n)
            if want is None:
                rmdir(acl)
                log(f"{ini}: ACL removed")
        finally:
            undo_rules(rules)

    # 2. TPG LUNs and backstores that nobody maps any more
    for bs, d in tpg_luns(tpg).items():
        if bs not in luns:
            for link in links_in(d):
                unlink(link)
            rmdir(d)
            if os.path.isdir(f"{HBA}/{bs}"):
                rmdir(f"{HBA}/{bs}")

    # 3. new LUNs: backstore (with its serial) then a TPG LUN
    tl = tpg_luns(tpg)
    for bs, lun in luns.items():
        ensure_backstore(lun)
        if bs in tl:
            continue
        used = {int(d[4:]) for d in ls(tpg + "/lun") if d.startswith("lun_")}
        n = next(i for i in range(0, 65536) if i not in used)
        mkdir(f"{tpg}/lun/lun_{n}")
        symlink(f"{HBA}/{bs}", f"{tpg}/lun/lun_{n}/{bs[:10]}")
    tl = tpg_luns(tpg)

    # 4. ACLs and their mapped LUNs (the igroup's LUN ids)
    for ini, maps in want_acls.items():
        acl = f"{tpg}/acls/{ini}"
        mkdir(acl)
        have = acl_luns(acl)
        for n, bs in maps.items():
            if n in have:
                continue
            mkdir(f"{acl}/lun_{n}")
            symlink(tl[bs], f"{acl}/lun_{n}/{bs[:10]}")
    if read(tpg + "/enable") != "1":
        write(tpg + "/enable", 1)


def remove_iscsi_target(iqn):
    tdir = f"{LIO}/iscsi/{iqn}"
    tpg = tdir + "/tpgt_1"
    sync_iscsi_target({"target_iqn": iqn, "portals": [], "luns": [], "acls": []})
    rmdir(tpg)
    rmdir(tdir)


def sync_iscsi(targets):
    want = {t["target_iqn"].lower() for t in targets}
    for t in targets:
        sync_iscsi_target(t)
    for iqn in ls(LIO + "/iscsi"):
        if iqn.startswith("iqn.") and iqn not in want and iqn.startswith("iqn.1992-08.com.netapp:"):
            remove_iscsi_target(iqn)
    # backstores of ours no target uses any more
    used = set()
    for iqn in ls(LIO + "/iscsi"):
        used |= set(tpg_luns(f"{LIO}/iscsi/{iqn}/tpgt_1"))
    for bs in ls(HBA):
        if re.fullmatch(r"k[0-9a-f]{32}", bs) and bs not in used:
            rmdir(f"{HBA}/{bs}")


# ---------------------------------------------------------------------------------- NVMe

def sync_nvme(svms):
    subs = {s["nqn"]: s for svm in svms for s in svm["subsystems"]}
    ips = sorted({ip for svm in svms for ip in svm["portals"]})
    ports = {}
    for ip in ips:
        pid = next((p for p in ls(NVMET + "/ports") if read(f"{NVMET}/ports/{p}/addr_traddr") == ip), None)
        if pid is None:
            used = {int(p) for p in ls(NVMET + "/ports")}
            pid = str(next(i for i in range(1, 65536) if i not in used))
            pd = f"{NVMET}/ports/{pid}"
            mkdir(pd)
            write(pd + "/addr_trtype", "tcp")
            write(pd + "/addr_adrfam", "ipv4")
            write(pd + "/addr_traddr", ip)
            write(pd + "/addr_trsvcid", 4420)
        ports[ip] = f"{NVMET}/ports/{pid}"

    # 1. revocations: hosts out of allowed_hosts first, then their queues aborted
    revoked = set()
    for nqn in ls(NVMET + "/subsystems"):
        sd = f"{NVMET}/subsystems/{nqn}"
        want = set(subs[nqn]["hosts"]) if nqn in subs else set()
        for h in ls(sd + "/allowed_hosts"):
            if h not in want:
                unlink(f"{sd}/allowed_hosts/{h}")
                revoked.add(h)
    for h in sorted(revoked):
        ip = host_ip_of(h)
        if ip:
            run(["ss", "-K", "dst", ip, "and", "sport", "=", ":4420"])
            log(f"{h}: out of allowed_hosts, its NVMe/TCP queues from {ip} aborted")

    # 2. subsystems that go: off the ports, namespaces disabled, then removed
    for nqn in ls(NVMET + "/subsystems"):
        if nqn in subs or not nqn.startswith("nqn.1992-08.com.netapp:"):
            continue
        sd = f"{NVMET}/subsystems/{nqn}"
        for p in ls(NVMET + "/ports"):
            unlink(f"{NVMET}/ports/{p}/subsystems/{nqn}")
        for ns in ls(sd + "/namespaces"):
            write(f"{sd}/namespaces/{ns}/enable", 0)
            rmdir(f"{sd}/namespaces/{ns}")
        rmdir(sd)

    # 3. subsystems, hosts, namespaces that should be there
    for nqn, s in subs.items():
        sd = f"{NVMET}/subsystems/{nqn}"
        mkdir(sd)
        if read(sd + "/attr_allow_any_host") != "0":
            write(sd + "/attr_allow_any_host", 0)
        want_ns = {str(n["nsid"]): n for n in s["namespaces"]}
        for ns in ls(sd + "/namespaces"):
            n = want_ns.get(ns)
            nd = f"{sd}/namespaces/{ns}"
            if n is None or read(nd + "/device_uuid") != n["uuid"] or read(nd + "/device_path") != n["backing_file"]:
                write(nd + "/enable", 0)
                rmdir(nd)
        for ns, n in want_ns.items():
            nd = f"{sd}/namespaces/{ns}"
            if os.path.isdir(nd) and read(nd + "/enable") == "1":
                continue
            mkdir(nd)
            write(nd + "/device_path", n["backing_file"])
            write(nd + "/device_uuid", n["uuid"])
            write(nd + "/enable", 1)
        for h in s["hosts"]:
            mkdir(f"{NVMET}/hosts/{h}")
            symlink(f"{NVMET}/hosts/{h}", f"{sd}/allowed_hosts/{h}")
        for ip, pd in ports.items():
            symlink(sd, f"{pd}/subsystems/{nqn}")

    # 4. ports no subsystem needs; host entries no subsystem allows
    for p in ls(NVMET + "/ports"):
        pd = f"{NVMET}/ports/{p}"
        if read(pd + "/addr_traddr") not in ips and not ls(pd + "/subsystems"):
            rmdir(pd)
    allowed = {h for nqn in ls(NVMET + "/subsystems") for h in ls(f"{NVMET}/subsystems/{nqn}/allowed_hosts")}
    for h in ls(NVMET + "/hosts"):
        if h not in allowed:
            rmdir(f"{NVMET}/hosts/{h}")


def main():
    if len(sys.argv) != 2:
        print("usage: target-sync.py TARGET-DOCUMENT.json", file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1]) as f:
            doc = json.load(f)
        if not os.path.isdir(LIO) or not os.path.isdir(NVMET):
            raise Fail(f"no LIO or nvmet in {CFS} (run tgt_init first)")
        mkdir(LIO + "/iscsi")  # registers the iSCSI fabric (iscsi_target_mod)
        sync_iscsi(doc["iscsi"])
        sync_nvme(doc["nvme"])
    except Fail as e:
        log(f"FAILED: {e}")
        return 1
    except (OSError, ValueError, KeyError, TypeError) as e:
        log(f"FAILED: bad document or configfs state: {e!r}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
