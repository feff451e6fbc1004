"""Exports and copies reach the caller, not a path (issue 12, findings 3 and 11).

evidockd never opens, creates or chowns a file its caller names: evidockctl creates its
output itself (O_CREAT|O_EXCL|O_NOFOLLOW, its own uid and umask) and passes the
descriptor on the control socket when evidockd asks for it ("need_fd"). These tests
run the attacks of the review: an archivist who plants a symlink where the daemon used
to write, a client that dies in the middle, a client that passes something else than a
fresh empty file."""
import json
import os
import pwd
import socket
import subprocess
import time

import pytest

from conftest import client_for_users
from helpers import random_file, sha256_file
from test_access import users  # noqa: F401 (a fixture: unix users in role groups)

CASE = "X罚〔2026〕21号"
PEOPLE = ["--maker", "王制作", "--extractor", "李提取", "--approver", "张所长",
          "--reason", "移送"]
ARCH = "evd-t-arch"


def setup_station(make_station, tmp, sizes=(300000, 200000)):
    station = make_station(scrub__interval="off")
    station.start()
    station.ctl("keys", "init", check=True)
    src = os.path.join(tmp, "src")
    for i, size in enumerate(sizes):
        random_file(os.path.join(src, "DCIM", f"CLIP{i:04d}.MP4"), size, 40 + i)
    station.ctl("import", src, "--recorder", "R1", check=True)
    ids = [str(it["id"]) for it in station.json("items")]
    station.ctl("label", *ids, "--case", CASE, "--party", "张三", check=True)
    os.chmod(tmp, 0o755)
    return station, ids


def home_of(tmp, user=ARCH):
    """A folder of the user's own, as their home would be."""
    pw = pwd.getpwnam(user)
    home = os.path.join(tmp, "home-" + user)
    os.makedirs(home, exist_ok=True)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    os.chmod(home, 0o700)
    return home, pw


def as_user(station, user, umask, *args):
    client = client_for_users(station.evidockctl)
    cmd = " ".join(["umask", umask, ";", "exec", client, "--socket", station.sock] +
                   ["'" + a + "'" for a in args])
    return subprocess.run(["runuser", "-u", user, "--", "sh", "-c", cmd], capture_output=True,
                          timeout=600)


def exports_done(station):
    return [e for e in station.json("audit") if e["event"] == "export.done"]


def root_secret(tmp):
    """A root-owned file only root may read or write, standing for the station key."""
    path = os.path.join(tmp, "root-secret")
    with open(path, "wb") as f:
        f.write(b"root only\n")
    os.chmod(path, 0o600)
    return path, os.stat(path)


def unchanged(path, st):
    now = os.stat(path)
    assert (now.st_uid, now.st_gid, now.st_mode, now.st_size) == \
        (st.st_uid, st.st_gid, st.st_mode, st.st_size), (path, now)
    assert open(path, "rb").read() == b"root only\n"


def test_symlink_swap_takes_nothing(make_station, tmp, users):  # noqa: F811
    station, _ = setup_station(make_station, tmp)
    home, pw = home_of(tmp)
    secret, st = root_secret(tmp)
    key = os.path.join(station.state, "keys", "station.key")
    key_st = os.stat(key)
    # The old attack: a symlink where the daemon wrote its hidden partial file. The
    # client never makes that name; the export succeeds and the targets keep owner
    # and content.
    os.symlink(key, os.path.join(home, ".case.iso.partial"))
    os.lchown(os.path.join(home, ".case.iso.partial"), pw.pw_uid, pw.pw_gid)
    r = as_user(station, ARCH, "022", "export", "--case", CASE, *PEOPLE, "-o",
                os.path.join(home, "case.iso"))
    assert r.returncode == 0, r.stderr
    assert os.stat(os.path.join(home, "case.iso")).st_uid == pw.pw_uid
    now = os.stat(key)
    assert (now.st_uid, now.st_mode, now.st_size) == (key_st.st_uid, key_st.st_mode,
                                                      key_st.st_size)
    # The output itself a symlink to a root-owned file: refused by the client (O_EXCL,
    # O_NOFOLLOW), nothing recorded, the target untouched, the symlink left as it is.
    out = os.path.join(home, "evil.iso")
    os.symlink(secret, out)
    before = len(exports_done(station))
    r = as_user(station, ARCH, "022", "export", "--case", CASE, *PEOPLE, "-o", out)
    assert r.returncode == 1 and b"exists already" in r.stderr, r.stderr
    assert os.path.islink(out) and os.readlink(out) == secret
    unchanged(secret, st)
    assert len(exports_done(station)) == before
    # The same as root (the daemon's own uid in these tests): still not followed.
    p = station.ctl("export", "--case", CASE, *PEOPLE, "-o", out)
    assert p.returncode == 1 and b"exists already" in p.stderr
    unchanged(secret, st)
    # access --copy-to: a symlink planted under the copy's name.
    item = station.json("items")[0]
    planted = os.path.join(home, f"{item['id']}-{item['original_path'].split('/')[-1]}")
    os.symlink(secret, planted)
    r = as_user(station, ARCH, "022", "access", str(item["id"]), "--requester", "a",
                "--approver", "b", "--reason", "c", "--copy-to", home)
    assert r.returncode == 1 and b"exists already" in r.stderr, r.stderr
    assert os.path.islink(planted)
    unchanged(secret, st)
    assert not [e for e in station.json("audit") if e["event"] == "item.accessed"]


