"""Stray objects and tmp/ leftovers (issue 12, item 10): `verify --store` names them
without failing; `clean` (admins only) moves strays to quarantine/ and removes
leftovers, auditing each; --dry-run changes nothing. And the immutable flag set through
evidock-seal for a daemon that lacks CAP_LINUX_IMMUTABLE (issue 12, the shipped unit)."""
import fcntl
import hashlib
import os
import struct
import subprocess

import pytest

from conftest import EVIDOCKD, Station  # noqa: F401
from helpers import random_file, sha256_file, system_users, write

# Users of this file's own (other test files add and remove theirs concurrently).
USERS = {"evd-cl-clerk": "evidock-clerk", "evd-cl-arch": "evidock-archivist",
         "evd-cl-nobody": None}

FS_IOC_GETFLAGS = 0x80086601
FS_IMMUTABLE_FL = 0x10
SEAL = os.path.join(os.path.dirname(EVIDOCKD), "evidock-seal")


@pytest.fixture
def users():
    with system_users(USERS):
        yield


def immutable(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        flags = struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 4))[0]
    finally:
        os.close(fd)
    return bool(flags & FS_IMMUTABLE_FL)


def place_stray(station, seed):
    """A valid object no item holds, as a crash between publish and commit leaves one."""
    data = hashlib.sha256(str(seed).encode()).digest() * 100
    sha = hashlib.sha256(data).hexdigest()
    path = write(station.object_path(sha), data)
    os.chmod(path, 0o444)
    return sha, data


def store_events(station):
    return [e for e in station.json("audit") if e["event"].startswith("store.")]


def test_strays_and_leftovers_are_reported_then_cleaned(station, tmp, users):
    src = os.path.join(tmp, "src")
    random_file(os.path.join(src, "DCIM/KEEP0001.MP4"), 70000, 1)
    station.ctl("import", src, "--recorder", "R1", check=True)
    kept = station.json("items")[0]
    sha, data = place_stray(station, "stray")
    leftover = write(os.path.join(station.state, "tmp", "copy-0123456789abcdef"), b"partial")

    v = station.json("verify", "--store")
    assert v["ok"] is True, v  # reported, not a failure
    assert [s["object"] for s in v["store"]["stray_objects"]] == [sha]
    assert [t["name"] for t in v["store"]["tmp_leftovers"]] == ["copy-0123456789abcdef"]
    out = station.ctl("verify", "--store", check=True).stdout.decode()
    assert "tmp/copy-0123456789abcdef: a copy no running ingest owns" in out, out

    # Only an admin may clean; a clerk and an archivist are refused, nothing moves.
    os.chmod(tmp, 0o755)  # the users reach the socket
    for user in tuple(USERS):
        p = station.ctl("clean", "--approver", "a", "--reason", "b", user=user)
        assert p.returncode == 1, (user, p.stderr)
        assert b"permission denied: clean needs the admin role" in p.stderr, (user, p.stderr)
    # --dry-run names both and changes nothing.
    r = station.json("clean", "--dry-run", "--approver", "所长", "--reason", "清理")
    assert [s["object"] for s in r["stray_objects"]] == [sha]
    assert [t["name"] for t in r["tmp_leftovers"]] == ["copy-0123456789abcdef"]
    assert os.path.exists(station.object_path(sha)) and os.path.exists(leftover)
    assert store_events(station) == []
    assert not os.path.exists(os.path.join(station.state, "quarantine"))

    p = station.ctl("clean", "--approver", "所长", "--reason", "清理", check=True)
    assert b"1 stray object(s) moved to quarantine/" in p.stdout, p.stdout
    assert not os.path.exists(station.object_path(sha)) and not os.path.exists(leftover)
    moved = os.listdir(os.path.join(station.state, "quarantine"))
    assert len(moved) == 1 and moved[0].startswith(sha + "."), moved
    qpath = os.path.join(station.state, "quarantine", moved[0])
    with open(qpath, "rb") as f:
        assert f.read() == data  # never deleted
    if station.json("status")["write_once"] == "immutable":
        assert immutable(qpath)
    events = store_events(station)
    assert [e["event"] for e in events] == ["store.stray_quarantined", "store.tmp_removed"]
    assert events[0]["details"]["sha256"] == sha and events[0]["details"]["moved_to"] == qpath
    assert events[0]["details"]["approver"] == "所长" and events[0]["details"]["reason"] == "清理"
    assert events[1]["details"]["name"] == "copy-0123456789abcdef"
    assert events[1]["details"]["size"] == 7

    # The item's own object is untouched, and the store is clean now.
    v = station.json("verify", "--store")
    assert v["ok"] and v["store"]["stray_objects"] == [] and v["store"]["tmp_leftovers"] == []
    assert sha256_file(station.object_path(kept["sha256"])) == kept["sha256"]
    r = station.json("clean", "--approver", "a", "--reason", "b")
    assert r["stray_objects"] == [] and r["tmp_leftovers"] == [] and r["failed"] == []


