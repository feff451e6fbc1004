"""The archive as a second place for the seals and the way back: sealed audit segments
in the bucket catch history rewritten on the station (`verify --remote`), a station
wiped clean is restored from the bucket, and `remote list` finds the items of every
station sharing the bucket. Against a real Ceph RGW."""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import EVIDOCKCTL, client_for_users, rmtree
from helpers import system_users
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


def test_read_only_keys_suffice_to_verify_and_list(archived, rgw, tmp):
    """A read-only subuser of the bucket's owner (radosgw-admin --access=read) may run
    verify --remote and remote list; the same keys cannot write to the bucket."""
    st, rep, bucket, sealed = archived
    rep.stop()
    ro_key, ro_secret = "EVDREADONLY0000001", "evd-read-only-secret-000000000000000000"
    rgw.admin("subuser", "create", "--uid=evd-test", "--subuser=evd-test:ro", "--access=read",
              "--key-type=s3", f"--access-key={ro_key}", f"--secret={ro_secret}")
    with open(rep.creds, "w") as f:
        f.write(f"access_key = {ro_key}\nsecret_key = {ro_secret}\n")
    p = ctl(st, "verify", "--remote")
    assert p.returncode == 0 and f"matches the {sealed} sealed entries" in p.stdout, p.stderr
    listed = json.loads(ctl(st, "--json", "remote", "list", check=True).stdout)
    assert sorted(i["id"] for i in listed) == sorted(i["id"] for i in st.json("items"))
    src = os.path.join(tmp, "ro-put")
    with open(src, "wb") as f:
        f.write(b"x" * 2000)
    env = dict(os.environ, S3_ENDPOINT=rgw.endpoint, S3_BUCKET=bucket, S3_REGION=rgw.region,
               S3_ACCESS_KEY=ro_key, S3_SECRET_KEY=ro_secret)
    from test_replicate import S3TOOL
    w = subprocess.run([S3TOOL, "put", "e2e/ro-put", src], env=env, capture_output=True,
                       timeout=120)
    assert w.returncode == 1 and json.loads(w.stdout)["errno"] == 13, w.stdout
    assert s3tool(rgw, bucket, "head", "e2e/ro-put")[0] != 0


def comparable(items):
    return sorted(({k: v for k, v in it.items() if k not in ("replication", "checked_at", "fixity")} for it in items),
                  key=lambda it: it["id"])


def test_restore_a_wiped_station(archived, rgw):
    st, rep, bucket, sealed = archived
    items = st.json("items")
    rep.stop()
    assert st.stop() == 0
    audit_before = None
    env, db = audit_db(st)
    with env.begin(db=db) as txn:
        audit_before = [json.loads(v) for k, v in txn.cursor()]
    env.close()
    keys = os.path.join(os.path.dirname(st.state), "keys-backup")
    shutil.copytree(os.path.join(st.state, "keys"), keys)  # the key is kept apart, not in S3
    rmtree(st.state)  # the disk died
    p = ctl(st, "restore", "--from-remote")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "missing: []" in p.stdout or '"missing": []' in p.stdout, p.stdout
    shutil.copytree(keys, os.path.join(st.state, "keys"))
    st.start()
    after = comparable(st.json("items"))
    for a, b in zip(after, comparable(items)):
        assert {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)} == {}
    assert len(after) == len(items)
    restored = st.json("audit")
    assert restored[:sealed] == audit_before[:sealed]
    assert any(e["event"] == "station.restored" for e in restored)
    for it in items:
        assert os.path.exists(st.object_path(it["sha256"]))
    p = ctl(st, "verify", "--store", "--audit", "--remote")
    assert p.returncode == 0, p.stdout + p.stderr
    # a second restore into a station that has a catalogue is refused
    assert st.stop() == 0
    p = ctl(st, "restore", "--from-remote")
    assert p.returncode == 1 and "not empty" in p.stderr


