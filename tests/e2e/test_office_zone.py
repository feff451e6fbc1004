"""The station's zone, not the machine's: a station in America/New_York run on a
machine set to Asia/Tokyo shows and reads times in New York time (issue 17)."""
import calendar
import os
import time

import pytest

from office import file_at, out, strict


@pytest.fixture(autouse=True)
def machine_in_tokyo(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")


def utc(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


@pytest.fixture
def ny(make_station):
    s = strict(make_station(station__timezone="America/New_York"))
    s.start()
    s.ctl("recorder", "add", "CAM-1", "--handler-id", "7", "--handler-name", "Smith",
          "--since", "2026-01-01", check=True)
    return s


def test_dates_are_new_york_days(ny, tmp):
    src = os.path.join(tmp, "rec")
    # 3 December 23:30 in New York (EST, -05:00) is 4 December 04:30 UTC.
    file_at(os.path.join(src, "late.mp4"), utc("2026-12-04T04:30:00Z"), seed=1)
    file_at(os.path.join(src, "next.mp4"), utc("2026-12-04T05:30:00Z"), seed=2)  # 4 Dec 00:30
    ny.ctl("import", src, "--recorder", "CAM-1", check=True)
    day3 = ny.json("items", "--since", "2026-12-03", "--until", "2026-12-03")
    assert [it["original_path"] for it in day3] == ["late.mp4"]
    assert [it["original_path"] for it in ny.json("items", "--since", "2026-12-04 00:00")] == \
        ["next.mp4"]
    table = out(ny.ctl("items", check=True))
    assert "2026-12-03 23:30 (-05:00)" in table and "2026-12-04 00:30 (-05:00)" in table
    assert "+09:00" not in table  # not the machine's zone
    # summer time: the offset is the one of that day
    ny.ctl("recorder", "assign", "CAM-1", "--handler-id", "8", "--handler-name", "Jones",
           "--since", "2026-07-01", check=True)
    assert ny.json("recorder", "list")[0]["assignments"][1]["since"] == "2026-07-01T04:00:00Z"
    assert "Jones (8, 2026-07-01 00:00 (-04:00))" in out(ny.ctl("recorder", "list"))
    audit = out(ny.ctl("audit", check=True))
    assert "(-05:00)" in audit and "Z " not in audit.splitlines()[0]


def test_bad_time_said_plainly(ny):
    p = ny.ctl("items", "--since", "3 December")
    assert p.returncode == 1 and "station's time zone" in p.stderr.decode()
