"""The access register (第二十七条) and roles: every view and copy is registered with
requester, approver, time and reason; each user can do only what their role allows,
and every refusal is audited."""
import csv
import io
import os
import subprocess

import pytest

from helpers import random_file, sha256_file, system_users

USERS = {"evd-t-clerk": "evidock-clerk", "evd-t-arch": "evidock-archivist",
         "evd-t-admin": "evidock-admin", "evd-t-nobody": None}


def test_access_copy_and_register(station, tmp):
    src = os.path.join(tmp, "src")
    orig = random_file(os.path.join(src, "DCIM/CLIP0001.MP4"), 3 * 1024 * 1024 + 5, 1)
    station.ctl("import", src, "--recorder", "R1", check=True)
    item = station.json("items")[0]
    out = os.path.join(tmp, "out")
    os.makedirs(out)

    r = station.json("access", item["id"], "--requester", "张警官", "--approver", "李所长",
                     "--reason", "复议审查")
    assert r["copy_to"] is None
    r = station.json("access", item["sha256"][:16], "--requester", "张警官", "--approver",
                     "李所长", "--reason", "法院调取, \"证据\"", "--copy-to", out)
    copy = os.path.join(out, f"{item['id']}-CLIP0001.MP4")
    assert r["copy_to"] == copy
    assert sha256_file(copy) == sha256_file(orig) == item["sha256"]
    # Made by the client: its umask (022 here) on 0640, not world-readable.
    assert os.stat(copy).st_mode & 0o777 == 0o640
    assert sorted(os.listdir(out)) == [os.path.basename(copy)]  # no partial file left
    p = station.ctl("access", item["id"], "--requester", "a", "--approver", "b", "--reason",
                    "c", "--copy-to", out)
    assert p.returncode == 1 and b"exists already" in p.stderr
    p = station.ctl("access", item["id"], "--requester", "a", "--reason", "c")
    assert p.returncode == 2  # --approver is required

    log = station.json("access-log")
    assert [e["details"]["reason"] for e in log] == ["复议审查", "法院调取, \"证据\""]
    assert log[1]["details"]["copy_to"] == copy
    assert log[0]["details"]["requester"] == "张警官" and log[0]["details"]["approver"] == "李所长"
    rows = list(csv.DictReader(io.StringIO(
        station.ctl("access-log", "--format", "csv", check=True).stdout.decode())))
    assert [row["reason"] for row in rows] == ["复议审查", "法院调取, \"证据\""]
    assert rows[1]["copy_to"] == copy and rows[0]["requester"] == "张警官"
    table = station.ctl("access-log", "--format", "table", check=True).stdout.decode()
    assert "李所长" in table and "复议审查" in table
    assert station.json("access-log", "--format", "json") == log
    assert station.json("access-log", "--since", "2099-01-01") == []
    assert station.ctl("access-log", "--format", "xml").returncode == 2


@pytest.fixture
def users():
    with system_users(USERS):
        yield


def test_roles(station, tmp, users):
    src = os.path.join(tmp, "src")
    random_file(os.path.join(src, "a.mp4"), 1000, 1)
    station.ctl("import", src, "--recorder", "R1", check=True)
    item = str(station.json("items")[0]["id"])
    os.chmod(tmp, 0o755)
    label = ["label", item, "--case", "X罚〔2026〕17号", "--party", "张三"]
    access = ["access", item, "--requester", "a", "--approver", "b", "--reason", "c"]
    clerk_ok = [["status"], ["items"], ["show", item], label, ["calendar", "2026-10-10"]]
    archivist_ok = [access, ["access-log"], ["verify"], ["audit"]]
    admin_ok = [["import", src, "--recorder", "R1"], ["hold", item, "--reason", "x"],
                ["release", item, "--reason", "x"], ["recorder", "list"],
                ["purge", "--dry-run", "--approver", "a", "--reason", "b"]]
    expect = {
        "evd-t-nobody": ([], clerk_ok + archivist_ok + admin_ok),
        "evd-t-clerk": (clerk_ok, archivist_ok + admin_ok),
        "evd-t-arch": (clerk_ok + archivist_ok, admin_ok),
        "evd-t-admin": (clerk_ok + archivist_ok + admin_ok, []),
    }
    refusals = 0
    for user, (allowed, refused) in expect.items():
        for args in allowed:
            p = station.ctl(*args, user=user)
            assert p.returncode == 0, (user, args, p.stderr)
        for args in refused:
            p = station.ctl(*args, user=user)
            assert p.returncode == 1, (user, args)
            assert b"permission denied: " in p.stderr and b" role" in p.stderr, p.stderr
            refusals += 1
    p = station.ctl("purge", "--approver", "a", "--reason", "b", user="evd-t-clerk")
    assert b"permission denied: purge needs the admin role" in p.stderr
    refusals += 1
    # Refusals are counted per uid and audited a minute at a time (the first at once);
    # what is still counted is audited when the daemon stops.
    assert station.stop() == 0
    station.start()
    audited = [e for e in station.json("audit") if e["event"] == "request.refused"]
    assert sum(e["details"]["count"] for e in audited) == refusals
    assert {e["actor"]["name"] for e in audited} == {"evd-t-nobody", "evd-t-clerk", "evd-t-arch"}
    purge = [e for e in audited if "purge" in e["details"]["commands"]
             and e["actor"]["name"] == "evd-t-clerk"]
    assert purge and "purge" in purge[-1]["subject"].split(","), audited
    accessed = [e for e in station.json("audit") if e["event"] == "item.accessed"]
    assert {e["actor"]["name"] for e in accessed} == {"evd-t-arch", "evd-t-admin"}


def test_roles_from_a_clone_in_a_private_folder(make_station, tmp, users):
    """A clone under root's home (mode 0700 on Debian) holds the binaries where other
    users cannot enter; the role tests must not depend on where the tree lives."""
    private = os.path.join(tmp, "root-home")
    os.makedirs(os.path.join(private, "clone", "build"))
    os.chmod(private, 0o700)
    station = make_station()
    for name in ("evidockd", "evidockctl"):
        path = os.path.join(private, "clone", "build", name)
        subprocess.run(["cp", getattr(station, name), path], check=True)
        setattr(station, name, path)
    station.start()
    os.chmod(tmp, 0o755)
    p = subprocess.run(["runuser", "-u", "evd-t-clerk", "--", station.evidockctl, "--version"],
                       capture_output=True)
    assert p.returncode != 0 and b"Permission denied" in p.stderr  # out of the clerk's reach
    assert station.ctl("status", user="evd-t-clerk").returncode == 0
    p = station.ctl("hold", "1", "--reason", "x", user="evd-t-clerk")
    assert p.returncode == 1 and b"permission denied: " in p.stderr
