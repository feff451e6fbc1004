"""The catalogue answers to its audit log (issue 12, finding 2): item records edited
with the daemon stopped are named by `verify` and never purged; a removed record, a
removed item.stored entry and an object nobody holds are each reported by name."""
import hashlib
import json
import os

import lmdb

from helpers import random_file

CASE = "X罚〔2026〕17号"


def catalog(station):
    return lmdb.open(os.path.join(station.state, "catalog"), max_dbs=32, map_size=1 << 30)


def edit_items(station, change):
    env = catalog(station)
    db = env.open_db(b"items")
    with env.begin(write=True, db=db) as txn:
        for k, v in list(txn.cursor()):
            item = json.loads(v)
            if change(item) is not False:
                txn.put(k, json.dumps(item, separators=(",", ":")).encode())
    env.close()


def rechain_without(station, drop):
    """Remove the audit entries drop(entry) picks, renumber and re-chain every later
    entry with the documented encoding, as a forger with the catalogue would."""
    env = catalog(station)
    db = env.open_db(b"audit")
    with env.begin(write=True, db=db) as txn:
        entries = [json.loads(v) for _, v in txn.cursor()]
        for k, _ in list(txn.cursor()):
            txn.delete(k)
        prev, seq = "0" * 64, 0
        for e in entries:
            if drop(e):
                continue
            seq += 1
            e["seq"], e["prev"] = seq, prev
            body = {x: y for x, y in e.items() if x != "hash"}
            canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            e["hash"] = prev = hashlib.sha256(canon.encode()).hexdigest()
            txn.put(seq.to_bytes(8, "big"),
                    json.dumps(e, sort_keys=True, separators=(",", ":")).encode())
    env.close()


def stocked_station(make_station, tmp):
    station = make_station()
    station.start()
    src = os.path.join(tmp, "src")
    for i, name in enumerate(("held", "evidence", "plain")):
        random_file(os.path.join(src, f"{name}.mp4"), 3000 + i, i)
    station.ctl("import", src, "--recorder", "R1", check=True)
    ids = {it["original_path"][:-4]: it["id"] for it in station.json("items")}
    station.ctl("hold", str(ids["held"]), "--reason", "complaint", check=True)
    station.ctl("evidence", str(ids["evidence"]), "--case", CASE, check=True)
    result = station.json("verify")
    assert result["ok"] is True and result["catalog"]["items_checked"] == 3, result
    assert station.stop() == 0
    return station, ids


def test_edited_protection_is_named_and_never_purged(make_station, tmp):
    station, ids = stocked_station(make_station, tmp)

    def unprotect(item):
        if item["id"] == ids["plain"]:
            return False
        item["hold"] = False
        item["evidence"] = False
        item["retain_until"] = "2026-01-01T00:00:00+08:00"
    edit_items(station, unprotect)
    station.start(shift_days=400)  # past any retention the forger could have hoped for
    p = station.ctl("verify")
    assert p.returncode == 1
    out = p.stdout.decode()
    assert f"item {ids['held']}: hold is false, the audit log says true" in out, out
    assert f"item {ids['evidence']}: evidence is false, the audit log says true" in out
    assert "retain_until is 2026-01-01T00:00:00+08:00, the audit log says" in out
    paths = {n: station.object_path(station.json("show", str(i))["sha256"])
             for n, i in ids.items()}
    r = station.json("purge", "--approver", "局长", "--reason", "retention over")
    assert sorted(e["id"] for e in r["tampered"]) == sorted([ids["held"], ids["evidence"]])
    assert [e["id"] for e in r["purged"]] == [ids["plain"]]
    assert os.path.exists(paths["held"]) and os.path.exists(paths["evidence"])
    audit = station.json("audit")
    assert not [e for e in audit if e["event"] == "item.purged"
                and e["details"]["id"] in (ids["held"], ids["evidence"])]
    alarm = [e for e in audit if e["event"] == "catalog.alarm"]
    assert alarm and {x["id"] for x in alarm[-1]["details"]["items"]} == {ids["held"],
                                                                         ids["evidence"]}
    warnings = "\n".join(station.json("status")["warnings"])
    assert f"ALARM: item {ids['held']}: its record disagrees with the audit log" in warnings


