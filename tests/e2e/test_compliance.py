"""Sequence gaps explained by notes (第七条), the compliance report and the warning for
a recorder not docked in time (第二十五条)."""
import csv
import io
import os
import time

from helpers import random_file


def ts(text):
    return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


def test_sequence_gap_flagged_and_explained(make_station, tmp):
    station = make_station(ingest__sequence_pattern=r"([0-9]{4})\.[A-Za-z0-9]+$")
    station.start()
    src = os.path.join(tmp, "src")
    for n in (1, 2, 3, 6, 7):
        random_file(os.path.join(src, f"DCIM/100MEDIA/FILE{n:04d}.MP4"), 1000 + n, n)
    random_file(os.path.join(src, "DCIM/101MEDIA/FILE0009.MP4"), 999, 9)  # another folder
    for n, when in ((1, "2026-11-20T01:00:00Z"), (2, "2026-11-20T01:10:00Z"),
                    (3, "2026-11-19T01:20:00Z"), (6, "2026-11-20T01:30:00Z"),
                    (7, "2026-11-20T01:40:00Z")):
        t = ts(when)
        os.utime(os.path.join(src, f"DCIM/100MEDIA/FILE{n:04d}.MP4"), (t, t))
    station.ctl("import", src, "--recorder", "R1", check=True)
    items = {it["original_path"].rsplit("/", 1)[1]: it for it in station.json("items")}
    gap = items["FILE0003.MP4"]["sequence_gaps"][0]
    assert (gap["missing_from"], gap["missing_to"]) == (4, 5)
    assert items["FILE0006.MP4"]["sequence_gaps"][0]["before_id"] == items["FILE0003.MP4"]["id"]
    assert "sequence_gaps" not in items["FILE0001.MP4"] or not items["FILE0001.MP4"]["sequence_gaps"]
    # FILE0003 says it was recorded a day before FILE0002: its clock is suspect.
    assert items["FILE0003.MP4"]["clock_suspect"] is True
    assert items["FILE0002.MP4"]["clock_suspect"] is False
    assert items["FILE0006.MP4"]["clock_suspect"] is False
    warnings = station.json("status")["warnings"]
    assert any("file numbers 4 to 5 missing" in w for w in warnings), warnings
    assert any(e["event"] == "item.sequence_gap" for e in station.json("audit"))

    station.ctl("note", items["FILE0006.MP4"]["id"], "--text", "电池耗尽，第4、5段未录制",
                check=True)
    warnings = station.json("status")["warnings"]
    assert not any("missing" in w for w in warnings), warnings
    assert station.json("show", items["FILE0003.MP4"]["id"])["sequence_gaps"][0]["explained"]

    # The missing clips turn up on the next dock: the gap closes.
    random_file(os.path.join(src, "DCIM/100MEDIA/FILE0004.MP4"), 1004, 4)
    random_file(os.path.join(src, "DCIM/100MEDIA/FILE0005.MP4"), 1005, 5)
    station.ctl("import", src, "--recorder", "R1", check=True)
    assert station.json("show", items["FILE0003.MP4"]["id"])["sequence_gaps"] == []


def test_report_and_recorder_not_docked(make_station, tmp):
    station = make_station()
    station.start()
    station.ctl("recorder", "add", "BWC-1", "--handler-id", "1", "--handler-name", "李四",
                "--since", "2026-01-01T00:00:00Z", check=True)
    station.ctl("recorder", "add", "BWC-2", "--handler-id", "2", "--handler-name", "王五",
                "--since", "2026-01-01T00:00:00Z", check=True)
    src = os.path.join(tmp, "src")
    old = random_file(os.path.join(src, "old.mp4"), 1000, 1)
    new = random_file(os.path.join(src, "new.mp4"), 1000, 2)
    os.utime(old, (ts("2026-09-30T02:00:00Z"),) * 2)
    station.ctl("import", src, "--recorder", "BWC-1", check=True)
    station.ctl("label", station.json("items", "--late")[0]["id"], "--case", "X罚〔2026〕17号",
                "--party", "张三", check=True)
    report = station.json("report", "--from", "2026-01-01", "--to", "2026-12-31")
    row = report["by_handler"][0]
    assert row["handler"] == "李四"
    assert (row["items"], row["late"], row["on_time"], row["labelled"], row["unlabeled"]) == \
        (2, 1, 1, 1, 1)
    assert row["on_time_pct"] == 50
    assert report["by_recorder"][0]["recorder"] == "BWC-1"
    only_sept = station.json("report", "--from", "2026-09-01", "--to", "2026-09-30")
    assert only_sept["by_handler"][0]["items"] == 1
    rows = list(csv.DictReader(io.StringIO(station.ctl("report", "--format", "csv",
                                                       check=True).stdout.decode("utf-8-sig"))))
    row = [r for r in rows if r["section"] == "handler"][0]
    assert (row["name"], row["recordings"], row["late"], row["on_time"]) == ("李四", "2", "1", "1")
    html = station.ctl("report", "--format", "html", check=True).stdout.decode()
    assert "<td class=\"name\">李四</td>" in html and html.strip().endswith("</html>")
    assert "李四" in station.ctl("report", check=True).stdout.decode()
    assert not any("has not been docked" in w for w in station.json("status")["warnings"])
    # Ten days on, neither recorder has been docked since; docking BWC-1 clears its warning.
    assert station.stop() == 0
    station.start(shift_days=10)
    warnings = station.json("status")["warnings"]
    assert any("recorder BWC-2 has not been docked" in w for w in warnings), warnings
    assert any("recorder BWC-1 has not been docked" in w for w in warnings), warnings
    os.utime(new, (time.time(),) * 2)
    station.ctl("import", src, "--recorder", "BWC-1", check=True)
    warnings = station.json("status")["warnings"]
    assert not any("recorder BWC-1 has not been docked" in w for w in warnings), warnings
