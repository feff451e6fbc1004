"""The annual report (第三十条): a known catalogue built over a year with the station's
clock fixed by libfaketime, then every figure of `report --year` checked in JSON, CSV and
the HTML page's SVG bars; hostile names stay text; a screenshot for people to look at."""
import csv
import datetime
import io
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from conftest import BUILD
from helpers import random_file
from test_access import users  # noqa: F401 (a fixture)

TZ = ZoneInfo("Asia/Shanghai")
LI = "李四"
EVIL = "<img src=x onerror=alert(1)>王&\"五'"
EVIL_APPROVER = "</td><script>alert(2)</script>"
EVIL_FOLDER = "DCIM/<b>100</b>&MEDIA"
EVIL_NOTE = "<svg onload=alert(3)>出差"
COUNTERS = ["recordings", "on_time", "late", "unlabelled_overdue", "sequence_gaps", "stage_gaps",
            "clock_suspect", "accesses_view", "accesses_copy", "accesses_export", "purges",
            "holds", "fixity_alarms", "case_files_on_time", "case_files_overdue", "trips",
            "trips_after_the_fact"]


def local(text):
    """Seconds of a Beijing wall-clock time "2026-03-02 09:30"."""
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=TZ).timestamp()


def recording(folder, name, when, seed):
    path = random_file(os.path.join(folder, name), 4000 + seed, seed)
    os.utime(path, (local(when),) * 2)
    return path


