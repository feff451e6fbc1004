"""Injected faults (strace) lose nothing: a failed fdatasync or rename means that file
is not stored and the error is reported, and a retry stores it; a write that runs out
of space is copied again by itself. tmp/ is left empty and no item is acknowledged."""
import json
import os
import subprocess
import time

import pytest

from conftest import BUILD
from helpers import random_file, sha256_file


def copy_workers(station):
    """The thread ids of evidockd's copy workers (named evd-copy)."""
    task = f"/proc/{station.proc.pid}/task"
    tids = []
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, "comm")) as f:
                if f.read().strip() == "evd-copy":
                    tids.append(tid)
        except FileNotFoundError:
            pass
    return tids


def attach(station, inject):
    """strace evidockd's copy workers (each thread alone: with -f strace would take the
    whole process) with one injected fault, so that the nth call is the copy's own: a
    worker writes, syncs and renames its copy and leads its catalogue commit. Only the
    workers: strace counts calls per thread, and a request thread's catalogue commit
    (import.started) would otherwise take the fault, and a failed LMDB meta page write
    fails the environment for good. The stations here run parallel_copies = 2, the
    workers one job ever needs, so both exist before the import and one of them copies
    its one file. Returns (proc, log)."""
    deadline = time.monotonic() + 60
    while len(tids := copy_workers(station)) < 2:
        assert time.monotonic() < deadline, "no copy workers"
        time.sleep(0.05)
    log = os.path.join(station.root, "strace.log")
    cmd = ["strace", "-o", log, "-e", "trace=fdatasync,renameat2,pwrite64", "-e",
           f"inject={inject}"]
    for tid in tids:
        cmd += ["-p", tid]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    attached = 0
    for line in proc.stderr:  # wait until every worker is attached
        attached += "attached" in line
        if attached == len(tids):
            break
    return proc, log


def detach(proc):
    proc.terminate()
    proc.wait(timeout=30)


def import_one(station, tmp, name, seed):
    src = os.path.join(tmp, f"src-{name}")
    path = random_file(os.path.join(src, "CLIP.MP4"), 3 * 1024 * 1024 + 7, seed)
    p = station.ctl("--json", "import", src, "--recorder", "R1")
    return src, sha256_file(path), p


def check_clean(station):
    assert os.listdir(os.path.join(station.state, "tmp")) == []
    assert station.json("verify")["ok"] is True


# Each fault fails the file with its reason, stores and acknowledges nothing, leaves tmp/
# empty, and a retry stores the file. The worker's second fdatasync is the catalogue
# commit that would add the item: its verified object stays as an orphan, and storing
# again adopts it after re-checking.
FAILING_FAULTS = [
    pytest.param("fdatasync:error=EIO:when=1", "syncing the copy failed", id="fdatasync-eio"),
    pytest.param("fdatasync:error=EIO:when=2", "catalog commit failed", id="catalog-sync-eio"),
    pytest.param("renameat2:error=EIO:when=1", "cannot move copy into the store", id="rename-eio"),
]


@pytest.mark.parametrize("inject,reason", FAILING_FAULTS)
def test_a_failed_step_fails_the_file_and_a_retry_stores_it(make_station, tmp, inject, reason):
    station = make_station(ingest__parallel_copies="2", scrub__interval="off")
    station.start()
    st, log = attach(station, inject)
    src, sha, p = import_one(station, tmp, inject.split(":")[0], len(inject))
    detach(st)
    assert "(INJECTED)" in open(log).read()
    assert p.returncode == 1
    report = json.loads(p.stdout)
    assert report["files_failed"] == 1 and report["files_stored"] == 0
    assert reason in report["failures"][0]["reason"]
    assert station.json("items") == []
    check_clean(station)
    p = station.ctl("--json", "import", src, "--recorder", "R1")
    assert p.returncode == 0 and json.loads(p.stdout)["files_stored"] == 1, p.stderr
    assert station.json("items")[0]["sha256"] == sha
    check_clean(station)


def test_write_enospc_is_copied_again(make_station, tmp):
    station = make_station(ingest__parallel_copies="2", scrub__interval="off")
    station.start()
    st, log = attach(station, "pwrite64:error=ENOSPC:when=1")
    src, sha, p = import_one(station, tmp, "write", 3)
    detach(st)
    assert "(INJECTED)" in open(log).read()
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["files_stored"] == 1
    assert station.json("items")[0]["sha256"] == sha
    check_clean(station)


def test_an_import_the_log_cannot_record_copies_nothing(make_station, tmp):
    """Every fdatasync of the daemon fails: the import.started entry cannot be made
    durable, so the import is refused with that reason before a byte is copied (it
    used to go on unrecorded). Once the disk syncs again the same import is stored."""
    station = make_station(ingest__parallel_copies="2", scrub__interval="off")
    station.start()
    log = os.path.join(station.root, "strace-all.log")
    st = subprocess.Popen(["strace", "-f", "-o", log, "-e", "trace=fdatasync", "-e",
                           "inject=fdatasync:error=EIO", "-p", str(station.proc.pid)],
                          stderr=subprocess.PIPE, text=True)
    for line in st.stderr:  # attached to the daemon and its threads
        if "attached" in line:
            break
    try:
        src, sha, p = import_one(station, tmp, "unrecorded", 11)
    finally:
        detach(st)
    assert "(INJECTED)" in open(log).read()
    assert p.returncode != 0
    assert b"cannot record the import in the audit log" in p.stderr, p.stderr
    assert station.json("items") == []
    assert "import.started" not in [e["event"] for e in station.json("audit")]
    check_clean(station)
    p = station.ctl("--json", "import", src, "--recorder", "R1")
    assert p.returncode == 0 and json.loads(p.stdout)["files_stored"] == 1, p.stderr
    assert station.json("items")[0]["sha256"] == sha
    assert station.json("verify", "--audit")["ok"] is True


def test_a_failed_catalogue_restarts_the_station(make_station, tmp, monkeypatch):
    """A write of LMDB's meta page fails (an LD_PRELOAD fault on data.mdb): LMDB then
    refuses every transaction until the catalogue is opened again. The daemon notices
    within its status interval and exits 1, so that systemd starts it again
    (Restart=on-failure), rather than refusing every request for ever; the restarted
    station has everything committed before the fault and its log verifies."""
    trigger = os.path.join(tmp, "fail-meta")
    monkeypatch.setenv("LD_PRELOAD", os.path.join(BUILD, "metafail.so"))
    monkeypatch.setenv("EVD_METAFAIL_TRIGGER", trigger)
    station = make_station(ingest__parallel_copies="2", scrub__interval="off")
    station.start()
    src, sha, p = import_one(station, tmp, "before", 21)
    assert p.returncode == 0, p.stderr
    open(trigger, "w").close()
    station.ctl("recorder", "add", "R2", "--handler-id", "0002", "--handler-name", "张三")
    os.unlink(trigger)
    rc = station.proc.wait(timeout=120)  # within one status interval (5 s) of the fault
    station.proc = None
    station.logf.close()
    assert rc == 1
    assert "the catalogue failed" in station.read_log()
    station.start()
    assert [it["sha256"] for it in station.json("items")] == [sha]
    assert station.json("verify", "--audit")["ok"] is True
    station.ctl("recorder", "add", "R2", "--handler-id", "0002", "--handler-name", "张三", check=True)
