"""Recorder clocks (第七条: recorders' clocks are calibrated before use). A recording that
ends (creation time plus duration), or a file written, after the moment the station
listed it proves the recorder's clock fast by at least that much: the import records
it, status warns and `recorder list` marks the recorder past [usb] clock_tolerance."""
import datetime
import os
import subprocess
import time
from zoneinfo import ZoneInfo

from conftest import EVIDOCKD
from helpers import random_file
from simstation import make_sim, mkimage  # noqa: F401

FF = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
TZ = ZoneInfo("Asia/Shanghai")
NOW = "2026-03-03 10:00:00"  # the station's clock, Beijing time


def at(text):
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=TZ).timestamp()


def clip(path, creation_utc, seconds):
    """A small video of the given length whose container says when it began."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run(FF + ["-f", "lavfi", "-i", "color=c=black:s=16x16:r=1", "-t", str(seconds),
                         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-metadata",
                         f"creation_time={creation_utc}", path], check=True)
    os.utime(path, (at("2026-03-02 09:00:00"),) * 2)  # the file's time is no evidence
    return path


def add(station, serial, name):
    station.ctl("recorder", "add", serial, "--handler-id", serial, "--handler-name", name,
                "--since", "2026-01-01T00:00:00Z", check=True)


def test_fast_clock_found_at_import(make_station, tmp):
    station = make_station()
    station.start(at=NOW)
    for serial, name in (("FAST-1", "甲"), ("FAST-2", "乙"), ("NEAR-1", "丙"), ("OK-1", "丁")):
        add(station, serial, name)

    # Began at 09:55 by its clock and ran 10 minutes: it ended 5 minutes after the
    # listing at 10:00 at the earliest (the container time is UTC).
    clip(os.path.join(tmp, "f1", "DCIM/A.MP4"), "2026-03-03T01:55:00Z", 600)
    station.ctl("import", os.path.join(tmp, "f1"), "--recorder", "FAST-1", check=True)
    # A file written 20 minutes "from now".
    late = random_file(os.path.join(tmp, "f2", "DCIM/B.MP4"), 5000, 2)
    os.utime(late, (at("2026-03-03 10:20:00"),) * 2)
    report = station.json("import", os.path.join(tmp, "f2"), "--recorder", "FAST-2")
    assert 1140 < report["clock_ahead_s"] <= 1200, report
    # Two minutes ahead: within the 5-minute tolerance; recorded, not flagged.
    near = random_file(os.path.join(tmp, "n", "DCIM/C.MP4"), 5000, 3)
    os.utime(near, (at("2026-03-03 10:02:00"),) * 2)
    station.ctl("import", os.path.join(tmp, "n"), "--recorder", "NEAR-1", check=True)
    past = random_file(os.path.join(tmp, "o", "DCIM/D.MP4"), 5000, 4)
    os.utime(past, (at("2026-03-03 08:00:00"),) * 2)
    station.ctl("import", os.path.join(tmp, "o"), "--recorder", "OK-1", check=True)

    items = {it["recorder"]: it for it in station.json("items")}
    a = items["FAST-1"]
    assert a["media"]["duration_s"] >= 599 and a["time_source"] == "container"
    assert 240 < a["clock_ahead_s"] <= 300 + 1 and a["clock_suspect"] is False
    assert items["FAST-2"]["clock_suspect"] is True
    assert 60 < items["NEAR-1"]["clock_ahead_s"] <= 120
    assert "clock_ahead_s" not in items["OK-1"]

    recorders = {r["serial"]: r for r in station.json("recorder", "list")}
    assert [s for s, r in sorted(recorders.items()) if r["clock_off"]] == ["FAST-2"]
    assert recorders["FAST-2"]["clock_checked_by"] == "import"
    assert recorders["OK-1"]["clock_ahead_s"] == 0
    table = station.ctl("recorder", "list", check=True).stdout.decode()
    flagged = [line for line in table.splitlines() if "CLOCK" in line]
    assert len(flagged) == 1 and flagged[0].startswith("FAST-2") and "reset it" in flagged[0]
    warnings = [w for w in station.json("status")["warnings"] if "clock was found" in w]
    assert len(warnings) == 1 and warnings[0].startswith("recorder FAST-2: its clock was found")
    audited = [e for e in station.json("audit") if e["event"] == "recorder.clock_fast"]
    assert [(e["subject"], e["details"]["found_by"]) for e in audited] == [("FAST-2", "import")]
    done = [e for e in station.json("audit") if e["event"] == "import.done"]
    assert [e["details"]["clock_ahead_s"] > 0 for e in done] == [True, True, True, False]

    # The clock reset: the next recordings are in the past, and the warning goes.
    fresh = random_file(os.path.join(tmp, "f3", "DCIM/E.MP4"), 5000, 5)
    os.utime(fresh, (at("2026-03-03 09:30:00"),) * 2)
    station.ctl("import", os.path.join(tmp, "f3"), "--recorder", "FAST-2", check=True)
    assert not [w for w in station.json("status")["warnings"] if "clock was found" in w]
    assert not any(r["clock_off"] for r in station.json("recorder", "list"))


def test_clock_tolerance_setting(make_station, tmp):
    station = make_station(usb__clock_tolerance="1 min")
    p = subprocess.run([EVIDOCKD, "-n", "-c", station.conf], capture_output=True, check=True)
    assert b"clock_tolerance = 60 s" in p.stdout
    station.start(at=NOW)
    add(station, "NEAR-1", "丙")
    near = random_file(os.path.join(tmp, "n", "DCIM/C.MP4"), 5000, 3)
    os.utime(near, (at("2026-03-03 10:02:00"),) * 2)
    station.ctl("import", os.path.join(tmp, "n"), "--recorder", "NEAR-1", check=True)
    assert station.json("recorder", "list")[0]["clock_off"] is True

    bad = make_station(usb__clock_tolerance="soon")
    p = subprocess.run([EVIDOCKD, "-n", "-c", bad.conf], capture_output=True)
    assert p.returncode != 0 and b"evidock.conf:" in p.stderr and b"soon" in p.stderr, p.stderr


def test_fast_clock_found_at_dock(make_sim, tmp):
    """A docked recorder whose new file is stamped an hour ahead: the dock session's
    record, the audit log, status and `recorder list` say so."""
    img = os.path.join(tmp, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "2")
    ahead = os.path.join(tmp, "CLIP9999.MP4")
    random_file(ahead, 20000, 9)
    stamp = time.time() + 3600
    os.utime(ahead, (stamp, stamp))
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1", LC_ALL="C.UTF-8", TZ="Asia/Shanghai")
    subprocess.run(["mcopy", "-m", "-i", img, ahead, "::/DCIM/"], check=True, env=env)
    st = make_sim()
    st.start()
    st.register("DOCK-FAST")
    st.dock(1, "DOCK-FAST", img)
    done = st.wait_dock("DOCK-FAST", ("done", "failed"))
    assert done["state"] == "done"
    record = st.dock_records()["dock:%d" % done["session"]]
    assert 3500 < record["clock_ahead_s"] <= 3602, record  # FAT keeps even seconds
    rec = st.json("recorder", "list")[0]
    assert rec["clock_off"] is True and rec["clock_checked_by"] == "dock"
    assert any(w.startswith("recorder DOCK-FAST: its clock was found")
               for w in st.json("status")["warnings"])
    audited = [e for e in st.json("audit") if e["event"] == "recorder.clock_fast"]
    assert [e["details"]["session"] for e in audited] == [done["session"]]
