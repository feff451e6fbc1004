"""A real single-node Ceph cluster with a RADOS Gateway, for tests: one mon, one OSD on
memstore (data in RAM, kept small) and radosgw on a free 127.0.0.1 port, all state in
one temporary folder, started by hand (no systemd) in about 2 s.

    with RGW() as rgw:          # or rgw = RGW(); rgw.start(); ...; rgw.stop()
        rgw.endpoint            # "http://127.0.0.1:PORT"
        rgw.access_key, rgw.secret_key, rgw.region

Readiness is waited for by polling the cluster and the gateway (never a fixed sleep);
anything that does not come up raises with the logs, so tests that need the gateway
fail rather than skip. See ../../../shared/notes/ceph-rgw.md for the facts and traps.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

ACCESS_KEY = "EVDTESTACCESSKEY0001"
SECRET_KEY = "evd-test-secret-key-0000000000000000000"
REGION = "default"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout, procs=(), logs=()):
    """Poll check() until it returns something true; raise with the logs otherwise."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        value = check()
        if value:
            return value
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{what}: {p.args[0]} exited {p.returncode}\n" + tails(logs))
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout} s\n" + tails(logs))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def tails(paths):
    out = []
    for p in paths:
        try:
            with open(p, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 3000))
                out.append(f"--- {p}\n" + f.read().decode(errors="replace"))
        except OSError:
            pass
    return "\n".join(out)


