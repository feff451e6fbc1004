"""A working week in a Chinese office (issue 17), typed as the user typed it: the
machine runs in UTC, the station in Asia/Shanghai; what people see is Beijing time,
readable Chinese, mistakes caught at the door, tables that line up."""
import calendar
import csv
import io
import os
import re
import subprocess
import time

import pytest

from helpers import system_users
from office import aligned, clip, err, file_at, out, strict, truncated_clip, width

CASE17 = "硚人社罚〔2026〕17号"
CASE18 = "硚人社罚〔2026〕18号"
CASE19 = "硚人社罚〔2026〕19号"


@pytest.fixture(autouse=True)
def machine_in_utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")


def utc(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


@pytest.fixture
def clerk(tmp):
    """A user with the clerk role, who can reach the test's files."""
    os.chmod(tmp, 0o755)
    with system_users({"evd-t-clerk": "evidock-clerk"}):
        yield "evd-t-clerk"


UTC_TIME = re.compile(r"\d\d:\d\d:\d\dZ")


def local_only(text):
    """Human output with times in the station's zone: none in UTC, some at +08:00."""
    assert not UTC_TIME.search(text), text
    assert "(+08:00)" in text, text
    return text


@pytest.fixture
def office(station):
    strict(station)
    station.ctl("recorder", "add", "DSJ-0002", "--handler-id", "0427", "--handler-name", "张伟",
                "--since", "2026-01-01", check=True)
    station.ctl("recorder", "add", "DSJ-0003", "--handler-id", "0815", "--handler-name", "李娜",
                "--unit", "硚口区人社局监察大队", "--since", "2026-01-01", check=True)
    return station


def test_1_chinese_as_typed(office, tmp):
    src = os.path.join(tmp, "rec")
    file_at(os.path.join(src, "a.mp4"), utc("2026-11-20T02:00:00Z"))
    office.ctl("import", src, "--recorder", "DSJ-0002", check=True)
    text = "11月20日10:15执法记录仪电池耗尽…\n换电池后继续"
    office.ctl("note", "1", "--text", text, check=True)
    shown = out(office.ctl("show", "1", check=True))
    assert "11月20日10:15执法记录仪电池耗尽…\\n换电池后继续" in shown and "\\u" not in shown
    assert "11月20日" in out(office.ctl("audit", check=True))
    audit = out(office.ctl("audit", check=True))
    assert '"handler_name":"张伟"' in audit and "\\u5F20" not in audit


def test_1_hostile_names_escaped(office, tmp):
    """Chinese as typed, but a name that would clear the screen, colour the line or turn
    it around (ESC, a C1 control, a right-to-left override) is shown escaped."""
    src = os.path.join(tmp, "rec")
    name = "录像\x1b[2J\u0085\u202egnp.mp4"
    file_at(os.path.join(src, name), utc("2026-11-20T02:00:00Z"))
    office.ctl("import", src, "--recorder", "DSJ-0002", check=True)
    item = office.json("items")[0]
    for shown in (out(office.ctl("items", check=True)),
                  out(office.ctl("show", item["id"], check=True))):
        assert "录像\\x1b[2J\\xc2\\x85\\u202Egnp.mp4" in shown, shown
        assert "\x1b" not in shown and "\u0085" not in shown and "\u202e" not in shown


def test_1_local_time_in_every_human_output(make_station, tmp):
    """report, show of an exported item, case show and timeline, purge --dry-run and
    audit checkpoints: times in the station's zone (the machine is in UTC); --json
    keeps RFC 3339 UTC."""
    st = strict(make_station(labels__required_stages="询问 送达"))
    st.start()
    st.ctl("recorder", "add", "DSJ-0002", "--handler-id", "0427", "--handler-name", "张伟",
           "--since", "2026-01-01", check=True)
    src = os.path.join(tmp, "rec")
    for name, when in (("A.mp4", "2026-11-20T02:00:00Z"), ("C.mp4", "2026-11-20T02:05:03Z")):
        clip(os.path.join(src, name), ["-metadata", f"creation_time={when}"])
    file_at(os.path.join(src, "plain.mp4"), utc("2026-11-20T03:00:00Z"), seed=5)
    st.ctl("import", src, "--recorder", "DSJ-0002", check=True)
    ids = {it["original_path"]: it["id"] for it in st.json("items")}
    st.ctl("label", ids["A.mp4"], ids["C.mp4"], "--case", CASE17, "--party", "某公司",
           "--stage", "询问", check=True)
    st.ctl("access", ids["A.mp4"], "--requester", "赵", "--approver", "钱", "--reason", "复核",
           check=True)
    st.ctl("keys", "init", check=True)
    st.ctl("export", ids["A.mp4"], "--maker", "张伟", "--extractor", "李娜", "--approver", "王强",
           "--reason", "复议", "-o", os.path.join(tmp, "a.iso"), check=True)
    assert st.json("show", ids["A.mp4"])["exports"][0]["time"].endswith("Z")  # JSON: UTC
    local_only(out(st.ctl("report", check=True)))
    shown = local_only(out(st.ctl("show", ids["A.mp4"], check=True)))
    line = [x for x in shown.splitlines() if x.startswith("  - ")][0]
    assert f"case {CASE17}" in line and "made by 张伟" in line and "approved by 王强" in line
    assert "(volume 1 of 1)" in line and "(+08:00)" in line
    case = local_only(out(st.ctl("case", "show", CASE17, check=True)))
    assert f"item {ids['A.mp4']}  2026-11-20 10:00 (+08:00)" in case, case
    timeline = local_only(out(st.ctl("case", "timeline", CASE17, check=True)))
    assert "GAP" in timeline and "(2026-11-20 10:00 (+08:00) to 2026-11-20 10:05 (+08:00))" \
        in timeline, timeline
    assert st.stop() == 0  # stopping seals the log: a checkpoint
    st.start(shift_days=250)  # plain.mp4's retention is over
    purge = local_only(out(st.ctl("purge", "--dry-run", "--approver", "局长", "--reason", "到期",
                                  check=True)))
    assert f"item {ids['plain.mp4']} " in purge and "retained until " in purge
    local_only(out(st.ctl("audit", "checkpoints", check=True)))
    assert st.json("audit", "checkpoints")[0]["time"].endswith("Z")


def test_2_time_as_the_office_lives_it(office, tmp):
    src = os.path.join(tmp, "rec")
    # 09:30 Beijing on 1 December is 01:30 UTC; the machine's zone (UTC) plays no part.
    clip(os.path.join(src, "20261201_093000.MP4"))
    file_at(os.path.join(src, "late.mp4"), utc("2026-12-03T15:30:00Z"), seed=2)  # 23:30 local
    file_at(os.path.join(src, "next.mp4"), utc("2026-12-03T16:30:00Z"), seed=3)  # 4 Dec 00:30
    office.ctl("import", src, "--recorder", "DSJ-0002", check=True)
    items = {it["original_path"]: it for it in office.json("items")}
    assert items["20261201_093000.MP4"]["recorded_at"] == "2026-12-01T01:30:00Z"  # JSON: UTC
    table = out(office.ctl("items", check=True))
    assert "2026-12-01 09:30 (+08:00)" in table and "01:30" not in table
    shown = out(office.ctl("show", items["20261201_093000.MP4"]["id"], check=True))
    assert "recorded_at: 2026-12-01 09:30 (+08:00)" in shown
    # A date is the whole local day: 3 December is 23:30 but not 00:30 on the 4th.
    r = office.json("label", "--recorder", "DSJ-0002", "--since", "2026-12-03", "--until",
                    "2026-12-03", "--party", "某某公司")
    assert r["items"] == [items["late.mp4"]["id"]]
    assert [it["original_path"] for it in
            office.json("items", "--since", "2026-12-04", "--until", "2026-12-04")] == ["next.mp4"]
    # A time without an offset is local.
    assert [it["original_path"] for it in
            office.json("items", "--since", "2026-12-04 00:00", "--until", "2026-12-04 01:00")] \
        == ["next.mp4"]
    # recorder assign --since a date: from local midnight.
    office.ctl("recorder", "assign", "DSJ-0003", "--handler-id", "0900", "--handler-name", "王强",
               "--since", "2026-11-23", check=True)
    since = office.json("recorder", "list")[1]["assignments"][-1]["since"]
    assert since == "2026-11-22T16:00:00Z"
    assert "王强 (0900, 2026-11-23 00:00 (+08:00))" in out(office.ctl("recorder", "list"))
    # The disc says local time with its offset beside UTC.
    office.ctl("keys", "init", check=True)
    iso = os.path.join(tmp, "out.iso")
    now = int(time.time()) + 5  # after the ingest: a disc is not backdated
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    local = time.strftime("%Y-%m-%d %H:%M (+08:00)", time.gmtime(now + 8 * 3600))
    office.ctl("export", items["late.mp4"]["id"], "--maker", "张伟", "--extractor", "李娜",
               "--approver", "王强", "--reason", "复议", "-o", iso, "--time", when, check=True)
    x = os.path.join(tmp, "x")
    os.makedirs(x)
    subprocess.run(["bsdtar", "xf", iso, "-C", x], check=True)
    readme = open(os.path.join(x, "README.txt"), encoding="utf-8").read()
    assert f"{local} = {when} (UTC)" in readme, readme
    bag = open(os.path.join(x, "bag-info.txt"), encoding="utf-8").read()
    assert f"Extraction-Time-Local: {local}" in bag, bag
    assert f"extraction time {local}" in out(office.ctl(
        "export", items["late.mp4"]["id"], "--maker", "张伟", "--extractor", "李娜",
        "--approver", "王强", "--reason", "复议", "-o", os.path.join(tmp, "b.iso"), "--time",
        when))


def test_3_unregistered_serial_refused(office, tmp, clerk):
    src = os.path.join(tmp, "rec", "DSJ-0002")
    file_at(os.path.join(src, "a.mp4"), utc("2026-11-20T02:00:00Z"))
    p = office.ctl("import", src, "--recorder", "DSJ-002")
    assert p.returncode == 1
    assert "recorder DSJ-002 is not registered (did you mean DSJ-0002?)" in err(p)
    assert office.json("items") == []
    # Only an admin may say so: a clerk cannot.
    p = office.ctl("import", src, "--recorder", "DSJ-002", "--allow-unregistered", user=clerk)
    assert p.returncode == 1 and "permission denied: import needs the admin role" in err(p)
    assert office.json("items") == []
    # An admin may say so on purpose; then correct the recorder (audited, old and new).
    office.ctl("import", src, "--recorder", "DSJ-002", "--allow-unregistered", check=True)
    item = office.json("items")[0]
    assert item["recorder"] == "DSJ-002" and item["labels"]["handler"] is None
    p = office.ctl("recorder", "fix", item["id"], "--to", "DSJ-0002", "--reason", "serial typo")
    assert p.returncode == 0, err(p)
    fixed = office.json("show", item["id"])
    assert fixed["recorder"] == "DSJ-0002" and fixed["labels"]["handler"] == "张伟"
    entry = [e for e in office.json("audit") if e["event"] == "item.recorder_corrected"][-1]
    assert entry["details"]["old"] == {"recorder": "DSJ-002"}
    assert entry["details"]["new"] == {"recorder": "DSJ-0002"}
    # Fixing to a serial nobody registered is refused; a clerk may not fix at all.
    p = office.ctl("recorder", "fix", item["id"], "--to", "DSJ-9", "--reason", "x")
    assert p.returncode == 1 and "not registered" in err(p)
    p = office.ctl("recorder", "fix", item["id"], "--to", "DSJ-0003", "--reason", "x", user=clerk)
    assert p.returncode == 1
    assert "permission denied: recorder.fix needs the admin role" in err(p), err(p)
    assert office.json("show", item["id"])["recorder"] == "DSJ-0002"
    # label --handler: a registered holder by name or id, else refused with suggestions.
    p = office.ctl("label", item["id"], "--handler", "李那")
    assert p.returncode == 1
    assert "handler 李那 is not a registered holder (did you mean 李娜 (0815)?)" in err(p)
    office.ctl("label", item["id"], "--handler", "0815", check=True)
    labels = office.json("show", item["id"])["labels"]
    assert (labels["handler"], labels["handler_id"]) == ("李娜", "0815")


def test_4_integrity_visible(office, tmp):
    src = os.path.join(tmp, "rec")
    clip(os.path.join(src, "whole.mp4"))
    truncated_clip(tmp, os.path.join(src, "cut.mp4"))
    r = office.json("import", src, "--recorder", "DSJ-0002")
    assert r["damaged"] == {"truncated": 1}
    printed = out(office.ctl("import", os.path.join(tmp, "rec"), "--recorder", "DSJ-0002"))
    assert "already stored" in printed
    cut = [it for it in office.json("items") if it["original_path"] == "cut.mp4"][0]
    assert [it["id"] for it in office.json("items", "--integrity", "truncated")] == [cut["id"]]
    assert office.json("items", "--integrity", "corrupt") == []
    assert office.ctl("items", "--integrity", "bogus").returncode == 1
    status = out(office.ctl("status", check=True))
    assert f"item {cut['id']} was stored truncated" in status
    office.ctl("note", cut["id"], "--text", "电池耗尽，录像中断", check=True)
    assert "was stored truncated" not in out(office.ctl("status", check=True))


def test_4_import_lists_damage_and_new_ids(office, tmp):
    src = os.path.join(tmp, "rec")
    truncated_clip(tmp, os.path.join(src, "cut.mp4"))
    file_at(os.path.join(src, "noise.mp4"), utc("2026-11-20T02:00:00Z"))
    printed = out(office.ctl("import", src, "--recorder", "DSJ-0002", check=True))
    assert "stored damaged: " in printed and "1 truncated" in printed and "1 not-media" in printed
    ids = sorted(it["id"] for it in office.json("items"))
    assert f"new items: {ids[0]} {ids[1]}" in printed or f"new items: {ids[1]} {ids[0]}" in printed


def test_6_audit_since_future_follow(office):
    p = subprocess.Popen([office.evidockctl, "--socket", office.sock, "audit", "--since",
                          "2099-01-01", "--follow"], stdout=subprocess.PIPE)
    try:
        time.sleep(0)  # the client asks at once; give it two rounds below
        office.ctl("recorder", "add", "DSJ-0009", "--handler-id", "1", "--handler-name", "甲",
                   check=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.2)
    finally:
        p.kill()
        data = p.communicate()[0].decode()
    assert data == "", data


def test_7_one_case_one_spelling(office, tmp):
    src = os.path.join(tmp, "rec")
    for i in range(3):
        file_at(os.path.join(src, f"{i}.mp4"), utc(f"2026-11-2{i}T02:00:00Z"), seed=i)
    office.ctl("import", src, "--recorder", "DSJ-0002", check=True)
    p = office.ctl("label", "1", "--case", " 硚人社罚[2026]１７号 ", "--party", "某公司")
    assert p.returncode == 0 and f"case number: {CASE17}" in out(p)
    office.ctl("label", "2", "3", "--case", "硚人社罚（2026）17号", "--party", "某公司", check=True)
    assert len(office.json("items", "--case", CASE17)) == 3
    assert len(office.json("items", "--case", "硚人社罚【2026】17号")) == 3
    # evidence in another case: refused unless --also.
    p = office.ctl("evidence", "2", "3", "--case", CASE18)
    assert p.returncode == 1 and "add --also" in err(p) and "17号" in err(p)
    assert office.json("show", "2")["evidence"] is False
    office.ctl("evidence", "2", "--case", "硚人社罚[2026]18号", "--also", check=True)
    assert office.json("show", "2")["evidence_cases"] == [CASE18]
    shown = out(office.ctl("show", "2", check=True))
    assert f'evidence_cases: ["{CASE18}"]' in shown and "\\u" not in shown
    # relabelling an item on an exported disc warns and is recorded.
    office.ctl("keys", "init", check=True)
    office.ctl("export", "--case", "硚人社罚[2026]17号", "--maker", "张伟", "--extractor", "李娜",
               "--approver", "王", "--reason", "复议", "-o", os.path.join(tmp, "c.iso"), check=True)
    p = office.ctl("label", "1", "--case", CASE19)
    assert p.returncode == 0
    assert "warning: item 1 is on 1 exported disc(s)" in out(p) and CASE17 in out(p)
    entry = [e for e in office.json("audit") if e["event"] == "item.labelled"][-1]
    assert entry["details"]["on_exported_discs"] == 1
    # The disc's makers as typed.
    shown = out(office.ctl("show", "1", check=True))
    assert "made by 张伟, extracted by 李娜, approved by 王" in shown and "\\u" not in shown


def test_8_backdated_assignment(office, tmp):
    src = os.path.join(tmp, "rec")
    file_at(os.path.join(src, "before.mp4"), utc("2026-12-03T10:00:00Z"), seed=1)
    file_at(os.path.join(src, "day.mp4"), utc("2026-12-04T02:00:00Z"), seed=2)  # 10:00 on 4 Dec
    file_at(os.path.join(src, "hand.mp4"), utc("2026-12-04T03:00:00Z"), seed=3)
    office.ctl("import", src, "--recorder", "DSJ-0003", check=True)
    items = {it["original_path"]: it for it in office.json("items")}
    assert items["day.mp4"]["labels"]["handler"] == "李娜"
    office.ctl("label", items["hand.mp4"]["id"], "--handler", "张伟", check=True)  # by hand
    office.ctl("recorder", "assign", "DSJ-0003", "--handler-id", "0900", "--handler-name", "王强",
               "--since", "2026-12-04", check=True)
    assert [it["original_path"] for it in office.json("items", "--handler", "王强")] == ["day.mp4"]
    assert office.json("show", items["before.mp4"]["id"])["labels"]["handler"] == "李娜"
    assert office.json("show", items["hand.mp4"]["id"])["labels"]["handler"] == "张伟"
    entry = [e for e in office.json("audit") if e["event"] == "item.handler_rederived"]
    assert len(entry) == 1 and entry[0]["details"]["old"]["handler"] == "李娜"
    assert entry[0]["details"]["new"]["handler"] == "王强"


def test_8_repeated_assignment_changes_nothing(office):
    assign = ["recorder", "assign", "DSJ-0003", "--handler-id", "0900", "--handler-name", "王强",
              "--since", "2026-11-23"]
    assert out(office.ctl(*assign, check=True)) == "done\n"
    before = len(office.json("audit"))
    held = office.json("recorder", "list")[1]["assignments"]
    p = office.ctl(*assign, check=True)
    assert out(p) == ("nothing changed: recorder DSJ-0003 is held by 王强 (0900) from "
                      "2026-11-23 00:00 (+08:00) already\n")
    assert office.json(*assign)["changed"] is False
    assert len(office.json("audit")) == before
    assert office.json("recorder", "list")[1]["assignments"] == held
    # Another start is a change.
    assert office.json(*assign[:-1], "2026-11-24")["changed"] is True
    assert len(office.json("audit")) == before + 1


def test_9_subcommand_typos(office):
    p = office.ctl("recorder", "lst")
    assert p.returncode == 2
    assert "unknown sub-command 'lst' (did you mean 'recorder list'?)" in err(p)
    assert "unknown command 'recorder'" not in err(p) and len(err(p).splitlines()) == 1
    p = office.ctl("recoder", "add")
    assert p.returncode == 2 and "unknown command 'recoder' (did you mean 'recorder'?)" in err(p)
    assert len(err(p).splitlines()) == 1


def test_10_tables(office, tmp):
    office.ctl("recorder", "add", "DSJ-0004", "--handler-id", "0001",
               "--handler-name", "欧阳娜娜", "--model", "执法仪V9", "--unit", "监察大队",
               check=True)
    lines = out(office.ctl("recorder", "list", check=True)).splitlines()
    assert aligned(lines, "HANDLERS")
    src = os.path.join(tmp, "rec")
    # ids follow copy order; the table follows recording time
    file_at(os.path.join(src, "b.mp4"), utc("2026-11-02T02:00:00Z"), size=5000, seed=1)
    file_at(os.path.join(src, "a.mp4"), utc("2026-11-01T02:00:00Z"), size=9000, seed=2)
    office.ctl("import", src, "--recorder", "DSJ-0002", check=True)
    items = office.json("items")
    assert [it["original_path"] for it in items] == ["a.mp4", "b.mp4"]
    overdue = out(office.ctl("items", "--overdue", check=True)).splitlines()
    assert "HANDLER" in overdue[0] and "DEADLINE" in overdue[0] and "DAYS LATE" in overdue[0]
    assert "张伟" in overdue[1] and "2026-11-03 23:59 (+08:00)" in overdue[1]
    assert aligned(overdue, "ORIGINAL PATH")
    office.ctl("label", items[0]["id"], "--case", "硚人社罚[2026]17号", "--party", "某公司",
               check=True)
    assert aligned(out(office.ctl("items", check=True)).splitlines(), "ORIGINAL PATH")
    # show: the hold's who, when, why; permanent retention.
    office.ctl("hold", items[0]["id"], "--reason", "投诉待查", check=True)
    shown = out(office.ctl("show", items[0]["id"], check=True))
    assert "hold_info:" in shown and "by: root" in shown and "reason: 投诉待查" in shown
    office.ctl("evidence", items[0]["id"], "--case", CASE17, check=True)
    assert "retain_until: permanent" in out(office.ctl("show", items[0]["id"]))
    # access-log: the kind of access, aligned; CSV with a byte-order mark.
    office.ctl("access", items[0]["id"], "--requester", "张警官", "--approver", "李主任",
               "--reason", "复核", check=True)
    office.ctl("access", items[1]["id"], "--requester", "王", "--approver", "李主任",
               "--reason", "复制", "--copy-to", tmp, check=True)
    log = out(office.ctl("access-log", check=True)).splitlines()
    assert "KIND" in log[0] and "调阅" in log[1] and "复制" in log[2]
    assert aligned(log, "REASON")
    data = office.ctl("access-log", "--format", "csv", check=True).stdout
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["kind"] for r in rows] == ["调阅", "复制"]
    assert all(r["time"].endswith("Z") and r["local_time"].endswith("(+08:00)") for r in rows)
    # status: free space in GB, warnings one a line.
    status = out(office.ctl("status", check=True))
    assert status.startswith("free space: ") and " GB" in status.splitlines()[0]
    assert re.search(r"(about \d+ days|more than ten years) at the recent rate \(\d+\.\d GB a day\)",
                     status.splitlines()[0]), status
    assert "free_bytes" not in status and "\nwarnings:\n  - " in status
    # keys show: the certificate as PEM with its fingerprint.
    office.ctl("keys", "init", check=True)
    keys = out(office.ctl("keys", "show", check=True))
    assert "-----BEGIN CERTIFICATE-----" in keys and "SHA-256 fingerprint: " in keys
    pem = os.path.join(tmp, "station.pem")
    with open(pem, "w") as f:
        f.write(keys[keys.index("-----BEGIN CERTIFICATE-----"):])
    assert office.ctl("keys", "show", user="nobody").returncode == 1  # no role


