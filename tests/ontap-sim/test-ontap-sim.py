#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Conformance test of ontap-sim against /work/shared/notes/ontap-rest.md (§3, §4, §7, §8).

Usage: test-ontap-sim.py PATH/TO/ontap-sim [TEST-NAME...]

Starts the simulator on a free port (self-signed certificate, verified), runs every check and
exits non-zero if any fails. Standard library only (urllib/http.client + ssl).
"""
import base64
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

ADMIN = ("admin", "netapp1!")
RO = ("ro", "ro-pass")
VS = ("vs", "vs-pass")
TOKEN = "ctl-token"


class Sim:
    """One simulator process in its own temporary directory."""

    def __init__(self, binary, workdir, version="9.14.1", extra=()):
        self.binary, self.dir = binary, workdir
        self.cert = os.path.join(workdir, "cert.pem")
        self.log = os.path.join(workdir, "requests.log")
        self.state = os.path.join(workdir, "state.json")
        self.backing = os.path.join(workdir, "backing")
        self.access_socket = os.path.join(workdir, "access.sock")
        self.version = version
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self):
        portfile = os.path.join(self.dir, "port")
        if os.path.exists(portfile):
            os.unlink(portfile)
        args = [self.binary, "--listen", "127.0.0.1:0", "--port-file", portfile,
                "--tls-cert-out", self.cert, "--request-log", self.log,
                "--user", "%s:%s" % ADMIN, "--user", "%s:%s:readonly" % RO,
                "--user", "%s:%s:vsadmin" % VS,
                "--control-token", TOKEN, "--ontap-version", self.version,
                "--state", self.state, "--backing-dir", self.backing,
                "--job-ms", "150", "--transfer-ms", "800",
                "--access-socket", self.access_socket] + self.extra
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        line = self.proc.stdout.readline().strip()
        m = re.fullmatch(r"ontap-sim listening on https://127\.0\.0\.1:(\d+)", line)
        assert m, "unexpected startup line %r" % line
        self.port = int(m.group(1))
        with open(portfile) as f:
            assert int(f.read().strip()) == self.port, "--port-file disagrees with stdout"
        self.ctx = ssl.create_default_context(cafile=self.cert)  # verifies chain + 127.0.0.1 SAN

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def raw(self, method, path, body=None, user=ADMIN, headers=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        h = {"Accept": "application/hal+json"}
        if user:
            h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % user).encode()).decode()
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        try:
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            text = resp.read()
            return resp.status, resp.headers, (json.loads(text) if text else None)
        finally:
            conn.close()

    def req(self, method, path, body=None, **kw):
        return self.raw(method, path, body, **kw)

    def get(self, path, **kw):
        st, _, b = self.raw("GET", path, **kw)
        assert st == 200, "GET %s -> %s %s" % (path, st, b)
        return b

    def ctl(self, method, path, body=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"X-Sim-Token": TOKEN, "Content-Type": "application/json"})
        resp = conn.getresponse()
        text = resp.read()
        conn.close()
        assert resp.status in (200, 201), "control %s %s -> %s %s" % (method, path, resp.status, text)
        return json.loads(text) if text else None

    def job(self, uuid):
        return self.get("/api/cluster/jobs/%s?fields=**" % uuid)

    def wait_job(self, uuid, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            j = self.job(uuid)
            if j["state"] in ("success", "failure"):
                return j
            time.sleep(0.05)
        raise AssertionError("job %s did not finish" % uuid)

    def async_ok(self, method, path, body=None, expect="success"):
        """Runs an async call, checks the 202 envelope, waits; returns the final job."""
        st, hdr, b = self.req(method, path, body)
        assert st == 202, "%s %s -> %s %s" % (method, path, st, b)
        check_job_envelope(b, hdr)
        j = self.wait_job(b["job"]["uuid"])
        assert j["state"] == expect, "%s %s: job %s" % (method, path, j)
        return j

    def one(self, path):
        b = self.get(path)
        assert b["num_records"] == 1, "%s -> %s" % (path, b)
        return b["records"][0]


def check_job_envelope(b, hdr):
    assert set(b.keys()) == {"job"}, b
    uuid = b["job"]["uuid"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", uuid)
    assert b["job"]["_links"]["self"]["href"] == "/api/cluster/jobs/" + uuid
    assert hdr["Location"] == "/api/cluster/jobs/" + uuid, hdr


def expect_error(res, status, code, target=None, message=None):
    st, _, b = res
    assert st == status, "expected HTTP %s, got %s %s" % (status, st, b)
    err = b["error"]
    assert isinstance(err["code"], str), "error.code must be a string: %r" % err
    assert err["code"] == code, "expected code %s, got %s (%s)" % (code, err["code"], err["message"])
    assert err["message"], err
    if target is not None:
        assert err.get("target") == target, "target %r != %r" % (err.get("target"), target)
    if message is not None:
        assert err["message"] == message, "message %r != %r" % (err["message"], message)
    return err


def q(s):
    return urllib.parse.quote(s, safe="")


# ---------------------------------------------------------------------------------------------
# fixtures shared by tests

def make_volume(sim, name, size=10 << 30, **extra):
    body = {"name": name, "svm": {"name": "svm1"}, "size": size}
    body.update(extra)
    sim.async_ok("POST", "/api/storage/volumes", body)
    return sim.one("/api/storage/volumes?name=%s&fields=*" % q(name))


def make_lun(sim, path, size=1 << 30):
    st, _, b = sim.req("POST", "/api/storage/luns?return_records=true",
                       {"name": path, "svm": {"name": "svm1"}, "os_type": "linux",
                        "space": {"size": size}})
    assert st == 201, (st, b)
    return b["records"][0]


def make_igroup(sim, name, initiators=(), os_type="linux"):
    st, _, b = sim.req("POST", "/api/protocols/san/igroups?return_records=true",
                       {"name": name, "svm": {"name": "svm1"}, "os_type": os_type,
                        "protocol": "iscsi", "initiators": [{"name": i} for i in initiators]})
    assert st == 201, (st, b)
    return b["records"][0]


# ---------------------------------------------------------------------------------------------
# tests: each takes the Sim

def test_transport_and_auth(sim):
    st, hdr, b = sim.req("GET", "/api/cluster", user=None)
    expect_error((st, hdr, b), 401, "6")
    assert "Basic" in hdr.get("WWW-Authenticate", "")
    expect_error(sim.req("GET", "/api/cluster", user=("admin", "wrong")), 401, "6")
    st, hdr, b = sim.req("GET", "/api/cluster")
    assert st == 200
    assert hdr["Server"] == "libzapid-httpd", hdr
    assert hdr["Content-Type"] == "application/hal+json", hdr
    # plain HTTP is not served
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    try:
        conn.request("GET", "/api/cluster")
        resp = conn.getresponse()
        assert resp.status >= 400, "plain HTTP must not succeed"
    except (http.client.HTTPException, OSError):
        pass
    finally:
        conn.close()
    expect_error(sim.req("GET", "/api/no/such/thing"), 404, "4")
    expect_error(sim.req("PUT", "/api/storage/volumes", {}), 405, "3")
    expect_error(sim.req("POST", "/api/storage/volumes", "{not json"), 400, "262199")


def test_cluster_version(sim):
    b = sim.get("/api/cluster?fields=version")
    v = b["version"]
    assert (v["generation"], v["major"], v["minor"]) == (9, 14, 1), v
    assert v["full"].startswith("NetApp Release 9.14.1"), v
    assert b["_links"]["self"]["href"] == "/api/cluster"
    nodes = sim.get("/api/cluster/nodes?fields=name,uuid,version")
    assert nodes["num_records"] == 2 and nodes["records"][0]["version"]["major"] == 14
    svm = sim.one("/api/svm/svms?name=svm1&fields=uuid,name,state,subtype,iscsi.enabled,nvme.enabled,aggregates")
    assert svm["state"] == "running" and svm["subtype"] == "default"
    assert svm["iscsi"]["enabled"] and svm["nvme"]["enabled"]
    assert svm["aggregates"][0]["name"] == "aggr1" and svm["aggregates"][0]["available_size"] > 1 << 40
    aggr = sim.one("/api/storage/aggregates?name=aggr1&fields=space.block_storage,state,node.name")
    assert aggr["state"] == "online" and aggr["space"]["block_storage"]["size"] >= 1 << 40


def test_envelope_and_fields(sim):
    b = sim.get("/api/svm/svms")
    assert set(b.keys()) >= {"records", "num_records", "_links"}, b
    assert b["num_records"] == len(b["records"]) == 1
    assert b["_links"]["self"]["href"] == "/api/svm/svms"
    rec = b["records"][0]
    assert set(rec.keys()) == {"uuid", "name", "_links"}, "collection default = keys only: %s" % rec
    inst = sim.get("/api/svm/svms/%s" % rec["uuid"])
    assert inst["state"] == "running" and "iscsi" in inst, "instance GET = all fields"
    star = sim.get("/api/svm/svms?fields=*")["records"][0]
    assert "state" in star and "aggregates" in star
    sel = sim.get("/api/svm/svms?fields=iscsi.enabled")["records"][0]
    assert sel["iscsi"] == {"enabled": True} and "nvme" not in sel and "uuid" in sel
    expect_error(sim.req("GET", "/api/svm/svms?fields=nosuchfield"), 400, "262197", "fields")
    expect_error(sim.req("GET", "/api/storage/volumes?fields=space.nosuch"), 400, "262197", "fields")
    expect_error(sim.req("GET", "/api/svm/svms/%s?fields=bogus" % rec["uuid"]), 400, "262197", "fields")
    expect_error(sim.req("GET", "/api/svm/svms?bogus=1"), 400, "262179")
    # serial_number_hex is newer than 9.14.1
    expect_error(sim.req("GET", "/api/storage/luns?fields=serial_number_hex"), 400, "262197", "fields")
    expect_error(sim.req("GET", "/api/storage/volumes/00000000-0000-4000-8000-000000000000"), 404, "4")


def test_volume_job_lifecycle(sim):
    sim.ctl("POST", "/_sim/config", {"job_ms": 900})
    try:
        st, hdr, b = sim.req("POST", "/api/storage/volumes",
                             {"name": "jv1", "svm": {"name": "svm1"}, "size": "1GB"})
        assert st == 202, (st, b)
        check_job_envelope(b, hdr)
        uuid = b["job"]["uuid"]
        seen = []
        # the object is not visible until the job ends (trap §9.4)
        assert sim.get("/api/storage/volumes?name=jv1")["num_records"] == 0
        deadline = time.time() + 10
        while time.time() < deadline:
            j = sim.get("/api/cluster/jobs/%s?fields=state" % uuid)
            if not seen or seen[-1] != j["state"]:
                seen.append(j["state"])
            if j["state"] in ("success", "failure"):
                break
            time.sleep(0.03)
        assert seen[0] == "queued" and "running" in seen and seen[-1] == "success", seen
    finally:
        sim.ctl("POST", "/_sim/config", {"job_ms": 150})
    j = sim.job(uuid)
    assert j["code"] == 0 and isinstance(j["code"], int) and j["description"] == "POST /api/storage/volumes"
    assert j["start_time"] and j["end_time"]
    vol = sim.one("/api/storage/volumes?name=jv1&fields=size,svm.name,state,type,style,aggregates,space")
    assert vol["size"] == 1 << 30 and vol["svm"]["name"] == "svm1" and vol["state"] == "online"
    assert vol["type"] == "rw" and vol["aggregates"][0]["name"] == "aggr1"
    # duplicate name: immediate 409 917526
    expect_error(sim.req("POST", "/api/storage/volumes", {"name": "jv1", "svm": {"name": "svm1"}}),
                 409, "917526")
    # unknown SVM: immediate 400 2621462
    expect_error(sim.req("POST", "/api/storage/volumes", {"name": "x", "svm": {"name": "nosvm"}}),
                 400, "2621462")
    # too small: accepted (202), fails inside the job with 917534
    st, hdr, b = sim.req("POST", "/api/storage/volumes",
                         {"name": "tiny", "svm": {"name": "svm1"}, "size": 1 << 20})
    assert st == 202, (st, b)
    j = sim.wait_job(b["job"]["uuid"])
    assert j["state"] == "failure" and j["code"] == 917534 and isinstance(j["code"], int), j
    assert j["error"]["code"] == "917534" and "too small" in j["message"], j
    # job list and filter
    lst = sim.get("/api/cluster/jobs?state=failure&fields=code")
    assert any(r["code"] == 917534 for r in lst["records"]), lst
    # return_timeout: finished within the timeout -> 201 + records
    st, hdr, b = sim.req("POST", "/api/storage/volumes?return_timeout=10&return_records=true",
                         {"name": "rtv", "svm": {"name": "svm1"}, "size": "100MB"})
    assert st == 201, (st, b)
    assert b["records"][0]["name"] == "rtv" and b["records"][0]["uuid"], b
    # return_timeout with a failing job -> error response carrying the job code
    expect_error(sim.req("POST", "/api/storage/volumes?return_timeout=10",
                         {"name": "tiny2", "svm": {"name": "svm1"}, "size": 4096}), 400, "917534")
    expect_error(sim.req("POST", "/api/storage/volumes?return_timeout=500", {"name": "z"}),
                 400, "262197", "return_timeout")
    # PATCH resize and DELETE are jobs too
    sim.async_ok("PATCH", "/api/storage/volumes/%s" % vol["uuid"], {"size": 2 << 30})
    assert sim.get("/api/storage/volumes/%s" % vol["uuid"])["size"] == 2 << 30
    sim.async_ok("DELETE", "/api/storage/volumes/%s" % vol["uuid"])
    expect_error(sim.req("GET", "/api/storage/volumes/%s" % vol["uuid"]), 404, "4")


def test_job_purge(sim):
    st, hdr, b = sim.req("POST", "/api/storage/volumes", {"name": "pv", "svm": {"name": "svm1"}})
    uuid = b["job"]["uuid"]
    sim.wait_job(uuid)
    sim.ctl("POST", "/_sim/clock", {"advance_seconds": 200})
    time.sleep(0.1)
    assert sim.job(uuid)["state"] == "success", "purged too early"
    sim.ctl("POST", "/_sim/clock", {"advance_seconds": 120})
    deadline = time.time() + 5
    while time.time() < deadline:
        st, _, body = sim.req("GET", "/api/cluster/jobs/" + uuid)
        if st == 404:
            break
        time.sleep(0.05)
    expect_error((st, None, body), 404, "4")


def test_luns_and_identity(sim):
    make_volume(sim, "lv", 2 << 30)
    lun = make_lun(sim, "/vol/lv/lun0")
    for k in ("uuid", "serial_number", "location", "space", "status"):
        assert k in lun, "return_records must carry %s: %s" % (k, lun)
    serials = {lun["serial_number"]}
    for i in range(1, 6):
        serials.add(make_lun(sim, "/vol/lv/lun%d" % i, 1 << 20)["serial_number"])
    assert len(serials) == 6, "serials must be unique"
    for s in serials:
        assert len(s) == 12 and all(33 <= ord(c) <= 126 for c in s), s
        wwid = "3600a0980" + s.encode().hex()
        assert len(wwid) == 33
    assert sim.get("/api/storage/luns/%s" % lun["uuid"])["serial_number"] == lun["serial_number"]
    # the notes' example converts as documented (sanity of the rule itself)
    assert "3600a0980" + "80D3A+LXmTbC".encode().hex() == "3600a098038304433412b4c586d546243"
    # expensive fields
    inst = sim.get("/api/storage/luns/%s" % lun["uuid"])
    assert "lun_maps" not in inst and "mapped" not in inst["status"], inst
    assert "lun_maps" in sim.get("/api/storage/luns/%s?fields=lun_maps" % lun["uuid"])
    allf = sim.get("/api/storage/luns/%s?fields=**" % lun["uuid"])
    assert allf["status"]["mapped"] is False and allf["lun_maps"] == []
    # duplicates share the LUN/namespace path space
    expect_error(sim.req("POST", "/api/storage/luns", {"name": "/vol/lv/lun0", "svm": {"name": "svm1"},
                                                      "os_type": "linux", "space": {"size": 1 << 20}}),
                 409, "5374242")
    expect_error(sim.req("POST", "/api/storage/namespaces", {"name": "/vol/lv/lun0", "svm": {"name": "svm1"},
                                                            "os_type": "linux", "space": {"size": 1 << 20}}),
                 409, "72089725")
    # size rules
    base = {"svm": {"name": "svm1"}, "os_type": "linux"}
    expect_error(sim.req("POST", "/api/storage/luns", dict(base, name="/vol/lv/s1", space={"size": 4095})),
                 400, "5374124")
    expect_error(sim.req("POST", "/api/storage/luns", dict(base, name="/vol/lv/s2", space={"size": 129 << 40})),
                 400, "5374125")
    expect_error(sim.req("POST", "/api/storage/luns", dict(base, name="/vol/lv/s3", space={"size": 10 << 30})),
                 500, "1245212")
    expect_error(sim.req("POST", "/api/storage/luns", dict(base, name="/vol/nosuch/l", space={"size": 4096})),
                 404, "917927")
    expect_error(sim.req("POST", "/api/storage/luns", {"name": "/vol/lv/x", "svm": {"name": "svm1"},
                                                      "space": {"size": 4096}}), 400, "5374884", "os_type")
    # thick (space-reserved) LUNs need free space, thin ones only need to fit the volume
    make_volume(sim, "tv", 2 << 30)
    thick = dict(base, space={"size": 1536 << 20, "guarantee": {"requested": True}})
    assert sim.req("POST", "/api/storage/luns", dict(thick, name="/vol/tv/k1"))[0] == 201
    expect_error(sim.req("POST", "/api/storage/luns",
                         dict(base, name="/vol/tv/k2", space={"size": 512 << 20, "guarantee": {"requested": True}})),
                 500, "1245212")
    assert sim.req("POST", "/api/storage/luns", dict(base, name="/vol/tv/t1", space={"size": 1800 << 20}))[0] == 201
    u = "/api/storage/luns/%s" % lun["uuid"]
    expect_error(sim.req("PATCH", u, {"space": {"size": 1 << 30}}), 400, "1254226")
    expect_error(sim.req("PATCH", u, {"space": {"size": 1 << 29}}), 400, "5374892")
    st, _, b = sim.req("PATCH", u, {"space": {"size": (1 << 30) + (1 << 20)}})
    assert st == 200, (st, b)
    assert sim.get(u + "?fields=space.size")["space"]["size"] == (1 << 30) + (1 << 20)
    # backing file follows the size
    bf = os.path.join(sim.backing, lun["uuid"] + ".img")
    assert os.path.getsize(bf) == (1 << 30) + (1 << 20)
    expect_error(sim.req("PATCH", "/api/storage/luns/00000000-0000-4000-8000-000000000000",
                         {"space": {"size": 1 << 30}}), 404, "5374875")
    # LUN clone: inherits os_type and size, gets its own uuid and serial
    st, _, b = sim.req("POST", "/api/storage/luns?return_records=true",
                       {"svm": {"name": "svm1"}, "name": "/vol/lv/clone0",
                        "clone": {"source": {"name": "/vol/lv/lun1"}}})
    assert st == 201, (st, b)
    c0 = b["records"][0]
    assert c0["serial_number"] not in serials and c0["space"]["size"] == 1 << 20 and c0["os_type"] == "linux"
    assert os.path.getsize(os.path.join(sim.backing, c0["uuid"] + ".img")) == 1 << 20
    expect_error(sim.req("POST", "/api/storage/luns", {"svm": {"name": "svm1"}, "name": "/vol/lv/clone1",
                                                      "clone": {"source": {"name": "/vol/lv/nosuch"}}}),
                 404, "5374859")
    st, _, _ = sim.req("DELETE", "/api/storage/luns/%s" % sim.one("/api/storage/luns?name=/vol/lv/lun5")["uuid"])
    assert st == 200
    assert sim.get("/api/storage/luns?name=/vol/lv/lun5")["num_records"] == 0


def test_san_maps(sim):
    make_volume(sim, "sv", 4 << 30)
    l0 = make_lun(sim, "/vol/sv/a")
    l1 = make_lun(sim, "/vol/sv/b")
    ig = make_igroup(sim, "host1", ["IQN.1994-05.com.redhat:HOST1"])
    assert ig["initiators"][0]["name"] == "iqn.1994-05.com.redhat:host1", "IQNs are stored lower-cased"
    expect_error(sim.req("POST", "/api/protocols/san/igroups",
                         {"name": "host1", "svm": {"name": "svm1"}, "os_type": "linux"}), 409, "5374023")
    u = "/api/protocols/san/igroups/%s/initiators" % ig["uuid"]
    expect_error(sim.req("POST", u, {"name": "iqn.1994-05.com.redhat:HOST1"}), 409, "5374035", "name",
                 'Initiator group "host1" already contains initiator "iqn.1994-05.com.redhat:host1".')
    expect_error(sim.req("POST", u, {"name": "not-an-iqn"}), 400, "5374038")
    st, _, _ = sim.req("POST", u, {"records": [{"name": "iqn.1994-05.com.redhat:h1b"}]})
    assert st == 201
    ini = sim.get(u)
    assert {r["name"] for r in ini["records"]} == {"iqn.1994-05.com.redhat:host1", "iqn.1994-05.com.redhat:h1b"}
    expect_error(sim.req("POST", "/api/protocols/san/igroups",
                         {"name": "win", "svm": {"name": "svm1"}, "os_type": "windows",
                          "initiators": [{"name": "iqn.1994-05.com.redhat:host1"}]}), 409, "5374732")
    st, _, b = sim.req("POST", "/api/protocols/san/lun-maps?return_records=true",
                       {"svm": {"name": "svm1"}, "igroup": {"name": "host1"}, "lun": {"name": "/vol/sv/a"}})
    assert st == 201 and b["records"][0]["logical_unit_number"] == 0, b
    st, _, b = sim.req("POST", "/api/protocols/san/lun-maps?return_records=true",
                       {"svm": {"name": "svm1"}, "igroup": {"uuid": ig["uuid"]}, "lun": {"uuid": l1["uuid"]}})
    assert st == 201 and b["records"][0]["logical_unit_number"] == 1, b
    expect_error(sim.req("POST", "/api/protocols/san/lun-maps",
                         {"svm": {"name": "svm1"}, "igroup": {"name": "host1"}, "lun": {"name": "/vol/sv/a"}}),
                 409, "1254207")
    expect_error(sim.req("POST", "/api/protocols/san/lun-maps",
                         {"svm": {"name": "svm1"}, "igroup": {"name": "nosuch"}, "lun": {"name": "/vol/sv/a"}}),
                 404, "5374852")
    m = sim.one("/api/protocols/san/lun-maps?igroup.name=host1&lun.name=%s&fields=logical_unit_number"
                % q("/vol/sv/b"))
    assert m["logical_unit_number"] == 1 and m["igroup"]["name"] == "host1" and m["lun"]["uuid"] == l1["uuid"]
    assert sim.get("/api/storage/luns/%s?fields=status.mapped" % l0["uuid"])["status"]["mapped"] is True
    expect_error(sim.req("DELETE", "/api/storage/luns/%s" % l0["uuid"]), 409, "1254197")
    expect_error(sim.req("DELETE", "/api/protocols/san/igroups/%s" % ig["uuid"]), 409, "1254213")
    st, _, _ = sim.req("DELETE", "/api/protocols/san/lun-maps/%s/%s" % (l0["uuid"], ig["uuid"]))
    assert st == 200
    expect_error(sim.req("DELETE", "/api/protocols/san/lun-maps/%s/%s" % (l0["uuid"], ig["uuid"])),
                 404, "5374922")
    # the freed LUN number 0 is reused (lowest free)
    st, _, b = sim.req("POST", "/api/protocols/san/lun-maps?return_records=true",
                       {"svm": {"name": "svm1"}, "igroup": {"name": "host1"}, "lun": {"name": "/vol/sv/a"}})
    assert b["records"][0]["logical_unit_number"] == 0
    st, _, _ = sim.req("DELETE", "/api/storage/luns/%s?allow_delete_while_mapped=true" % l0["uuid"])
    assert st == 200
    expect_error(sim.req("DELETE", "/api/storage/luns/%s" % l0["uuid"]), 404, "5374875")
    expect_error(sim.req("DELETE", "/api/protocols/san/igroups/00000000-0000-4000-8000-000000000000"),
                 404, "5374852")
    st, _, _ = sim.req("DELETE", "/api/protocols/san/igroups/%s?allow_delete_while_mapped=true" % ig["uuid"])
    assert st == 200
    # iSCSI service and LIFs
    svc = sim.one("/api/protocols/san/iscsi/services?svm.name=svm1&fields=target.name,target.alias,enabled")
    assert re.fullmatch(r"iqn\.1992-08\.com\.netapp:sn\.[0-9a-f]{32}:vs\.\d+", svc["target"]["name"]), svc
    lifs = sim.get("/api/network/ip/interfaces?svm.name=svm1&services=data_iscsi&fields=ip.address,state,services")
    assert lifs["num_records"] >= 1 and all("data_iscsi" in r["services"] for r in lifs["records"])
    nv = sim.get("/api/network/ip/interfaces?services=data_nvme_tcp&fields=services")
    assert nv["num_records"] >= 1 and all("data_nvme_tcp" in r["services"] for r in nv["records"])
    assert sim.get("/api/network/ip/interfaces?services=data_nfs")["num_records"] >= 1


def test_nvme(sim):
    make_volume(sim, "nv", 4 << 30)
    nss = []
    for i in range(3):
        st, _, b = sim.req("POST", "/api/storage/namespaces?return_records=true",
                           {"name": "/vol/nv/ns%d" % i, "svm": {"name": "svm1"}, "os_type": "linux",
                            "space": {"size": 1 << 30}})
        assert st == 201, (st, b)
        nss.append(b["records"][0])
    assert nss[0]["space"]["block_size"] == 4096
    st, _, b = sim.req("POST", "/api/protocols/nvme/subsystems?return_records=true",
                       {"name": "ss1", "svm": {"name": "svm1"}, "os_type": "linux",
                        "hosts": [{"nqn": "nqn.2014-08.org.nvmexpress:uuid:AAAA"}]})
    assert st == 201, (st, b)
    ss = b["records"][0]
    assert re.fullmatch(r"nqn\.1992-08\.com\.netapp:sn\.[0-9a-f]{32}:subsystem\.ss1", ss["target_nqn"]), ss
    assert ss["hosts"][0]["nqn"] == "nqn.2014-08.org.nvmexpress:uuid:aaaa"
    expect_error(sim.req("POST", "/api/protocols/nvme/subsystems",
                         {"name": "ss1", "svm": {"name": "svm1"}, "os_type": "linux"}), 409, "72090025")
    make_igroup(sim, "clash")
    expect_error(sim.req("POST", "/api/protocols/nvme/subsystems",
                         {"name": "clash", "svm": {"name": "svm1"}, "os_type": "linux"}), 409, "72090043")
    expect_error(sim.req("POST", "/api/protocols/nvme/subsystems/%s/hosts" % ss["uuid"],
                         {"nqn": "nqn.2014-08.org.nvmexpress:uuid:aaaa"}), 409, "72089705")
    maps = []
    for ns in nss[:2]:
        st, _, b = sim.req("POST", "/api/protocols/nvme/subsystem-maps?return_records=true",
                           {"svm": {"name": "svm1"}, "subsystem": {"name": "ss1"},
                            "namespace": {"name": ns["name"]}})
        assert st == 201, (st, b)
        maps.append(b["records"][0])
    assert [m["nsid"] for m in maps] == ["00000001h", "00000002h"], maps
    expect_error(sim.req("POST", "/api/protocols/nvme/subsystem-maps",
                         {"svm": {"name": "svm1"}, "subsystem": {"name": "ss1"},
                          "namespace": {"name": nss[0]["name"]}}), 409, "72089790")
    st, _, b = sim.req("POST", "/api/protocols/nvme/subsystems?return_records=true",
                       {"name": "ss2", "svm": {"name": "svm1"}, "os_type": "linux"})
    ss2 = b["records"][0]
    expect_error(sim.req("POST", "/api/protocols/nvme/subsystem-maps",
                         {"svm": {"name": "svm1"}, "subsystem": {"uuid": ss2["uuid"]},
                          "namespace": {"uuid": nss[0]["uuid"]}}), 409, "72089790")
    ns0 = sim.get("/api/storage/namespaces/%s?fields=subsystem_map,status.mapped" % nss[0]["uuid"])
    assert ns0["subsystem_map"]["nsid"] == "00000001h" and ns0["status"]["mapped"] is True
    assert "subsystem_map" not in sim.get("/api/storage/namespaces/%s" % nss[0]["uuid"])
    expect_error(sim.req("DELETE", "/api/storage/namespaces/%s" % nss[0]["uuid"]), 409, "72089796")
    expect_error(sim.req("PATCH", "/api/storage/namespaces/%s" % nss[0]["uuid"],
                         {"space": {"size": 1 << 29}}), 400, "72090038")
    expect_error(sim.req("DELETE", "/api/protocols/nvme/subsystems/%s" % ss["uuid"]), 409, "72090023")
    st, _, _ = sim.req("DELETE", "/api/protocols/nvme/subsystem-maps/%s/%s" % (ss["uuid"], nss[0]["uuid"]))
    assert st == 200
    expect_error(sim.req("DELETE", "/api/protocols/nvme/subsystem-maps/%s/%s" % (ss["uuid"], nss[0]["uuid"])),
                 404, "72090019")
    st, _, _ = sim.req("DELETE", "/api/protocols/nvme/subsystem-maps/%s/%s" % (ss["uuid"], nss[1]["uuid"]))
    expect_error(sim.req("DELETE", "/api/protocols/nvme/subsystems/%s" % ss["uuid"]), 409, "72090024")
    st, _, _ = sim.req("DELETE", "/api/protocols/nvme/subsystems/%s?allow_delete_with_hosts=true" % ss["uuid"])
    assert st == 200
    expect_error(sim.req("DELETE", "/api/protocols/nvme/subsystems/%s" % ss["uuid"]), 404, "72090001")
    svc = sim.one("/api/protocols/nvme/services?svm.name=svm1&fields=enabled")
    assert svc["enabled"] is True


def test_filters(sim):
    make_volume(sim, "fv", 8 << 30)
    for i, size in enumerate((1 << 20, 2 << 20, 3 << 20, 4 << 20)):
        make_lun(sim, "/vol/fv/f%d" % i, size)
    make_lun(sim, "/vol/fv/we|ird", 5 << 20) if False else None

    def names(query):
        return sorted(r["name"] for r in sim.get("/api/storage/luns?" + query)["records"])

    assert names("name=" + q("/vol/fv/*")) == ["/vol/fv/f0", "/vol/fv/f1", "/vol/fv/f2", "/vol/fv/f3"]
    assert names("name=" + q("/vol/fv/f1|/vol/fv/f3")) == ["/vol/fv/f1", "/vol/fv/f3"]
    assert names("name=" + q("/vol/fv/*") + "&space.size=" + q(">2097152")) == ["/vol/fv/f2", "/vol/fv/f3"]
    assert names("name=" + q("/vol/fv/*") + "&space.size=" + q("<=2097152")) == ["/vol/fv/f0", "/vol/fv/f1"]
    assert names("name=" + q("/vol/fv/*") + "&space.size=" + q("2097152..3145728")) == ["/vol/fv/f1", "/vol/fv/f2"]
    assert names("location.volume.name=fv&name=" + q("!/vol/fv/f0")) == ["/vol/fv/f1", "/vol/fv/f2", "/vol/fv/f3"]
    assert names("name=" + q('"/vol/fv/f2"')) == ["/vol/fv/f2"]
    assert names("name=" + q('"/vol/fv/*"')) == [], "a quoted * is literal"
    assert names("svm.name=svm1&location.volume.name=fv&comment=null") == [], "comment is set (empty)"
    assert len(names("location.volume.name=fv&comment=!null")) == 4
    assert len(names("location.volume.name=fv&qos_policy.name=null")) == 4
    assert names("location.volume.name=fv&qos_policy.name=" + q(">a")) == [], "ranges skip unset fields"


def test_pagination(sim):
    for i in range(7):
        make_igroup(sim, "pg%02d" % i)
    allnames = {r["name"] for r in sim.get("/api/protocols/san/igroups?name=pg*")["records"]}
    assert len(allnames) == 7
    seen, path, pages = [], "/api/protocols/san/igroups?name=pg*&max_records=3&fields=os_type", 0
    while path:
        b = sim.get(path)
        pages += 1
        seen += [r["name"] for r in b["records"]]
        assert all("os_type" in r for r in b["records"])
        nxt = b["_links"].get("next")
        if nxt:
            assert "start.uuid=" in nxt["href"] and "max_records=3" in nxt["href"], nxt
            assert b["num_records"] == 3
        path = nxt["href"] if nxt else None
        assert pages < 10
    assert pages == 3 and sorted(seen) == sorted(allnames) and len(seen) == 7, (pages, seen)
    # the occasional next link leading to an empty page
    sim.ctl("POST", "/_sim/config", {"empty_next_page": True})
    try:
        b = sim.get("/api/protocols/san/igroups?name=pg0*&max_records=7")
        assert b["num_records"] == 7 and "next" in b["_links"], b["_links"]
        e = sim.get(b["_links"]["next"]["href"])
        assert e["num_records"] == 0 and e["records"] == [] and "next" not in e["_links"], e
    finally:
        sim.ctl("POST", "/_sim/config", {"empty_next_page": False})
    b = sim.get("/api/protocols/san/igroups?name=pg0*&max_records=7")
    assert "next" not in b["_links"]
    # order_by
    b = sim.get("/api/protocols/san/igroups?name=pg*&order_by=name%20desc&max_records=2")
    assert [r["name"] for r in b["records"]] == ["pg06", "pg05"] and "offset=" in b["_links"]["next"]["href"]


def test_snapshots_clone_restore(sim):
    vol = make_volume(sim, "cv", 4 << 30)
    make_lun(sim, "/vol/cv/disk")
    su = "/api/storage/volumes/%s/snapshots" % vol["uuid"]
    for n in ("s1", "s2", "s3"):
        sim.async_ok("POST", su, {"name": n})
    # duplicate snapshot name fails inside the job
    j = sim.async_ok("POST", su, {"name": "s1"}, expect="failure")
    assert j["code"] == 525059 and j["error"]["code"] == "525059", j
    snaps = sim.get(su + "?fields=name,create_time,state")
    assert [r["name"] for r in snaps["records"] if r["state"] == "valid"] and snaps["num_records"] == 3
    s1 = sim.one(su + "?name=s1")
    expect_error(sim.req("DELETE", su + "/00000000-0000-4000-8000-000000000000"), 404, "1638600")
    # FlexClone from s1
    sim.async_ok("POST", "/api/storage/volumes",
                 {"name": "cv_clone", "svm": {"name": "svm1"},
                  "clone": {"is_flexclone": True, "parent_volume": {"name": "cv"},
                            "parent_snapshot": {"name": "s1"}}})
    clone = sim.one("/api/storage/volumes?name=cv_clone&fields=clone,size")
    assert clone["clone"]["is_flexclone"] and clone["clone"]["parent_volume"]["name"] == "cv"
    assert clone["clone"]["parent_snapshot"]["name"] == "s1" and clone["size"] == 4 << 30
    cl = sim.one("/api/storage/luns?name=%s&fields=serial_number" % q("/vol/cv_clone/disk"))
    orig = sim.one("/api/storage/luns?name=%s&fields=serial_number" % q("/vol/cv/disk"))
    assert cl["serial_number"] != orig["serial_number"], "a clone's LUN gets a new serial"
    # guards
    expect_error(sim.req("DELETE", "/api/storage/volumes/%s" % vol["uuid"]), 409, "524615")
    j = sim.async_ok("DELETE", su + "/" + s1["uuid"], expect="failure")
    assert j["code"] == 1638555, j
    # restore to s2 deletes s3
    s2 = sim.one(su + "?name=s2")
    st, hdr, b = sim.req("PATCH", "/api/storage/volumes/%s" % vol["uuid"],
                         {"restore_to": {"snapshot": {"name": "s2"}}})
    assert st == 202, (st, b)
    assert sim.wait_job(b["job"]["uuid"])["state"] == "success"
    assert sorted(r["name"] for r in sim.get(su)["records"]) == ["s1", "s2"], "restore deletes newer snapshots"
    sim.async_ok("POST", su, {"name": "s3"})
    st, hdr, b = sim.req("PATCH", "/api/storage/volumes/%s?restore_to.snapshot.name=s2" % vol["uuid"])
    assert st == 202, (st, b)
    assert sim.wait_job(b["job"]["uuid"])["state"] == "success"
    assert sorted(r["name"] for r in sim.get(su)["records"]) == ["s1", "s2"]
    expect_error(sim.req("PATCH", "/api/storage/volumes/%s?restore_to.snapshot.name=nosuch" % vol["uuid"]),
                 404, "1638600")
    sim.async_ok("DELETE", su + "/" + s2["uuid"])
    # after the clone is gone, the parent and its snapshot can go
    sim.async_ok("DELETE", "/api/storage/volumes/%s" % clone["uuid"])
    sim.async_ok("DELETE", su + "/" + s1["uuid"])
    sim.async_ok("DELETE", "/api/storage/volumes/%s" % vol["uuid"])


def test_snapshot_data(sim):
    """--host-data-dir: a snapshot keeps the volume's data (LUN backing files, the simulated
    hosts' simfs and NAS directories); a clone at it gets that data, a restore rolls back to it."""
    d = tempfile.mkdtemp(prefix="ontap-sim-data-", dir=sim.dir)
    hd = os.path.join(d, "hosts")
    os.makedirs(os.path.join(hd, "simfs", "fs-u1"))
    os.makedirs(os.path.join(hd, "nas", "nv"))
    hs = Sim(sim.binary, d, extra=["--host-data-dir", hd])

    def put(path, text):
        with open(path, "w") as f:
            f.write(text)

    def get(path):
        with open(path) as f:
            return f.read()

    def at(path, off, n):
        with open(path, "rb") as f:
            f.seek(off)
            return f.read(n)

    try:
        vol = make_volume(hs, "dv", 2 << 30)
        lun = make_lun(hs, "/vol/dv/lun0", 1 << 20)
        bf = os.path.join(hs.backing, lun["uuid"] + ".img")
        with open(bf, "r+b") as f:   # a simulated cluster file system's superblock, and data
            f.write(b"KVMCD-SIMFS 1\nfstype=ocfs2\nlabel=dv\nuuid=fs-u1\ncluster=c\nstack=pcmk\nslots=3\n")
            f.seek(8192)
            f.write(b"one")
        put(os.path.join(hd, "simfs", "fs-u1", "f"), "before")
        nv = make_volume(hs, "nv", 100 << 20, nas={"path": "/nv"})
        put(os.path.join(hd, "nas", "nv", "f"), "before")
        for v in (vol, nv):
            hs.async_ok("POST", "/api/storage/volumes/%s/snapshots" % v["uuid"], {"name": "s1"})
        s1 = hs.one("/api/storage/volumes/%s/snapshots?name=s1" % vol["uuid"])
        with open(bf, "r+b") as f:
            f.seek(8192)
            f.write(b"two")
        put(os.path.join(hd, "simfs", "fs-u1", "f"), "after")
        put(os.path.join(hd, "simfs", "fs-u1", "g"), "new")
        put(os.path.join(hd, "nas", "nv", "f"), "after")
        # a clone at s1: the LUN holds s1's blocks, its superblock names s1's copy of the files
        hs.async_ok("POST", "/api/storage/volumes",
                    {"name": "dvc", "svm": {"name": "svm1"},
                     "clone": {"is_flexclone": True, "parent_volume": {"name": "dv"}, "parent_snapshot": {"name": "s1"}}})
        cl = hs.one("/api/storage/luns?name=%s&fields=uuid" % q("/vol/dvc/lun0"))
        cbf = os.path.join(hs.backing, cl["uuid"] + ".img")
        assert at(cbf, 8192, 3) == b"one", "the clone's LUN holds the snapshot's data"
        sb = at(cbf, 0, 4096).split(b"\0")[0].decode()
        data = "snap-%s-lun0" % s1["uuid"]
        assert "uuid=fs-u1\n" in sb and ("data=%s\n" % data) in sb, sb
        assert get(os.path.join(hd, "simfs", data, "f")) == "before"
        assert not os.path.exists(os.path.join(hd, "simfs", data, "g"))
        # a NAS clone's directory is seeded from the snapshot when it is mounted
        hs.async_ok("POST", "/api/storage/volumes",
                    {"name": "nvc", "svm": {"name": "svm1"},
                     "clone": {"is_flexclone": True, "parent_volume": {"name": "nv"}, "parent_snapshot": {"name": "s1"}}})
        nvc = hs.one("/api/storage/volumes?name=nvc")
        hs.async_ok("PATCH", "/api/storage/volumes/%s" % nvc["uuid"], {"nas": {"path": "/nvc"}})
        assert get(os.path.join(hd, "nas", "nvc", "f")) == "before"
        # restore: the blocks, the files, the NAS directory as of s1 (the current ones moved aside)
        for v in (vol, nv):
            hs.async_ok("PATCH", "/api/storage/volumes/%s" % v["uuid"], {"restore_to": {"snapshot": {"name": "s1"}}})
        assert at(bf, 8192, 3) == b"one", "the restored LUN holds the snapshot's data"
        assert get(os.path.join(hd, "simfs", "fs-u1", "f")) == "before"
        assert not os.path.exists(os.path.join(hd, "simfs", "fs-u1", "g"))
        assert any(n.startswith("fs-u1.replaced-") for n in os.listdir(os.path.join(hd, "simfs")))
        assert get(os.path.join(hd, "nas", "nv", "f")) == "before"
        assert get(os.path.join(hd, "nas", "nvc", "f")) == "before", "the clone is not touched"
    finally:
        hs.stop()


