"""The archive as a second place for the seals and the way back: sealed audit segments
in the bucket catch history rewritten on the station (`verify --remote`), a station
wiped clean is restored from the bucket, and `remote list` finds the items of every
station sharing the bucket. Against a real Ceph RGW."""
import json
import os
import subprocess

import pytest

from conftest import EVIDOCKCTL, rmtree
from test_checkpoints import audit_db, rechain
from test_replicate import Replicator, drained, import_files, s3tool, wait_until


def ctl(st, *args, check=False):
    """evidockctl with the station's configuration (the archive's section and keys)."""
    p = subprocess.run([EVIDOCKCTL, "-c", st.conf, *[str(a) for a in args]],
                       capture_output=True, timeout=600, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} -> {p.returncode}: {p.stderr}")
    return p


def sealed_in_bucket(rgw, bucket, prefix="e2e"):
    rc, keys = s3tool(rgw, bucket, "list", f"{prefix}/audit/")
    assert rc == 0, keys
    last = 0
    for k in keys:
        name = (k["key"] if isinstance(k, dict) else k).rsplit("/", 1)[-1]
        if name.endswith(".p7s"):
            last = max(last, int(name.split("-")[1].split(".")[0]))
    return last


def head_seq(st):
    return st.json("audit")[-1]["seq"]


@pytest.fixture
def archived(make_station, rgw, tmp, request):
    """A station with items whose audit log is sealed (a restart) and in the bucket."""
    bucket = rgw.make_bucket("evd-arc-" + request.node.name.replace("_", "-")[5:30].lower().strip("-"))
    st = make_station()
    rep = Replicator(st, rgw, bucket)
    st.start()
    st.ctl("keys", "init", check=True)
    import_files(st, tmp, "a", [40_000, 50_000, 60_000], 70)
    items = st.json("items")
    st.ctl("label", items[0]["id"], "--case", "X罚〔2026〕17号", "--party", "张三", check=True)
    st.ctl("hold", items[1]["id"], "--reason", "复议", check=True)
    assert st.stop() == 0  # stopping seals the log
    st.start()
    rep.start()
    wait_until("replication drained", lambda: drained(st, 3))
    sealed = st.json("verify", "--audit")["audit"]["latest_checkpoint"]
    wait_until("audit sealed in the bucket", lambda: sealed_in_bucket(rgw, bucket) >= sealed)
    yield st, rep, bucket, sealed
    if rep.proc:
        rep.stop()


def test_sealed_segments_in_the_bucket(archived, rgw, tmp):
    st, rep, bucket, sealed = archived
    rc, keys = s3tool(rgw, bucket, "list", "e2e/")
    names = [k["key"] if isinstance(k, dict) else k for k in keys]
    seg = f"e2e/audit/1-{sealed}"
    assert {seg + ".jsonl", seg + ".checkpoint", seg + ".p7s"} <= set(names), names
    assert any(n.startswith("e2e/certs/") and n.endswith(".pem") for n in names)
    rc, head = s3tool(rgw, bucket, "head", seg + ".jsonl")
    assert rc == 0 and head["mode"] == "COMPLIANCE"
    assert head["retain_until"] > "2055"  # 30 years by default
    # anyone can check the seal with openssl, from the bucket alone
    for ext in ("checkpoint", "p7s"):
        assert s3tool(rgw, bucket, "get", f"{seg}.{ext}", os.path.join(tmp, f"s.{ext}"))[0] == 0
    cert = [n for n in names if n.startswith("e2e/certs/")][0]
    assert s3tool(rgw, bucket, "get", cert, os.path.join(tmp, "c.pem"))[0] == 0
    p = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
                        os.path.join(tmp, "s.p7s"), "-content", os.path.join(tmp, "s.checkpoint"),
                        "-CAfile", os.path.join(tmp, "c.pem"), "-purpose", "any",
                        "-out", "/dev/null"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    with open(os.path.join(tmp, "s.checkpoint")) as f:
        assert f"seq: {sealed}\n" in f.read()
    p = ctl(st, "verify", "--remote")
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"matches the {sealed} sealed entries" in p.stdout


def test_history_rewritten_on_the_station_disagrees_with_the_bucket(archived, rgw):
    st, rep, bucket, sealed = archived
    rep.stop()
    assert st.stop() == 0
    env, db = audit_db(st)
    with env.begin(db=db) as txn:
        stored = [int.from_bytes(k, "big") for k, v in txn.cursor()
                  if json.loads(v)["event"] == "item.stored"]
    env.close()
    target = stored[1]
    assert target < sealed
    rechain(st, target, '"R1"', '"R9"')
    # the forger also rewrites the local checkpoints' records away: only the bucket is left
    env = audit_db(st)[0]
    cps = env.open_db(b"checkpoints")
    with env.begin(write=True, db=cps) as txn:
        for k, _ in list(txn.cursor()):
            txn.delete(k)
    env.close()
    st.start()
    p = ctl(st, "verify", "--audit", "--remote")
    assert p.returncode == 1, p.stdout
    assert f"archive: FAILED: audit entry {target}: its details differs" in p.stdout, p.stdout
    doc = json.loads(ctl(st, "--json", "verify", "--remote").stdout)
    assert doc["ok"] is False and doc["remote"]["first_difference"]["seq"] == target


def test_verify_remote_refuses_readable_credentials(archived):
    st, rep, bucket, sealed = archived
    os.chmod(rep.creds, 0o640)
    p = ctl(st, "verify", "--remote")
    assert p.returncode == 1 and "readable by its owner only" in p.stderr