def wait(predicate, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def by_name(station):
    return {it["original_path"]: it for it in station.json("items")}


def build_catalogue(station, tmp):
    """Three runs of the station: March, July, and January of the next year."""
    # Run 1: Tuesday 2026-03-03 10:00.
    station.start(at="2026-03-03 10:00:00 x60")  # a minute a second
    for serial, handler in (("BWC-1", LI), ("BWC-2", EVIL)):
        station.ctl("recorder", "add", serial, "--handler-id", serial[-1], "--handler-name",
                    handler, "--since", "2026-01-01T00:00:00Z", check=True)
    a = os.path.join(tmp, "a")
    recording(a, f"{EVIL_FOLDER}/FILE0001.MP4", "2026-03-02 09:30", 1)  # on time
    recording(a, f"{EVIL_FOLDER}/FILE0003.MP4", "2026-03-02 11:00", 3)  # on time, gap before
    recording(a, "DCIM/101MEDIA/FILE0001.MP4", "2026-02-25 10:00", 4)  # late (due 02-27)
    station.ctl("import", a, "--recorder", "BWC-1", check=True)
    b = os.path.join(tmp, "b")
    # The name's time (a Sunday) sets the recording time: due at the end of Tuesday.
    recording(b, "DCIM/200MEDIA/20260301_093000.MP4", "2026-03-03 09:00", 5)
    recording(b, "DCIM/200MEDIA/FUTURE.MP4", "2026-03-03 12:00", 6)  # clock two hours fast
    station.ctl("import", b, "--recorder", "BWC-2", check=True)
    items = by_name(station)
    first = items[f"{EVIL_FOLDER}/FILE0001.MP4"]["id"]
    station.ctl("label", first, "--case", "X罚〔2026〕1号", "--party", "张三", check=True)
    station.ctl("keys", "init", check=True)
    station.ctl("export", first, "--maker", "王制作", "--extractor", "李提取", "--approver",
                "张局长", "--reason", "归档", "-o", os.path.join(tmp, "x.iso"), check=True)
    station.ctl("access", items[f"{EVIL_FOLDER}/FILE0003.MP4"]["id"], "--requester", "赵",
                "--approver", "张局长", "--reason", "复核", check=True)
    out = os.path.join(tmp, "copies")
    os.makedirs(out)
    station.ctl("access", first, "--requester", "钱", "--approver", EVIL_APPROVER, "--reason",
                "法院调取", "--copy-to", out, check=True)
    station.ctl("hold", items["DCIM/200MEDIA/20260301_093000.MP4"]["id"], "--reason", "复议",
                check=True)
    # Two case files: one formed at once (due 04-01), one closed now and formed in July,
    # past its due day (03-31).
    station.ctl("label", items["DCIM/200MEDIA/20260301_093000.MP4"]["id"], "--case",
                "X罚〔2026〕2号", "--party", "李五", check=True)
    station.ctl("case", "close", "X罚〔2026〕1号", "--ended", "2026-03-01", check=True)
    station.ctl("case", "close", "X罚〔2026〕2号", "--ended", "2026-03-02", check=True)
    station.ctl("case", "filed", "X罚〔2026〕2号", "--ref", "档2026-2", check=True)
    # Field work entered after its first day (it moves the February recording's
    # deadline), and one entered ahead.
    station.ctl("trip", "add", "--handler", "1", "--from", "2026-02-24", "--to", "2026-03-01",
                "--kind", "away", "--note", EVIL_NOTE, check=True)
    station.ctl("trip", "add", "--recorder", "BWC-2", "--from", "2026-03-10", "--to",
                "2026-03-12", "--kind", "remote", check=True)
    assert station.stop() == 0

    # Damage a stored copy while the station is down: the July scrub finds it.
    damaged = station.object_path(items[f"{EVIL_FOLDER}/FILE0003.MP4"]["sha256"])
    subprocess.run(["chattr", "-i", damaged], check=False)
    os.chmod(damaged, 0o644)
    with open(damaged, "r+b") as f:
        f.write(b"X")

    # Run 2: Wednesday 2026-07-15 10:00.
    station.start(at="2026-07-15 10:00:00 x60")
    wait(lambda: station.json("status")["scrub"]["alarms"])
    c = os.path.join(tmp, "c")
    recording(c, f"{EVIL_FOLDER}/FILE0005.MP4", "2026-07-14 15:00", 7)  # on time, gap before
    recording(c, "DCIM/102MEDIA/FILE0001.MP4", "2026-06-01 10:00", 8)  # late
    station.ctl("import", c, "--recorder", "BWC-1", check=True)
    station.ctl("case", "filed", "X罚〔2026〕1号", "--ref", "档2026-1", check=True)
    purged = station.json("purge", "--approver", "张局长", "--reason", "保存期满")["purged"]
    station.kill()  # a power cut: this run ends at its last audit entry

    # Run 3: 2027-01-10, the assessment.
    station.start(at="2027-01-10 10:00:00 x60")
    return items, purged


def uptime_by_month(station):
    """Seconds up per month of 2026 from the audit log: a run from station.started to
    station.stopped, or to the last entry before the next start when it was cut off."""
    runs, start, last = [], None, None
    for e in station.json("audit"):
        t = datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp()
        if e["event"] == "station.started":
            if start is not None:
                runs.append((start, last))
            start = t
        elif e["event"] == "station.stopped":
            runs.append((start, t))
            start = None
        last = t
    months = {}
    for a, b in runs:
        month = datetime.datetime.fromtimestamp(a, TZ).strftime("%Y-%m")
        months[month] = months.get(month, 0) + int(b - a)
    return months, runs[0][0]


class Page(HTMLParser):
    """The page's text and its SVG rects, with a check that nothing runs or loads."""

    def __init__(self):
        super().__init__()
        self.text, self.tags, self.bad = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "img", "iframe", "object", "embed", "link"):
            self.bad.append(tag)
        for name, value in attrs:
            if name.startswith("on") or (name in ("src", "href") and value):
                self.bad.append(f"{tag}@{name}")

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def report_station(make_station, tmp):
    station = make_station(retention__default="3 months", scrub__interval="1 day",
                           ingest__sequence_pattern=r"FILE([0-9]{4})\.MP4$",
                           scrub__bandwidth_mb="1000")
    items, purged = build_catalogue(station, tmp)
    return station, items, purged