def test_snapmirror(sim):
    src = make_volume(sim, "smsrc", 2 << 30)
    dst = make_volume(sim, "smdst", 2 << 30, type="DP")
    assert dst["type"] == "dp", "enum input is case-insensitive and stored lower-case"
    rw = make_volume(sim, "smrw", 1 << 30)
    base = "/api/snapmirror/relationships"
    expect_error(sim.req("POST", base, {"source": {"path": "svm1smsrc"}, "destination": {"path": "svm1:smdst"}}),
                 400, "13303852")
    expect_error(sim.req("POST", base, {"source": {"path": "svm1:smsrc"}, "destination": {"path": "svm1:smsrc"}}),
                 400, "6619441")
    expect_error(sim.req("POST", base, {"source": {"path": "svm1:smsrc"}, "destination": {"path": "svm1:smrw"}}),
                 400, "6619546")
    expect_error(sim.req("POST", base, {"source": {"path": "svm1:smsrc"}, "destination": {"path": "svm1:smdst"},
                                        "transfer_schedule": {"name": "nosuch"}}), 400, "6619699")
    sim.async_ok("POST", base, {"source": {"path": "svm1:smsrc"}, "destination": {"path": "svm1:smdst"},
                                "policy": {"name": "MirrorAllSnapshots"}, "transfer_schedule": {"name": "hourly"}})
    rel = sim.one(base + "?destination.path=%s&fields=*" % q("svm1:smdst"))
    assert rel["state"] == "uninitialized" and rel["policy"]["name"] == "MirrorAllSnapshots", rel
    assert rel["policy"]["type"] == "async" and "lag_time" not in rel
    expect_error(sim.req("POST", base, {"source": {"path": "svm1:smsrc"}, "destination": {"path": "svm1:smdst"}}),
                 409, "6619637")
    ru = base + "/" + rel["uuid"]
    expect_error(sim.req("PATCH", ru, {"state": "broken_off"}), 400, "13303818")
    # initialize via a transfer: 201 + Location, background queued -> transferring -> success
    st, hdr, b = sim.req("POST", ru + "/transfers?return_records=true", {})
    assert st == 201, (st, b)
    tuuid = b["records"][0]["uuid"]
    assert hdr["Location"] == "%s/transfers/%s" % (ru, tuuid), hdr
    expect_error(sim.req("POST", ru + "/transfers", {}), 409, "13303812")
    expect_error(sim.req("PATCH", ru, {"state": "broken_off"}), 409, "13303808")
    states = []
    deadline = time.time() + 10
    while time.time() < deadline:
        t = sim.get("%s/transfers/%s" % (ru, tuuid))
        if not states or states[-1] != t["state"]:
            states.append(t["state"])
        if t["state"] in ("success", "failed", "aborted"):
            break
        time.sleep(0.02)
    assert "transferring" in states and states[-1] == "success", states
    rel = sim.get(ru + "?fields=state,healthy,lag_time,transfer")
    assert rel["state"] == "snapmirrored" and rel["healthy"] is True, rel
    assert re.fullmatch(r"P(\d+D)?T\d+H\d+M\d+S", rel["lag_time"]), rel
    sim.ctl("POST", "/_sim/clock", {"advance_seconds": 3 * 3600})
    lag = sim.get(ru + "?fields=lag_time")["lag_time"]
    assert re.fullmatch(r"PT3H0M\d+S", lag), lag
    # source snapshot is owned by SnapMirror -> delete fails in the job
    snap = [s for s in sim.get("/api/storage/volumes/%s/snapshots" % src["uuid"])["records"]
            if s["name"].startswith("snapmirror.")][0]
    j = sim.async_ok("DELETE", "/api/storage/volumes/%s/snapshots/%s" % (src["uuid"], snap["uuid"]),
                     expect="failure")
    assert j["code"] == 1638555
    expect_error(sim.req("PATCH", ru, {"state": "snapmirrored"}), 400, "13303832")
    # break: 202, state finishes after the job; destination becomes RW
    sim.async_ok("PATCH", ru, {"state": "broken_off"})
    assert sim.get(ru)["state"] == "broken_off"
    assert sim.get("/api/storage/volumes/%s?fields=type" % dst["uuid"])["type"] == "rw"
    expect_error(sim.req("PATCH", ru, {"state": "paused"}), 400, "13303818")
    expect_error(sim.req("POST", ru + "/transfers", {}), 400, "13303844")
    # resync
    sim.async_ok("PATCH", ru, {"state": "snapmirrored"})
    rel = sim.get(ru)
    assert rel["state"] == "snapmirrored" and rel["transfer"]["type"] == "resync", rel
    assert sim.get("/api/storage/volumes/%s?fields=type" % dst["uuid"])["type"] == "dp"
    deadline = time.time() + 10
    while sim.get(ru + "?fields=transfer")["transfer"]["state"] != "success" and time.time() < deadline:
        time.sleep(0.05)
    # quiesce / resume
    sim.async_ok("PATCH", ru, {"state": "paused"})
    assert sim.get(ru)["state"] == "paused"
    sim.async_ok("PATCH", ru, {"state": "snapmirrored"})
    assert sim.get(ru)["state"] == "snapmirrored"
    # concurrent modification
    sim.ctl("POST", "/_sim/config", {"job_ms": 2000})
    try:
        st, _, b = sim.req("PATCH", ru, {"state": "paused"})
        assert st == 202
        expect_error(sim.req("PATCH", ru, {"state": "broken_off"}), 409, "6619715")
        sim.wait_job(b["job"]["uuid"])
    finally:
        sim.ctl("POST", "/_sim/config", {"job_ms": 150})
    # a failing transfer marks the relationship unhealthy
    sim.async_ok("PATCH", ru, {"state": "snapmirrored"})
    sim.ctl("POST", "/_sim/faults", {"type": "transfer_failure", "path": "svm1:smdst", "count": 1})
    st, _, b = sim.req("POST", ru + "/transfers?return_records=true", {})
    tuuid = b["records"][0]["uuid"]
    deadline = time.time() + 10
    while sim.get("%s/transfers/%s" % (ru, tuuid))["state"] not in ("failed", "success") and time.time() < deadline:
        time.sleep(0.05)
    assert sim.get("%s/transfers/%s" % (ru, tuuid))["state"] == "failed"
    assert sim.get(ru + "?fields=healthy")["healthy"] is False
    expect_error(sim.req("DELETE", ru + "?destination_only=true&source_only=true"), 400, "2")
    sim.async_ok("DELETE", ru)
    expect_error(sim.req("GET", ru), 404, "4")
    pols = {r["name"] for r in sim.get("/api/snapmirror/policies")["records"]}
    assert {"Asynchronous", "MirrorAllSnapshots", "MirrorAndVault", "Sync"} <= pols, pols
    sim.async_ok("POST", "/api/snapmirror/policies", {"name": "mypol", "type": "async",
                                                      "retention": [{"label": "daily", "count": 7}]})
    assert sim.one("/api/snapmirror/policies?name=mypol&fields=type,retention")["retention"][0]["count"] == 7


