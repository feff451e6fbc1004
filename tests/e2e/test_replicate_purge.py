"""A purge after replication reaches the archive, and a purge before it leaves nothing
pending (issue 13). The bucket is a real Ceph RGW, whose clock is the real one: an
item's retain_until really passes. The station starts three months back (libfaketime)
with a three-month retention, so its items' retain_until is some seconds from now in real time;
once that is past, the station (on the real clock) purges them."""
import datetime
import json
import os
from zoneinfo import ZoneInfo

from test_replicate import Replicator, drained, import_files, raw, s3tool, wait_until

AHEAD_S = 40  # how long the items' retention still runs, in real time, when made


def utc(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)


def past_start(zone):
    """(retention, at): a retention of at least the 3-month floor and a start time for
    the station such that what it stores at once is retained until AHEAD_S from now
    (calendar months: a day past the 28th is made up in days)."""
    t = datetime.datetime.now(zone) + datetime.timedelta(seconds=AHEAD_S)
    days = max(0, t.day - 28)
    m = t.month - 3
    at = t.replace(year=t.year + (m - 1) // 12, month=(m - 1) % 12 + 1, day=t.day - days)
    return f"3 months {days} days", at.strftime("%Y-%m-%d %H:%M:%S")


def test_purge_reaches_the_archive_and_leaves_nothing_pending(make_station, rgw, tmp):
    bucket = rgw.make_bucket("evd-rep-purge")
    retention, at = past_start(ZoneInfo("Asia/Shanghai"))
    st = make_station(retention__default=retention, retention__grace="0 days")
    rep = Replicator(st, rgw, bucket)
    st.start(at=at)
    seen = lambda: str(raw(st.sock, "replication", {"items": True})) + "\n" + rep.read_log()  # noqa: E731
    try:
        import_files(st, tmp, "a", [20_000], 61)
        (a,) = st.json("items")
        rep.start()
        wait_until("the item in the archive", lambda: drained(st, 1), timeout=AHEAD_S, why=seen)
        rep.stop()
        # a second item, purged before the replicator ever sees it
        import_files(st, tmp, "b", [30_000], 62)
        (b,) = [i for i in st.json("items") if i["id"] != a["id"]]
        assert raw(st.sock, "replication")["result"]["pending"] == 1
        until = max(utc(a["retain_until"]), utc(b["retain_until"]))
        now = datetime.datetime.now(datetime.timezone.utc)
        assert now < utc(a["retain_until"]), "the test machine was too slow"
        wait_until("both items' retention over in real time",
                   lambda: datetime.datetime.now(datetime.timezone.utc) >
                   until + datetime.timedelta(seconds=1), timeout=2 * AHEAD_S)
        assert st.stop() == 0
        st.start()  # the real clock
        p = st.json("purge", "--approver", "局长", "--reason", "retention over")
        assert sorted(e["id"] for e in p["purged"]) == sorted([a["id"], b["id"]]), p
        assert not os.path.exists(st.object_path(b["sha256"]))
        rep.start()

        def settled():
            r = raw(st.sock, "replication", {"items": True})["result"]
            return r["pending"] == 0 and r["failing"] == 0 and r
        r = wait_until("the purges replicated", settled, timeout=120, why=seen)
        recs = {x["item"]: x for x in r["records"]}
        assert recs[a["id"]]["state"] == "confirmed"
        assert recs[b["id"]]["state"] == "purged" and not recs[b["id"]].get("version_id")
        status = st.json("status")["replication"]
        assert status["pending"] == 0 and status["failing"] == 0
        assert not status.get("alarms")
        # the bucket's newest record version of each says purged, locked into the future
        for it in (a, b):
            key = f"e2e/items/{it['id']}.json"
            out = os.path.join(tmp, f"rec{it['id']}.json")
            rc, _ = s3tool(rgw, bucket, "get", key, out)
            assert rc == 0
            with open(out) as f:
                assert json.load(f)["purged"]["reason"] == "retention over"
            rc, head = s3tool(rgw, bucket, "head", key)
            assert rc == 0 and head["mode"] == "COMPLIANCE"
            assert utc(head["retain_until"]) > datetime.datetime.now(datetime.timezone.utc)
        # the object of the item purged before it was copied never went up
        sha = b["sha256"]
        rc, out = s3tool(rgw, bucket, "head", f"e2e/objects/{sha[:2]}/{sha[2:4]}/{sha}")
        assert rc == 1 and out["errno"] == 2, out
        # the replicated object keeps its own lock (purge never touches the remote copy):
        # the item's date, or a day from its upload when that is later
        sha = a["sha256"]
        rc, head = s3tool(rgw, bucket, "head", f"e2e/objects/{sha[:2]}/{sha[2:4]}/{sha}")
        assert rc == 0 and head["retain_until"] == recs[a["id"]]["retain_until"]
        assert utc(head["retain_until"]) >= utc(a["retain_until"]) + datetime.timedelta(hours=23)
        events = [e["event"] for e in st.json("audit")]
        assert "replication-failed" not in events
    finally:
        rep.stop()