@pytest.mark.parametrize("umask,mode", [("022", 0o640), ("077", 0o600), ("027", 0o640)])
def test_outputs_belong_to_the_caller(make_station, tmp, users, umask, mode):  # noqa: F811
    station, ids = setup_station(make_station, tmp)
    home, pw = home_of(tmp)
    out = os.path.join(home, "case.iso")
    r = as_user(station, ARCH, umask, "--json", "export", "--case", CASE, *PEOPLE, "-o", out)
    assert r.returncode == 0, r.stderr
    st = os.stat(out)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (pw.pw_uid, pw.pw_gid, mode)
    [vol] = json.loads(r.stdout)["volumes"]
    assert vol["path"] == out and sha256_file(out) == vol["sha256"]
    copies = os.path.join(home, "copies")
    subprocess.run(["runuser", "-u", ARCH, "--", "mkdir", copies], check=True)
    r = as_user(station, ARCH, umask, "--json", "access", ids[0], "--requester", "a",
                "--approver", "b", "--reason", "c", "--copy-to", copies)
    assert r.returncode == 0, r.stderr
    copy = json.loads(r.stdout)["copy_to"]
    st = os.stat(copy)
    assert (st.st_uid, st.st_mode & 0o777) == (pw.pw_uid, mode)
    assert sha256_file(copy) == station.json("show", ids[0])["sha256"]
    assert os.listdir(copies) == [os.path.basename(copy)]


def test_split_export_volumes_made_by_the_client(make_station, tmp, users):  # noqa: F811
    station, ids = setup_station(make_station, tmp, sizes=(700000, 700000, 700000))
    home, pw = home_of(tmp)
    out = os.path.join(home, "case.iso")
    r = as_user(station, ARCH, "077", "--json", "export", "--case", CASE, *PEOPLE, "--media",
                "2800000", "-o", out)
    assert r.returncode == 0, r.stderr
    vols = json.loads(r.stdout)["volumes"]
    assert [v["path"] for v in vols] == [os.path.join(home, "case-1.iso"),
                                         os.path.join(home, "case-2.iso")]
    assert sorted(os.listdir(home)) == ["case-1.iso", "case-2.iso"]
    for v in vols:
        st = os.stat(v["path"])
        assert (st.st_uid, st.st_mode & 0o777) == (pw.pw_uid, 0o600)
        assert sha256_file(v["path"]) == v["sha256"]
    # The second volume's name taken already: the export fails, the client removes
    # the first volume it made, keeps the file it did not make, nothing is recorded.
    for name in os.listdir(home):
        os.unlink(os.path.join(home, name))
    with open(os.path.join(home, "case-2.iso"), "wb") as f:
        f.write(b"mine")
    r = as_user(station, ARCH, "077", "export", "--case", CASE, *PEOPLE, "--media", "2800000",
                "-o", out)
    assert r.returncode == 1 and b"case-2.iso exists already" in r.stderr, r.stderr
    assert os.listdir(home) == ["case-2.iso"]
    assert open(os.path.join(home, "case-2.iso"), "rb").read() == b"mine"
    assert len(exports_done(station)) == 1


# ---- a client of our own, to misbehave ----