def test_an_object_left_without_its_item_is_moved_and_stored_afresh(make_station, tmp):
    """What a kill between publishing an object and committing its item leaves (the
    object in objects/, no item; placed here with the daemon stopped rather than timed
    with kill -9): the next verify names it, clean moves it, and importing the same
    original again stores it afresh."""
    station = make_station()
    station.start()
    src = os.path.join(tmp, "src")
    orig = random_file(os.path.join(src, "DCIM/CLIP0001.MP4"), 50000, 7)
    sha = sha256_file(orig)
    station.kill()
    # What the crash leaves: the published object, no item (made by the daemon's own
    # layout rules, so the test does not depend on timing a kill -9).
    write(station.object_path(sha), open(orig, "rb").read())
    os.chmod(station.object_path(sha), 0o444)
    station.start()
    assert [s["object"] for s in station.json("verify", "--store")["store"]["stray_objects"]] \
        == [sha]
    station.ctl("clean", "--approver", "a", "--reason", "after the crash", check=True)
    assert not os.path.exists(station.object_path(sha))
    station.ctl("import", src, "--recorder", "R1", check=True)
    assert sha256_file(station.object_path(sha)) == sha
    assert station.json("verify", "--store")["store"]["stray_objects"] == []


class UnprivilegedStation(Station):
    """evidockd as root but without CAP_LINUX_IMMUTABLE (dropped from its bounding set),
    as under the shipped unit: the flag can only come from evidock-seal."""

    def __init__(self, root, **conf):
        super().__init__(root, **conf)
        wrapper = os.path.join(root, "evidockd-nocap")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec setpriv --bounding-set=-linux_immutable "
                    "--inh-caps=-linux_immutable -- %s \"$@\"\n" % EVIDOCKD)
        os.chmod(wrapper, 0o755)
        self.evidockd = wrapper


@pytest.fixture
def seal_socket(tmp, monkeypatch):
    sock = os.path.join(tmp, "seal.sock")
    monkeypatch.setenv("EVIDOCK_SEAL_SOCKET", sock)
    return sock


def start_seal(state, sock):
    os.makedirs(state, exist_ok=True)
    proc = subprocess.Popen([SEAL, state, "--listen", sock])
    return proc


def test_the_flag_comes_from_evidock_seal(tmp, seal_socket):
    from conftest import stations
    with stations(tmp, UnprivilegedStation, "np") as make:
        # Without the helper: write-once by permissions only.
        station = make()
        station.start()
        assert station.json("status")["write_once"] == "permissions"
        station.stop()
        helper = start_seal(station.state, seal_socket)
        try:
            for _ in range(600):
                if os.path.exists(seal_socket):
                    break
                subprocess.run(["sleep", "0.05"])
            station.start()
            status = station.json("status")
            if status["write_once"] != "immutable":
                pytest.skip("this filesystem has no immutable flag")
            src = os.path.join(tmp, "src")
            random_file(os.path.join(src, "DCIM/CLIP0002.MP4"), 40000, 3)
            station.ctl("import", src, "--recorder", "R1", check=True)
            item = station.json("items")[0]
            assert immutable(station.object_path(item["sha256"]))
            # A stray is moved through the helper too: flag lifted, moved, set again.
            sha, _ = place_stray(station, "np")
            station.ctl("clean", "--approver", "a", "--reason", "b", check=True)
            qdir = os.path.join(station.state, "quarantine")
            moved = [os.path.join(qdir, n) for n in os.listdir(qdir)]
            assert len(moved) == 1 and immutable(moved[0])
        finally:
            station.stop()
            helper.terminate()
            helper.wait(timeout=30)
