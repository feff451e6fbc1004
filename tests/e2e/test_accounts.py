"""Accounts for the web console, end to end with the real evidockd and evidockctl:
admins manage them, people sign in over the control socket with the console's JSON
requests, a session token gives a request the account's role and audits it as
web:NAME whatever the unix caller, failed sign-ins lock, and passwords never show."""
import json
import os
import pwd
import socket
import subprocess
import time

import pytest

from conftest import client_for_users
from helpers import random_file, system_users

# Unix users of these tests: a clerk, and one with no role (as the console's user is).
USERS = {"evd-acc-clerk": "evidock-clerk", "evd-acc-none": None}
PW = "春眠不觉晓-Spring-2026"
PW2 = "處處聞啼鳥-birds-7"

# Requests on one connection, one per argv word (JSON), replies printed one a line.
ASK = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw", encoding="utf-8")
for line in sys.argv[2:]:
    f.write(line + "\n")
    f.flush()
    print(f.readline().strip(), flush=True)
"""


@pytest.fixture
def users():
    with system_users(USERS):
        yield


def reachable(station):
    """Let other unix users reach the socket (the folders above it are 0700)."""
    os.chmod(station.root, 0o755)
    os.chmod(os.path.dirname(station.root), 0o755)


def ask(station, *requests, user="evd-acc-none"):
    """Send requests (dicts) as a unix user over one connection; the replies."""
    reachable(station)
    cmd = ["/usr/bin/python3", "-c", ASK, station.sock] + [
        json.dumps(r, ensure_ascii=False) for r in requests]
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


def login(station, name, password, client="192.0.2.7", user="evd-acc-none"):
    return ask(station, {"cmd": "login", "args": {"user": name, "password": password,
                                                  "client": client}}, user=user)[0]


def passwd(station, name, password, user=None):
    p = subprocess.run(
        ([station.evidockctl] if not user else
         ["runuser", "-u", user, "--", client_for_users(station.evidockctl)]) +
        ["--socket", station.sock, "user", "passwd", name],
        input=password + "\n", capture_output=True, text=True, timeout=120)
    return p


def audit(station):
    return station.json("audit")


def setup_accounts(station):
    station.ctl("user", "add", "张三", "--role", "clerk", check=True)
    station.ctl("user", "add", "李四", "--role", "archivist", check=True)
    for name, pw in (("张三", PW), ("李四", PW2)):
        p = passwd(station, name, pw)
        assert p.returncode == 0, p.stderr


def test_admin_manages_accounts_others_cannot(station, users):
    setup_accounts(station)
    listed = station.json("user", "list")
    assert [(u["name"], u["role"], u["disabled"], u["has_password"]) for u in listed] == [
        ("张三", "clerk", False, True), ("李四", "archivist", False, True)]
    text = station.ctl("user", "list", check=True).stdout.decode()
    assert "张三" in text and "archivist" in text and "active" in text
    assert "$y$" not in text and "$y$" not in json.dumps(listed) and "\"password\"" not in \
        json.dumps(listed)
    # Twice, a bad role, a bad name: refused with a reason.
    p = station.ctl("user", "add", "张三", "--role", "clerk")
    assert p.returncode == 1 and b"exists already" in p.stderr
    p = station.ctl("user", "add", "王五", "--role", "root")
    assert p.returncode == 1 and b"role must be" in p.stderr
    p = station.ctl("user", "add", "a\x07b", "--role", "clerk")
    assert p.returncode == 1 and b"control character" in p.stderr
    p = passwd(station, "张三", "short")
    assert p.returncode == 1 and "8 to 1024 bytes" in p.stderr
    # A clerk, and a caller with no role, can do none of it.
    reachable(station)
    for user in USERS:
        for args in (["user", "add", "王五", "--role", "admin"], ["user", "list"],
                     ["user", "disable", "张三"]):
            p = station.ctl(*args, user=user)
            assert p.returncode == 1 and b"permission denied" in p.stderr, (user, args, p.stderr)
        p = passwd(station, "张三", "taken-over-1234", user=user)
        assert p.returncode == 1 and "permission denied" in p.stderr
    assert login(station, "张三", "taken-over-1234")["ok"] is False
    events = [(e["event"], e["subject"], e["actor"]["name"]) for e in audit(station)
              if e["event"].startswith("user.")]
    assert ("user.added", "user:张三", "root") in events
    assert ("user.added", "user:李四", "root") in events
    assert ("user.password", "user:张三", "root") in events
    assert not any(e[0] == "user.added" and e[1] == "user:王五" for e in events)
    # The refused passwd requests carried a password: their audit entries do not.
    assert "taken-over-1234" not in json.dumps(audit(station), ensure_ascii=False)
    assert "taken-over-1234" not in station.read_log()


def test_sign_in_gives_the_account_role_and_actor(station, users, tmp):
    setup_accounts(station)
    src = os.path.join(tmp, "src")
    random_file(os.path.join(src, "a.mp4"), 1000, 1)
    station.ctl("import", src, "--recorder", "R1", check=True)
    item = station.json("items")[0]["id"]

    r = login(station, "张三", PW)
    assert r["ok"] is True, r
    token = r["result"]["token"]
    assert len(token) == 64 and all(c in "0123456789abcdef" for c in token)
    assert r["result"]["role"] == "clerk" and r["result"]["expires"].endswith("Z")
    label = {"cmd": "label", "args": {"items": [str(item)], "case": "X罚〔2026〕17号",
                                      "party": "王五"}}
    # Without the token the no-role user can do nothing; with it, what a clerk can.
    no, yes, items, aud = ask(station, label, dict(label, token=token),
                              {"cmd": "items", "args": {}, "token": token},
                              {"cmd": "audit", "args": {}, "token": token})
    assert no["ok"] is False and "permission denied" in no["error"], no
    assert yes["ok"] is True, yes
    assert items["ok"] is True and items["result"][0]["id"] == item
    assert aud["ok"] is False and "audit needs the archivist role" in aud["error"], aud
    # The archivist's token reads the audit log; a clerk (unix) with it too.
    t2 = login(station, "李四", PW2)["result"]["token"]
    aud = ask(station, {"cmd": "audit", "args": {}, "token": t2}, user="evd-acc-clerk")[0]
    assert aud["ok"] is True
    entries = aud["result"]
    labelled = [e for e in entries if e["event"] == "item.labelled"]
    assert [e["actor"]["name"] for e in labelled] == ["web:张三"], labelled
    assert labelled[0]["actor"]["uid"] == pwd.getpwnam("evd-acc-none").pw_uid
    logins = [e for e in entries if e["event"] == "user.login"]
    assert [(e["actor"]["name"], e["details"]["client"]) for e in logins] == [
        ("web:张三", "192.0.2.7"), ("web:李四", "192.0.2.7")]
    # A token's role is the account's, whatever the unix caller: root with a clerk's
    # token is a clerk, and with a stale token nobody.
    r = ask(station, {"cmd": "user.list", "args": {}, "token": token}, user=None)[0]
    assert r["ok"] is False and "needs the admin role" in r["error"]
    r = ask(station, {"cmd": "status", "args": {}, "token": "0" * 64}, user=None)[0]
    assert r == {"ok": False, "error": "session expired: sign in again", "errno": 1}, r
    # Logout ends it: the next request with it is refused as expired.
    out, after = ask(station, {"cmd": "logout", "args": {}, "token": token},
                     {"cmd": "items", "args": {}, "token": token})
    assert out["ok"] is True
    assert after["ok"] is False and after["error"] == "session expired: sign in again"
    assert any(e["event"] == "user.logout" and e["actor"]["name"] == "web:张三"
               for e in audit(station))


def test_hostile_tokens_and_sign_ins(station, users):
    setup_accounts(station)
    replies = ask(station,
                  {"cmd": "items", "args": {}, "token": 17},
                  {"cmd": "items", "args": {}, "token": ""},
                  {"cmd": "items", "args": {}, "token": "x" * 5000},
                  {"cmd": "items", "args": {}, "token": "a\u0000b"},
                  {"cmd": "board", "args": {}, "token": "f" * 64},
                  {"cmd": "login", "args": {"user": "张三" * 1000, "password": PW}},
                  {"cmd": "login", "args": {"user": "张三", "password": PW, "client": "a b"}},
                  {"cmd": "login", "args": {"user": "张三"}},
                  {"cmd": "login", "args": {"user": "nobody-here", "password": PW,
                                            "client": "198.51.100.1"}},
                  {"cmd": "logout", "args": {}})
    for r in replies[:3]:
        assert r["ok"] is False and "\"token\" must be a session token string" in r["error"], r
    assert replies[3]["ok"] is False  # jansson takes no NUL in a string
    # board is open to anyone: a stale token does not close it.
    assert replies[4]["ok"] is True or "unknown command" in replies[4]["error"]
    assert replies[5] == {"ok": False, "error": "wrong name or password", "errno": 13}
    assert replies[6]["ok"] is False and "client must be an address" in replies[6]["error"]
    assert replies[7]["ok"] is False and "password" in replies[7]["error"]
    assert replies[8] == {"ok": False, "error": "wrong name or password", "errno": 13}
    assert replies[9]["ok"] is True
    failed = [e for e in audit(station) if e["event"] == "user.login_failed"]
    assert {e["details"]["reason"] for e in failed} == {"no such account"}
    assert station.json("audit", "--since", "2000-01-01") and station.ctl("verify").returncode == 0


def timed_logins(station, attempts):
    """Sign-ins (name, password, client) on one connection as root: each reply with the
    seconds between request and reply, as the daemon takes them (no process start)."""
    out = []
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(station.sock)
        f = s.makefile("rw", encoding="utf-8")
        for name, password, client in attempts:
            t = time.monotonic()
            f.write(json.dumps({"cmd": "login", "args": {"user": name, "password": password,
                                                          "client": client}}) + "\n")
            f.flush()
            r = json.loads(f.readline())
            out.append((r, time.monotonic() - t))
    return out


def test_five_failures_lock_account_and_client(station, users):
    setup_accounts(station)
    wrong = []
    for r, dt in timed_logins(station, [("张三", f"guess-{i}-wrong", "203.0.113.9")
                                        for i in range(5)]):
        assert r == {"ok": False, "error": "wrong name or password", "errno": 13}, r
        wrong.append(dt)
    # Locked: the right password answers as a wrong one, from this client and another;
    # from another client after the same hashing work (not an instant answer), which
    # an unknown account gets too.
    (r1, _), (r2, locked), (r3, unknown) = timed_logins(
        station, [("张三", PW, "203.0.113.9"), ("张三", PW, "198.51.100.20"),
                  ("nobody-such", PW, "198.51.100.21")])
    for r in (r1, r2, r3):
        assert r == {"ok": False, "error": "wrong name or password", "errno": 13}, r
    assert locked >= 0.5 * min(wrong) and unknown >= 0.5 * min(wrong), (locked, unknown, wrong)
    # The client is locked for other accounts too; another client is not.
    assert login(station, "李四", PW2, client="203.0.113.9")["ok"] is False
    assert login(station, "李四", PW2, client="198.51.100.20")["ok"] is True
    listed = {u["name"]: u for u in station.json("user", "list")}
    assert listed["张三"]["locked"] is True and listed["李四"]["locked"] is False
    failed = [e for e in audit(station) if e["event"] == "user.login_failed"]
    reasons = [(e["subject"], e["details"]["reason"], e["details"]["locked"]) for e in failed]
    assert reasons[:5] == [("user:张三", "wrong password", i == 4) for i in range(5)], reasons
    assert ("user:张三", "account locked", True) in reasons
    assert ("user:李四", "client locked", False) in reasons
    # An admin's new password lifts the account's lock (not the client's).
    assert passwd(station, "张三", PW2).returncode == 0
    assert login(station, "张三", PW2, client="198.51.100.20")["ok"] is True


def test_disabled_account_cannot_sign_in_and_its_sessions_end(station, users):
    setup_accounts(station)
    tokens = [login(station, "张三", PW)["result"]["token"] for _ in range(2)]
    for t in tokens:
        assert ask(station, {"cmd": "items", "args": {}, "token": t})[0]["ok"] is True
    station.ctl("user", "disable", "张三", check=True)
    for t in tokens:
        r = ask(station, {"cmd": "items", "args": {}, "token": t})[0]
        assert r["ok"] is False and r["error"] == "session expired: sign in again", r
    assert login(station, "张三", PW) == {"ok": False, "error": "wrong name or password",
                                          "errno": 13}
    assert [u["disabled"] for u in station.json("user", "list") if u["name"] == "张三"] == [True]
    ev = [(e["event"], e["actor"]["name"]) for e in audit(station)]
    assert ("user.disabled", "root") in ev
    # A new password ends the sessions of an account too.
    t = login(station, "李四", PW2)["result"]["token"]
    assert passwd(station, "李四", PW).returncode == 0
    assert ask(station, {"cmd": "items", "args": {}, "token": t})[0]["ok"] is False


def test_passwords_never_show(station, users):
    station.ctl("user", "add", "张三", "--role", "clerk", check=True)
    # evidockctl has the password in no argument: look at its argv while it waits
    # for the password on stdin.
    p = subprocess.Popen([station.evidockctl, "--socket", station.sock, "user", "passwd",
                          "张三"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while True:
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        if "user passwd 张三" in ps or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # polling for the process to show, not waiting a fixed time
    assert "user passwd 张三" in ps and PW not in ps
    out, err = p.communicate(PW + "\n", timeout=120)
    assert p.returncode == 0, err
    assert login(station, "张三", PW)["ok"] is True
    assert login(station, "张三", PW + "x")["ok"] is False
    station.ctl("user", "disable", "张三", check=True)
    station.stop()
    station.start()
    everything = json.dumps(audit(station), ensure_ascii=False) + station.read_log()
    for secret in (PW, PW + "x"):
        assert secret not in everything
        assert secret.encode() not in open(os.path.join(station.state, "catalog", "data.mdb"),
                                           "rb").read()
    # The hash is in the catalogue but in no reply and no audit entry.
    assert "$y$" not in everything
    assert "$y$" not in json.dumps(station.json("user", "list"))
