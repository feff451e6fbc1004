"""Times and purged items (issue 12, findings 8, 10 and 13): a disc may not be
backdated, the automatic purge does not trust a clock set back or jumped forward,
edits of a purged item are refused naming the purge, and status survives a stop."""
import os
import signal
import subprocess
import threading
import time

from conftest import FAKETIME_LIB
from helpers import random_file

PEOPLE = ["--maker", "m", "--extractor", "e", "--approver", "a", "--reason", "r"]


def one_item(station, tmp, name="a.mp4", seed=1):
    src = os.path.join(tmp, "src-" + name)
    random_file(os.path.join(src, name), 5000, seed)
    station.ctl("import", src, "--recorder", "R1", check=True)
    return [it for it in station.json("items") if it["original_path"].endswith(name)][0]


def test_backdated_export_refused(make_station, tmp):
    station = make_station(scrub__interval="off")
    station.start()
    station.ctl("keys", "init", check=True)
    item = one_item(station, tmp)
    out = os.path.join(tmp, "old.iso")
    p = station.ctl("export", str(item["id"]), *PEOPLE, "--time", "2001-01-01", "-o", out)
    assert p.returncode == 1 and b"may not be backdated" in p.stderr, p.stderr
    assert f"item {item['id']}".encode() in p.stderr
    assert not os.path.exists(out)
    p = station.ctl("export", str(item["id"]), *PEOPLE, "--time", "2099-01-01", "-o", out)
    assert p.returncode == 1 and b"future" in p.stderr
    assert not [e for e in station.json("audit") if e["event"] == "export.done"]
    # Now is fine; Bagging-Date is the real signing date.
    station.ctl("export", str(item["id"]), *PEOPLE, "-o", out, check=True)
    info = subprocess.run(["bsdtar", "-xOf", out, "bag-info.txt"], capture_output=True,
                          check=True).stdout.decode()
    assert "Bagging-Date: " + time.strftime("%Y-%m-%d", time.gmtime()) in info


def test_purged_items_refuse_edits(make_station, tmp):
    station = make_station(scrub__interval="off")
    station.start()
    item = one_item(station, tmp)
    assert station.stop() == 0
    station.start(shift_days=250)
    station.ctl("purge", "--approver", "局长", "--reason", "retention over", check=True)
    iid = str(item["id"])
    before = station.json("show", iid)
    audit_before = len(station.json("audit"))
    for argv, verb in ((["hold", iid, "--reason", "x"], "hold"),
                       (["release", iid, "--reason", "x"], "release"),
                       (["evidence", iid, "--case", "X罚〔2026〕1号"], "mark"),
                       (["label", iid, "--case", "X罚〔2026〕1号", "--party", "p"], "label"),
                       (["note", iid, "--text", "t"], "note")):
        p = station.ctl(*argv)
        assert p.returncode == 1, (argv, p.stdout, p.stderr)
        assert f"item {iid} was purged on ".encode() in p.stderr, p.stderr
        assert f"nothing to {verb}".encode() in p.stderr, p.stderr
        assert b"changed" not in p.stdout
    assert station.json("show", iid) == before
    refused = [e for e in station.json("audit")[audit_before:]
               if e["event"].startswith("item.")]
    assert refused == []


def start_fast(station, offset_days, speed=60):
    """evidockd with its clocks (wall and monotonic) offset and running speed times
    faster, so that the first automatic purge (a minute after start) comes in a
    second."""
    env = dict(os.environ)
    env["LD_PRELOAD"] = FAKETIME_LIB
    env["FAKETIME"] = f"+{offset_days}d x{speed}"
    env["NO_FAKE_STAT"] = "1"
    station.logf = open(station.log, "ab")
    station.proc = subprocess.Popen([station.evidockd, "-c", station.conf], stdout=station.logf,
                                    stderr=station.logf, env=env)
    deadline = time.monotonic() + 60
    while station.ctl("status").returncode != 0:
        assert station.proc.poll() is None and time.monotonic() < deadline, station.read_log()
        time.sleep(0.05)


def wait_clock_check(station, since=None):
    deadline = time.monotonic() + 120
    while True:
        st = station.json("status")
        checked = st["purge_clock"].get("checked_at")
        if checked and checked != since:
            return st
        assert time.monotonic() < deadline, "no automatic purge check"
        time.sleep(0.1)


def clock_alarms(station):
    return [e for e in station.json("audit") if e["event"] == "purge.clock_alarm"]


def test_auto_purge_distrusts_a_clock_set_back(make_station, tmp):
    station = make_station(scrub__interval="off", retention__purge="auto")
    station.start()
    item = one_item(station, tmp)
    assert station.stop() == 0
    # Someone works on the station with the clock 400 days on: the newest audit entry.
    station.start(shift_days=400)
    station.ctl("note", str(item["id"]), "--text", "seen", check=True)
    assert station.stop() == 0
    # Then the clock says 250 days: past the item's retention, but before that entry.
    start_fast(station, 250)
    st = wait_clock_check(station)
    assert "purged" not in station.json("show", str(item["id"]))
    [alarm] = clock_alarms(station)
    assert "earlier than the newest audit entry" in alarm["details"]["why"]
    assert any("automatic purge withheld" in w for w in st["warnings"]), st["warnings"]


def test_auto_purge_distrusts_a_clock_jump(make_station, tmp):
    station = make_station(scrub__interval="off", retention__purge="auto")
    station.start()
    item = one_item(station, tmp)
    assert station.stop() == 0
    start_fast(station, 0)
    first = wait_clock_check(station)["purge_clock"]["checked_at"]
    assert clock_alarms(station) == []
    assert station.stop() == 0
    # The clock jumps 250 days: the item would be past retention and grace.
    start_fast(station, 250)
    st = wait_clock_check(station, since=first)
    assert "purged" not in station.json("show", str(item["id"]))
    [alarm] = clock_alarms(station)
    assert "jumped forward by more than a day" in alarm["details"]["why"]
    assert any("automatic purge withheld" in w for w in st["warnings"]), st["warnings"]


def test_status_during_stop(make_station, tmp):
    """status reads the scrub state while stop frees it: a stop in the middle of a
    storm of status requests ends cleanly (under ASan, a use after free would abort)."""
    station = make_station(scrub__interval="1 days")
    station.start()
    stop = threading.Event()

    def storm():
        while not stop.is_set():
            subprocess.run([station.evidockctl, "--socket", station.sock, "status"],
                           capture_output=True)

    threads = [threading.Thread(target=storm) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1)  # let the storm start; the stop below is what is tested
    proc = station.proc
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=60)
    stop.set()
    for t in threads:
        t.join()
    station.proc = None
    station.logf.close()
    assert rc == 0, station.read_log()
