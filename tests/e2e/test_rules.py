"""The rest of the rules (issue 15): the field-work exception to the storage deadline
(第二十五条 third paragraph), case files due 30 days after the act (first paragraph),
stages and coverage per case (第十七条), labelling on time, secret items."""
import os
import subprocess

from helpers import random_file
from test_access import users  # noqa: F401  (the role users fixture)

CASE = "X罚〔2026〕17号"
FF = ["ffmpeg", "-nostdin", "-v", "error", "-y"]


def at(path, t):
    os.utime(path, (t, t))
    return path


def audit_events(station, event):
    return [e for e in station.json("audit") if e["event"] == event]


def test_trip_moves_deadline(station, tmp):
    src = os.path.join(tmp, "src")
    t = 1790733600  # 2026-09-30 10:00 in Beijing
    at(random_file(os.path.join(src, "r1", "a.mp4"), 1000, 1), t)
    at(random_file(os.path.join(src, "r2", "b.mp4"), 1000, 2), t)
    station.ctl("import", os.path.join(src, "r1"), "--recorder", "R1", check=True)
    station.ctl("import", os.path.join(src, "r2"), "--recorder", "R2", check=True)
    items = {it["recorder"]: it for it in station.json("items")}
    assert items["R1"]["deadline"] == "2026-10-09T15:59:59Z"
    assert items["R1"]["deadline_rule"] == "2 working days"
    assert items["R1"]["label_late"] is None and items["R1"]["labelled_at"] is None

    trip = station.json("trip", "add", "--recorder", "R1", "--from", "2026-09-28", "--to",
                        "2026-10-09", "--kind", "away", "--note", "检查组外出")
    assert trip["id"] == 1 and trip["after_the_fact"] is True  # entered in December
    assert trip["deadlines_moved"] == [items["R1"]["id"]]
    items = {it["recorder"]: it for it in station.json("items")}
    # Back on Friday 9 October: the first working day after is Saturday 10 October, an
    # adjusted workday; later than the 2-working-day deadline, so it applies.
    assert items["R1"]["deadline"] == "2026-10-10T15:59:59Z"
    assert items["R1"]["deadline_rule"] == "1 working day after return, trip 1"
    # Outside any trip: the 2-working-day deadline stays.
    assert items["R2"]["deadline"] == "2026-10-09T15:59:59Z"
    assert items["R2"]["deadline_rule"] == "2 working days"
    moved = audit_events(station, "item.deadline")
    assert [e["details"]["id"] for e in moved] == [items["R1"]["id"]]
    assert moved[0]["details"]["old"]["deadline"] == "2026-10-09T15:59:59Z"
    assert audit_events(station, "trip.added")[0]["details"]["recorder"] == "R1"

    # Back later, on Monday 12 October: due at the end of Tuesday 13 October.
    ended = station.json("trip", "end", "1", "--returned", "2026-10-12")
    assert ended["returned"] == "2026-10-12" and ended["deadlines_moved"] == [items["R1"]["id"]]
    it = station.json("show", str(items["R1"]["id"]))
    assert it["deadline"] == "2026-10-13T15:59:59Z"
    assert len(audit_events(station, "trip.ended")) == 1
    listed = station.json("trip", "list")["trips"]
    assert [(x["id"], x["returned"]) for x in listed] == [(1, "2026-10-12")]
    human = station.ctl("trip", "list", check=True).stdout.decode()
    assert "after the fact" in human and "R1" in human

    # A trip entered first applies as the recording is stored.
    station.json("trip", "add", "--handler", "H9", "--from", "2026-09-29", "--to", "2026-10-09",
                 "--kind", "remote")
    station.ctl("recorder", "add", "R3", "--handler-id", "H9", "--handler-name", "赵六",
                "--since", "2026-01-01", check=True)
    at(random_file(os.path.join(src, "r3", "c.mp4"), 1000, 3), t)
    station.ctl("import", os.path.join(src, "r3"), "--recorder", "R3", check=True)
    r3 = [x for x in station.json("items") if x["recorder"] == "R3"][0]
    assert r3["deadline_rule"] == "1 working day after return, trip 2"


def test_trip_refusals(station, tmp, users):  # noqa: F811
    os.chmod(tmp, 0o755)  # the socket within reach of the role users
    def refused(*args, why, user=None):
        p = station.ctl("trip", "add", *args, user=user)
        assert p.returncode == 1, p
        assert why.encode() in p.stderr, p.stderr

    base = ["--from", "2026-09-28", "--to", "2026-10-09"]
    refused("--recorder", "R1", *base, "--kind", "holiday", why="continuous, away or remote")
    refused("--recorder", "R1", "--handler", "H1", *base, "--kind", "away", why="one of them")
    refused(*base, "--kind", "away", why="one of them")
    refused("--recorder", "R1", "--from", "2026-10-09", "--to", "2026-10-01", "--kind", "away",
            why="before it begins")
    refused("--recorder", "R1", "--from", "2026-02-30", "--to", "2026-10-01", "--kind", "away",
            why="YYYY-MM-DD")
    refused("--recorder", "../x", *base, "--kind", "away", why="serial")
    refused("--recorder", "R1", *base, "--kind", "away", why="permission denied",
            user="evd-t-nobody")
    p = station.ctl("trip", "end", "7", "--returned", "2026-10-10")
    assert p.returncode == 1 and b"no trip 7" in p.stderr
    assert station.json("trip", "list")["trips"] == []