def test_restore_reports_what_is_missing(archived, rgw):
    st, rep, bucket, sealed = archived
    items = st.json("items")
    rep.stop()
    assert st.stop() == 0
    rmtree(st.state)
    # the cluster's admin can remove a locked object (radosgw-admin): it is then missing
    sha = items[2]["sha256"]
    key = f"e2e/objects/{sha[:2]}/{sha[2:4]}/{sha}"
    rc, head = s3tool(rgw, bucket, "head", key)
    rgw.admin("object", "rm", f"--bucket={bucket}", f"--object={key}",
              f"--object-version={head['version_id']}")
    assert s3tool(rgw, bucket, "head", key)[0] != 0
    p = ctl(st, "--json", "restore", "--from-remote")
    assert p.returncode == 1, p.stdout + p.stderr
    report = json.loads(p.stdout)
    assert [m["id"] for m in report["missing"]] == [items[2]["id"]]
    assert report["items"] == 3 and report["objects"] == 2


def test_two_stations_one_bucket_remote_list(make_station, rgw, tmp):
    bucket = rgw.make_bucket("evd-arc-two-stations")
    made = []
    for name in ("sta", "stb"):
        st = make_station(station__name=name)
        rep = Replicator(st, rgw, bucket)
        st.start()
        import_files(st, tmp, name, [30_000, 31_000], 90 if name == "sta" else 95)
        it = st.json("items")[0]
        st.ctl("label", it["id"], "--case", "X罚〔2026〕99号", "--party", "李四", check=True)
        rep.start()
        made.append((st, rep))
    try:
        for st, rep in made:
            wait_until("replication drained", lambda st=st: drained(st, 2))
        found = json.loads(ctl(made[0][0], "--json", "remote", "list", "--case",
                               "X罚〔2026〕99号", check=True).stdout)
        allitems = json.loads(ctl(made[0][0], "--json", "remote", "list").stdout)
        assert sorted(i["station"] for i in found) == ["sta", "stb"], [(i["station"], i["id"], i.get("labels")) for i in allitems]
        only_b = json.loads(ctl(made[0][0], "--json", "remote", "list", "--station", "stb",
                                check=True).stdout)
        assert len(only_b) == 2 and {i["station"] for i in only_b} == {"stb"}
        p = ctl(made[0][0], "remote", "list", "--case", "X罚〔2026〕99号", check=True)
        assert "sta" in p.stdout and "stb" in p.stdout
        # recording times in the station's zone (Asia/Shanghai by default), not UTC
        assert "(+08:00)" in p.stdout and not re.search(r"\d\d:\d\d:\d\dZ", p.stdout), p.stdout
    finally:
        for st, rep in made:
            rep.stop()


def test_restore_metadata_first_objects_later(archived, rgw):
    st, rep, bucket, sealed = archived
    items = st.json("items")
    rep.stop()
    assert st.stop() == 0
    keys = os.path.join(os.path.dirname(st.state), "keys-backup")
    shutil.copytree(os.path.join(st.state, "keys"), keys)
    rmtree(st.state)
    report = json.loads(ctl(st, "--json", "restore", "--from-remote", "--metadata-only",
                            check=True).stdout)
    assert report["items"] == 3 and report["objects"] == 0 and report["metadata_only"] is True
    shutil.copytree(keys, os.path.join(st.state, "keys"))
    st.start()
    assert len(st.json("items")) == 3  # the catalogue is back before any object
    # the objects still to come are named apart: not missing, not damage
    doc = st.json("verify", "--store")
    assert doc["ok"] is True and doc["store"]["bad"] == [], doc
    assert doc["store"]["pending_restore"] == 3
    assert sorted(i["id"] for i in doc["store"]["pending_restore_items"]) == \
        sorted(it["id"] for it in items)
    p = st.ctl("verify", "--store")
    assert p.returncode == 0, p.stdout
    assert b"3 objects not yet restored from the archive: run restore --from-remote --objects" \
        in p.stdout, p.stdout
    # the scrub's first pass over the restored catalogue raises no alarm either
    wait_until("a scrub pass", lambda: st.json("status")["scrub"]["last_pass_done"])
    assert all(it.get("fixity") != "damaged" for it in st.json("items"))
    status = st.json("status")
    assert status["scrub"].get("alarms", []) == []
    assert any("3 objects not yet restored from the archive" in w for w in status["warnings"]), \
        status["warnings"]
    assert st.stop() == 0
    report = json.loads(ctl(st, "--json", "restore", "--from-remote", "--objects",
                            check=True).stdout)
    assert report["objects"] == 3 and report["missing"] == []
    st.start()
    for it in items:
        assert os.path.exists(st.object_path(it["sha256"]))
    assert any(e["event"] == "station.objects_restored" for e in st.json("audit"))
    p = ctl(st, "verify", "--store", "--audit", "--remote")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "not yet restored" not in p.stdout
    assert st.json("verify", "--store")["store"]["pending_restore"] == 0
    assert not any("not yet restored" in w for w in st.json("status")["warnings"])


