"""Reconciliation: the replicator lists the bucket, compares it with the catalogue and
re-hashes a sample; a copy the cluster's admin removed (radosgw-admin can, locks or
not) or an object nobody stored is an alarm, audited, and the missing copy is uploaded
again. `evidockctl replication` shows the lag, the last reconciliation and the alarms."""
import json
import subprocess

from conftest import EVIDOCKCTL
from simstation import make_sim  # noqa: F401
from test_replicate import Replicator, drained, import_files, raw, s3tool, wait_until


def replication(st):
    return raw(st.sock, "replication")["result"]


def reconciled_after(st, at):
    last = replication(st).get("last_reconciliation")
    return last if last and last["at"] > at else None


def test_reconciliation_finds_and_repairs(make_station, rgw, tmp):
    bucket = rgw.make_bucket("evd-reconcile")
    st = make_station()
    rep = Replicator(st, rgw, bucket, reconcile="2 s", sample_per_day="86400")
    st.start()
    import_files(st, tmp, "a", [30_000, 40_000], 80)
    a, b = st.json("items")
    rep.start()
    try:
        wait_until("replication drained", lambda: drained(st, 2))
        clean = wait_until("a clean reconciliation", lambda: reconciled_after(st, ""))
        assert clean["problems"] == [] and clean["extra"] == [] and clean["checked"] == 2
        assert clean["sampled"] >= 1  # objects read back in full and re-hashed
        p = subprocess.run([EVIDOCKCTL, "--socket", st.sock, "replication"], capture_output=True,
                           text=True)
        assert p.returncode == 0, p.stderr
        assert "lag: 0 item(s)" in p.stdout and "last reconciliation:" in p.stdout
        # the cluster's admin deletes a locked copy; someone drops a stray object in
        sha = a["sha256"]
        key = f"e2e/objects/{sha[:2]}/{sha[2:4]}/{sha}"
        rc, head = s3tool(rgw, bucket, "head", key)
        rgw.admin("object", "rm", f"--bucket={bucket}", f"--object={key}",
                  f"--object-version={head['version_id']}")
        assert s3tool(rgw, bucket, "head", key)[0] != 0
        stray = f"{tmp}/stray"
        with open(stray, "wb") as f:
            f.write(b"not a recording")
        assert s3tool(rgw, bucket, "put", "e2e/objects/00/00/stray", stray)[0] == 0
        seen = clean["at"]
        bad = wait_until("the reconciliation sees it",
                         lambda: (lambda r: r if r and r["problems"] else None)(
                             reconciled_after(st, seen)))
        assert [x["item"] for x in bad["problems"]] == [a["id"]]
        assert "missing" in bad["problems"][0]["why"]
        assert bad["extra"] == ["e2e/objects/00/00/stray"]
        status = replication(st)
        assert any("ALARM" in w for w in status["alarms"])
        p = subprocess.run([EVIDOCKCTL, "--socket", st.sock, "replication"], capture_output=True,
                           text=True)
        assert p.returncode == 1 and "ALARM" in p.stdout and "missing" in p.stdout
        audit = st.json("audit")
        assert any(e["event"] == "replication.alarm" and e["subject"] == f"item:{a['id']}"
                   for e in audit)
        assert any(e["event"] == "replication.reconciled" for e in audit)
        # the copy goes up again
        wait_until("re-uploaded", lambda: s3tool(rgw, bucket, "head", key)[0] == 0)
        rc, head = s3tool(rgw, bucket, "head", key)
        assert head["mode"] == "COMPLIANCE" and head["retain_until"] == a["retain_until"]
    finally:
        rep.stop()


def test_only_the_replicator_may_report_a_reconciliation(station, tmp):
    import grp
    import os
    import pwd
    os.chmod(tmp, 0o755)
    os.chmod(station.root, 0o755)
    users = {"evd-t-radmin2": "evidock-admin", "evd-t-repl2": "evidock-replicator"}
    for u, g in users.items():
        try:
            grp.getgrnam(g)
        except KeyError:
            subprocess.run(["groupadd", "--system", g], check=True)
        try:
            pwd.getpwnam(u)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", u], check=True)
        subprocess.run(["usermod", "-a", "-G", g, u], check=True)
    good = {"objects": 0, "checked": 0, "sampled": 0, "extra": [],
            "problems": [{"item": 999, "why": "x"}]}
    try:
        r = raw(station.sock, "reconciled", good, user="evd-t-radmin2")
        assert not r["ok"] and "replicator role" in r["error"]
        assert raw(station.sock, "reconciled", good, user="evd-t-repl2")["ok"]
        for hostile in ({"problems": "nope"},
                        dict(good, problems=[{"item": "x"}]),
                        dict(good, problems=[{"item": 1, "why": "w" * 5000}]),
                        dict(good, extra=[1, 2])):
            assert not raw(station.sock, "reconciled", hostile, user="evd-t-repl2")["ok"]
    finally:
        for u in users:
            subprocess.run(["userdel", u], check=False)
    json.dumps(good)


