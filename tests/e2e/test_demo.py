"""`make demo` (tests/demo.sh), run as a person and as CI would: from a terminal it keeps
the station and its console up once the recorder is safe to remove, until Enter; with
no terminal (or EVIDOCK_DEMO_HOLD=0) it never waits."""
import os
import pty
import queue
import subprocess
import threading
import urllib.request

from conftest import BUILD, REPO
from test_console import free_port, http

DEMO = os.path.join(REPO, "tests/demo.sh")
HOLD = "the console stays up at"


def run_demo(stdin, env=None):
    """The demo started with stdin, its stdout lines on a queue (None at the end)."""
    port = free_port()
    p = subprocess.Popen([DEMO, os.path.abspath(BUILD)], cwd=REPO, stdin=stdin,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=dict(os.environ, DEMO_CONSOLE_PORT=str(port), **(env or {})))
    lines = queue.Queue()

    def read():
        for line in p.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return p, port, lines


def until(lines, pred, seen, timeout=300):
    """Read lines into seen until pred(line); the line, or None at the end."""
    while True:
        line = lines.get(timeout=timeout)
        if line is None:
            return None
        seen.append(line)
        if pred(line):
            return line


def test_demo_waits_for_enter_on_a_terminal(tmp):
    master, slave = pty.openpty()
    try:
        p, port, lines = run_demo(slave)
        os.close(slave)
        seen = []
        line = until(lines, lambda s: HOLD in s or s == "== demo done", seen)
        assert line and HOLD in line, "\n".join(seen)
        assert f"http://127.0.0.1:{port}/" in line
        assert any("safe to remove" in s for s in seen), "\n".join(seen)
        # Held: the console answers, / leads to the board, and the daemon shows the dock.
        status, headers, _ = http(f"http://127.0.0.1:{port}/")
        assert status == 303 and headers["Location"] == "/board"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/board", timeout=30) as r:
            assert r.status == 200
        assert p.poll() is None
        os.write(master, b"\n")
        assert until(lines, lambda s: s == "== demo done", seen) == "== demo done", \
            "\n".join(seen)
        assert p.wait(timeout=120) == 0
    finally:
        os.close(master)


def test_demo_never_waits_without_a_terminal_or_when_told(tmp):
    for stdin, env in ((subprocess.DEVNULL, None), ("pty", {"EVIDOCK_DEMO_HOLD": "0"})):
        master = slave = None
        if stdin == "pty":
            master, slave = pty.openpty()
            stdin = slave
        p, _, lines = run_demo(stdin, env)
        if slave is not None:
            os.close(slave)
        seen = []
        assert until(lines, lambda s: s == "== demo done", seen) == "== demo done", \
            "\n".join(seen)
        assert p.wait(timeout=120) == 0
        assert not any(HOLD in s for s in seen), "\n".join(seen)
        assert any("safe to remove" in s for s in seen), "\n".join(seen)
        if master is not None:
            os.close(master)
