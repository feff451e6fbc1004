"""The fixity scrub: stored objects are re-hashed on a schedule; a damaged or missing
object raises an alarm in status and the audit log."""
import os
import subprocess
import time

from helpers import random_file


def wait(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_scrub_finds_damaged_and_missing_objects(make_station, tmp):
    station = make_station(scrub__interval="1 day", scrub__bandwidth_mb="1000")
    station.start()
    src = os.path.join(tmp, "src")
    for i in range(3):
        random_file(os.path.join(src, f"{i}.mp4"), 200000 + i, i)
    station.ctl("import", src, "--recorder", "R1", check=True)
    wait(lambda: station.json("status")["scrub"]["last_pass_done"])
    items = {it["original_path"]: it for it in station.json("items")}
    assert station.stop() == 0

    damaged = station.object_path(items["0.mp4"]["sha256"])
    missing = station.object_path(items["1.mp4"]["sha256"])
    subprocess.run(["chattr", "-i", damaged, missing], check=True)
    os.chmod(damaged, 0o644)
    with open(damaged, "r+b") as f:
        f.write(b"X")
    os.unlink(missing)

    # Two days on, the next pass is due.
    station.start(shift_days=2)
    alarms = wait(lambda: len(station.json("status")["scrub"]["alarms"]) == 2 and
                  station.json("status")["scrub"]["alarms"])
    by_id = {a["id"]: a for a in alarms}
    assert "content differs" in by_id[items["0.mp4"]["id"]]["error"]
    assert "missing" in by_id[items["1.mp4"]["id"]]["error"]
    warnings = station.json("status")["warnings"]
    assert sum("ALARM: item" in w for w in warnings) == 2
    audited = [e for e in station.json("audit") if e["event"] == "scrub.alarm"]
    assert {e["details"]["id"] for e in audited} == {items["0.mp4"]["id"], items["1.mp4"]["id"]}
    whole = station.json("show", items["2.mp4"]["id"])
    assert whole["fixity"] == "ok" and whole["checked_at"]
    assert station.json("show", items["0.mp4"]["id"])["fixity"] == "damaged"


def test_scrub_off(make_station):
    station = make_station(scrub__interval="off")
    station.start()
    assert station.json("status")["scrub"]["enabled"] is False
