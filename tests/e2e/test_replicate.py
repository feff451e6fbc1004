"""evidock-replicate against a real Ceph RGW: imported items appear in the bucket under
COMPLIANCE with the item's retain_until, a client we did not write (s3cmd) downloads
them intact, their versions cannot be deleted, the queue survives an RGW outage and a
kill -9, and a bucket or credentials that cannot keep the promise are refused."""
import json
import os
import signal
import socket
import subprocess
import time
from urllib.parse import quote

import pytest

from conftest import BUILD
from helpers import random_file, sha256_file
from simstation import make_sim, mkimage  # noqa: F401

REPLICATE = os.path.join(BUILD, "evidock-replicate")
S3TOOL = os.path.join(BUILD, "s3tool")


def raw(sock, cmd, args=None, user=None):
    """One control request over the socket (as user when given), its final reply."""
    line = json.dumps({"cmd": cmd, "args": args or {}})
    code = ("import socket,sys;s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);"
            "s.sendall(sys.argv[2].encode()+b'\\n');f=s.makefile()\n"
            "for l in f:\n if '\"progress\"' not in l[:12]: print(l, end=''); break")
    argv = ["/usr/bin/python3", "-c", code, sock, line]
    if user:
        argv = ["runuser", "-u", user, "--"] + argv
    p = subprocess.run(argv, capture_output=True, timeout=60, text=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def wait_until(what, check, timeout=120, why=None):
    """Wait for check(); on timeout, why() (if given) says what was seen."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        v = check()
        if v:
            return v
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise AssertionError(f"timed out waiting for {what}" + (": " + why() if why else ""))


class Replicator:
    def __init__(self, station, rgw, bucket, creds_mode=0o600, **conf):
        self.station, self.rgw = station, rgw
        self.creds = os.path.join(station.root, "s3.cred")
        with open(self.creds, "w") as f:
            f.write(f"access_key = {rgw.access_key}\nsecret_key = {rgw.secret_key}\n")
        os.chmod(self.creds, creds_mode)
        keys = {"endpoint": rgw.endpoint, "bucket": bucket, "region": rgw.region,
                "credentials": self.creds, "part_size": "5"}
        keys.update(conf)
        with open(station.conf, "a") as f:
            f.write("[replication]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()))
        self.log = os.path.join(station.root, "replicate.log")
        self.proc = None

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([REPLICATE, "-c", self.station.conf], stdout=self.logf,
                                     stderr=self.logf)
        return self

    def run_once(self):
        """Run to its exit (a refusal), returning (rc, log)."""
        p = subprocess.run([REPLICATE, "-c", self.station.conf], capture_output=True,
                           timeout=120, text=True)
        return p.returncode, p.stderr

    def stop(self, sig=signal.SIGTERM):
        if self.proc:
            self.proc.send_signal(sig)
            rc = self.proc.wait(timeout=60)
            self.proc = None
            self.logf.close()
            return rc

    def read_log(self):
        with open(self.log, errors="replace") as f:
            return f.read()


def s3tool(rgw, bucket, *args):
    env = dict(os.environ, S3_ENDPOINT=rgw.endpoint, S3_BUCKET=bucket, S3_REGION=rgw.region,
               S3_ACCESS_KEY=rgw.access_key, S3_SECRET_KEY=rgw.secret_key)
    p = subprocess.run([S3TOOL, *args], env=env, capture_output=True, timeout=120)
    return p.returncode, json.loads(p.stdout or b"null")


def drained(station, n):
    r = raw(station.sock, "replication")
    return r["ok"] and r["result"]["confirmed"] == n and r["result"]["pending"] == 0


def import_files(station, tmp, name, sizes, seed):
    src = os.path.join(tmp, name)
    for i, size in enumerate(sizes):
        random_file(os.path.join(src, f"DCIM/CLIP{i:04d}.MP4"), size, seed + i)
    station.ctl("import", src, "--recorder", "R1", check=True)


@pytest.fixture
def setup(make_station, rgw, tmp, request):
    bucket = rgw.make_bucket("evd-rep-" + request.node.name.replace("_", "-")[5:30].lower())
    st = make_station()
    rep = Replicator(st, rgw, bucket)
    st.start()
    yield st, rep, bucket
    if rep.proc:
        rep.stop()


def test_items_replicated_under_compliance(setup, rgw, tmp):
    st, rep, bucket = setup
    import_files(st, tmp, "a", [100_000, (6 << 20) + 7], 10)  # one single PUT, one multipart
    items = st.json("items")
    st.ctl("hold", items[0]["id"], "--reason", "复议", check=True)
    rep.start()
    wait_until("replication drained", lambda: drained(st, 2))
    cfg = rgw.s3cmd_config(os.path.join(tmp, "s3cfg"))
    for it in st.json("items"):
        sha = it["sha256"]
        key = f"e2e/objects/{sha[:2]}/{sha[2:4]}/{sha}"
        out = os.path.join(tmp, sha)
        subprocess.run(["s3cmd", "-c", cfg, "get", f"s3://{bucket}/{key}", out], check=True,
                       capture_output=True, timeout=120)
        assert sha256_file(out) == sha
        rc, head = s3tool(rgw, bucket, "head", key)
        assert rc == 0 and head["mode"] == "COMPLIANCE"
        assert head["retain_until"] == it["retain_until"]
        assert head["legal_hold"] == it["hold"]
        rc, out = s3tool(rgw, bucket, "delete", key, head["version_id"])
        assert rc == 1 and out["errno"] == 13  # the server refuses
        rc, rec = s3tool(rgw, bucket, "get", f"e2e/items/{it['id']}.json", "-")
        assert rc == 0
    state = raw(st.sock, "replication", {"items": True})["result"]
    assert all(r["state"] == "confirmed" and r["version_id"] for r in state["records"])
    assert st.json("status")["replication"]["pending"] == 0
    audit = st.json("audit")
    assert sum(1 for e in audit if e["event"] == "replicated") >= 2


def versions(rgw, bucket, key):
    """How many versions of key the bucket holds (ListObjectVersions, curl's SigV4)."""
    status, body = rgw.curl(f"{rgw.endpoint}/{bucket}?prefix={quote(key, safe='')}&versions=")
    assert status == 200, body
    return body.count("<Version>")


def test_outage_and_kill9_the_queue_drains(make_sim, rgw, tmp):
    bucket = rgw.make_bucket("evd-rep-outage-kill9")
    st = make_sim()
    rep = Replicator(st, rgw, bucket)
    st.start()
    rep.start()
    try:
        import_files(st, tmp, "a", [50_000], 20)
        seen = lambda: (json.dumps(raw(st.sock, "replication")) + "\nreplicator log:\n" +  # noqa: E731
                        rep.read_log())
        wait_until("first item", lambda: drained(st, 1), why=seen)
        img = os.path.join(tmp, "rec.img")
        mkimage(img, "--fs", "fat32", "--clips", "2", manifest=False)
        st.register("REC-OUT")
        rgw.stop_gateway()
        try:
            # a recorder docked while the archive is away: the station never waits for it
            st.dock(1, "REC-OUT", img)
            d = st.wait_dock("REC-OUT", ("done", "failed", "interrupted"))
            assert d["state"] == "done" and d["safe_to_remove"], d
            n = len(st.json("items"))
            assert n >= 3
            s = st.json("status")["replication"]
            assert s["pending"] == n - 1 and s["pending_bytes"] > 0
        finally:
            rgw.start_gateway()
        wait_until("queue drained after the outage", lambda: drained(st, n), timeout=180,
                   why=seen)
        # kill -9 while a larger upload is under way; the next run finishes it, once
        import_files(st, tmp, "c", [12 << 20], 40)
        big = [i for i in st.json("items") if i["size"] == 12 << 20][0]
        time.sleep(0.2)
        rep.stop(signal.SIGKILL)
        rep.start()
        wait_until("queue drained after kill -9", lambda: drained(st, n + 1), timeout=180,
                   why=seen)
        sha = big["sha256"]
        assert versions(rgw, bucket, f"e2e/objects/{sha[:2]}/{sha[2:4]}/{sha}") == 1
    finally:
        rep.stop()


def test_bucket_without_object_lock_refused(make_station, rgw):
    bucket = rgw.make_bucket("evd-rep-nolock", lock=False)
    st = make_station()
    rep = Replicator(st, rgw, bucket)
    rc, log = rep.run_once()
    assert rc == 1 and "refusing to replicate" in log and "Object Lock" in log, log


def test_credentials_readable_by_others_refused(make_station, rgw):
    bucket = rgw.make_bucket("evd-rep-creds")
    st = make_station()
    rep = Replicator(st, rgw, bucket, creds_mode=0o644)
    rc, log = rep.run_once()
    assert rc == 1 and "readable" in log and "0644" in log


def test_only_the_replicator_may_report(station, tmp):
    os.chmod(tmp, 0o755)  # other users reach the socket
    os.chmod(station.root, 0o755)
    import grp
    import pwd
    for g in ("evidock-admin", "evidock-replicator"):
        try:
            grp.getgrnam(g)
        except KeyError:
            subprocess.run(["groupadd", "--system", g], check=True)
    users = {"evd-t-radmin": "evidock-admin", "evd-t-repl": "evidock-replicator"}
    for u, g in users.items():
        try:
            pwd.getpwnam(u)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", u], check=True)
        subprocess.run(["usermod", "-a", "-G", g, u], check=True)
    try:
        args = {"item": 1, "state": "confirmed", "version_id": "v"}
        r = raw(station.sock, "replicated", args, user="evd-t-radmin")
        assert not r["ok"] and "replicator role" in r["error"]
        r = raw(station.sock, "replicated", args, user="evd-t-repl")
        assert not r["ok"] and "no such item" in r["error"]  # allowed, then checked
        r = raw(station.sock, "status", user="evd-t-repl")
        assert not r["ok"]  # the replicator role is nothing else
        r = raw(station.sock, "replicated", {"item": 1, "state": "bogus"}, user="evd-t-repl")
        assert not r["ok"]
    finally:
        for u in users:
            subprocess.run(["userdel", u], check=False)
