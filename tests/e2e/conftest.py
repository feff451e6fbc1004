"""Fixtures for end-to-end tests: a real evidockd on a temporary state dir, driven by
the real evidockctl."""
import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
CALENDAR = os.path.join(REPO, "config/calendar/cn-2026.txt")
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
BUILD = os.environ.get("EVIDOCK_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
EVIDOCKD = os.path.join(BUILD, "evidockd")
EVIDOCKCTL = os.path.join(BUILD, "evidockctl")


_CLIENT_COPIES = {}


def client_for_users(path):
    """The client as other users can run it: a clone in a folder only its owner may
    enter (root's home is 0700 on Debian) is out of their reach, so they get a copy in a
    folder everyone can enter, made once per client and removed at exit."""
    if path not in _CLIENT_COPIES:
        folder = tempfile.mkdtemp(prefix="evd-e2e-bin-")
        os.chmod(folder, 0o755)
        copy = os.path.join(folder, os.path.basename(path))
        shutil.copy2(path, copy)
        os.chmod(copy, 0o755)
        atexit.register(shutil.rmtree, folder, True)
        _CLIENT_COPIES[path] = copy
    return _CLIENT_COPIES[path]


def rmtree(path):
    subprocess.run(["chattr", "-R", "-i", path], stderr=subprocess.DEVNULL, check=False)
    shutil.rmtree(path, ignore_errors=True)


class Station:
    """One evidockd with its own state dir, config and socket. Tests that are not about
    the recorder registry import under serials nobody registered (R1, ...): their imports
    say --allow-unregistered unless allow_unregistered is turned off."""

    allow_unregistered = True

    def __init__(self, root, **conf):
        self.root = root
        self.state = os.path.join(root, "state")
        self.sock = os.path.join(root, "ctl.sock")
        self.conf = os.path.join(root, "evidock.conf")
        self.log = os.path.join(root, "evidockd.log")
        self.proc = None
        self.evidockd = EVIDOCKD
        self.evidockctl = EVIDOCKCTL
        self.timezone = conf.pop("station__timezone", "Asia/Shanghai")
        sections = {"station": {"name": "e2e", "state_dir": self.state, "control_socket": self.sock,
                                "timezone": self.timezone},
                    "calendar": {"files": CALENDAR}}
        for key, value in conf.items():
            section, _, name = key.partition("__")
            sections.setdefault(section, {})[name] = value
        with open(self.conf, "w") as f:
            for section, keys in sections.items():
                f.write(f"[{section}]\n")
                for k, v in keys.items():
                    f.write(f"{k} = {v}\n")

    def start(self, shift_days=0, at=None):
        """Start evidockd; shift_days moves its clock (libfaketime) to test retention; at
        ("2026-03-03 10:00:00", the station's local time) starts its clock there."""
        env = dict(os.environ)
        if shift_days or at:
            env["LD_PRELOAD"] = ":".join(filter(None, [env.get("LD_PRELOAD"), FAKETIME_LIB]))
            env["FAKETIME"] = f"@{at}" if at else f"+{shift_days}d"
            # libfaketime reads "@..." in the process's zone, which the daemon sets to
            # its configured one: the same from the first call on.
            env["TZ"] = self.timezone
            env["NO_FAKE_STAT"] = "1"
            env["DONT_FAKE_MONOTONIC"] = "1"
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([self.evidockd, "-c", self.conf], stdout=self.logf,
                                     stderr=self.logf, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if os.path.exists(self.sock) and self.ctl("status").returncode == 0:
                return
            if self.proc.poll() is not None:
                raise RuntimeError("evidockd exited: " + self.read_log())
            time.sleep(0.05)
        raise RuntimeError("evidockd did not come up: " + self.read_log())

    def stop(self, sig=signal.SIGTERM):
        if not self.proc:
            return 0
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=60)
        self.proc = None
        self.logf.close()
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def read_log(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def ctl(self, *args, check=False, timeout=600, user=None):
        client = client_for_users(self.evidockctl) if user else self.evidockctl
        args = [str(a) for a in args]
        words = [a for a in args if not a.startswith("-")]
        if self.allow_unregistered and words[:1] == ["import"] and \
                "--allow-unregistered" not in args:
            args.append("--allow-unregistered")
        cmd = [client, "--socket", self.sock] + args
        if user:
            cmd = ["runuser", "-u", user, "--"] + cmd
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{cmd} -> {p.returncode}: {p.stderr.decode(errors='replace')}")
        return p

    def json(self, *args):
        p = self.ctl("--json", *args, check=True)
        return json.loads(p.stdout)

    def object_path(self, sha):
        return os.path.join(self.state, "objects", sha[:2], sha[2:4], sha)


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="evd-e2e-")
    yield d
    rmtree(d)


@contextlib.contextmanager
def stations(tmp, cls, prefix):
    """make(**conf) makes a station of class cls in a folder of its own under tmp; at
    the end every one still running is stopped, and must stop cleanly with a clean
    sanitizer log."""
    made = []

    def make(**conf):
        root = os.path.join(tmp, f"{prefix}{len(made)}")
        os.makedirs(root)
        s = cls(root, **conf)
        made.append(s)
        return s

    yield make
    for s in made:
        if s.proc:
            rc = s.stop()
            log = s.read_log()
            assert rc == 0, log
            # Sanitizer builds write their reports into the log.
            assert "ERROR: AddressSanitizer" not in log and "runtime error:" not in log, log


@pytest.fixture
def make_station(tmp):
    with stations(tmp, Station, "st") as make:
        yield make


@pytest.fixture
def station(make_station):
    s = make_station()
    s.start()
    return s


@pytest.fixture(scope="session")
def rgw():
    """A real single-node Ceph RGW (tests/ceph/rgw.py) for the whole session; if it
    cannot start, the tests that need it fail."""
    import sys
    sys.path.insert(0, os.path.join(REPO, "tests/ceph"))
    from rgw import RGW
    g = RGW().start()
    print(f"ceph rgw at {g.endpoint} up in {g.start_seconds:.2f} s")
    yield g
    g.stop()
