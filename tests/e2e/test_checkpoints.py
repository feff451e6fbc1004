"""Signed audit checkpoints: history rewritten and re-chained, or cut short, before the
latest checkpoint is caught by `verify --audit`; each checkpoint goes to the journal."""
import hashlib
import json
import os
import subprocess

import lmdb

from helpers import random_file


def audit_db(station):
    env = lmdb.open(os.path.join(station.state, "catalog"), max_dbs=32, map_size=1 << 30)
    return env, env.open_db(b"audit")


def rechain(station, edit_seq, old, new):
    """Edit entry edit_seq and recompute every hash after it, as a forger with write
    access to the catalogue would: the chain alone then verifies."""
    env, db = audit_db(station)
    with env.begin(write=True, db=db) as txn:
        entries = [(k, json.loads(v)) for k, v in txn.cursor()]
        prev = None
        for k, e in entries:
            seq = int.from_bytes(k, "big")
            if seq == edit_seq:
                text = json.dumps(e["details"])
                assert old in text
                e["details"] = json.loads(text.replace(old, new))
            if seq >= edit_seq:
                e["prev"] = prev
                body = {x: y for x, y in e.items() if x != "hash"}
                canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
                e["hash"] = hashlib.sha256(canon.encode()).hexdigest()
                txn.put(k, json.dumps(e, sort_keys=True, separators=(",", ":")).encode())
            prev = e["hash"]
    env.close()


def truncate(station, keep):
    env, db = audit_db(station)
    with env.begin(write=True, db=db) as txn:
        for k, _ in list(txn.cursor()):
            if int.from_bytes(k, "big") > keep:
                txn.delete(k)
    env.close()


def setup_sealed(make_station, tmp):
    station = make_station()
    station.start()
    station.ctl("keys", "init", check=True)
    src = os.path.join(tmp, "src")
    for i in range(3):
        random_file(os.path.join(src, f"C{i}.mp4"), 1000 + i, i)
    station.ctl("import", src, "--recorder", "R1", check=True)
    assert station.stop() == 0  # stopping seals the log
    assert "audit checkpoint: seq" in station.read_log()
    station.start()
    result = station.json("verify", "--audit")["audit"]
    assert result["ok"] is True and result["checkpoints"] >= 1, result
    assert result["signatures_checked"] is True
    sealed = result["latest_checkpoint"]
    assert sealed >= 8
    assert station.stop() == 0
    return station, sealed


def test_rewritten_history_is_caught(make_station, tmp):
    station, sealed = setup_sealed(make_station, tmp)
    env, db = audit_db(station)
    with env.begin(db=db) as txn:
        stored = [int.from_bytes(k, "big") for k, v in txn.cursor()
                  if json.loads(v)["event"] == "item.stored"]
    env.close()
    assert stored and stored[0] < sealed
    rechain(station, stored[0], '"R1"', '"R9"')
    station.start()
    p = station.ctl("verify", "--audit")
    assert p.returncode == 1
    assert b"no longer has the hash that was signed: history up to it was rewritten" in p.stdout


def test_cut_short_is_caught(make_station, tmp):
    station, sealed = setup_sealed(make_station, tmp)
    truncate(station, sealed - 2)
    station.start()
    p = station.ctl("verify", "--audit")
    assert p.returncode == 1
    assert f"checkpoint {sealed}: audit entry {sealed} is gone".encode() in p.stdout


def test_a_forged_checkpoint_signature_is_caught(make_station, tmp):
    station, sealed = setup_sealed(make_station, tmp)
    env = lmdb.open(os.path.join(station.state, "catalog"), max_dbs=32, map_size=1 << 30)
    db = env.open_db(b"checkpoints")
    with env.begin(write=True, db=db) as txn:
        k, v = next(iter(txn.cursor()))
        cp = json.loads(v)
        cp["time"] = "2020-01-01T00:00:00Z"  # the signed text no longer matches
        txn.put(k, json.dumps(cp).encode())
    env.close()
    station.start()
    p = station.ctl("verify", "--audit")
    assert p.returncode == 1 and b"signature does not verify" in p.stdout
    # The checkpoint is also in the journal, where the catalogue's owner cannot edit it.
    assert subprocess.run(["grep", "-c", "audit checkpoint: seq", station.log],
                          capture_output=True).returncode == 0
