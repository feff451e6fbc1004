"""Recorder registry, handler from the assignment at recording time, labels, notes,
holds and evidence marks: each audited, retention only ever extended."""
import os
import time

from helpers import random_file

CASE = "X罚〔2026〕17号"


def ts(text):
    return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


def test_recorders_and_handlers(station, tmp):
    assert station.ctl("recorder", "add", "BWC-1", "--handler-id", "0427",
                       "--handler-name", "李四", "--model", "DSJ-V9",
                       "--since", "2026-01-01T00:00:00Z").returncode == 0
    p = station.ctl("recorder", "add", "BWC-1", "--handler-id", "1", "--handler-name", "x")
    assert p.returncode == 1 and b"registered already" in p.stderr
    p = station.ctl("recorder", "assign", "NOPE", "--handler-id", "1", "--handler-name", "x")
    assert p.returncode == 1 and b"not registered" in p.stderr
    station.ctl("recorder", "assign", "BWC-1", "--handler-id", "0815", "--handler-name", "王五",
                "--since", "2026-11-01T00:00:00Z", check=True)
    recs = station.json("recorder", "list")
    assert [a["handler_name"] for a in recs[0]["assignments"]] == ["李四", "王五"]
    assert recs[0]["model"] == "DSJ-V9"
    assert "李四" in station.ctl("recorder", "list", check=True).stdout.decode()

    src = os.path.join(tmp, "src")
    early = random_file(os.path.join(src, "early.mp4"), 1000, 1)
    late = random_file(os.path.join(src, "late.mp4"), 1000, 2)
    future = random_file(os.path.join(src, "future.mp4"), 1000, 3)
    for path, when in ((early, "2026-10-15T03:00:00Z"), (late, "2026-11-20T03:00:00Z"),
                       (future, "2027-06-01T03:00:00Z")):
        os.utime(path, (ts(when), ts(when)))
    station.ctl("import", src, "--recorder", "BWC-1", check=True)
    items = {it["original_path"]: it for it in station.json("items")}
    assert items["early.mp4"]["labels"]["handler"] == "李四"
    assert items["early.mp4"]["labels"]["handler_id"] == "0427"
    assert items["late.mp4"]["labels"]["handler"] == "王五"
    assert items["future.mp4"]["clock_suspect"] is True
    assert items["late.mp4"]["clock_suspect"] is False
    by_handler = station.json("items", "--handler", "王五")
    assert sorted(it["original_path"] for it in by_handler) == ["future.mp4", "late.mp4"]


def test_labels_in_bulk_audited_and_checked(station, tmp):
    src = os.path.join(tmp, "src")
    for i in range(4):
        p = random_file(os.path.join(src, f"C{i}.mp4"), 1000 + i, i)
        t = ts(f"2026-11-2{i}T03:00:00Z")
        os.utime(p, (t, t))
    station.ctl("import", src, "--recorder", "R1", check=True)
    # In recording order (ids follow the order copies finished).
    items = sorted(station.json("items"), key=lambda it: it["original_path"])
    before = {it["id"]: it["retain_until"] for it in items}
    assert len(station.json("items", "--unlabeled")) == 4

    # Refusals: a malformed case number, no party, control characters.
    for args, why in ((["--case", "17", "--party", "张三"], b"does not look like one"),
                      (["--case", CASE, "--party", ""], b"party is empty"),
                      (["--case", CASE, "--party", "a\x01b"], b"control character")):
        p = station.ctl("label", str(items[0]["id"]), *args)
        assert p.returncode == 1 and why in p.stderr, p.stderr
    p = station.ctl("label", "999", "--case", CASE, "--party", "张三")
    assert p.returncode == 1 and b"no such item" in p.stderr
    assert len(station.json("items", "--unlabeled")) == 4  # nothing half-done

    # Two by id, then the rest by recorder and time range.
    station.ctl("label", items[0]["id"], items[1]["sha256"][:12], "--case", CASE,
                "--party", "张三", check=True)
    r = station.json("label", "--recorder", "R1", "--since", "2026-11-22", "--case",
                     "京公（朝）行罚决字〔2026〕123号", "--party", "某某有限公司")
    assert len(r["items"]) == 2
    assert len(station.json("items", "--unlabeled")) == 0
    assert len(station.json("items", "--case", CASE)) == 2
    labelled = {it["id"]: it for it in station.json("items")}
    for i, it in labelled.items():
        # The case class (24 months) outlasts the default (6 months).
        assert it["retain_until"] > before[i]

    # A relabel keeps the old values in the audit trail (赵六 holds a recorder: a
    # handler given by hand is a registered holder).
    station.ctl("recorder", "add", "R9", "--handler-id", "0606", "--handler-name", "赵六",
                check=True)
    station.ctl("label", items[0]["id"], "--case", "X罚〔2026〕18号", "--party", "张三",
                "--handler", "赵六", check=True)
    trail = [e for e in station.json("audit") if e["event"] == "item.labelled"
             and e["details"]["id"] == items[0]["id"]]
    assert trail[-1]["details"]["old"]["case_no"] == CASE
    assert trail[-1]["details"]["new"]["case_no"] == "X罚〔2026〕18号"
    assert trail[-1]["details"]["new"]["handler"] == "赵六"
    assert trail[-1]["actor"]["name"] == "root"
    assert len(station.json("items", "--case", CASE)) == 1


def test_hold_evidence_note(station, tmp):
    src = os.path.join(tmp, "src")
    random_file(os.path.join(src, "a.mp4"), 1000, 1)
    station.ctl("import", src, "--recorder", "R1", check=True)
    item = station.json("items")[0]
    assert station.ctl("hold", item["id"]).returncode == 2  # --reason is required
    station.ctl("hold", item["id"], "--reason", "complaint pending", check=True)
    assert station.json("show", item["id"])["hold"] is True
    station.ctl("release", item["id"], "--reason", "complaint closed", check=True)
    assert station.json("show", item["id"])["hold"] is False
    station.ctl("evidence", item["id"], "--case", CASE, check=True)
    shown = station.json("show", item["id"])
    assert shown["evidence"] is True and shown["retain_until"] is None
    assert shown["evidence_cases"] == [CASE]
    station.ctl("note", item["id"], "--text", "电池耗尽，录像中断 10 分钟", check=True)
    assert station.json("show", item["id"])["notes"][0]["text"] == "电池耗尽，录像中断 10 分钟"
    events = [e["event"] for e in station.json("audit")]
    for ev in ("item.held", "item.released", "item.evidence", "item.noted"):
        assert ev in events
    # Evidence is permanent: a later label cannot shorten it.
    station.ctl("label", item["id"], "--case", CASE, "--party", "张三", check=True)
    assert station.json("show", item["id"])["retain_until"] is None