def store_names_bad(st, bad_id, pending):
    """verify --store fails naming item bad_id alone, with pending objects still to
    restore, and the item is marked damaged; returns every item's fixity."""
    p = st.ctl("--json", "verify", "--store")
    assert p.returncode == 1, p.stdout
    doc = json.loads(p.stdout)["store"]
    assert [b["id"] for b in doc["bad"]] == [bad_id]
    assert doc["pending_restore"] == pending
    fixity = {it["id"]: it.get("fixity") for it in st.json("items")}
    assert fixity[bad_id] == "damaged"
    return fixity


def test_pending_restore_hides_no_damage(archived, rgw):
    """The marker is no way to hide damage: an object present but wrong while objects
    are pending, and an object deleted after the restore finished, are damage."""
    st, rep, bucket, sealed = archived
    items = sorted(st.json("items"), key=lambda it: it["id"])
    rep.stop()
    assert st.stop() == 0
    keys = os.path.join(os.path.dirname(st.state), "keys-backup")
    shutil.copytree(os.path.join(st.state, "keys"), keys)
    rmtree(st.state)
    ctl(st, "restore", "--from-remote", "--metadata-only", check=True)
    shutil.copytree(keys, os.path.join(st.state, "keys"))
    wrong = st.object_path(items[0]["sha256"])
    os.makedirs(os.path.dirname(wrong))
    with open(wrong, "wb") as f:
        f.write(b"not the recording" * 100)
    st.start()
    fixity = store_names_bad(st, items[0]["id"], pending=2)
    assert fixity[items[1]["id"]] != "damaged" and fixity[items[2]["id"]] != "damaged"
    assert st.stop() == 0
    os.unlink(wrong)
    report = json.loads(ctl(st, "--json", "restore", "--from-remote", "--objects",
                            check=True).stdout)
    assert report["objects"] == 3 and report["missing"] == []
    st.start()
    assert not any("not yet restored" in w for w in st.json("status")["warnings"])
    # after a full restore (no marker) a deleted object is missing and damaged
    gone = st.object_path(items[1]["sha256"])
    subprocess.run(["chattr", "-i", gone], stderr=subprocess.DEVNULL, check=False)
    os.unlink(gone)
    store_names_bad(st, items[1]["id"], pending=0)


@pytest.fixture
def users():
    with system_users({"evd-t-clerk": "evidock-clerk", "evd-t-admin": "evidock-admin"}):
        yield


def test_restore_is_roots_work(make_station, tmp, users):
    """No role, not even the administrators' group, restores: only root, with the files
    of the state directory in reach."""
    st = make_station()
    os.chmod(tmp, 0o755)
    for user in ("evd-t-clerk", "evd-t-admin"):
        for how in (["--metadata-only"], ["--objects"], []):
            p = subprocess.run(["runuser", "-u", user, "--", client_for_users(EVIDOCKCTL), "-c",
                                st.conf, "restore", "--from-remote", *how],
                               capture_output=True, text=True, timeout=60)
            assert p.returncode == 1, (user, how, p.stdout, p.stderr)
            assert "an administrator's work: run it as root" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(st.state, "catalog", "data.mdb"))