def test_annual_report(report_station, tmp):
    station, items, purged = report_station
    r = station.json("report", "--year", "2026")
    assert r["year"] == 2026 and r["timezone"] == "Asia/Shanghai"
    assert r["period"] == {"from": "2025-12-31T16:00:00Z", "to": "2026-12-31T15:59:59Z",
                           "first_day": "2026-01-01", "last_day": "2026-12-31"}
    months = {m["month"]: m for m in r["months"]}
    assert sorted(months) == [f"2026-{i:02d}" for i in range(1, 13)]

    # What the purge took, per handler (all eligible: unheld, unlabelled, March).
    purged_ids = {p["id"] for p in purged}
    assert purged_ids == {items[f"{EVIL_FOLDER}/FILE0003.MP4"]["id"],
                          items["DCIM/101MEDIA/FILE0001.MP4"]["id"],
                          items["DCIM/200MEDIA/FUTURE.MP4"]["id"]}
    zero = dict.fromkeys(COUNTERS, 0)
    expect = {m: dict(zero) for m in months}
    expect["2026-02"].update(recordings=1, late=1, unlabelled_overdue=1, trips=1,
                             trips_after_the_fact=1)
    expect["2026-03"].update(recordings=4, on_time=4, unlabelled_overdue=2, sequence_gaps=1,
                             clock_suspect=1, accesses_view=1, accesses_copy=1,
                             accesses_export=1, holds=1, case_files_overdue=1, trips=1)
    expect["2026-04"].update(case_files_on_time=1)
    expect["2026-06"].update(recordings=1, late=1, unlabelled_overdue=1)
    expect["2026-07"].update(recordings=1, on_time=1, unlabelled_overdue=1, sequence_gaps=1,
                             fixity_alarms=1, purges=3)
    for month, want in expect.items():
        assert {k: months[month][k] for k in COUNTERS} == want, month
    totals = {k: sum(e[k] for e in expect.values()) for k in COUNTERS}
    assert {k: r["totals"][k] for k in COUNTERS} == totals

    handlers = {h["handler"]: h for h in r["handlers"]}
    assert [h["handler"] for h in r["handlers"]] == sorted([LI, EVIL])
    want_li = dict(zero, recordings=5, on_time=3, late=2, unlabelled_overdue=4,
                   sequence_gaps=2, accesses_view=1, accesses_copy=1, accesses_export=1,
                   fixity_alarms=1, purges=2, case_files_overdue=1)
    want_evil = dict(zero, recordings=2, on_time=2, unlabelled_overdue=1, clock_suspect=1,
                     holds=1, purges=1, case_files_on_time=1)
    assert {k: handlers[LI][k] for k in COUNTERS} == want_li
    assert {k: handlers[EVIL][k] for k in COUNTERS} == want_evil
    assert r["approvers"] == [
        {"approver": EVIL_APPROVER, "accesses_copy": 1},
        {"approver": "张局长", "accesses_export": 1, "accesses_view": 1}]
    # Each recording counts under the rule that set its deadline: the trip's for the
    # February one.
    rules = {}
    for item_id in range(1, totals["recordings"] + 1):
        rule = station.json("show", item_id)["deadline_rule"]
        rules[rule] = rules.get(rule, 0) + 1
    assert station.json("show", items["DCIM/101MEDIA/FILE0001.MP4"]["id"])["deadline_rule"] \
        .startswith("1 working day after return")
    assert {d["rule"]: d["recordings"] for d in r["deadline_rules"]} == rules
    assert [(t["from"], t["note"]) for t in r["trips_after_the_fact"]] == \
        [("2026-02-24", EVIL_NOTE)]
    assert [(g["folder"], g["missing_from"], g["missing_to"]) for g in r["sequence_gaps"]] == \
        [(EVIL_FOLDER + "/", 2, 2), (EVIL_FOLDER + "/", 4, 4)]
    assert [a["item"] for a in r["fixity_alarms"]] == \
        [f"item:{items[EVIL_FOLDER + '/FILE0003.MP4']['id']}"]

    # Availability: the runs of March and July from the audit log, watched from the first
    # start to the end of the year.
    up, first = uptime_by_month(station)
    assert set(up) == {"2026-03", "2026-07"} and up["2026-03"] > 0 and up["2026-07"] >= 0
    end = datetime.datetime(2027, 1, 1, tzinfo=TZ).timestamp()
    for month, m in months.items():
        y, mo = map(int, month.split("-"))
        start = datetime.datetime(y, mo, 1, tzinfo=TZ).timestamp()
        stop = datetime.datetime(y + mo // 12, mo % 12 + 1, 1, tzinfo=TZ).timestamp()
        period = max(0, int(min(stop, end) - max(start, first)))
        assert m["uptime_s"] == up.get(month, 0), month
        assert m["period_s"] == period, month
        assert m["availability_pct"] == (round(up.get(month, 0) * 10000 / period) / 100
                                         if period else None), month

    # CSV: UTF-8 with a byte-order mark, the same numbers.
    raw = station.ctl("report", "--year", "2026", "--format", "csv", check=True).stdout
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    for row in rows:
        if row["section"] == "month":
            m = months[row["name"]]
            assert [int(row[k]) for k in COUNTERS] == [m[k] for k in COUNTERS]
            assert int(row["uptime_s"]) == m["uptime_s"]
            assert (float(row["availability_pct"]) if row["availability_pct"] else None) == \
                m["availability_pct"]
        elif row["section"] == "handler":
            assert [int(row[k]) for k in COUNTERS] == [handlers[row["name"]][k] for k in COUNTERS]
        elif row["section"] == "total":
            assert [int(row[k]) for k in COUNTERS] == [totals[k] for k in COUNTERS]
    assert [r_["section"] for r_ in rows].count("month") == 12
    assert {r_["name"] for r_ in rows if r_["section"] == "handler"} == {LI, EVIL}
    assert {r_["name"] for r_ in rows if r_["section"] == "approver"} == {EVIL_APPROVER, "张局长"}

    check_html(station, r, tmp)

    # The same figures with --from/--to; a bad year and a mix are refused.
    same = station.json("report", "--from", "2026-01-01", "--to", "2026-12-31")
    assert same["months"] == r["months"] and same["handlers"] == r["handlers"]
    for bad in (["--year", "1999"], ["--year", "2026x"], ["--year", "2026", "--from", "2026-01-01"]):
        p = station.ctl("report", *bad)
        assert p.returncode == 1 and b"--year" in p.stderr, p.stderr
    assert station.ctl("report", "--year", "2026", "--format", "xml").returncode == 2


def check_html(station, r, tmp):
    html = station.ctl("report", "--year", "2026", "--format", "html", check=True).stdout.decode()
    page_path = os.path.join(BUILD, "report.html")
    with open(page_path, "w") as f:
        f.write(html)
    page = Page()
    page.feed(html)
    assert page.bad == [], page.bad  # the hostile names stayed text
    text = "".join(page.text)
    assert EVIL in text and EVIL_APPROVER in text and EVIL_FOLDER + "/" in text
    assert EVIL_NOTE in text and "<svg onload" not in html
    assert "<img" not in html and "<script" not in html and "<b>100" not in html
    assert "年度运行报告" in text and "承办人明细" in text and "@page{size:A4" in html
    assert "http:" not in html and "https:" not in html and "url(" not in html

    # The SVG charts are well-formed XML; each bar's height is its value at the scale.
    charts = {}
    for start in range(len(html)):
        start = html.find("<svg", start)
        if start < 0:
            break
        end = html.index("</svg>", start) + 6
        svg = ET.fromstring(html[start:end])
        charts[svg.get("id")] = svg
        start = end
    months = {m["month"]: m for m in r["months"]}
    svg = charts["chart-months"]
    biggest = max(m["recordings"] for m in months.values())
    assert int(svg.get("data-max")) == biggest
    scale = int(svg.get("data-bar-max")) / biggest
    seen = {}
    for rect in svg.iter("rect"):
        m = months[rect.get("data-label")]
        kind = rect.get("class")
        value = {"on_time": m["on_time"], "late": m["late"],
                 "undetermined": m["recordings"] - m["on_time"] - m["late"]}[kind]
        assert int(rect.get("data-value")) == value
        assert abs(float(rect.get("height")) - value * scale) < 0.01, (kind, m["month"])
        seen[(m["month"], kind)] = float(rect.get("height"))
    assert seen[("2026-03", "on_time")] == pytest.approx(150.0)
    assert seen[("2026-02", "late")] == pytest.approx(150.0 / 4)
    assert len(seen) == 36
    svg = charts["chart-handlers"]
    handlers = {h["handler"]: h for h in r["handlers"]}
    scale = int(svg.get("data-bar-max")) / max(h["recordings"] for h in handlers.values())
    for rect in svg.iter("rect"):
        h = handlers[rect.get("data-label")]
        value = {"on_time": h["on_time"], "late": h["late"],
                 "undetermined": h["recordings"] - h["on_time"] - h["late"]}[rect.get("class")]
        assert abs(float(rect.get("width")) - value * scale) < 0.01
    for rect in charts["chart-availability"].iter("rect"):
        pct = months[rect.get("data-label")]["availability_pct"]
        assert abs(float(rect.get("height")) - (pct or 0)) < 0.01

    # A picture for people (build/report.png).
    chromium = shutil.which("chromium")
    if chromium:
        shot = os.path.join(BUILD, "report.png")
        subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1240,1754",
                        "file://" + os.path.abspath(page_path)],
                       capture_output=True, timeout=120, check=True)
        assert os.path.getsize(shot) > 10000