def test_removed_record_and_stray_object_are_named(make_station, tmp):
    station, ids = stocked_station(make_station, tmp)
    env = catalog(station)
    db = env.open_db(b"items")
    with env.begin(write=True, db=db) as txn:
        assert txn.delete(ids["plain"].to_bytes(8, "big"))
    env.close()
    station.start()
    p = station.ctl("verify")
    assert p.returncode == 1
    out = p.stdout.decode()
    assert f"item {ids['plain']}: stored (audit entry" in out and "record is gone" in out, out
    assert "an object no item holds (stray)" in out  # reported; a crash can leave one too


def test_removed_stored_entry_is_named(make_station, tmp):
    station, ids = stocked_station(make_station, tmp)
    rechain_without(station, lambda e: e["event"] == "item.stored"
                    and e["details"]["id"] == ids["plain"])
    station.start()
    p = station.ctl("verify")
    assert p.returncode == 1
    assert (f"item {ids['plain']}: no item.stored entry in the audit log for this record"
            in p.stdout.decode()), p.stdout
    # The other items still agree with the rewritten log.
    p = station.ctl("--json", "verify", "--audit")
    assert p.returncode == 1
    assert [b["id"] for b in json.loads(p.stdout)["catalog"]["bad"]] == [ids["plain"]]


def test_edited_labels_are_named(make_station, tmp):
    station, ids = stocked_station(make_station, tmp)

    def relabel(item):
        if item["id"] != ids["plain"]:
            return False
        item["labels"]["case_no"] = CASE
    edit_items(station, relabel)
    station.start()
    p = station.ctl("verify", "--audit")
    assert p.returncode == 1
    assert f"item {ids['plain']}: labels differ from the audit log's" in p.stdout.decode()


def test_edits_in_unusual_encodings_are_named_and_never_purged(make_station, tmp):
    """verify and purge read most records from their stored text without parsing them
    (lib/jscan.c); edits written in unusual ways (a key twice, a key spelt with an
    escape, the old value inside a string) are still named by both, with the same words,
    and nothing is purged. Each record differs from the log in that one field. (The
    reader's own answers on such text are in tests/unit/test_ledger.c.)"""
    station, ids = stocked_station(make_station, tmp)
    env = catalog(station)
    db = env.open_db(b"items")
    with env.begin(write=True, db=db) as txn:
        for name, i in ids.items():
            k = i.to_bytes(8, "big")
            text = json.dumps(json.loads(txn.get(k)), separators=(",", ":"))
            if name == "held":  # "hold":true first, then the edit
                edit = text.replace('"hold":true', '"hold":true,"note":"\\"hold\\":true",'
                                    '"hold":false')
            elif name == "evidence":  # the key spelt with an escape
                edit = text.replace('"evidence":true', '"evidenc\\u0065":false')
            else:  # a label changed, the old one left in a string beside it
                edit = text.replace('"labels":{', '"labels":{"case_no":"X1","x":"\\"case_no\\"",')
            assert edit != text
            txn.put(k, edit.encode())
    env.close()
    station.start(shift_days=400)  # the held and the plain item past their retention
    p = station.ctl("verify", "--audit")
    assert p.returncode == 1
    out = p.stdout.decode()
    assert f"item {ids['held']}: hold is false, the audit log says true" in out, out
    assert f"item {ids['evidence']}: evidence is false, the audit log says true" in out, out
    assert f"item {ids['plain']}: labels differ from the audit log's" in out, out
    dry = station.json("purge", "--dry-run", "--approver", "局长", "--reason", "retention over")
    assert dry["eligible_count"] == 0, dry
    assert dry["kept"] == {"record disagrees with the audit log": 2,
                           "kept permanently": 1}, dry
    r = station.json("purge", "--approver", "局长", "--reason", "retention over")
    assert sorted(e["id"] for e in r["tampered"]) == sorted([ids["held"], ids["plain"]]), r
    assert r["purged"] == [], r
