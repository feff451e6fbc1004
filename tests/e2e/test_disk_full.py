"""A full disk loses nothing: copying pauses above a reserve, status and the audit log
say so, and it resumes by itself when space returns. On a tiny loop-mounted ext4."""
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import Station
from helpers import random_file, sha256_file


@pytest.fixture
def tiny(tmp):
    img = os.path.join(tmp, "tiny.img")
    mnt = os.path.join(tmp, "mnt")
    os.makedirs(mnt)
    subprocess.run(["truncate", "-s", "64M", img], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", img], check=True)
    subprocess.run(["mount", "-o", "loop", img, mnt], check=True)
    yield mnt
    subprocess.run(["chattr", "-R", "-i", mnt], check=False, stderr=subprocess.DEVNULL)
    subprocess.run(["umount", mnt], check=False)


def test_pause_when_full_and_resume(tiny, tmp):
    root = os.path.join(tiny, "st")
    os.makedirs(root)
    station = Station(root, ingest__parallel_copies="1", ingest__reserve_mb="8")
    filler = os.path.join(tiny, "filler")
    want = {}
    for i in range(3):
        src = os.path.join(tmp, "first" if i < 2 else "then")
        p = random_file(os.path.join(src, f"C{i}.mp4"), 6 * 1024 * 1024, i)
        want[f"C{i}.mp4"] = sha256_file(p)
    try:
        station.start()
        station.ctl("import", os.path.join(tmp, "first"), "--recorder", "R1", check=True)
        assert len(station.json("items")) == 2
        # 11 MiB left: 3 MiB above the 8 MiB reserve, so the next 6 MiB file waits. (Two
        # copies of one import run at once, each checking for room before it begins: the
        # files that fit are stored first, so that the pause does not depend on which
        # of them checks when.)
        free = os.statvfs(tiny).f_bavail * os.statvfs(tiny).f_frsize
        subprocess.run(["fallocate", "-l", str(free - 11 * 1024 * 1024), filler], check=True)
        result = {}
        t = threading.Thread(target=lambda: result.update(
            p=station.ctl("--json", "import", os.path.join(tmp, "then"), "--recorder", "R1")))
        t.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            warnings = station.json("status")["warnings"]
            if any("store nearly full" in w for w in warnings):
                break
            time.sleep(0.1)
        assert any("store nearly full" in w for w in warnings), warnings
        assert t.is_alive()  # the import waits; it has not failed
        events = [e["event"] for e in station.json("audit")]
        assert "ingest.paused_disk_full" in events
        assert len(station.json("items")) == 2
        assert os.listdir(os.path.join(station.state, "tmp")) == []
        os.unlink(filler)  # space returns
        t.join(timeout=120)
        assert result["p"].returncode == 0, result["p"].stderr
        report = json.loads(result["p"].stdout)
        assert report["files_stored"] == 1 and report["files_failed"] == 0
        assert {it["original_path"]: it["sha256"] for it in station.json("items")} == want
        assert "ingest.resumed" in [e["event"] for e in station.json("audit")]
        assert not any("store nearly full" in w for w in station.json("status")["warnings"])
        assert station.json("verify")["ok"] is True
    finally:
        if station.proc:
            assert station.stop() == 0


def test_copies_starting_together_share_the_room(tiny, tmp, monkeypatch):
    """Two copies that check for room at once do not both take it: the second waits
    (audited) while the first, granted its room, has not written a byte yet, and
    the reserve is never eaten into."""
    root = os.path.join(tiny, "st")
    os.makedirs(root)
    gate = os.path.join(tmp, "space-gate")
    open(gate, "w").close()
    monkeypatch.setenv("EVIDOCK_TEST_SPACE_GATE", gate)
    station = Station(root, ingest__parallel_copies="2", ingest__reserve_mb="8")
    src = os.path.join(tmp, "two")
    want = {}
    for i in range(2):
        p = random_file(os.path.join(src, f"T{i}.mp4"), 6 * 1024 * 1024, 10 + i)
        want[f"T{i}.mp4"] = sha256_file(p)
    filler = os.path.join(tiny, "filler")
    try:
        station.start()
        # 17 MiB free: room for one 6 MiB file above the 8 MiB reserve, not for two.
        free = os.statvfs(tiny).f_bavail * os.statvfs(tiny).f_frsize
        subprocess.run(["fallocate", "-l", str(free - 17 * 1024 * 1024), filler], check=True)
        result = {}
        t = threading.Thread(target=lambda: result.update(
            p=station.ctl("--json", "import", src, "--recorder", "R1")))
        t.start()
        # The first copy holds at the gate with its room claimed, nothing written; the
        # second must pause rather than pass the same check.
        deadline = time.monotonic() + 120
        events = []
        while time.monotonic() < deadline:
            events = [e["event"] for e in station.json("audit")]
            if os.path.exists(gate + ".reached") and "ingest.paused_disk_full" in events:
                break
            time.sleep(0.1)
        assert os.path.exists(gate + ".reached")
        assert "ingest.paused_disk_full" in events, events
        os.unlink(gate)
        # The first is stored; the second still waits, above the reserve.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(station.json("items")) < 1:
            time.sleep(0.1)
        assert len(station.json("items")) == 1
        assert t.is_alive()
        st = os.statvfs(tiny)
        assert st.f_bavail * st.f_frsize >= 8 * 1024 * 1024
        os.unlink(filler)
        t.join(timeout=120)
        assert result["p"].returncode == 0, result["p"].stderr
        assert {it["original_path"]: it["sha256"] for it in station.json("items")} == want
    finally:
        if os.path.exists(gate):
            os.unlink(gate)
        if station.proc:
            assert station.stop() == 0