def test_svm_peers(sim):
    """SnapMirror between two SVMs needs their peering for the snapmirror application (also within
    one cluster); an intracluster peering is peered at once and listed from both SVMs' side."""
    sim.async_ok("POST", "/api/svm/svms", {"name": "svmpeer"})
    src = make_volume(sim, "pvsrc", 1 << 30)
    st, _, b = sim.req("POST", "/api/storage/volumes",
                       {"name": "pvdst", "svm": {"name": "svmpeer"}, "size": 1 << 30, "type": "dp"})
    assert st in (201, 202), (st, b)
    if st == 202:
        sim.wait_job(b["job"]["uuid"])
    base = "/api/snapmirror/relationships"
    body = {"source": {"path": "svm1:pvsrc"}, "destination": {"path": "svmpeer:pvdst"}}
    expect_error(sim.req("POST", base, body), 400, "13303817")
    assert sim.get("/api/svm/peers?svm.name=svm1&peer.svm.name=svmpeer")["num_records"] == 0
    expect_error(sim.req("POST", "/api/svm/peers", {"svm": {"name": "svm1"}, "peer": {"svm": {"name": "svm1"}},
                                                   "applications": ["snapmirror"]}), 400, "26345573")
    expect_error(sim.req("POST", "/api/svm/peers", {"svm": {"name": "svm1"}, "peer": {"svm": {"name": "nosuch"}},
                                                   "applications": ["snapmirror"]}), 404, "2621462")
    expect_error(sim.req("POST", "/api/svm/peers", {"svm": {"name": "svm1"}, "peer": {"svm": {"name": "svmpeer"}},
                                                   "applications": ["bogus"]}), 400, "262196")
    # a peering for another application does not allow SnapMirror
    sim.async_ok("POST", "/api/svm/peers", {"svm": {"name": "svm1"}, "peer": {"svm": {"name": "svmpeer"}},
                                            "applications": ["file_copy"]})
    expect_error(sim.req("POST", base, body), 400, "13303817")
    expect_error(sim.req("POST", "/api/svm/peers", {"svm": {"name": "svmpeer"}, "peer": {"svm": {"name": "svm1"}},
                                                   "applications": ["snapmirror"]}), 409, "26345571")
    for rec in sim.get("/api/svm/peers?svm.name=svm1")["records"]:
        sim.async_ok("DELETE", "/api/svm/peers/" + rec["uuid"])
    assert sim.get("/api/svm/peers")["num_records"] == 0, "both sides' records go together"
    sim.async_ok("POST", "/api/svm/peers", {"svm": {"name": "svm1"}, "peer": {"svm": {"name": "svmpeer"}},
                                            "applications": ["snapmirror"]})
    mine = sim.one("/api/svm/peers?svm.name=svm1&peer.svm.name=svmpeer&fields=state,applications,peer")
    theirs = sim.one("/api/svm/peers?svm.name=svmpeer&peer.svm.name=svm1&fields=state")
    assert mine["state"] == "peered" and mine["applications"] == ["snapmirror"], mine
    assert theirs["state"] == "peered", theirs
    sim.async_ok("POST", base, body)
    rel = sim.one(base + "?destination.path=%s&fields=state,source" % q("svmpeer:pvdst"))
    assert rel["state"] == "uninitialized" and rel["source"]["path"] == "svm1:pvsrc", rel
    sim.async_ok("DELETE", base + "/" + rel["uuid"])