def test_case_file_due_and_overdue(make_station, tmp, users):  # noqa: F811
    os.chmod(tmp, 0o755)
    s = make_station()
    s.start()
    src = os.path.join(tmp, "src")
    random_file(os.path.join(src, "a.mp4"), 1000, 1)
    s.ctl("import", src, "--recorder", "R1", check=True)
    item = str(s.json("items")[0]["id"])
    s.ctl("label", item, "--case", CASE, "--party", "张三", check=True)
    labelled = s.json("show", item)
    assert labelled["labelled_at"] and labelled["label_late"] is False
    assert s.json("case", "list", "--open")["cases"][0]["case_no"] == CASE
    # Typed with other brackets: the same case. 30 days after 20 November is 20 December.
    closed = s.json("case", "close", "X罚[2026]17号", "--ended", "2026-11-20")
    assert (closed["case_no"], closed["due"], closed["state"]) == (CASE, "2026-12-20", "closed")
    # Across month ends: 31 January + 30 days is 2 March.
    s.ctl("label", item, "--case", "X罚〔2026〕18号", "--party", "李四", check=True)
    assert s.json("case", "close", "X罚〔2026〕18号", "--ended", "2026-01-31")["due"] == \
        "2026-03-02"
    assert [c["case_no"] for c in s.json("case", "list", "--overdue")["cases"]] == \
        ["X罚〔2026〕18号"]
    assert not [w for w in s.json("status")["warnings"] if CASE in w]
    p = s.ctl("case", "close", CASE, "--ended", "2026-11-31")
    assert p.returncode == 1 and b"YYYY-MM-DD" in p.stderr
    p = s.ctl("case", "close", CASE, "--ended", "2026-11-20", user="evd-t-nobody")
    assert p.returncode == 1 and b"permission denied" in p.stderr
    p = s.ctl("case", "filed", "X罚〔2026〕99号", "--ref", "A-1")
    assert p.returncode == 1 and b"not closed" in p.stderr
    s.stop()
    # 30 days on, the first case's file is overdue: status says so until it is filed.
    s.start(shift_days=30)
    warnings = [w for w in s.json("status")["warnings"] if CASE in w]
    assert len(warnings) == 1 and "2026-12-20" in warnings[0], warnings
    assert CASE in [c["case_no"] for c in s.json("case", "list", "--overdue")["cases"]]
    filed = s.json("case", "filed", CASE, "--ref", "档案2026-017")
    assert filed["state"] == "filed" and filed["filed_ref"] == "档案2026-017"
    assert not [w for w in s.json("status")["warnings"] if CASE in w]
    assert [e["subject"] for e in s.json("audit") if e["event"].startswith("case.")] == \
        ["case:" + CASE, "case:X罚〔2026〕18号", "case:" + CASE]


