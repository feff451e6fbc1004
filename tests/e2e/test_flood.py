"""No role, no resources: a user without a role floods the control socket (10,000
refused requests over 8 connections at a time, 64 idle connections, 4 MB of garbage
never read back) while an admin asks for `status` again and again. The admin is
answered within 200 ms (99th percentile; every answer within 1 s even on a loaded
machine), the daemon stays small, and the refusals cost a
few audit entries, not one each."""
import json
import os
import pwd
import socket
import subprocess
import sys
import time

import pytest

FLOOD = {"evd-t-flood": None, "evd-t-idle": None}
# A sanitizer build (make asan) keeps freed memory in a quarantine and its own shadow:
# there RSS is bounded by its growth during the flood, not by its size.
SANITIZED = "ASAN_OPTIONS" in os.environ

# Run as the no-role users (runuser): each prints one JSON line of what it saw.
CLIENT = r'''
import json, select, socket, sys, threading, time
sock, what = sys.argv[1], sys.argv[2]

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    return s

def flood(total, workers):
    # Each connection: 16 refused requests at once, replies read until 16 or EOF.
    lock, done = threading.Lock(), [0, 0]
    def worker():
        while True:
            with lock:
                if done[0] >= total:
                    return
            s = connect()
            s.sendall(b'{"cmd": "items"}\n' * 16)
            got, buf = 0, b""
            s.settimeout(60)
            while got < 16:
                data = s.recv(65536)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if b"permission denied: items" in line:
                        got += 1
            s.close()
            with lock:
                done[0] += got
                done[1] += 1
    ts = [threading.Thread(target=worker) for _ in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps({"refused": done[0], "connections": done[1]}), flush=True)

def idle(n):
    conns = [connect() for _ in range(n)]
    # A connection turned away gets one error line and EOF; a kept one gets nothing.
    # Wait until a second passes with none turned away (10 s at most).
    waiting, away, deadline = list(conns), 0, time.monotonic() + 10
    while waiting and time.monotonic() < deadline:
        ready, _, _ = select.select(waiting, [], [], 1)
        if not ready:
            break
        for s in ready:
            waiting.remove(s)
            away += 1
    print(json.dumps({"kept": n - away}), flush=True)
    sys.stdin.read()  # hold them until told

def garbage(size):
    s = connect()
    s.settimeout(10)
    sent, line = 0, b"x" * 15 + b"\n"
    chunk = line * 4096
    try:
        while sent < size:
            sent += s.send(chunk[: size - sent])
        closed = False
    except (BrokenPipeError, ConnectionResetError, socket.timeout) as e:
        closed = not isinstance(e, socket.timeout)
    print(json.dumps({"sent": sent, "closed": closed}), flush=True)
    sys.stdin.read()

{"flood": lambda: flood(int(sys.argv[3]), int(sys.argv[4])),
 "idle": lambda: idle(int(sys.argv[3])),
 "garbage": lambda: garbage(int(sys.argv[3]))}[what]()
'''


@pytest.fixture
def flood_users():
    for user in FLOOD:
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", user], check=True)
    yield
    for user in FLOOD:
        subprocess.run(["userdel", user], check=False)


def as_user(user, station, *args):
    return subprocess.Popen(["runuser", "-u", user, "--", sys.executable, "-c", CLIENT,
                             station.sock] + [str(a) for a in args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def catalog_bytes(station):
    path = os.path.join(station.state, "catalog")
    if os.path.isdir(path):
        path = os.path.join(path, "data.mdb")
    return os.stat(path).st_blocks * 512


def status_once(sock_path):
    """One `status` on a fresh connection, as root (an admin): seconds it took."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)  # blocking, as evidockctl's: it waits in the backlog
    s.settimeout(30)
    s.sendall(b'{"cmd": "status"}\n')
    buf = b""
    while b"\n" not in buf:
        data = s.recv(65536)
        assert data, "evidockd closed the admin's connection"
        buf += data
    s.close()
    reply = json.loads(buf.split(b"\n", 1)[0])
    assert reply.get("ok") is True, reply
    return time.monotonic() - t0


def test_no_role_flood(station, tmp, flood_users, monkeypatch):
    if SANITIZED:  # a small quarantine, so that RSS shows what the daemon holds
        monkeypatch.setenv("ASAN_OPTIONS", os.environ["ASAN_OPTIONS"] +
                           ":quarantine_size_mb=4:thread_local_quarantine_size_kb=64")
        assert station.stop() == 0
        station.start()
    os.chmod(tmp, 0o755)
    os.chmod(os.path.dirname(station.sock), 0o755)
    for _ in range(20):
        status_once(station.sock)
    rss_before, cat_before = rss_kib(station.proc.pid), catalog_bytes(station)

    idle = as_user("evd-t-idle", station, "idle", 64)
    garbage = as_user("evd-t-flood", station, "garbage", 4 * 1024 * 1024)
    flood = as_user("evd-t-flood", station, "flood", 10000, 8)
    latencies, rss_max = [], rss_before
    try:
        while flood.poll() is None:
            latencies.append(status_once(station.sock))
            rss_max = max(rss_max, rss_kib(station.proc.pid))
        idle_seen = json.loads(idle.stdout.readline())
        garbage_seen = json.loads(garbage.stdout.readline())
        flood_seen = json.loads(flood.stdout.readline())
        for _ in range(20):  # with the idle and the unread connections still open
            latencies.append(status_once(station.sock))
        rss_max = max(rss_max, rss_kib(station.proc.pid))
    finally:
        for p in (idle, garbage, flood):
            if p.poll() is None:
                p.stdin.close()
                p.wait(timeout=60)
    rss_after = rss_kib(station.proc.pid)

    # Every refusal is in the log, summed per uid, in a handful of entries.
    assert station.stop() == 0
    station.start()
    refused = [e for e in station.json("audit") if e["event"] == "request.refused"]
    cat_after = catalog_bytes(station)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"\nstatus: {len(latencies)} answers, max {latencies[-1] * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms; RSS {rss_before} KiB before, {rss_max} KiB at most, "
          f"{rss_after} KiB after; catalogue +{(cat_after - cat_before) // 1024} KiB; "
          f"{len(refused)} refusal entries; flood {flood_seen}, idle {idle_seen}, "
          f"garbage {garbage_seen}")

    assert flood_seen["refused"] >= 10000
    assert idle_seen["kept"] <= 16  # per-uid limit: the rest turned away
    assert garbage_seen["sent"] < 4 * 1024 * 1024 or garbage_seen["closed"]
    # The 200 ms goal holds for the 99th percentile; the slowest answer gets a margin
    # for a machine loaded by other work (the figures above are printed every run).
    assert p99 < 0.2, latencies[-10:]
    assert latencies[-1] < 1.0, latencies[-10:]
    assert rss_max - (rss_before if SANITIZED else 0) < 64 * 1024
    assert cat_after - cat_before < 100 * 1024
    flood_count = sum(e["details"]["count"] for e in refused
                      if e["actor"]["name"] == "evd-t-flood"
                      and "items" in e["details"]["commands"])
    assert flood_count >= flood_seen["refused"]
    assert len(refused) <= 12, [(e["actor"]["name"], e["details"]["count"]) for e in refused]
    idle_turned_away = [e for e in refused if e["actor"]["name"] == "evd-t-idle"]
    assert sum(e["details"]["commands"].get("(connect)", 0) for e in idle_turned_away) >= 48
