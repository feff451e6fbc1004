"""Retention and legal holds follow the catalogue into the archive: a label or evidence
extends the object's COMPLIANCE retention (PutObjectRetention, never shorter), a hold
sets the legal hold and a release clears it once the release is in the station's
audit log, and never while another item with the same bytes still needs it."""
import json
import os

import lmdb

from test_replicate import Replicator, drained, import_files, s3tool, wait_until


def obj_key(it):
    sha = it["sha256"]
    return f"e2e/objects/{sha[:2]}/{sha[2:4]}/{sha}"


def lock_of(rgw, bucket, it):
    rc, head = s3tool(rgw, bucket, "head", obj_key(it))
    assert rc == 0, head
    return head


def remote_record(rgw, bucket, id_, tmp):
    out = os.path.join(tmp, f"rec-{id_}.json")
    if s3tool(rgw, bucket, "get", f"e2e/items/{id_}.json", out)[0] != 0:
        return {}
    with open(out) as f:
        return json.load(f)


def item(st, id_):
    return [i for i in st.json("items") if i["id"] == id_][0]


def test_label_and_evidence_extend_hold_and_release(make_station, rgw, tmp):
    bucket = rgw.make_bucket("evd-lock-extend")
    st = make_station()
    rep = Replicator(st, rgw, bucket)
    st.start()
    import_files(st, tmp, "a", [20_000, 21_000], 50)
    a, b = st.json("items")
    rep.start()
    try:
        wait_until("first copies", lambda: drained(st, 2))
        first = lock_of(rgw, bucket, a)["retain_until"]
        assert first == a["retain_until"]
        st.ctl("label", a["id"], "--case", "X罚〔2026〕5号", "--party", "王五", check=True)
        labelled = item(st, a["id"])
        assert labelled["retain_until"] > first  # the case class keeps it longer
        wait_until("label extends remotely",
                   lambda: lock_of(rgw, bucket, a)["retain_until"] == labelled["retain_until"])
        assert lock_of(rgw, bucket, a)["mode"] == "COMPLIANCE"
        # evidence: permanent, so a legal hold and the longest date the server keeps
        st.ctl("evidence", b["id"], "--case", "X罚〔2026〕5号", check=True)
        wait_until("evidence holds remotely", lambda: lock_of(rgw, bucket, b)["legal_hold"])
        assert lock_of(rgw, bucket, b)["retain_until"] == "2106-02-07T06:28:15Z"
        # hold then release: the release clears the legal hold, after its audit entry
        st.ctl("hold", a["id"], "--reason", "复议", check=True)
        wait_until("hold set remotely", lambda: lock_of(rgw, bucket, a)["legal_hold"])
        st.ctl("release", a["id"], "--reason", "复议结束", check=True)
        wait_until("release clears the hold", lambda: not lock_of(rgw, bucket, a)["legal_hold"])
        audit = st.json("audit")
        released = [e["seq"] for e in audit if e["event"] == "item.released"]
        assert released, [e["event"] for e in audit]
        # the retention was never shortened by the release
        assert lock_of(rgw, bucket, a)["retain_until"] == labelled["retain_until"]
    finally:
        rep.stop()


def twin(st, of_id):
    """A second item with the same bytes as item of_id (as a purge and a new docking of
    the same file can make), written into the catalogue with the station stopped."""
    env = lmdb.open(os.path.join(st.state, "catalog"), max_dbs=32, map_size=1 << 30)
    items, meta = env.open_db(b"items"), env.open_db(b"meta")
    with env.begin(write=True) as txn:
        rec = json.loads(txn.get(of_id.to_bytes(8, "big"), db=items))
        last = int.from_bytes(txn.get(b"next_item_id", db=meta), "big")
        rec["id"] = last + 1
        rec["hold"] = False
        txn.put((last + 1).to_bytes(8, "big"), json.dumps(rec).encode(), db=items)
        txn.put(b"next_item_id", (last + 1).to_bytes(8, "big"), db=meta)
    env.close()
    return last + 1


def test_release_keeps_the_hold_another_item_needs(make_station, rgw, tmp):
    bucket = rgw.make_bucket("evd-lock-shared")
    st = make_station()
    rep = Replicator(st, rgw, bucket)
    st.start()
    import_files(st, tmp, "a", [22_000], 60)
    (a,) = st.json("items")
    assert st.stop() == 0
    b_id = twin(st, a["id"])
    st.start()
    st.ctl("hold", a["id"], "--reason", "复议", check=True)
    st.ctl("hold", b_id, "--reason", "诉讼", check=True)
    rep.start()
    try:
        wait_until("both copied", lambda: drained(st, 2))
        assert lock_of(rgw, bucket, a)["legal_hold"] is True
        st.ctl("release", b_id, "--reason", "诉讼结束", check=True)
        wait_until("the released item's record in the bucket",
                   lambda: remote_record(rgw, bucket, b_id, tmp).get("hold") is False)
        assert lock_of(rgw, bucket, a)["legal_hold"] is True  # item a still holds it
        st.ctl("release", a["id"], "--reason", "复议结束", check=True)
        wait_until("last release clears", lambda: not lock_of(rgw, bucket, a)["legal_hold"])
    finally:
        rep.stop()
