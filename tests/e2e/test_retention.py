"""Retention classes, holds, evidence and purge (第二十六条, 第二十八条): nothing
leaves before its time, held and evidence items never; each purge is audited."""
import os
import signal
import time

from helpers import random_file

CASE = "X罚〔2026〕17号"


def wait_for_event(station, event, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e["event"] == event for e in station.json("audit")):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {event} in the audit log")


def setup_items(station, tmp):
    src = os.path.join(tmp, "src")
    for i, name in enumerate(("plain", "held", "evidence", "case")):
        random_file(os.path.join(src, f"{name}.mp4"), 5000 + i, i)
    station.ctl("import", src, "--recorder", "R1", check=True)
    ids = {it["original_path"][:-4]: it for it in station.json("items")}
    station.ctl("hold", ids["held"]["id"], "--reason", "complaint", check=True)
    station.ctl("evidence", ids["evidence"]["id"], "--case", CASE, check=True)
    station.ctl("label", ids["case"]["id"], "--case", CASE, "--party", "张三", check=True)
    return ids


def test_purge_respects_retention_holds_and_evidence(make_station, tmp):
    station = make_station()
    station.start()
    ids = setup_items(station, tmp)
    dry = station.json("purge", "--dry-run", "--approver", "局长", "--reason", "test")
    assert dry["eligible"] == []
    assert dry["kept"] == {"within retention": 2, "held": 1, "marked as evidence": 1}
    assert station.json("purge", "--approver", "局长", "--reason", "test")["purged"] == []
    assert station.stop() == 0

    # 250 days on: past 6 months + 30 days of grace, within the case class's 24 months.
    station.start(shift_days=250)
    dry = station.json("purge", "--dry-run", "--approver", "局长", "--reason", "retention over")
    assert [e["id"] for e in dry["eligible"]] == [ids["plain"]["id"]]
    assert dry["kept"] == {"within retention": 1, "held": 1, "marked as evidence": 1}
    plain = station.object_path(ids["plain"]["sha256"])
    assert os.path.exists(plain)  # a dry run deletes nothing
    p = station.ctl("purge", "--approver", "局长", "--reason", "retention over", check=True)
    assert b"1 item(s) purged" in p.stdout
    assert not os.path.exists(plain)
    for name in ("held", "evidence", "case"):
        assert os.path.exists(station.object_path(ids[name]["sha256"]))
    purged = [e for e in station.json("audit") if e["event"] == "item.purged"]
    assert len(purged) == 1
    assert purged[0]["details"]["sha256"] == ids["plain"]["sha256"]
    assert purged[0]["details"]["approver"] == "局长"
    assert station.json("show", ids["plain"]["id"])["purged"]["reason"] == "retention over"
    assert station.json("verify")["ok"] is True

    # Released, the held item goes the same way; evidence never does.
    station.ctl("release", ids["held"]["id"], "--reason", "closed", check=True)
    station.ctl("purge", "--approver", "局长", "--reason", "retention over", check=True)
    assert not os.path.exists(station.object_path(ids["held"]["sha256"]))
    assert station.stop() == 0
    station.start(shift_days=3650)
    result = station.json("purge", "--approver", "局长", "--reason", "ten years on")
    assert [e["id"] for e in result["purged"]] == [ids["case"]["id"]]
    assert os.path.exists(station.object_path(ids["evidence"]["sha256"]))
    assert station.json("verify")["ok"] is True


def test_retain_until_never_decreases(make_station, tmp):
    station = make_station(retention__default="12 months")
    station.start()
    src = os.path.join(tmp, "src")
    random_file(os.path.join(src, "a.mp4"), 1000, 1)
    station.ctl("import", src, "--recorder", "R1", check=True)
    item = station.json("items")[0]
    # Lower the default and reload: the stored item keeps its date, even when touched.
    with open(station.conf) as f:
        text = f.read()
    with open(station.conf, "w") as f:
        f.write(text.replace("default = 12 months", "default = 3 months"))
    station.proc.send_signal(signal.SIGHUP)
    wait_for_event(station, "config.reloaded")
    station.ctl("note", item["id"], "--text", "checked", check=True)
    assert station.json("show", item["id"])["retain_until"] == item["retain_until"]
    random_file(os.path.join(src, "b.mp4"), 1000, 2)
    station.ctl("import", src, "--recorder", "R1", check=True)
    newer = [it for it in station.json("items") if it["original_path"] == "b.mp4"][0]
    assert newer["retain_until"] < item["retain_until"]
    # A reload with a retention under the floor is refused whole.
    with open(station.conf, "w") as f:
        f.write(text.replace("default = 12 months", "default = 2 months"))
    station.proc.send_signal(signal.SIGHUP)
    wait_for_event(station, "config.reload_refused")
    refused = [e for e in station.json("audit") if e["event"] == "config.reload_refused"]
    assert refused and "under the 3-month floor" in refused[0]["details"]["error"]


def test_dry_run_counts_all_and_names_the_first_thousand(make_station, tmp):
    station = make_station()
    station.start()
    src = os.path.join(tmp, "many")
    for i in range(1003):
        random_file(os.path.join(src, f"c{i:04d}.mp4"), 64, 100 + i)
    station.ctl("import", src, "--recorder", "R1", check=True)
    assert station.stop() == 0
    station.start(shift_days=250)
    dry = station.json("purge", "--dry-run", "--approver", "局长", "--reason", "bulk")
    # The reply does not grow with the catalogue: every item counted, 1000 named.
    assert dry["eligible_count"] == 1003 and len(dry["eligible"]) == 1000
    [noted] = [e for e in station.json("audit") if e["event"] == "purge.dry_run"]
    assert noted["details"]["eligible"] == 1003
    p = station.ctl("purge", "--dry-run", "--approver", "局长", "--reason", "bulk", check=True)
    assert p.stdout.startswith(b"1003 item(s) would be purged, the first of them:\n")
    assert p.stdout.count(b"\n  item ") == 1000
    # The purge itself takes them all.
    assert len(station.json("purge", "--approver", "局长", "--reason", "bulk")["purged"]) == 1003