def test_12_smaller_things(office, tmp):
    src = os.path.join(tmp, "rec")
    file_at(os.path.join(src, "a.mp4"), utc("2026-11-20T02:00:00Z"))
    office.ctl("import", src, "--recorder", "DSJ-0002", check=True)
    before = len(office.json("audit"))
    p = office.ctl("release", "1", "--reason", "结案")
    assert p.returncode == 0 and "nothing changed" in out(p) and "not held" in out(p)
    assert len(office.json("audit")) == before
    office.ctl("hold", "1", "--reason", "投诉", check=True)
    p = office.ctl("hold", "1", "--reason", "again")
    assert "held already" in out(p)
    # label without --case changes only the party
    office.ctl("label", "1", "--case", CASE17, "--party", "甲", check=True)
    office.ctl("label", "1", "--party", "乙公司", check=True)
    labels = office.json("show", "1")["labels"]
    assert (labels["case_no"], labels["party"]) == (CASE17, "乙公司")
    assert office.ctl("label", "1").returncode == 1
    # --media in any case
    office.ctl("keys", "init", check=True)
    office.ctl("export", "1", "--maker", "甲", "--extractor", "乙", "--approver", "丙",
               "--reason", "复议", "-o", os.path.join(tmp, "d.iso"), "--media", "DVD", check=True)


