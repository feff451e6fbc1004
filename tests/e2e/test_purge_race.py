"""Purge and ingest of the same bytes cannot interleave (issue 12, finding 1): an
ingest holding the window between finding the object and committing its item open
keeps a purge of those bytes waiting, so no item is left pointing at a deleted
object."""
import json
import os
import subprocess
import time

from helpers import random_file


def wait_for_file(path, timeout=120):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_purge_waits_for_an_ingest_of_the_same_bytes(make_station, tmp, monkeypatch):
    station = make_station()
    station.start()
    random_file(os.path.join(tmp, "a", "old.mp4"), 4096, 7)
    station.ctl("import", os.path.join(tmp, "a"), "--recorder", "R1", check=True)
    assert station.stop() == 0

    # The same bytes arrive again from another recorder while the first item's
    # retention is over; the ingest stops (test hook) with the object found and its
    # item not yet committed: the window the media probe can hold open for 120 s.
    gate = os.path.join(tmp, "gate")
    open(gate, "w").close()
    monkeypatch.setenv("EVIDOCK_TEST_INGEST_GATE", gate)
    station.start(shift_days=250)
    random_file(os.path.join(tmp, "b", "again.mp4"), 4096, 7)
    ctl = [station.evidockctl, "--socket", station.sock]
    imp = subprocess.Popen(ctl + ["import", os.path.join(tmp, "b"), "--recorder", "R2",
                                  "--allow-unregistered"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_file(gate + ".reached")
    purge = subprocess.Popen(ctl + ["--json", "purge", "--approver", "局长", "--reason", "over"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        purge.wait(timeout=3)
        waited = False
    except subprocess.TimeoutExpired:
        waited = True
    os.unlink(gate)
    out, err = imp.communicate(timeout=120)
    assert imp.returncode == 0, err
    pout, perr = purge.communicate(timeout=120)
    assert purge.returncode == 0, perr
    assert waited, "the purge did not wait for the ingest of the same bytes"

    # Whatever the order, every live item has its object and verify agrees.
    for item in station.json("items"):
        if not item.get("purged"):
            assert os.path.exists(station.object_path(item["sha256"])), item
    p = station.ctl("--json", "verify", "--store")
    assert p.returncode == 0, p.stdout
    assert json.loads(p.stdout)["store"]["bad"] == []