def test_report_needs_archivist(station, tmp, users):
    """A clerk or someone without a role does not read the figures; an archivist does."""
    os.chmod(tmp, 0o755)
    for user in ("evd-t-nobody", "evd-t-clerk"):
        p = station.ctl("report", "--year", "2026", user=user)
        assert p.returncode == 1 and b"permission denied" in p.stderr, p.stderr
    assert station.ctl("report", "--year", "2026", user="evd-t-arch").returncode == 0


def test_availability_covers_a_share_of_the_month(make_station):
    """A run of hours in the last evening of May (the clock at ten minutes a second),
    stopped, then a start in June: May's bar is the run's share of the hours watched
    since the first start, well above zero; June's is the time since the new start."""
    station = make_station()
    station.start(at="2026-05-31 18:00:00 x600")

    def local_now():
        t = station.json("report", "--year", "2026")["generated_at"]
        return datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(TZ)

    # An hour of the station's time at least after its start entry (six seconds), well
    # before midnight.
    started = [e["time"] for e in station.json("audit") if e["event"] == "station.started"][0]
    started = datetime.datetime.fromisoformat(started.replace("Z", "+00:00"))
    wait(lambda: local_now() >= started + datetime.timedelta(seconds=3700))
    assert station.stop() == 0
    station.start(at="2026-06-10 09:00:00")
    r = station.json("report", "--year", "2026")
    months = {m["month"]: m for m in r["months"]}
    up, first = uptime_by_month(station)
    assert datetime.datetime.fromtimestamp(first, TZ).strftime("%Y-%m-%d %H") == "2026-05-31 18"
    may = months["2026-05"]
    june = datetime.datetime(2026, 6, 1, tzinfo=TZ).timestamp()
    assert may["period_s"] == int(june - first) > 5 * 3600  # the first start to May's end
    assert may["uptime_s"] == up["2026-05"] >= 3600
    assert may["availability_pct"] == round(may["uptime_s"] * 10000 / may["period_s"]) / 100
    assert may["availability_pct"] >= 16.6  # an hour of six at least
    assert months["2026-04"]["availability_pct"] is None  # not watched yet
    assert months["2026-06"]["uptime_s"] >= 0 and months["2026-06"]["period_s"] > 9 * 86400
    html = station.ctl("report", "--year", "2026", "--format", "html", check=True).stdout.decode()
    start = html.rfind("<svg", 0, html.index("chart-availability") + 1)
    svg = ET.fromstring(html[start:html.index("</svg>", start) + 6])
    assert svg.get("id") == "chart-availability"
    bars = {rect.get("data-label"): float(rect.get("height")) for rect in svg.iter("rect")}
    assert abs(bars["2026-05"] - may["availability_pct"]) < 0.01 and bars["2026-05"] > 16