def test_policies_schedules_cg(sim):
    names = {r["name"] for r in sim.get("/api/cluster/schedules")["records"]}
    assert {"hourly", "daily", "5min", "weekly"} <= names, names
    h = sim.one("/api/cluster/schedules?name=hourly&fields=type,cron")
    assert h["type"] == "cron" and h["cron"]["minutes"] == [5]
    st, _, b = sim.req("POST", "/api/cluster/schedules?return_records=true",
                       {"name": "every15", "cron": {"minutes": [0, 15, 30, 45]}})
    assert st == 201 and b["records"][0]["uuid"], b
    expect_error(sim.req("POST", "/api/cluster/schedules", {"name": "bad", "cron": {"minutes": [61]}}),
                 400, "458788")
    pol = {r["name"] for r in sim.get("/api/storage/snapshot-policies")["records"]}
    assert {"default", "none"} <= pol, pol
    body = {"name": "p1", "svm": {"name": "svm1"}, "enabled": True,
            "copies": [{"count": 24, "schedule": {"name": "hourly"}, "prefix": "hourly"}]}
    st, _, b = sim.req("POST", "/api/storage/snapshot-policies", body)
    assert st == 201, (st, b)
    expect_error(sim.req("POST", "/api/storage/snapshot-policies", body), 409, "1638527")
    expect_error(sim.req("POST", "/api/storage/snapshot-policies",
                         {"name": "p2", "copies": [{"count": 1, "schedule": {"name": "nosuch"}}]}),
                 400, "1638413")
    # consistency groups (9.10.1+)
    make_volume(sim, "cg_a", 1 << 30)
    make_volume(sim, "cg_b", 1 << 30)
    sim.async_ok("POST", "/api/application/consistency-groups",
                 {"name": "cg1", "svm": {"name": "svm1"}, "volumes": [{"name": "cg_a"}, {"name": "cg_b"}]})
    cg = sim.one("/api/application/consistency-groups?name=cg1&fields=volumes")
    assert sorted(v["name"] for v in cg["volumes"]) == ["cg_a", "cg_b"]
    expect_error(sim.req("POST", "/api/application/consistency-groups",
                         {"name": "cg1", "svm": {"name": "svm1"}, "volumes": []}), 409, "53411860")
    expect_error(sim.req("POST", "/api/application/consistency-groups",
                         {"name": "cg2", "svm": {"name": "svm1"}, "volumes": [{"name": "cg_a"}]}),
                 409, "53411865")
    cs = "/api/application/consistency-groups/%s/snapshots" % cg["uuid"]
    sim.async_ok("POST", cs, {"name": "cgs1", "consistency_type": "crash"})
    vol = sim.one("/api/storage/volumes?name=cg_b")
    assert sim.get("/api/storage/volumes/%s/snapshots?name=cgs1" % vol["uuid"])["num_records"] == 1
    j = sim.async_ok("POST", cs, {"name": "cgs1"}, expect="failure")
    assert j["code"] == 53411921, j
    sim.async_ok("DELETE", "/api/application/consistency-groups/%s" % cg["uuid"])
    assert sim.get("/api/storage/volumes?name=cg_a")["num_records"] == 1, "CG delete keeps volumes"