def test_late_labels_clock_suspect_and_case_views(make_station, tmp):
    """Labels after the deadline stay late; a recorder's clock found wrong counts the
    deadline from docking; case list --due, case show's holds and an overdue state; and
    case show printed for people."""
    s = make_station()
    s.start(at="2026-03-10 10:00:00")  # Tuesday
    for serial in ("R1", "R2"):
        s.ctl("recorder", "add", serial, "--handler-id", serial[-1], "--handler-name", "李四",
              "--since", "2026-03-01T00:00:00Z", check=True)
    src = os.path.join(tmp, "src")
    # Recorded Monday 2 March (due at the end of Wednesday 4 March), and this morning.
    at(random_file(os.path.join(src, "r1", "old.mp4"), 1000, 1), 1772418600)  # 03-02 10:30
    at(random_file(os.path.join(src, "r1", "new.mp4"), 1000, 2), 1773104400)  # 03-10 09:00
    # Before R2 was registered: its clock is wrong.
    at(random_file(os.path.join(src, "r2", "early.mp4"), 1000, 3), 1769911200)  # 02-01
    s.ctl("import", os.path.join(src, "r1"), "--recorder", "R1", check=True)
    s.ctl("import", os.path.join(src, "r2"), "--recorder", "R2", check=True)
    ids = {it["original_path"]: str(it["id"]) for it in s.json("items")}
    early = s.json("show", ids["early.mp4"])
    assert early["clock_suspect"] is True
    assert early["deadline_rule"] == "2 working days from docking (clock suspect)"
    # Docked Tuesday 10 March: due at the end of Thursday 12 March, not long past.
    assert early["deadline"] == "2026-03-12T15:59:59Z" and early["late"] is False

    s.ctl("label", ids["old.mp4"], ids["new.mp4"], "--case", CASE, "--party", "张三",
          check=True)
    old, new = s.json("show", ids["old.mp4"]), s.json("show", ids["new.mp4"])
    assert old["deadline"] == "2026-03-04T15:59:59Z"
    assert old["labelled_at"] and old["label_late"] is True
    assert new["labelled_at"] and new["label_late"] is False
    s.ctl("label", ids["new.mp4"], "--party", "张三、王五", check=True)
    assert s.json("show", ids["old.mp4"])["label_late"] is True  # stays late

    s.ctl("hold", ids["new.mp4"], "--reason", "复议", check=True)
    # The act ended 1 February: the file was due 3 March and is overdue now.
    assert s.json("case", "close", CASE, "--ended", "2026-02-01")["state"] == "overdue"
    shown = s.json("case", "show", CASE)
    assert shown["state"] == "overdue" and shown["due"] == "2026-03-03"
    assert shown["holds"] == [int(ids["new.mp4"])]
    assert [(i["id"], i["label_late"]) for i in shown["items"]] == \
        [(int(ids["old.mp4"]), True), (int(ids["new.mp4"]), False)]
    # --due: closed and waiting for the file, overdue or not; not open, not filed.
    s.ctl("label", ids["early.mp4"], "--case", "X罚〔2026〕18号", "--party", "李四", check=True)
    s.ctl("case", "close", "X罚〔2026〕18号", "--ended", "2026-03-09", check=True)
    s.ctl("case", "close", "X罚〔2026〕19号", "--ended", "2026-03-01", check=True)
    s.ctl("case", "filed", "X罚〔2026〕19号", "--ref", "档-19", check=True)
    s.ctl("case", "close", "X罚〔2026〕20号", "--ended", "2026-03-02", check=True)
    due = {c["case_no"]: c["state"] for c in s.json("case", "list", "--due")["cases"]}
    assert due == {CASE: "overdue", "X罚〔2026〕18号": "closed", "X罚〔2026〕20号": "closed"}
    assert [c["case_no"] for c in s.json("case", "list", "--overdue")["cases"]] == [CASE]

    # For people: one line an item, a hold, an access; times in the station's zone.
    s.ctl("access", ids["old.mp4"], "--requester", "赵", "--approver", "钱", "--reason", "复核",
          check=True)
    text = s.ctl("case", "show", CASE, check=True).stdout.decode()
    assert "{" not in text, text
    lines = text.splitlines()
    assert "state: overdue" in lines and "due: 2026-03-03" in lines
    row = [ln for ln in lines if ln.startswith(f"  item {ids['old.mp4']} ")]
    assert len(row) == 1 and "2026-03-02 10:30" in row[0] and "张三" in row[0]
    assert "labelled late" in row[0] and "late" in row[0]
    assert f"holds: {ids['new.mp4']}" in lines
    access = [ln for ln in lines if "requester 赵" in ln]
    assert len(access) == 1 and "approver 钱" in access[0] and "reason 复核" in access[0]
    assert f"item {ids['old.mp4']}" in access[0] and "2026-03-10 10:" in access[0]