class RawClient:
    def __init__(self, station):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(station.sock)
        self.buf = b""

    def send(self, cmd, args):
        self.sock.sendall(json.dumps({"cmd": cmd, "args": args}).encode() + b"\n")

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self, answer):
        """Read until the final line, calling answer(need) on each need_fd."""
        while True:
            msg = self.line()
            if msg is None:
                return None
            need = msg.get("progress", {}).get("need_fd")
            if need is not None:
                if answer(need) == "hang up":
                    self.sock.close()
                    return None
            elif "progress" not in msg:
                return msg

    def send_fd(self, fd):
        socket.send_fds(self.sock, [b"F"], [fd])


def export_args(out, **more):
    args = {"case": CASE, "maker": "m", "extractor": "e", "approver": "a", "reason": "r",
            "out": out, "fds": True}
    args.update(more)
    return args


def wait_idle(station):
    deadline = time.monotonic() + 120
    while station.json("status")["exports_running"] != 0:
        assert time.monotonic() < deadline, "the export never ended"
        time.sleep(0.05)


def test_client_dies_mid_export(make_station, tmp):
    station, ids = setup_station(make_station, tmp, sizes=(700000, 700000, 700000))
    out = os.path.join(tmp, "case.iso")
    c = RawClient(station)
    made = []

    def answer(need):
        if need["volume"] == 2:
            return "hang up"  # dies with volume 1 written, before volume 2
        fd = os.open(f"{tmp}/case-{need['volume']}.iso", os.O_RDWR | os.O_CREAT | os.O_EXCL,
                     0o600)
        made.append(fd)
        c.send_fd(fd)
        return None

    c.send("export", export_args(out, media="2800000"))
    assert c.reply(answer) is None
    wait_idle(station)
    assert exports_done(station) == []
    assert all(station.json("show", i)["exports"] == [] for i in ids)
    assert station.json("status")["exports_running"] == 0
    # The daemon goes on: a whole export afterwards works.
    r = station.ctl("--json", "export", "--case", CASE, *PEOPLE, "-o",
                    os.path.join(tmp, "good.iso"), check=True)
    assert len(json.loads(r.stdout)["volumes"]) == 1
    assert len(exports_done(station)) == 1


@pytest.mark.parametrize("bad", ["nonempty", "readonly", "append", "directory", "pipe", "no",
                                 "two", "bytes"])
def test_hostile_descriptors_are_refused(make_station, tmp, bad):
    station, ids = setup_station(make_station, tmp)
    path = os.path.join(tmp, "victim")
    with open(path, "wb") as f:
        f.write(b"" if bad != "nonempty" else b"precious")
    c = RawClient(station)
    opened = []

    def answer(need):
        if bad == "nonempty":
            fd = os.open(path, os.O_RDWR)
        elif bad == "readonly":
            fd = os.open(path, os.O_RDONLY)
        elif bad == "append":
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        elif bad == "directory":
            fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
        elif bad == "pipe":
            fd, w = os.pipe()
            opened.append(w)
        elif bad == "no":
            c.sock.sendall(b"N")
            return None
        elif bad == "bytes":
            c.sock.sendall(b"F")  # "here it is", without it
            return None
        else:
            fd = os.open(path, os.O_RDWR)
            fd2 = os.open(path, os.O_RDWR)
            socket.send_fds(c.sock, [b"F"], [fd, fd2])
            opened.extend([fd, fd2])
            return None
        opened.append(fd)
        c.send_fd(fd)
        return None

    c.send("export", export_args(os.path.join(tmp, "x.iso")))
    reply = c.reply(answer)
    assert reply is not None and reply["ok"] is False, reply
    assert reply["error"], reply
    for fd in opened:
        os.close(fd)
    assert open(path, "rb").read() == (b"precious" if bad == "nonempty" else b"")
    assert exports_done(station) == []
    # The connection still answers.
    c.send("status", {})
    assert c.reply(lambda need: None)["ok"] is True


def test_requests_without_fds_are_refused(make_station, tmp):
    station, ids = setup_station(make_station, tmp)
    out = os.path.join(tmp, "x.iso")
    c = RawClient(station)
    args = export_args(out)
    del args["fds"]
    c.send("export", args)
    reply = c.reply(lambda need: pytest.fail("asked for a descriptor"))
    assert reply["ok"] is False and "fds" in reply["error"]
    assert not os.path.exists(out)
    # An old-style copy request: nothing is made in the folder.
    c.send("access", {"item": ids[0], "requester": "a", "approver": "b", "reason": "c",
                      "copy_to": tmp})
    reply = c.reply(lambda need: "hang up")
    assert reply is None
    wait_idle(station)
    assert not [e for e in station.json("audit") if e["event"] == "item.accessed"]
