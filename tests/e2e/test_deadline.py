"""Working-day calendar and the 2-working-day storage deadline (第二十五条)."""
import os
import time

from helpers import random_file



def test_calendar_command(station):
    day = station.json("calendar", "2026-10-10")
    assert day == {"date": "2026-10-10", "working_day": True, "known": True,
                   "reason": "adjusted workday: 国庆节调休"}
    assert station.json("calendar", "2026-10-01")["working_day"] is False
    assert "holiday" in station.json("calendar", "2026-10-01")["reason"]
    assert station.json("calendar", "2026-11-28")["reason"] == "weekend"
    other = station.json("calendar", "2027-03-03")
    assert other["known"] is False and other["working_day"] is True
    p = station.ctl("calendar", "2026-02-30")
    assert p.returncode == 1 and b"not a date" in p.stderr
    assert not [w for w in station.json("status")["warnings"] if "calendar" in w and " yet" not in w]


def test_deadline_and_late(station, tmp):
    src = os.path.join(tmp, "src")
    old = random_file(os.path.join(src, "old.mp4"), 1000, 1)
    new = random_file(os.path.join(src, "new.mp4"), 1000, 2)
    # Recorded 2026-09-30 10:00 Beijing time: National Day week follows, so the second
    # working day after it is Friday 2026-10-09; the deadline is its last second.
    t = 1790733600  # 2026-09-30T02:00:00Z
    os.utime(old, (t, t))
    now = time.time()
    os.utime(new, (now, now))
    station.ctl("import", src, "--recorder", "R1", check=True)
    items = {it["original_path"]: it for it in station.json("items")}
    assert items["old.mp4"]["recorded_at"] == "2026-09-30T02:00:00Z"
    assert items["old.mp4"]["deadline"] == "2026-10-09T15:59:59Z"
    assert items["old.mp4"]["late"] is True
    assert items["new.mp4"]["late"] is False
    late = station.json("items", "--late")
    assert [it["original_path"] for it in late] == ["old.mp4"]
    overdue = station.json("items", "--overdue")
    assert [it["original_path"] for it in overdue] == ["old.mp4"]


def test_missing_calendar_year_warns(make_station):
    s = make_station(calendar__files="")
    s.start()
    warnings = s.json("status")["warnings"]
    assert any("no working-day calendar for" in w for w in warnings), warnings