class RGW:
    def __init__(self, memstore_mb=1024, root=None):
        self.memstore_mb = memstore_mb
        self.root = root
        self.own_root = root is None
        self.procs = {}
        self.port = None
        self.start_seconds = None
        self.access_key, self.secret_key, self.region = ACCESS_KEY, SECRET_KEY, REGION

    # --- paths and commands
    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def ceph(self, *args, timeout=60):
        p = subprocess.run(["ceph", "-c", self.conf, "--connect-timeout", "20", *args],
                           capture_output=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"ceph {' '.join(args)}: {p.stderr.decode(errors='replace')}")
        return p.stdout.decode()

    def admin(self, *args, timeout=60):
        """radosgw-admin: whoever holds the cluster's admin keys can delete locked
        objects, so tests use it only to set up, never to check."""
        p = subprocess.run(["radosgw-admin", "-c", self.conf, "-n", "client.admin", *args],
                           capture_output=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"radosgw-admin {' '.join(args)}: "
                               f"{p.stderr.decode(errors='replace')}")
        return p.stdout.decode()

    def _spawn(self, name, argv):
        log = open(self.path(f"{name}.out"), "ab")
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=log,
                                            start_new_session=True)
        log.close()

    def _write_conf(self):
        mon_port = free_port()
        self.port = free_port()
        self.fsid = str(uuid.uuid4())
        r = self.root
        self.conf = self.path("ceph.conf")
        with open(self.conf, "w") as f:
            f.write(f"""[global]
fsid = {self.fsid}
mon host = v2:127.0.0.1:{mon_port}
mon initial members = a
run dir = {r}/run
admin socket = {r}/run/$name.asok
pid file = {r}/run/$name.pid
log file = {r}/log/$name.log
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
ms mon client mode = crc
ms client mode = crc
ms cluster mode = crc
ms service mode = crc
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
paxos propose interval = 0.05
paxos min wait = 0.01
osd mon report interval = 1
mon osd full ratio = 0.97
mon osd nearfull ratio = 0.95
mon osd backfillfull ratio = 0.96
[mon]
mon data = {r}/mon/$cluster-$id
[osd]
osd data = {r}/osd/$cluster-$id
osd objectstore = memstore
memstore device bytes = {self.memstore_mb * 1024 * 1024}
osd journal size = 0
[client.rgw.a]
rgw data = {r}/rgw
rgw frontends = beast endpoint=127.0.0.1:{self.port}
rgw dns name = localhost
auth client required = none
ms mon client mode = crc
rgw thread pool size = 32
""")

    def start(self):
        t0 = time.monotonic()
        if self.root is None:
            self.root = tempfile.mkdtemp(prefix="evd-ceph-")
        for d in ("run", "log", "mon/ceph-a", "osd", "rgw"):
            os.makedirs(self.path(d), exist_ok=True)
        self._write_conf()
        logs = [self.path("log", n) for n in ("mon.a.log", "osd.0.log", "client.rgw.a.log")]
        logs += [self.path(n) for n in ("mon.out", "osd.out", "rgw.out")]
        try:
            keyring = self.path("keyring")
            subprocess.run(["ceph-authtool", "--create-keyring", keyring, "--gen-key", "-n",
                            "mon.", "--cap", "mon", "allow *"], check=True, capture_output=True)
            subprocess.run(["monmaptool", "--create", "--fsid", self.fsid, "--addv", "a",
                            f"[v2:127.0.0.1:{self.conf_mon_port()}]", self.path("monmap")],
                           check=True, capture_output=True)
            subprocess.run(["ceph-mon", "-c", self.conf, "--mkfs", "-i", "a", "--monmap",
                            self.path("monmap"), "--keyring", keyring], check=True,
                           capture_output=True)
            self._spawn("mon", ["ceph-mon", "-c", self.conf, "-i", "a", "-f"])
            osd_uuid = str(uuid.uuid4())
            osd_id = self.ceph("osd", "new", osd_uuid).strip()
            os.makedirs(self.path("osd", f"ceph-{osd_id}"), exist_ok=True)
            subprocess.run(["ceph-osd", "-c", self.conf, "-i", osd_id, "--mkfs", "--osd-uuid",
                            osd_uuid], check=True, capture_output=True, timeout=60)
            self._spawn("osd", ["ceph-osd", "-c", self.conf, "-i", osd_id, "-f"])
            wait_for("osd up", lambda: json.loads(self.ceph("osd", "stat", "-f", "json"))
                     .get("num_up_osds") == 1, 60, self.procs.values(), logs)
            self._spawn("rgw", ["radosgw", "-c", self.conf, "-n", "client.rgw.a", "-f"])
            wait_for("radosgw http", self._http_up, 120, self.procs.values(), logs)
            self.admin("user", "create", "--uid=evd-test", "--display-name=evidock test",
                       f"--access-key={self.access_key}", f"--secret={self.secret_key}")
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def conf_mon_port(self):
        with open(self.conf) as f:
            for line in f:
                if line.startswith("mon host"):
                    return int(line.rsplit(":", 1)[1])
        raise RuntimeError("no mon host")

    def _http_up(self):
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=2).read()
            return True
        except urllib.error.HTTPError:
            return True  # an S3 error reply: the gateway answers
        except OSError:
            return False

    # --- buckets and outside clients (curl and s3cmd: clients we did not write)
    def curl(self, *args, check=True):
        """curl with its own SigV4 signing against the gateway; returns (status, body)."""
        p = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\\n%{http_code}", "--aws-sigv4",
                            f"aws:amz:{self.region}:s3", "--user",
                            f"{self.access_key}:{self.secret_key}", "-H",
                            "x-amz-content-sha256: UNSIGNED-PAYLOAD", *args],
                           capture_output=True, timeout=60)
        if check and p.returncode != 0:
            raise RuntimeError(f"curl {args}: {p.stderr.decode(errors='replace')}")
        body, _, status = p.stdout.rpartition(b"\n")
        return int(status or 0), body.decode(errors="replace")

    def make_bucket(self, name, lock=True):
        """A bucket, with Object Lock (and so versioning) when lock."""
        hdr = ["-H", "x-amz-bucket-object-lock-enabled: true"] if lock else []
        status, body = self.curl("-X", "PUT", *hdr, f"{self.endpoint}/{name}")
        if status != 200:
            raise RuntimeError(f"create bucket {name}: {status} {body}")
        return name

    def s3cmd_config(self, path):
        with open(path, "w") as f:
            f.write(f"""[default]
access_key = {self.access_key}
secret_key = {self.secret_key}
host_base = 127.0.0.1:{self.port}
host_bucket = 127.0.0.1:{self.port}
bucket_location = {self.region}
use_https = False
signature_v2 = False
""")
        return path

    # --- stopping the gateway alone (the cluster stays), for outage tests
    def stop_gateway(self):
        p = self.procs.pop("rgw", None)
        if p:
            p.kill()
            p.wait(timeout=30)

    def start_gateway(self):
        logs = [self.path("log", "client.rgw.a.log"), self.path("rgw.out")]
        self._spawn("rgw", ["radosgw", "-c", self.conf, "-n", "client.rgw.a", "-f"])
        wait_for("radosgw http", self._http_up, 120, [self.procs["rgw"]], logs)

    def stop(self):
        for name in ("rgw", "osd", "mon"):
            p = self.procs.pop(name, None)
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
        if self.own_root and self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    with RGW() as g:
        print(f"endpoint {g.endpoint} up in {g.start_seconds:.2f} s")
