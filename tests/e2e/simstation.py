"""A station whose evidockd runs under the recorder simulator (tests/sim/evidock-sim.c):
`umockdev-wrapper evidock-sim -- evidockd -c CONF`, so that recorders can be docked and
undocked through the simulator's stdin. Import the fixture into a test module with
`from simstation import make_sim  # noqa: F401`."""
import json
import os
import queue
import subprocess
import threading
import time

import pytest

from conftest import BUILD, EVIDOCKD, Station, stations

SIM = os.path.join(BUILD, "evidock-sim")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
MKIMAGE = os.path.join(REPO, "tests/sim/mkimage.sh")
VIDPID = "1234:5678"
REPLY_TIMEOUT = 30


class SimStation(Station):
    """evidockd as the simulator's child; sim() sends one command and returns its reply."""

    def __init__(self, root, **conf):
        conf.setdefault("usb__allow", VIDPID)
        conf.setdefault("usb__settle_seconds", "5")
        super().__init__(root, **conf)
        self.replies = queue.Queue()

    @staticmethod
    def _read(out, replies):
        for line in out:
            replies.put(line.rstrip("\n"))
        replies.put(None)

    def start(self, defer_cmds=(), env=None):
        """Start the simulator and evidockd; defer_cmds are simulator commands run
        before evidockd starts (recorders already docked)."""
        self.logf = open(self.log, "ab")
        env = dict(os.environ, **(env or {}))
        argv = ["umockdev-wrapper", SIM] + (["--defer"] if defer_cmds else []) + \
            ["--", EVIDOCKD, "-c", self.conf]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.logf, env=env, text=True, bufsize=1)
        self.replies = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.replies),
                         daemon=True).start()
        ready = self.reply()
        assert ready.startswith("ok ready"), ready
        self.root_dir = ready.split("root=", 1)[1]
        for c in defer_cmds:
            self.sim(c)
        if defer_cmds:
            self.sim("start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if os.path.exists(self.sock) and self.ctl("status").returncode == 0:
                return
            if self.proc.poll() is not None:
                raise RuntimeError("evidock-sim exited: " + self.read_log())
            time.sleep(0.05)
        raise RuntimeError("evidockd did not come up: " + self.read_log())

    def reply(self, timeout=REPLY_TIMEOUT):
        try:
            line = self.replies.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no reply from evidock-sim; log: " + self.read_log())
        assert line is not None, "evidock-sim ended; log: " + self.read_log()
        return line

    def sim(self, line, ok=True):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        r = self.reply()
        if ok:
            assert r.startswith("ok "), f"{line!r} -> {r!r}"
        return r

    def dock(self, port, serial, image, vidpid=VIDPID):
        return self.sim(f"dock {port} {serial} {vidpid} {image}")

    def undock(self, port):
        return self.sim(f"undock {port}")

    def stop(self, sig=None):
        if not self.proc:
            return 0
        if sig is None:
            r = self.sim("quit")
            rc = int(r.rsplit("=", 1)[1])
        else:
            # SIGKILL the daemon only: the simulator then exits with its status.
            self.proc.send_signal(sig)
            rc = 0
        self.proc.wait(timeout=60)
        self.proc = None
        self.logf.close()
        return rc

    def daemon_pid(self):
        """evidockd's pid: the simulator's child (umockdev-wrapper execs the simulator)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                                 text=True).stdout.split()
            if out:
                return int(out[0])
            time.sleep(0.05)
        raise AssertionError("no evidockd under the simulator")

    def docks(self):
        return self.json("status")["docks"]

    def wait_dock(self, serial, states, timeout=60):
        """The status entry of serial's dock once its state is one of states."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for d in self.docks():
                if d["serial"] == serial:
                    last = d
                    if d["state"] in states:
                        return d
            time.sleep(0.05)
        raise AssertionError(f"dock {serial} not in {states}: last {last}; log: " +
                             self.read_log()[-3000:])

    def wait_gone(self, serial, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(d["serial"] == serial for d in self.docks()):
                return
            time.sleep(0.05)
        raise AssertionError(f"dock {serial} still listed: {self.docks()}")

    def wait_dock_record(self, session, timeout=60):
        """The audit record of dock session once its end is written: status shows a
        dock's end a moment before the end's audit entry commits (off the loop)."""
        deadline = time.monotonic() + timeout
        while True:
            rec = self.dock_records().get(f"dock:{session}")
            if rec and rec.get("outcome") is not None:  # an end record says how it ended
                return rec
            assert time.monotonic() < deadline, f"dock {session} has no end record: {rec}"
            time.sleep(0.05)

    def dock_records(self):
        """The dock sessions the audit log holds, by id, from their last entry."""
        out = {}
        for e in self.json("audit"):
            if e["event"].startswith("dock.") and e["subject"].startswith("dock:"):
                out[e["subject"]] = dict(e["details"], event=e["event"])
        return out

    def register(self, serial, handler="张三", handler_id="H001", since=None):
        args = ["recorder", "add", serial, "--handler-id", handler_id, "--handler-name", handler]
        self.ctl(*args, check=True)
        if since:
            # The earliest assignment also covers anything before it: date one early.
            self.ctl("recorder", "assign", serial, "--handler-id", handler_id,
                     "--handler-name", handler, "--since", "2026-01-01T00:00:00Z", check=True)
            self.ctl("recorder", "assign", serial, "--handler-id", handler_id + "b",
                     "--handler-name", handler + "乙", "--since", since, check=True)


def mkimage(path, *args, manifest=True):
    """Build a recorder image with tests/sim/mkimage.sh; returns {path: (size, sha, mtime)}
    of the recordings as mcopy extracts them (when manifest)."""
    man = path + ".manifest"
    cmd = ["bash", MKIMAGE, path] + list(args) + (["--manifest", man] if manifest else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = {}
    if manifest:
        with open(man, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                part, size, sha, mtime, name = line.rstrip("\n").split("\t", 4)
                out[name] = (int(size), sha, int(mtime), int(part))
    return out


@pytest.fixture
def make_sim(tmp):
    with stations(tmp, SimStation, "sim") as make:
        yield make