def test_nfs(sim):
    svc = sim.one("/api/protocols/nfs/services?svm.name=svm1&fields=enabled")
    assert svc["enabled"]
    st, _, b = sim.req("POST", "/api/protocols/nfs/export-policies?return_records=true",
                       {"name": "kvm", "svm": {"name": "svm1"}})
    assert st == 201, (st, b)
    pid = b["records"][0]["id"]
    assert isinstance(pid, int)
    ru = "/api/protocols/nfs/export-policies/%d/rules" % pid
    rule = {"clients": [{"match": "10.0.0.0/24"}], "ro_rule": ["sys"], "rw_rule": ["sys"],
            "superuser": ["sys"], "protocols": ["nfs4"]}
    st, _, b = sim.req("POST", ru + "?return_records=true", rule)
    assert st == 201 and b["records"][0]["index"] == 1, b
    expect_error(sim.req("POST", ru, rule), 409, "1704070")
    assert sim.get(ru)["num_records"] == 1
    expect_error(sim.req("POST", "/api/protocols/nfs/export-policies/999/rules", rule), 404, "1703954")
    make_volume(sim, "nfsv", 1 << 30, nas={"path": "/nfsv", "export_policy": {"name": "kvm"}})
    assert sim.one("/api/storage/volumes?name=nfsv&fields=nas")["nas"]["path"] == "/nfsv"