def test_forged_newer_versions_are_ignored_and_reported(archived, rgw, tmp):
    """Whoever holds write credentials (another station, a stolen key) can PUT a newer
    version over a key of the versioned bucket, or hide it with a delete marker; the
    COMPLIANCE-locked original stays underneath, and that is what the readers read."""
    st, rep, bucket, sealed = archived
    items = st.json("items")
    rep.stop()
    seg = f"e2e/audit/1-{sealed}.jsonl"
    rec0, rec1 = f"e2e/items/{items[0]['id']}.json", f"e2e/items/{items[1]['id']}.json"
    # a forged audit segment: the recorder of every item rewritten
    orig = os.path.join(tmp, "seg.jsonl")
    assert s3tool(rgw, bucket, "get", seg, orig)[0] == 0
    with open(orig) as f:
        text = f.read()
    assert '"R1"' in text
    forged = os.path.join(tmp, "forged.jsonl")
    with open(forged, "w") as f:
        f.write(text.replace('"R1"', '"R9"'))
    rc, put = s3tool(rgw, bucket, "put", seg, forged)
    assert rc == 0 and put["mode"] == ""  # no lock: an ordinary newer version
    # a forged item record: another case, no hold
    rec = os.path.join(tmp, "rec.json")
    assert s3tool(rgw, bucket, "get", rec0, rec)[0] == 0
    with open(rec) as f:
        record = json.load(f)
    assert record["labels"]["case_no"] == "X罚〔2026〕17号"
    record["labels"]["case_no"] = "FORGED-1"
    with open(rec, "w") as f:
        json.dump(record, f)
    assert s3tool(rgw, bucket, "put", rec0, rec)[0] == 0
    # another record hidden by a delete marker (allowed on a locked bucket)
    assert s3tool(rgw, bucket, "delete", rec1)[0] == 0
    rc, vers = s3tool(rgw, bucket, "versions", "e2e/")
    assert rc == 0
    assert sum(1 for v in vers if v["key"] == seg) == 2
    assert any(v["key"] == rec1 and v["delete_marker"] and v["latest"] for v in vers)
    # the latest version of the segment does not chain: read at its oldest, it does
    p = ctl(st, "verify", "--remote")
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"matches the {sealed} sealed entries" in p.stdout
    assert f"archive: warning: {seg}: a newer unlocked version exists" in p.stdout, p.stdout
    doc = json.loads(ctl(st, "--json", "verify", "--remote").stdout)
    assert doc["ok"] is True and any(w.startswith(seg + ":") for w in doc["remote"]["warnings"])
    # remote list: the original labels, the hidden record found, both reported
    p = ctl(st, "--json", "remote", "list")
    assert p.returncode == 0, p.stderr
    listed = {i["id"]: i for i in json.loads(p.stdout)}
    assert len(listed) == 3
    assert listed[items[0]["id"]]["labels"]["case_no"] == "X罚〔2026〕17号"
    assert f"{rec0}: a newer unlocked version exists" in p.stderr, p.stderr
    assert f"{rec1}: a delete marker hides it" in p.stderr, p.stderr
    # restore: the original labels and holds come back; the report names the forgeries
    assert st.stop() == 0
    keys = os.path.join(os.path.dirname(st.state), "keys-backup")
    shutil.copytree(os.path.join(st.state, "keys"), keys)
    rmtree(st.state)
    p = ctl(st, "--json", "restore", "--from-remote")
    assert p.returncode == 0, p.stdout + p.stderr
    report = json.loads(p.stdout)
    warned = " ".join(report["warnings"])
    assert f"{seg}: a newer unlocked version exists" in warned
    assert f"{rec0}: a newer unlocked version exists" in warned
    shutil.copytree(keys, os.path.join(st.state, "keys"))
    st.start()
    after = comparable(st.json("items"))
    assert len(after) == 3
    for a, b in zip(after, comparable(items)):
        assert {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)} == {}
    assert after[0]["labels"]["case_no"] == "X罚〔2026〕17号"
    restored = st.json("audit")
    assert all('"R9"' not in json.dumps(e) for e in restored[:sealed])
    # the station's restored log matches the archive's locked history
    p = ctl(st, "verify", "--audit", "--remote")
    assert p.returncode == 0, p.stdout + p.stderr


def test_a_locked_forgery_of_a_segment_is_ignored(archived, rgw, tmp):
    """A newer record version under a lock of its own is taken (a relabel is written so),
    but a newer segment version, even locked, never is: segments are written once."""
    st, rep, bucket, sealed = archived
    rep.stop()
    seg = f"e2e/audit/1-{sealed}.checkpoint"
    junk = os.path.join(tmp, "junk")
    with open(junk, "w") as f:
        f.write("evidock audit checkpoint\nnot really\n")
    rc, put = s3tool(rgw, bucket, "put", seg, junk, "-", "2099-01-01T00:00:00Z")
    assert rc == 0
    assert s3tool(rgw, bucket, "head", seg, put["version_id"])[1]["mode"] == "COMPLIANCE"
    p = ctl(st, "verify", "--remote")
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"archive: warning: {seg}: a newer version exists (ignored)" in p.stdout, p.stdout
