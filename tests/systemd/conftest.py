"""The station under its shipped units in a booted Debian 12 container (nspawn.py):
`make install` into the container, sysusers and tmpfiles as a package would run them,
real users for each role, evidockd.socket started. A container that cannot be made
or booted fails the tests; nothing here skips."""
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import nspawn  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.path.abspath(os.environ.get("EVIDOCK_BUILD", os.path.join(REPO, "build")))
# Real users inside the container, one per role, and one with none.
USERS = {"clerk1": "evidock-clerk", "arch1": "evidock-archivist", "admin1": "evidock-admin",
         "nobody1": None}


def wait_for(what, cond, timeout=60, every=0.1):
    """Polls cond() until it returns a true value; fails naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


class Station:
    """The container, with helpers for the units and evidockctl inside it."""

    def __init__(self, box):
        self.box = box

    def run(self, argv, user=None, **kw):
        return self.box.run(argv, user=user, **kw)

    def ctl(self, *args, user=None, timeout=120):
        return self.box.run(["evidockctl", *args], user=user, timeout=timeout)

    def show(self, unit, *props):
        r = self.box.run(["systemctl", "show", unit, "-p", ",".join(props)], check=True)
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def journal(self, unit):
        return self.box.run(["journalctl", "-u", unit, "--no-pager", "-o", "cat"]).stdout

    def copy_in(self, src, dst, mode=0o644):
        """Copies a host file to an absolute path in the container (dirs made 0755)."""
        path = self.box.rootdir + dst
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        with open(src, "rb") as f, open(path, "wb") as out:
            out.write(f.read())
        os.chmod(path, mode)


@pytest.fixture(scope="session")
def station():
    started = time.monotonic()
    # Every program the container runs: its packages come from their libraries, and
    # evidockd alone no longer needs FFmpeg's (the sandboxed evidock-probe does).
    binaries = [os.path.join(BUILD, b) for b in ("evidockd", "evidockctl", "evidock-probe",
                                                  "evidock-console", "evidock-replicate",
                                                  "evidock-seal")]
    for b in binaries:
        assert os.access(b, os.X_OK), f"{b} is not built (make all)"
    root = nspawn.rootfs(binaries)
    # The container's console (boot and shutdown), kept for a look after a failure.
    box = nspawn.Container(root, f"evidock-test-{os.getpid()}",
                           os.path.join(BUILD, "nspawn-console.log"))
    try:
        state = box.boot()
        print(f"\ncontainer booted ({state}) in {time.monotonic() - started:.1f} s; "
              f"log {box.log_path}", file=sys.stderr)
        # make install, as an administrator would, into the container's root.
        r = subprocess.run(["make", "-s", "-C", REPO, "install", f"BUILD={BUILD}",
                            f"DESTDIR={box.rootdir}"], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        box.run(["systemd-sysusers"], check=True)
        box.run(["systemd-tmpfiles", "--create", "evidock.conf"], check=True)
        box.run(["systemctl", "daemon-reload"], check=True)
        for user, group in USERS.items():
            argv = ["useradd", "--create-home", "--shell", "/bin/sh"]
            if group:
                argv += ["--groups", group]
            box.run(argv + [user], check=True)
        box.run(["systemctl", "start", "evidockd.socket"], check=True)
        yield Station(box)
    finally:
        box.poweroff()
        print(f"\ncontainer session: {time.monotonic() - started:.1f} s", file=sys.stderr)