def test_cifs(sim):
    """SMB: the CIFS server, shares on a junction with ONTAP's default ACL, share ACL entries,
    and /sim/access listing a volume's shares only while the SVM's CIFS server is on."""
    expect_error(sim.req("POST", "/api/protocols/cifs/shares",
                         {"svm": {"name": "svm1"}, "name": "s0", "path": "/"}), 400, "2", "svm.name")
    st, _, b = sim.req("POST", "/api/protocols/cifs/services",
                       {"svm": {"name": "svm1"}, "name": "SIMCIFS", "workgroup": "LAB"})
    assert st == 201, (st, b)
    assert sim.one("/api/svm/svms?name=svm1&fields=cifs")["cifs"]["enabled"] is True
    expect_error(sim.req("POST", "/api/protocols/cifs/services",
                         {"svm": {"name": "svm1"}, "name": "OTHER", "workgroup": "LAB"}), 409, "1")
    lifs = sim.get("/api/network/ip/interfaces?svm.name=svm1&services=data_cifs&fields=services")
    assert lifs["num_records"] >= 1 and all("data_nfs" in r["services"] for r in lifs["records"])
    make_volume(sim, "smbv", 1 << 30, nas={"path": "/smbv"})
    expect_error(sim.req("POST", "/api/protocols/cifs/shares",
                         {"svm": {"name": "svm1"}, "name": "s1", "path": "/nosuch"}), 400, "2", "path")
    expect_error(sim.req("POST", "/api/protocols/cifs/shares",
                         {"svm": {"name": "svm1"}, "name": "bad/name", "path": "/smbv"}), 400, "2", "name")
    st, _, b = sim.req("POST", "/api/protocols/cifs/shares?return_records=true",
                       {"svm": {"name": "svm1"}, "name": "smbv", "path": "/smbv", "comment": "kvmcd:c1"})
    assert st == 201, (st, b)
    rec = b["records"][0]
    assert rec["acls"] == [{"user_or_group": "Everyone", "type": "windows", "permission": "full_control"}], rec
    assert rec["volume"]["name"] == "smbv", rec
    expect_error(sim.req("POST", "/api/protocols/cifs/shares",
                         {"svm": {"name": "svm1"}, "name": "SMBV", "path": "/smbv"}), 409, "1", "name")
    svm = rec["svm"]["uuid"]
    lst = sim.get("/api/protocols/cifs/shares?name=smbv")
    assert lst["num_records"] == 1 and set(lst["records"][0]) <= {"svm", "name", "_links"}, lst
    acls = "/api/protocols/cifs/shares/%s/smbv/acls" % svm
    st, _, b = sim.req("POST", acls + "?return_records=true",
                       {"user_or_group": "LAB\\kvm", "permission": "change"})
    assert st == 201 and b["records"][0]["type"] == "windows", (st, b)
    expect_error(sim.req("POST", acls, {"user_or_group": "lab\\KVM", "permission": "read"}), 409, "1")
    expect_error(sim.req("POST", acls, {"user_or_group": "x", "permission": "all"}), 400, "262196", "permission")
    one = acls + "/LAB%5Ckvm/windows"
    assert sim.get(one)["permission"] == "change"
    st, _, _ = sim.req("PATCH", one, {"permission": "full_control"})
    assert st == 200 and sim.get(one + "?fields=permission")["permission"] == "full_control"
    st, _, _ = sim.req("DELETE", acls + "/Everyone/windows")
    assert st == 200
    assert [a["user_or_group"] for a in sim.get(acls + "?fields=*")["records"]] == ["LAB\\kvm"]
    expect_error(sim.req("DELETE", acls + "/Everyone/windows"), 404, "4")
    st, _, b = sim.raw("GET", "/sim/access?client=10.9.9.9")
    exp = [e for e in b["exports"] if e["volume"] == "smbv"]
    assert exp and exp[0]["smb"] is True and exp[0]["shares"] == ["smbv"], b
    st, _, _ = sim.req("PATCH", "/api/protocols/cifs/services/%s" % svm, {"enabled": False})
    st, _, b = sim.raw("GET", "/sim/access?client=10.9.9.9")
    assert [e for e in b["exports"] if e["volume"] == "smbv"][0]["smb"] is False, b
    sim.req("PATCH", "/api/protocols/cifs/services/%s" % svm, {"enabled": True})
    st, _, _ = sim.req("DELETE", "/api/protocols/cifs/shares/%s/smbv" % svm)
    assert st == 200 and sim.get("/api/protocols/cifs/shares?name=smbv")["num_records"] == 0
    expect_error(sim.req("GET", acls), 404, "4", "share")