def make_clip(path, creation_time, audio=True):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    args = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=8000", "-c:a", "aac"]
    subprocess.run(FF + args + ["-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                                "-metadata", f"creation_time={creation_time}", path],
                   check=True)


def stage_warnings(station):
    return [w for w in station.json("status")["warnings"] if "within a stage" in w]


def test_stage_gap_and_split_export(make_station, tmp):
    s = make_station(labels__required_stages="询问 送达")
    s.start()
    src = os.path.join(tmp, "src")
    # One inquiry filmed by two recorders: A and B overlap, C starts 5 minutes after
    # the end of both.
    make_clip(os.path.join(src, "r1", "A.mp4"), "2026-11-20T02:00:00Z")
    make_clip(os.path.join(src, "r2", "B.mp4"), "2026-11-20T02:00:01Z", audio=False)
    make_clip(os.path.join(src, "r1", "C.mp4"), "2026-11-20T02:05:03Z")
    s.ctl("import", os.path.join(src, "r1"), "--recorder", "R1", check=True)
    s.ctl("import", os.path.join(src, "r2"), "--recorder", "R2", check=True)
    ids = {it["original_path"]: str(it["id"]) for it in s.json("items")}
    assert s.json("show", ids["B.mp4"])["media"]["no_audio"] is True
    assert s.json("show", ids["A.mp4"])["media"]["no_audio"] is False
    s.ctl("label", *ids.values(), "--case", CASE, "--party", "张三", "--stage", "询问",
          check=True)
    p = s.ctl("label", ids["A.mp4"], "--stage", "喝茶")
    assert p.returncode == 1 and b"not a stage" in p.stderr

    tl = s.json("case", "timeline", CASE)
    assert [c["id"] for c in tl["clips"]] == [int(ids[n]) for n in ("A.mp4", "B.mp4", "C.mp4")]
    assert [c["lane"] for c in tl["clips"]] == [0, 1, 0]  # side by side
    assert [c["recorder"] for c in tl["clips"]] == ["R1", "R2", "R1"]
    assert len(tl["gaps"]) == 1, tl
    gap = tl["gaps"][0]
    assert gap["stage"] == "询问" and gap["explained"] is False
    assert gap["after_id"] == int(ids["B.mp4"]) and gap["before_id"] == int(ids["C.mp4"])
    assert 295 <= gap["seconds"] <= 300
    human = s.ctl("case", "timeline", CASE, check=True).stdout.decode()
    assert "GAP" in human and "explain with evidockctl note" in human
    shown = s.json("case", "show", CASE)
    assert shown["missing_stages"] == ["送达"]
    assert len(shown["stage_gaps"]) == 1 and shown["disc_export"] == "none"
    # Status warns of it, and the year's report counts it in November (the month of
    # the clip after the hole), as it does file-number gaps.
    assert stage_warnings(s) == [f"case {CASE}: 1 unexplained gap(s) within a stage; see "
                                 "evidockctl case timeline, explain with evidockctl note"]
    nov = s.json("report", "--year", "2026")
    assert nov["months"][10]["month"] == "2026-11"
    assert nov["months"][10]["stage_gaps"] == 1 and nov["totals"]["stage_gaps"] == 1
    # The accesses of the case's items, and only theirs.
    random_file(os.path.join(src, "r4", "X.mp4"), 5000, 7)
    s.ctl("import", os.path.join(src, "r4"), "--recorder", "R4", check=True)
    other = [str(it["id"]) for it in s.json("items") if it["recorder"] == "R4"][0]
    for item in (ids["A.mp4"], other):
        s.ctl("access", item, "--requester", "赵", "--approver", "钱", "--reason", "复核",
              check=True)
    shown = s.json("case", "show", CASE)
    assert [e["subject"] for e in shown["accesses"]] == [f"item:{ids['A.mp4']}"]

    s.ctl("note", ids["C.mp4"], "--text", "电池更换，中断约5分钟", check=True)
    assert s.json("case", "timeline", CASE)["gaps"][0]["explained"] is True
    assert stage_warnings(s) == []
    assert s.json("report", "--year", "2026")["totals"]["stage_gaps"] == 0

    # A split export is part of the case file: every volume exists and verifies.
    s.ctl("keys", "init", check=True)
    out = os.path.join(tmp, "out", "case.iso")
    os.makedirs(os.path.dirname(out))
    for n in (1, 2):  # two stills large enough that a 2 MiB volume holds one
        random_file(os.path.join(src, "r3", f"P{n}.jpg"), 700000, n)
    s.ctl("import", os.path.join(src, "r3"), "--recorder", "R3", check=True)
    stills = [str(it["id"]) for it in s.json("items") if it["recorder"] == "R3"]
    s.ctl("label", *stills, "--case", CASE, "--party", "张三", check=True)
    s.ctl("export", "--case", CASE, "--maker", "m", "--extractor", "e", "--approver", "a",
          "--reason", "r", "-o", out, "--media", "2097152", check=True)
    shown = s.json("case", "show", CASE)
    assert len(shown["exports"]) >= 2, shown["exports"]
    assert all(e["exists"] and e["verifies"] for e in shown["exports"])
    assert shown["disc_export"] == "verifies"
    os.unlink(shown["exports"][0]["path"])  # a volume gone: the file no longer verifies
    shown = s.json("case", "show", CASE)
    assert shown["exports"][0]["exists"] is False and shown["disc_export"] == "fails"


def test_secret_needs_admin(station, tmp, users):  # noqa: F811
    os.chmod(tmp, 0o755)
    src = os.path.join(tmp, "src")
    random_file(os.path.join(src, "a.mp4"), 1000, 1)
    station.ctl("import", src, "--recorder", "R1", check=True)
    item = str(station.json("items")[0]["id"])
    p = station.ctl("secret", item, "--reason", "x", user="evd-t-clerk")
    assert p.returncode == 1 and b"permission denied" in p.stderr
    station.ctl("secret", item, "--reason", "涉及国家秘密", check=True)
    assert station.json("show", item)["secret"] is True
    assert audit_events(station, "item.secret")[0]["details"]["reason"] == "涉及国家秘密"
