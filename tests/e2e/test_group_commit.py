"""Group commit (issue 16): the catalogue writes of several copies share one durable
transaction, each acknowledged only after it. A debugger stops evidockd right after a
batch of two or more writes has committed and before any of its copies is counted or
answered, and kills it there (kill -9): after a restart every file the import's
progress had acknowledged is catalogued with its exact content, the unanswered batch
is there too (committed), nothing is catalogued that is not stored, and importing
again completes the set without duplicates."""
import json
import os
import shutil
import socket
import subprocess
import threading

import pytest

from helpers import random_file, sha256_file

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("gdb"),
                                reason="needs root and gdb (to stop evidockd after a commit)")


def import_acknowledged(station, src):
    """Run an import on the control socket; the most files its progress lines (or its
    reply) said were stored before the connection ended."""
    acked = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(300)
        s.connect(station.sock)
        s.sendall(json.dumps({"cmd": "import", "args": {
            "dir": src, "recorder": "GC-1", "allow_unregistered": True}}).encode() + b"\n")
        buf = b""
        while True:
            try:
                data = s.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            buf += data
            *lines, buf = buf.split(b"\n")
            for line in lines:
                reply = json.loads(line)
                if "progress" in reply:
                    acked = max(acked, reply["progress"].get("files_stored", 0))
                elif reply.get("ok"):
                    acked = max(acked, reply["result"]["files_stored"])
    return acked


def test_kill_9_between_group_commit_and_replies(make_station, tmp):
    station = make_station()
    src = os.path.join(tmp, "src")
    want = {}
    for i in range(400):
        name = "DCIM/100MEDIA/S%04d.MP4" % i
        want[name] = sha256_file(random_file(os.path.join(src, name), 4096 + i, i))
    station.start()
    gdb = subprocess.Popen(
        ["gdb", "-nx", "-batch", "-p", str(station.proc.pid), "-ex", "set pagination off",
         "-ex", "break group_committed if writes >= 2", "-ex", "continue",
         "-ex", "print writes", "-ex", "kill"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, ready = [], threading.Event()

    def read_gdb():
        for line in gdb.stdout:
            seen.append(line)
            if line.startswith("Breakpoint 1 at"):  # set; gdb continues next
                ready.set()
        ready.set()

    threading.Thread(target=read_gdb, daemon=True).start()
    assert ready.wait(300) and any(x.startswith("Breakpoint 1 at") for x in seen), "".join(seen)
    acked = import_acknowledged(station, src)
    gdb.wait(timeout=300)
    assert station.proc.wait(timeout=60) == -9, "".join(seen)
    assert any("Breakpoint 1, group_committed" in x for x in seen), "".join(seen)

    station.proc = None
    station.logf.close()
    station.start()
    items = station.json("items")
    # Nothing acknowledged is lost; the committed batch (unanswered) is there too.
    assert len(items) >= acked
    assert len(items) < len(want), "the kill came after the import had ended"
    # Nothing catalogued that is not stored exactly.
    for it in items:
        assert want[it["original_path"]] == it["sha256"]
        assert sha256_file(station.object_path(it["sha256"])) == it["sha256"]
    assert os.listdir(os.path.join(station.state, "tmp")) == []
    assert station.json("verify")["ok"] is True
    # Importing again stores the rest, once each.
    report = station.json("import", src, "--recorder", "GC-1", "--allow-unregistered")
    assert report["files_failed"] == 0
    assert report["files_stored"] + report["files_skipped"] == len(want)
    items = station.json("items")
    assert {it["original_path"]: it["sha256"] for it in items} == want
    commits = station.json("status")["catalog_commits"]
    assert commits["grouped_writes"] >= commits["group_commits"] > 0
