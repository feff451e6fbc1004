"""Calendars that outlive a year (issue 15, item 4): without [calendar] the station
uses the installed calendars (the build tree's config/calendar/ when run from it);
`calendar import FILE` (admin) installs a new year without a restart, kept across
restarts and audited; from 1 November status warns while next year's calendar is
missing; no calendar at all is said in status and in the log."""
import os
import re

from conftest import FAKETIME_LIB, REPO
from test_access import users  # noqa: F401  (the role users fixture)

CAL_2027 = """# 国务院办公厅关于2027年部分节假日安排的通知 (a test file)
year 2027
holiday 2027-01-01..2027-01-03 元旦
workday 2027-02-20 春节调休
"""


def without_calendar_section(station):
    text = open(station.conf, encoding="utf-8").read()
    text = re.sub(r"\[calendar\]\nfiles = [^\n]*\n", "", text)
    with open(station.conf, "w", encoding="utf-8") as f:
        f.write(text)


def start_at(station, monkeypatch, when):
    """Start evidockd with its clock at when (UTC, libfaketime), running on from there."""
    with monkeypatch.context() as m:
        m.setenv("LD_PRELOAD", FAKETIME_LIB)
        m.setenv("FAKETIME", "@" + when)
        m.setenv("NO_FAKE_STAT", "1")
        m.setenv("DONT_FAKE_MONOTONIC", "1")
        m.setenv("TZ", "UTC")
        station.start()


def write(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def calendar_warnings(station):
    return [w for w in station.json("status")["warnings"] if "calendar" in w]


def test_installed_calendars_without_a_calendar_section(make_station):
    s = make_station()
    without_calendar_section(s)
    s.start()
    # Every year the build tree ships: 2024, 2025 and 2026.
    assert s.json("calendar", "2024-10-01")["reason"].startswith("holiday")
    assert s.json("calendar", "2025-01-26")["reason"].startswith("adjusted workday")
    assert s.json("calendar", "2026-10-10")["working_day"] is True
    assert s.json("calendar", "2027-03-03")["known"] is False
    assert not [w for w in calendar_warnings(s) if "any year" in w]


def test_no_calendar_at_all_is_said(make_station):
    s = make_station(calendar__files="")
    s.start()
    [w] = [w for w in calendar_warnings(s) if "any year" in w]
    assert "Monday-Friday" in w and "calendar import" in w
    assert "no working-day calendar found" in s.read_log()


def test_calendar_import(make_station, tmp, users):  # noqa: F811
    os.chmod(tmp, 0o755)
    s = make_station()
    s.start()
    good = write(tmp, "cn-2027.txt", CAL_2027)
    assert s.json("calendar", "2027-01-01")["known"] is False

    # A clerk may not; nothing is installed.
    p = s.ctl("calendar", "import", good, user="evd-t-clerk")
    assert p.returncode == 1 and b"permission denied" in p.stderr
    # A bad file: refused with its name and line, nothing installed.
    bad = write(tmp, "bad.txt", "year 2027\nholiday 2027-01-01 元旦\nholiday 2027-02-30 春节\n")
    p = s.ctl("calendar", "import", bad)
    assert p.returncode == 1 and f"{bad}:3:".encode() in p.stderr, p.stderr
    p = s.ctl("calendar", "import", write(tmp, "empty.txt", "# nothing\n"))
    assert p.returncode == 1 and b"empty.txt" in p.stderr
    assert s.json("calendar", "2027-01-01")["known"] is False
    assert not os.path.exists(os.path.join(s.state, "calendar", "cn-2027.txt"))

    # The good file, without a restart; audited; kept under the state dir.
    done = s.json("calendar", "import", good)
    assert done["years"] == [2027] and done["file"] == good
    day = s.json("calendar", "2027-01-01")
    assert day["known"] is True and day["reason"] == "holiday: 元旦"
    assert s.json("calendar", "2027-02-20")["working_day"] is True
    [e] = [e for e in s.json("audit") if e["event"] == "calendar.imported"]
    assert e["details"]["years"] == [2027] and e["actor"]["uid"] == os.getuid()
    stored = os.path.join(s.state, "calendar", "cn-2027.txt")
    assert open(stored, encoding="utf-8").read() == CAL_2027

    # A year loaded already: refused, the one loaded stays.
    p = s.ctl("calendar", "import", good)
    assert p.returncode == 1 and b"2027 is loaded already" in p.stderr
    p = s.ctl("calendar", "import", write(tmp, "again.txt", "year 2026\n"))
    assert p.returncode == 1 and b"2026 is loaded already" in p.stderr
    assert len([e for e in s.json("audit") if e["event"] == "calendar.imported"]) == 1

    # After a restart the year is still there.
    assert s.stop() == 0
    s.start()
    assert s.json("calendar", "2027-01-01")["reason"] == "holiday: 元旦"


def test_next_year_warning_from_november(make_station, tmp, monkeypatch):
    s = make_station()
    start_at(s, monkeypatch, "2026-10-30 12:00:00")
    assert not calendar_warnings(s)
    assert s.stop() == 0
    start_at(s, monkeypatch, "2026-11-02 03:00:00")
    [w] = calendar_warnings(s)
    assert "no working-day calendar for 2027 yet" in w and "calendar import" in w
    s.ctl("calendar", "import", write(tmp, "cn-2027.txt", CAL_2027), check=True)
    assert not calendar_warnings(s)


def test_shipped_files_name_their_notice():
    """Each shipped year names the State Council notice it follows, with its number."""
    for year in (2024, 2025, 2026):
        with open(os.path.join(REPO, "config", "calendar", f"cn-{year}.txt"),
                  encoding="utf-8") as f:
            head = f.read(400)
        assert f"国务院办公厅关于{year}年部分节假日安排的通知" in head, year
        assert re.search(r"国办发明电〔%d〕\d+号" % (year - 1), head), year