def test_faults(sim):
    F = "/_sim/faults"
    sim.ctl("POST", F, {"type": "throttle", "path": "/api/storage/volumes", "count": 2, "retry_after": 3})
    for _ in range(2):
        st, hdr, b = sim.req("GET", "/api/storage/volumes")
        expect_error((st, hdr, b), 429, "262160")
        assert hdr["Retry-After"] == "3"
    assert sim.req("GET", "/api/storage/volumes")[0] == 200
    sim.ctl("POST", F, {"type": "unavailable", "method": "GET", "path": "/api/cluster", "count": 1})
    expect_error(sim.req("GET", "/api/cluster"), 503, "262145")
    assert sim.req("GET", "/api/cluster")[0] == 200
    sim.ctl("POST", F, {"type": "error", "path": "/api/storage/luns*", "count": 1, "status": 500,
                        "code": "65541", "message": "RPC failure"})
    expect_error(sim.req("GET", "/api/storage/luns"), 500, "65541", message="RPC failure")
    sim.ctl("POST", F, {"type": "latency", "path": "/api/svm/svms", "ms": 300, "count": 1})
    t0 = time.time()
    sim.get("/api/svm/svms")
    assert time.time() - t0 >= 0.28
    sim.ctl("POST", F, {"type": "drop", "path": "/api/svm/svms", "count": 1})
    try:
        sim.req("GET", "/api/svm/svms")
        raise AssertionError("the connection should have been dropped")
    except (http.client.RemoteDisconnected, ConnectionError, ssl.SSLError, http.client.IncompleteRead):
        pass
    assert sim.req("GET", "/api/svm/svms")[0] == 200
    # drop_after: the change happens although the client sees EOF
    sim.ctl("POST", F, {"type": "drop_after", "method": "POST", "path": "/api/protocols/san/igroups", "count": 1})
    try:
        sim.req("POST", "/api/protocols/san/igroups", {"name": "dropped", "svm": {"name": "svm1"}, "os_type": "linux"})
        raise AssertionError("the connection should have been dropped")
    except (http.client.RemoteDisconnected, ConnectionError, ssl.SSLError, http.client.IncompleteRead):
        pass
    assert sim.get("/api/protocols/san/igroups?name=dropped")["num_records"] == 1
    # failing and hung jobs
    sim.ctl("POST", F, {"type": "job_failure", "method": "POST", "path": "/api/storage/volumes", "count": 1,
                        "code": 524486, "message": "Volume is busy."})
    j = sim.async_ok("POST", "/api/storage/volumes", {"name": "fj", "svm": {"name": "svm1"}}, expect="failure")
    assert j["code"] == 524486 and j["message"] == "Volume is busy." and j["error"]["code"] == "524486"
    assert sim.get("/api/storage/volumes?name=fj")["num_records"] == 0
    sim.ctl("POST", F, {"type": "job_hang", "method": "POST", "path": "/api/storage/volumes", "count": 1})
    st, _, b = sim.req("POST", "/api/storage/volumes", {"name": "hj", "svm": {"name": "svm1"}})
    time.sleep(0.6)
    sim.ctl("POST", "/_sim/clock", {"advance_seconds": 3600})
    time.sleep(0.1)
    assert sim.job(b["job"]["uuid"])["state"] == "running"
    assert sim.ctl("GET", F)["faults"] == []
    # rate 0 never fires
    sim.ctl("POST", F, {"type": "error", "path": "/api/cluster", "rate": 0.0})
    assert sim.req("GET", "/api/cluster")[0] == 200
    sim.ctl("DELETE", F)
    assert sim.ctl("GET", F)["faults"] == []


def test_permissions_and_log(sim):
    assert sim.req("GET", "/api/storage/volumes", user=RO)[0] == 200
    expect_error(sim.req("POST", "/api/protocols/san/igroups",
                         {"name": "ro", "svm": {"name": "svm1"}, "os_type": "linux"}, user=RO),
                 403, "6", message="User is not authorized.")
    expect_error(sim.req("DELETE", "/api/storage/volumes/x", user=RO), 403, "6")
    sim.req("GET", "/api/cluster?fields=version", headers={"X-Kvmcd-Node": "kvm07", "X-Kvmcd-Epoch": "42"})
    sim.req("POST", "/api/storage/volumes", {"name": "logv", "svm": {"name": "svm1"}},
            headers={"X-Kvmcd-Node": "kvm07", "X-Kvmcd-Epoch": "42"})
    time.sleep(0.1)
    lines = [json.loads(l) for l in open(sim.log)]
    tagged = [l for l in lines if l.get("node") == "kvm07"]
    assert len(tagged) == 2 and all(l["epoch"] == "42" for l in tagged), tagged
    g = tagged[0]
    assert g["method"] == "GET" and g["path"] == "/api/cluster?fields=version" and g["status"] == 200
    assert g["user"] == "admin" and re.match(r"\d{4}-\d\d-\d\dT", g["time"])
    assert tagged[1]["status"] == 202 and tagged[1].get("job")
    denied = [l for l in lines if l.get("user") == "ro" and l["status"] == 403]
    assert denied and denied[0]["code"] == "6"
    # SVM-scoped user: refused on /api/cluster and aggregates, may use /api/cluster/nodes
    expect_error(sim.req("GET", "/api/cluster?fields=version", user=VS), 403, "6")
    expect_error(sim.req("GET", "/api/storage/aggregates", user=VS), 403, "6")
    assert sim.req("GET", "/api/cluster/nodes?fields=version", user=VS)[0] == 200
    # Accept: application/json drops the HAL links except pagination
    st, hdr, b = sim.req("GET", "/api/svm/svms?max_records=1", headers={"Accept": "application/json"})
    assert hdr["Content-Type"] == "application/json" and "_links" not in b["records"][0], b
    # SVM tunnelling header
    b = sim.get("/api/storage/volumes", headers={"X-Dot-SVM-Name": "svm1"})
    assert b["num_records"] >= 1
    expect_error(sim.req("POST", "/api/protocols/san/igroups",
                         {"name": "t", "svm": {"name": "other"}, "os_type": "linux"},
                         headers={"X-Dot-SVM-Name": "svm1"}), 400, "2621706")
    st, _, _ = sim.req("POST", "/api/protocols/san/igroups", {"name": "tun", "os_type": "linux"},
                       headers={"X-Dot-SVM-Name": "svm1"})
    assert st == 201


def test_version_switch(sim):
    make_volume(sim, "vsw", 2 << 30)
    sim.ctl("POST", "/_sim/config", {"ontap_version": "9.16.1"})
    try:
        assert sim.get("/api/cluster?fields=version")["version"]["major"] == 16
        st, hdr, b = sim.req("POST", "/api/storage/luns?return_records=true",
                             {"name": "/vol/vsw/l916", "svm": {"name": "svm1"}, "os_type": "linux",
                              "space": {"size": 1 << 20}})
        assert st == 202, "9.16.1 LUN POST is async: %s %s" % (st, b)
        check_job_envelope(b, hdr)
        assert sim.wait_job(b["job"]["uuid"])["state"] == "success"
        lun = sim.one("/api/storage/luns?name=%s&fields=serial_number,serial_number_hex" % q("/vol/vsw/l916"))
        assert lun["serial_number_hex"] == lun["serial_number"].encode().hex()
        st, _, b = sim.req("POST", "/api/storage/namespaces",
                           {"name": "/vol/vsw/n916", "svm": {"name": "svm1"}, "os_type": "linux",
                            "space": {"size": 1 << 20}})
        assert st == 202, (st, b)
        sim.wait_job(b["job"]["uuid"])
        # duplicates are still immediate lookups
        expect_error(sim.req("POST", "/api/storage/luns", {"name": "/vol/vsw/l916", "svm": {"name": "svm1"},
                                                          "os_type": "linux", "space": {"size": 4096}}),
                     409, "5374242")
        st, _, b = sim.req("POST", "/api/storage/luns?return_timeout=10&return_records=true",
                           {"name": "/vol/vsw/l2", "svm": {"name": "svm1"}, "os_type": "linux",
                            "space": {"size": 1 << 20}})
        assert st == 201 and b["records"][0]["serial_number"], (st, b)
        sim.ctl("POST", "/_sim/config", {"ontap_version": "9.15.1"})
        st, _, b = sim.req("POST", "/api/storage/luns", {"name": "/vol/vsw/l915", "svm": {"name": "svm1"},
                                                         "os_type": "linux", "space": {"size": 1 << 20}})
        assert st == 201, "9.15.1 LUN POST is sync: %s %s" % (st, b)
        sim.ctl("POST", "/_sim/config", {"ontap_version": "9.9.1"})
        expect_error(sim.req("GET", "/api/application/consistency-groups"), 404, "4")
    finally:
        sim.ctl("POST", "/_sim/config", {"ontap_version": "9.14.1"})
    assert sim.get("/api/application/consistency-groups")["num_records"] >= 0


def test_concurrency(sim):
    """20 concurrent clients (Trident's per-LIF limit) creating, reading and deleting igroups."""
    import threading
    errors = []

    def worker(n):
        try:
            for i in range(10):
                name = "cc-%d-%d" % (n, i)
                st, _, b = sim.req("POST", "/api/protocols/san/igroups?return_records=true",
                                   {"name": name, "svm": {"name": "svm1"}, "os_type": "linux",
                                    "initiators": [{"name": "iqn.2000-01.com.example:%s" % name}]})
                assert st == 201, (st, b)
                uuid = b["records"][0]["uuid"]
                assert sim.get("/api/protocols/san/igroups/%s" % uuid)["name"] == name
                assert sim.req("DELETE", "/api/protocols/san/igroups/%s" % uuid)[0] == 200
        except Exception as e:  # noqa: BLE001 - collected and reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert sim.get("/api/protocols/san/igroups?name=cc-*")["num_records"] == 0


def test_run_schedules(sim):
    vol = make_volume(sim, "schedv", 1 << 30, snapshot_policy={"name": "default"})
    src_path = "/api/storage/volumes/%s/snapshots" % vol["uuid"]
    assert sim.get(src_path)["num_records"] == 0
    sim.ctl("POST", "/_sim/config", {"run_schedules": True})
    try:
        time.sleep(0.1)
        sim.ctl("POST", "/_sim/clock", {"advance_seconds": 10 * 3600})
        deadline = time.time() + 5
        while time.time() < deadline:
            names = [r["name"] for r in sim.get(src_path + "?fields=snapmirror_label")["records"]]
            if len([n for n in names if n.startswith("hourly.")]) >= 6:
                break
            time.sleep(0.05)
        hourly = [n for n in names if n.startswith("hourly.")]
        assert len(hourly) == 6, "default policy keeps 6 hourly snapshots: %s" % names
        assert all(re.fullmatch(r"hourly\.\d{4}-\d\d-\d\d_\d\d05", n) for n in hourly), hourly
    finally:
        sim.ctl("POST", "/_sim/config", {"run_schedules": False})