def test_12_gap_text(make_station, tmp):
    office = strict(make_station(ingest__sequence_pattern=r"([0-9]{4})\.[A-Za-z0-9]+$"))
    office.start()
    office.ctl("recorder", "add", "DSJ-0002", "--handler-id", "0427", "--handler-name", "张伟",
               "--since", "2026-01-01", check=True)
    src = os.path.join(tmp, "rec")
    file_at(os.path.join(src, "FILE0004.MP4"), utc("2026-11-20T03:00:00Z"), seed=4)
    file_at(os.path.join(src, "FILE0002.MP4"), utc("2026-11-20T02:00:00Z"), seed=2)
    office.ctl("import", src, "--recorder", "DSJ-0002", check=True)
    warnings = office.json("status")["warnings"]
    gap = [w for w in warnings if "missing" in w]
    assert gap and "file number 3 missing" in gap[0], warnings
    ids = sorted(it["id"] for it in office.json("items"))
    assert f"between items {ids[0]} and {ids[1]}" in gap[0]


def test_alignment_helper_counts_wide():
    assert width("张伟") == 4 and width("ab") == 2


def test_10_report_lines_up_with_chinese_names(office, tmp):
    office.ctl("recorder", "add", "DSJ-0004", "--handler-id", "0001",
               "--handler-name", "欧阳娜娜", "--since", "2026-01-01", check=True)
    for n, serial in enumerate(("DSJ-0002", "DSJ-0003", "DSJ-0004")):
        src = os.path.join(tmp, serial)
        file_at(os.path.join(src, "a.mp4"), utc("2026-11-20T02:00:00Z"), seed=n)
        office.ctl("import", src, "--recorder", serial, check=True)
    report = out(office.ctl("report", check=True)).splitlines()
    start = [i for i, x in enumerate(report) if x.startswith("handler ")][0]
    section = report[start:report.index("", start)]
    assert sorted(x.split()[0] for x in section[1:]) == sorted(["张伟", "李娜", "欧阳娜娜"])
    assert aligned(section, "case_late"), section
