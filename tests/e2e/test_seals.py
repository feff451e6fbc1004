"""Seals that cannot be quietly removed (issue 12, finding 7): checkpoint records and
their audit entries vouch for each other, a long unsealed log fails, a missing
certificate fails, and checkpoints exported with `audit checkpoints` catch a rewrite
that reached every copy on the station (`verify --audit --anchors FILE`)."""
import base64
import hashlib
import json
import os

import lmdb

from test_checkpoints import audit_db, rechain, setup_sealed


def canon_hash(e):
    body = {x: y for x, y in e.items() if x != "hash"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canon.encode()).hexdigest()


def rewrite_log(station, keep=lambda e: True, extra=0):
    """Drop entries, add `extra` forged ones, renumber and re-chain everything."""
    env, db = audit_db(station)
    with env.begin(write=True, db=db) as txn:
        entries = [json.loads(v) for _, v in txn.cursor()]
        for k, _ in list(txn.cursor()):
            txn.delete(k)
        entries = [e for e in entries if keep(e)]
        for i in range(extra):
            entries.append({"actor": {"uid": 0, "name": "root"}, "details": {"n": i},
                            "event": "station.noise", "subject": "",
                            "time": entries[-1]["time"]})
        prev = "0" * 64
        for seq, e in enumerate(entries, 1):
            e["seq"], e["prev"] = seq, prev
            e["hash"] = prev = canon_hash(e)
            txn.put(seq.to_bytes(8, "big"),
                    json.dumps(e, sort_keys=True, separators=(",", ":")).encode())
    env.close()


def drop_checkpoint_records(station):
    env = lmdb.open(os.path.join(station.state, "catalog"), max_dbs=32, map_size=1 << 30)
    db = env.open_db(b"checkpoints")
    with env.begin(write=True, db=db) as txn:
        for k, _ in list(txn.cursor()):
            txn.delete(k)
    env.close()


def failed_audit(station, *extra):
    p = station.ctl("verify", "--audit", *extra)
    assert p.returncode == 1, p.stdout
    return p.stdout.decode()


def test_finding_7_removed_checkpoints_and_rechained_history(make_station, tmp):
    station, sealed = setup_sealed(make_station, tmp)
    drop_checkpoint_records(station)
    env, db = audit_db(station)
    with env.begin(db=db) as txn:
        first = next(int.from_bytes(k, "big") for k, v in txn.cursor()
                     if json.loads(v)["event"] == "item.stored")
    env.close()
    rechain(station, first, '"R1"', '"R9"')
    station.start()
    out = failed_audit(station)
    assert "has no signed record: the checkpoints were removed" in out, out
    del sealed


def test_a_record_without_its_entry_is_caught(make_station, tmp):
    station, _ = setup_sealed(make_station, tmp)
    env, db = audit_db(station)
    with env.begin(write=True, db=db) as txn:  # the last entry: no renumbering needed
        k, v = next(iter(txn.cursor().iterprev()))
        assert json.loads(v)["event"] == "audit.checkpoint"
        txn.delete(k)
    env.close()
    station.start()
    out = failed_audit(station)
    assert "no audit.checkpoint entry announces it" in out, out


def test_a_long_log_without_checkpoints_fails(make_station, tmp):
    station, _ = setup_sealed(make_station, tmp)
    drop_checkpoint_records(station)
    rewrite_log(station, keep=lambda e: e["event"] != "audit.checkpoint", extra=2100)
    station.start()
    out = failed_audit(station)
    assert "entries without a checkpoint: checkpoints were removed" in out, out


def test_a_missing_certificate_fails(make_station, tmp):
    station, _ = setup_sealed(make_station, tmp)
    os.unlink(os.path.join(station.state, "keys", "station.crt"))
    station.start()
    out = failed_audit(station)
    assert "signing key or certificate is missing" in out, out


def test_anchors_kept_elsewhere_catch_a_complete_rewrite(make_station, tmp):
    station, sealed = setup_sealed(make_station, tmp)
    station.start()
    cps = station.json("audit", "checkpoints")
    assert cps and cps[-1]["seq"] >= sealed
    for cp in cps:
        assert len(cp["head"]) == 64 and base64.b64decode(cp["signature"])
        assert set(cp) >= {"seq", "head", "time", "signature"}
    text = station.ctl("audit", "checkpoints", check=True).stdout.decode()
    anchors = os.path.join(tmp, "anchors.txt")  # e.g. printed, or mailed to the office
    with open(anchors, "w") as f:
        f.write(text)
    assert text.split()[0] == str(cps[0]["seq"]) and text.split()[1] == cps[0]["head"]
    ok = station.json("verify", "--audit", "--anchors", anchors)["audit"]
    assert ok["ok"] is True and ok["anchors_checked"] == len(cps)
    with open(anchors + ".json", "w") as f:
        json.dump(cps, f)
    assert station.ctl("verify", "--audit", "--anchors", anchors + ".json").returncode == 0
    assert station.stop() == 0

    # The forger removes every seal on the station and rewrites the log consistently.
    drop_checkpoint_records(station)
    env, db = audit_db(station)
    with env.begin(db=db) as txn:
        entries = [json.loads(v) for _, v in txn.cursor()]
    env.close()
    victim = next(e for e in entries if e["event"] == "item.stored")

    def forge(e):
        if e["seq"] == victim["seq"]:
            e["details"]["recorder"] = "R9"
        return e["event"] != "audit.checkpoint"
    rewrite_log(station, keep=forge)
    station.start()
    assert station.ctl("verify", "--audit").returncode == 0  # nothing left here to tell
    out = failed_audit(station, "--anchors", anchors)
    assert "no longer has the hash kept elsewhere: the log was rewritten" in out or \
        "is gone: the log was cut short" in out, out


def test_bad_anchor_files_are_refused(make_station, tmp):
    station = make_station()
    station.start()
    bad = os.path.join(tmp, "bad.txt")
    with open(bad, "w") as f:
        f.write("this is not a checkpoint\n")
    p = station.ctl("verify", "--audit", "--anchors", bad)
    assert p.returncode == 1 and b"not a checkpoint line" in p.stderr
    with open(bad, "w") as f:
        f.write("5 abc\n")
    p = station.ctl("verify", "--audit", "--anchors", bad)
    assert p.returncode == 1 and b"64-digit head" in p.stderr