def test_client_cert(sim):
    """Login by client certificate (CN = user name) with --client-ca; needs the openssl CLI."""
    openssl = shutil.which("openssl")
    if not openssl:
        print("  skipped: no openssl CLI to make certificates")
        return
    d = tempfile.mkdtemp(prefix="ontap-sim-cert-", dir=sim.dir)

    def run(*args):
        subprocess.run([openssl] + list(args), cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=kvmcd-test-ca")
    for cn in ("admin", "ro", "stranger"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", cn + ".key", "-out", cn + ".csr",
            "-subj", "/CN=" + cn)
        run("x509", "-req", "-in", cn + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", cn + ".pem", "-days", "2")
    other = Sim(sim.binary, d, extra=["--client-ca", os.path.join(d, "ca.pem")])
    try:
        def get(cn, method="GET", path="/api/cluster", body=None):
            ctx = ssl.create_default_context(cafile=other.cert)
            if cn:
                ctx.load_cert_chain(os.path.join(d, cn + ".pem"), os.path.join(d, cn + ".key"))
            conn = http.client.HTTPSConnection("127.0.0.1", other.port, context=ctx, timeout=10)
            conn.request(method, path, body=json.dumps(body) if body else None)
            r = conn.getresponse()
            data = r.read()
            conn.close()
            return r.status, json.loads(data) if data else None
        assert get("admin")[0] == 200
        assert get("stranger")[0] == 401
        assert get(None)[0] == 401
        st, b = get("ro", "POST", "/api/protocols/san/igroups", {"name": "x", "svm": {"name": "svm1"},
                                                                 "os_type": "linux"})
        assert st == 403 and b["error"]["code"] == "6", (st, b)
        assert other.req("GET", "/api/cluster")[0] == 200, "Basic auth still works"
    finally:
        other.stop()


def test_persistence(sim):
    make_volume(sim, "persist", 1 << 30)
    lun = make_lun(sim, "/vol/persist/p0", 1 << 20)
    sim.stop()
    sim.start()
    again = sim.one("/api/storage/luns?name=%s&fields=serial_number" % q("/vol/persist/p0"))
    assert again["uuid"] == lun["uuid"] and again["serial_number"] == lun["serial_number"]
    assert os.path.exists(os.path.join(sim.backing, lun["uuid"] + ".img"))
    st, _, _ = sim.req("DELETE", "/api/storage/luns/" + lun["uuid"])
    assert st == 200 and not os.path.exists(os.path.join(sim.backing, lun["uuid"] + ".img"))
    # reset goes back to defaults
    sim.ctl("POST", "/_sim/reset")
    assert sim.get("/api/storage/volumes")["num_records"] == 0
    assert sim.get("/api/svm/svms")["num_records"] == 1


def test_fence_cut_target_hook(sim):
    """The storage fence's cuts (resources/ontap/fence.c) on a simulator driving a target
    (--target-hook): a host taken out of a MAPPED igroup (allow_delete_while_mapped) loses its LIO
    ACL, a host NQN taken out of a subsystem leaves nvmet's allowed hosts, before the DELETE is
    answered; the other host keeps both; the second DELETE of each is 404 (a re-run's "already
    gone"); adding the names back (the datastore plan's unfence) gives the access back."""
    work = tempfile.mkdtemp(prefix="ontap-sim-hook-", dir=sim.dir)
    applied = os.path.join(work, "applied.json")
    hook = os.path.join(work, "hook.sh")
    with open(hook, "w") as f:
        f.write('#!/bin/sh\ncp "$1" %s\n' % applied)
    os.chmod(hook, 0o755)
    hs = Sim(sim.binary, work, extra=["--target-hook", hook])
    a, b = "iqn.1994-05.com.redhat:fa", "iqn.1994-05.com.redhat:fb"
    na, nb = "nqn.2014-08.org.nvmexpress:uuid:fa", "nqn.2014-08.org.nvmexpress:uuid:fb"

    def doc():
        with open(applied) as f:
            d = json.load(f)
        acls = {x["initiator"]: len(x["luns"]) for t in d["iscsi"] for x in t["acls"]}
        hosts = {h for t in d["nvme"] for ss in t["subsystems"] for h in ss["hosts"]}
        return acls, hosts

    try:
        make_volume(hs, "fv", 4 << 30)
        lun = make_lun(hs, "/vol/fv/l0")
        ga, gb = make_igroup(hs, "fa", [a]), make_igroup(hs, "fb", [b])
        for g in ("fa", "fb"):
            st, _, _ = hs.req("POST", "/api/protocols/san/lun-maps",
                              {"svm": {"name": "svm1"}, "igroup": {"name": g}, "lun": {"uuid": lun["uuid"]}})
            assert st == 201
        st, _, nsr = hs.req("POST", "/api/storage/namespaces?return_records=true",
                            {"svm": {"name": "svm1"}, "name": "/vol/fv/ns0", "os_type": "linux",
                             "space": {"size": 1 << 30}})
        assert st == 201, nsr
        st, _, ss = hs.req("POST", "/api/protocols/nvme/subsystems?return_records=true",
                           {"svm": {"name": "svm1"}, "name": "fss", "os_type": "linux",
                            "hosts": [{"nqn": na}, {"nqn": nb}]})
        assert st == 201, ss
        ss = ss["records"][0]
        st, _, _ = hs.req("POST", "/api/protocols/nvme/subsystem-maps",
                          {"svm": {"name": "svm1"}, "subsystem": {"uuid": ss["uuid"]},
                           "namespace": {"uuid": nsr["records"][0]["uuid"]}})
        assert st == 201
        assert doc() == ({a: 1, b: 1}, {na, nb}), doc()

        ini = "/api/protocols/san/igroups/%s/initiators/%s" % (ga["uuid"], q(a))
        expect_error(hs.req("DELETE", ini), 409, "1254213")
        st, _, _ = hs.req("DELETE", ini + "?allow_delete_while_mapped=true")
        assert st == 200
        assert doc() == ({b: 1}, {na, nb}), doc()
        assert hs.get("/sim/access?initiator=" + q(a))["luns"] == []
        assert len(hs.get("/sim/access?initiator=" + q(b))["luns"]) == 1
        host = "/api/protocols/nvme/subsystems/%s/hosts/%s" % (ss["uuid"], q(na))
        st, _, _ = hs.req("DELETE", host)
        assert st == 200
        assert doc() == ({b: 1}, {nb}), doc()
        assert hs.get("/sim/access?hostnqn=" + q(na))["namespaces"] == []
        assert len(hs.get("/sim/access?hostnqn=" + q(nb))["namespaces"]) == 1
        # a re-run of the fence: both already gone
        expect_error(hs.req("DELETE", ini + "?allow_delete_while_mapped=true"), 404, "5374034")
        expect_error(hs.req("DELETE", host), 404, "72090004")
        # unfence: the names back, the access back (same LUN id)
        st, _, _ = hs.req("POST", "/api/protocols/san/igroups/%s/initiators" % ga["uuid"], {"name": a})
        assert st == 201
        st, _, _ = hs.req("POST", "/api/protocols/nvme/subsystems/%s/hosts" % ss["uuid"], {"nqn": na})
        assert st == 201
        assert doc() == ({a: 1, b: 1}, {na, nb}), doc()
        state = hs.ctl("GET", "/_sim/state")
        assert state["target_hook"]["failures"] == 0, state["target_hook"]
    finally:
        hs.stop()


def ask_socket(sim, line):
    """One ask on the access socket: (status, JSON answer)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sim.access_socket)
        s.sendall(line if isinstance(line, bytes) else line.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\n")
    return int(head), json.loads(body)


def test_access_socket(sim):
    """--access-socket: the same answers as GET /sim/access, with client= required (no peer)."""
    q = urllib.parse.quote
    st, _, ig = sim.raw("POST", "/api/protocols/san/igroups",
                        {"svm": {"name": "svm1"}, "name": "sockgrp", "protocol": "iscsi", "os_type": "linux",
                         "initiators": [{"name": "iqn.2024-01.test:sock1"}]})
    assert st == 201, ig
    checked = 0
    for g in sim.get("/api/protocols/san/igroups?fields=initiators")["records"]:
        for i in g.get("initiators", []):
            want = sim.get("/sim/access?initiator=" + q(i["name"], safe=""), user=None)
            st, got = ask_socket(sim, "initiator=%s\n" % q(i["name"], safe=""))
            assert st == 200 and got == want, (i["name"], got, want)
            checked += 1
    assert checked >= 1
    for nqn in ("nqn.2014-08.org.nvmexpress:uuid:sock", ):
        st, got = ask_socket(sim, "hostnqn=%s\n" % q(nqn, safe=""))
        assert st == 200 and got == sim.get("/sim/access?hostnqn=" + q(nqn, safe=""), user=None), got
    st, got = ask_socket(sim, "client=10.9.9.9\n")
    assert st == 200 and got == sim.get("/sim/access?client=10.9.9.9", user=None), got
    # errors: no peer address, an unknown key, two keys, no newline within 4 KiB, not key=value
    st, got = ask_socket(sim, "\n")
    assert st == 400 and "client=" in got["error"]["message"], got
    st, got = ask_socket(sim, "color=blue\n")
    assert st == 400 and got["error"]["code"] == "262179", got
    st, got = ask_socket(sim, "initiator=a&hostnqn=b\n")
    assert st == 400 and got["error"]["code"] == "2", got
    st, got = ask_socket(sim, "initiator=" + "x" * 5000)
    assert st == 400 and "newline" in got["error"]["message"], got
    st, got = ask_socket(sim, "justtext\n")
    assert st == 400 and "Malformed" in got["error"]["message"], got
    assert os.stat(sim.access_socket).st_mode & 0o777 == 0o600
    uuid = sim.get("/api/protocols/san/igroups?name=sockgrp")["records"][0]["uuid"]
    st, _, _ = sim.raw("DELETE", "/api/protocols/san/igroups/%s" % uuid)
    assert st == 200, st


TESTS = [
    test_transport_and_auth, test_cluster_version, test_envelope_and_fields,
    test_volume_job_lifecycle, test_job_purge, test_luns_and_identity, test_san_maps, test_nvme,
    test_filters, test_pagination, test_snapshots_clone_restore, test_snapshot_data, test_snapmirror, test_svm_peers,
    test_policies_schedules_cg, test_nfs, test_cifs, test_faults, test_permissions_and_log,
    test_version_switch, test_concurrency, test_run_schedules, test_client_cert, test_persistence,
    test_fence_cut_target_hook, test_access_socket,
]


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    wanted = set(sys.argv[2:])
    failed = []
    workdir = tempfile.mkdtemp(prefix="ontap-sim-test-")
    sim = Sim(binary, workdir)
    try:
        for t in TESTS:
            if wanted and t.__name__ not in wanted:
                continue
            try:
                t(sim)
                print("ok   %s" % t.__name__)
            except Exception:
                failed.append(t.__name__)
                print("FAIL %s" % t.__name__)
                traceback.print_exc()
            finally:
                if sim.proc is None:
                    sim.start()
                sim.ctl("DELETE", "/_sim/faults")
    finally:
        sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("%d/%d passed" % (len(TESTS if not wanted else [t for t in TESTS if t.__name__ in wanted]) - len(failed),
                            len(TESTS if not wanted else [t for t in TESTS if t.__name__ in wanted])))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
