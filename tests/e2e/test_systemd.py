"""The station under systemd, without systemd: sd_notify messages on a NOTIFY_SOCKET of
our own, watchdog pings from the loop, socket activation with systemd-socket-activate."""
import os
import signal
import socket
import subprocess
import threading
import time

from conftest import EVIDOCKCTL, EVIDOCKD


def notify_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(10)
    return s


def test_notify_ready_status_watchdog_stopping(make_station, tmp):
    station = make_station()
    path = os.path.join(tmp, "notify.sock")
    sock = notify_socket(path)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
    proc = subprocess.Popen([EVIDOCKD, "-c", station.conf], env=env,
                            stderr=subprocess.DEVNULL)
    messages = []
    ready_at = None
    pings = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(pings) < 6:
            msg = sock.recv(4096).decode()
            messages.append(msg)
            if "READY=1" in msg:
                ready_at = time.monotonic()
                # The socket listens before READY=1.
                assert subprocess.run([EVIDOCKCTL, "--socket", station.sock, "status"],
                                      capture_output=True).returncode == 0
            if "WATCHDOG=1" in msg:
                pings.append(time.monotonic())
        assert ready_at is not None, messages
        assert any(m.startswith("READY=1") and "STATUS=" in m for m in messages), messages
        assert len(pings) >= 6
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        # Pinged at half the watchdog interval: about every 0.2 s, never near 0.4 s (the
        # first ping comes at once when the loop starts, so the first gap may be shorter).
        assert all(g < 0.35 for g in gaps), gaps
        assert all(0.1 < g for g in gaps[1:]), gaps

        # A loop that hangs stops pinging: strace, attached to the main (loop) thread
        # alone, holds its next epoll_wait for 2 s while the other threads run on. A
        # pinger on a thread of its own would go on pinging.
        got = []
        stop = threading.Event()

        def collect():
            sock.settimeout(0.1)
            while not stop.is_set():
                try:
                    got.append((time.monotonic(), sock.recv(4096).decode()))
                except socket.timeout:
                    pass

        t = threading.Thread(target=collect)
        t.start()
        hold = subprocess.Popen(["strace", "-qq", "-o", "/dev/null", "-p", str(proc.pid),
                                 "-e", "trace=epoll_wait", "-e",
                                 "inject=epoll_wait:delay_enter=2000000:when=2"],
                                stderr=subprocess.DEVNULL)
        time.sleep(3)
        hold.terminate()
        hold.wait(timeout=30)
        time.sleep(1)
        stop.set()
        t.join()
        times = [at for at, msg in got if "WATCHDOG=1" in msg]
        assert times, got
        longest = max(b - a for a, b in zip(times, times[1:]))
        assert longest >= 1.8, (longest, times)  # no ping while the loop slept
        assert times[-1] > time.monotonic() - 1.5  # and pings resumed after
        proc.send_signal(signal.SIGTERM)
        sock.settimeout(10)
        rest = []
        while True:
            try:
                rest.append(sock.recv(4096).decode())
            except socket.timeout:
                break
            if any("STOPPING=1" in m for m in rest):
                break
        assert any("STOPPING=1" in m for m in rest), rest
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()


def test_socket_activation(make_station, tmp):
    station = make_station()
    proc = subprocess.Popen(["systemd-socket-activate", "-l", station.sock, EVIDOCKD, "-c",
                             station.conf], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(station.sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        # The first connection starts the daemon on the inherited socket.
        p = subprocess.run([EVIDOCKCTL, "--socket", station.sock, "--json", "status"],
                           capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr
        pids = subprocess.run(["pgrep", "-f", f"evidockd -c {station.conf}"], capture_output=True,
                              text=True).stdout.split()
        assert pids
        # The daemon did not make a socket of its own: the inherited one is in use.
        fds = [os.readlink(f"/proc/{pids[-1]}/fd/{fd}") for fd in os.listdir(f"/proc/{pids[-1]}/fd")]
        assert any(f.startswith("socket:") for f in fds)
    finally:
        subprocess.run(["pkill", "-TERM", "-f", f"evidockd -c {station.conf}"], check=False)
        proc.terminate()
        proc.wait(timeout=30)