def test_sd_notify_status_carries_the_archive_lag(make_sim, rgw, tmp):
    import os
    import socket
    import time
    path = os.path.join(tmp, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(1)
    bucket = rgw.make_bucket("evd-notify-lag")
    st = make_sim()
    Replicator(st, rgw, bucket)  # configured, not started: everything stays pending
    st.start(env={"NOTIFY_SOCKET": path})
    import_files(st, tmp, "a", [1 << 20, 1 << 20], 7)
    deadline = time.monotonic() + 60  # every 5 s, the lag counted at most every 15 s
    lines = []
    while time.monotonic() < deadline:
        try:
            lines += sock.recv(4096).decode().splitlines()
        except socket.timeout:
            continue
        if any("archive: 2 pending (2 MB)" in x for x in lines):
            break
    sock.close()
    assert any(x.startswith("STATUS=") and "; archive: 2 pending (2 MB), oldest" in x
               for x in lines), lines


def test_reconciliation_finds_size_retention_hold_and_hash(make_station, rgw, tmp):
    """Newer versions forged over four locked objects (a writer with the bucket's keys
    can add versions, never remove the locked ones): another size, a shorter retention,
    a legal hold the item does not have, and the same size with other bytes, which only
    re-reading and re-hashing the object finds. Each is an audited alarm."""
    import datetime
    import os
    bucket = rgw.make_bucket("evd-reconcile-kinds")
    st = make_station()
    # every confirmed object sampled on each reconciliation
    rep = Replicator(st, rgw, bucket, reconcile="2 s", sample_per_day="1000000")
    st.start()
    import_files(st, tmp, "a", [30_000, 31_000, 32_000, 33_000], 60)
    items = sorted(st.json("items"), key=lambda i: i["size"])
    rep.start()
    try:
        wait_until("replication drained", lambda: drained(st, 4))
        clean = wait_until("a clean reconciliation of all four",
                           lambda: (lambda r: r if r and r["checked"] == 4 else None)(
                               reconciled_after(st, "")))
        assert clean["problems"] == [] and clean["sampled"] == 4
        rep.stop()

        def key(it):
            sha = it["sha256"]
            return f"e2e/objects/{sha[:2]}/{sha[2:4]}/{sha}"

        def forge(it, size, until, *hold, seed):
            path = f"{tmp}/forged-{it['id']}"
            with open(path, "wb") as f:
                f.write(os.urandom(size) if seed else open(st.object_path(it["sha256"]),
                                                           "rb").read())
            from helpers import sha256_file
            rc, out = s3tool(rgw, bucket, "put", key(it), path, sha256_file(path), until, *hold)
            assert rc == 0, out

        soon = (datetime.datetime.now(datetime.timezone.utc) +
                datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        size, shorter, held, rehash = items
        forge(size, 1000, size["retain_until"], seed=1)
        forge(shorter, shorter["size"], soon, seed=0)  # the same bytes, a day's lock
        forge(held, held["size"], held["retain_until"], "hold", seed=0)
        forge(rehash, rehash["size"], rehash["retain_until"], seed=1)
        at = replication(st)["last_reconciliation"]["at"]
        rep.start()
        bad = wait_until("the reconciliation sees them", lambda: reconciled_after(st, at))
        why = {}
        for p in bad["problems"]:
            why.setdefault(p["item"], []).append(p["why"])
        assert any("another size" in w for w in why.get(size["id"], [])), why
        assert any("retention in the archive is shorter" in w
                   for w in why.get(shorter["id"], [])), why
        assert any("legal hold in the archive differs" in w for w in why.get(held["id"], [])), why
        assert any("no longer hashes" in w for w in why.get(rehash["id"], [])), why
        assert bad["extra"] == []
        audit = st.json("audit")
        for it in items:
            assert any(e["event"] == "replication.alarm" and e["subject"] == f"item:{it['id']}"
                       for e in audit), it["id"]
        # each goes up again: the newest version is the station's, locked as the item
        for it in items:
            wait_until("re-uploaded", lambda: (lambda r: r[0] == 0 and r[1]["size"] == it["size"]
                                               and r[1]["retain_until"] == it["retain_until"]
                                               and not r[1]["legal_hold"])(
                s3tool(rgw, bucket, "head", key(it))))
    finally:
        rep.stop()
