"""Docking under umockdev: evidock-sim runs usbprobe (usbwatch + blockdev) as its child.

Each test starts `umockdev-wrapper evidock-sim [--defer] -- usbprobe ...`, docks and
undocks recorders through the simulator's stdin and reads what the probe prints. The
simulator's replies ("ok ..."/"error ...") and the probe's lines share one stdout.
Waits are for lines, with a deadline; the few "nothing more happens" checks are bounded
by an event that must come after (a barrier) or, where there is none, a short wait.

Needs EVIDOCK_BUILD (default: build/) holding evidock-sim and usbprobe.
"""
import hashlib
import os
import queue
import re
import subprocess
import threading
import time

import pytest

BUILD = os.environ.get("EVIDOCK_BUILD", os.path.abspath("build"))
SIM = os.path.join(BUILD, "evidock-sim")
PROBE = os.path.join(BUILD, "usbprobe")
TIMEOUT = 15.0  # seconds for any one expected line (sanitizer builds are slow)
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehavior")


def head_sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(512)).hexdigest()


class Station:
    """The simulator and its child, with line-level waiting."""

    def __init__(self, child, defer=False):
        argv = ["umockdev-wrapper", SIM] + (["--defer"] if defer else []) + ["--"] + child
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.replies = queue.Queue()
        self.events = queue.Queue()
        self.seen = []  # every probe line, in order
        self.taken = set()  # indexes in seen that expect() returned
        self.stderr = []
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        ready = self.reply()
        assert ready.startswith("ok ready"), ready

    def _read_out(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(("ok ", "error ")) or line in ("ok", "error"):
                self.replies.put(line)
            else:
                self.seen.append(line)
                self.events.put(line)
        self.replies.put(None)
        self.events.put(None)

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def reply(self, timeout=TIMEOUT):
        try:
            line = self.replies.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no reply from the simulator; stderr: %s" % self.stderr)
        assert line is not None, "simulator ended; stderr: %s" % self.stderr
        return line

    def cmd(self, line, ok=True):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        r = self.reply()
        if ok:
            assert r.startswith("ok "), "%r -> %r; stderr: %s" % (line, r, self.stderr)
        return r

    def expect(self, pattern, timeout=TIMEOUT):
        """The first probe line matching pattern that no earlier expect() took, waiting
        for it up to timeout. Order-independent: lines of concurrent docks interleave."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for i, line in enumerate(self.seen):
                if i not in self.taken:
                    m = rx.fullmatch(line)
                    if m:
                        self.taken.add(i)
                        return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no line matching %r; seen: %s; stderr: %s"
                                     % (pattern, self.seen, self.stderr))
            try:
                line = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("probe output ended waiting for %r; seen: %s; stderr: %s"
                                     % (pattern, self.seen, self.stderr))

    def count(self, pattern):
        rx = re.compile(pattern)
        return sum(1 for line in self.seen if rx.fullmatch(line))

    def quit(self):
        r = self.cmd("quit")
        rc = self.proc.wait(timeout=TIMEOUT)
        return r, rc

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def assert_clean(self):
        bad = [l for l in self.stderr if any(m in l for m in SANITIZER_MARKS)]
        assert not bad, "\n".join(self.stderr)


@pytest.fixture
def images(tmp_path):
    """Three small disk images with distinct first sectors."""
    out = []
    for i in range(3):
        p = tmp_path / ("rec%d.img" % i)
        p.write_bytes(os.urandom(512) + bytes(512 * (i + 1)))
        out.append(str(p))
    return out


@pytest.fixture
def station_factory():
    made = []

    def make(*probe_args, defer=False, child=None):
        s = Station(child or [PROBE] + list(probe_args), defer=defer)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
        s.assert_clean()


def finish(st):
    r, rc = st.quit()
    assert r == "ok quit status=0", (r, st.stderr)
    assert rc == 0
    st.assert_clean()


def test_device_docked_before_start_is_reported(station_factory, images):
    st = station_factory(defer=True)
    st.cmd("dock 1 EARLY01 1234:5678 " + images[0])
    st.cmd("start")
    st.expect("ready")
    m = st.expect(r"arrived EARLY01 1234:5678 (/dev/sd[a-z]+) ([0-9a-f]{64})")
    assert m.group(1) == "/dev/sdb"
    assert m.group(2) == head_sha(images[0])
    # Hubs present at start are reported too, and refused.
    assert st.count(r"rejected usb1 1d6b:0002 hub") == 1
    assert st.count(r"rejected 2-1 05e3:0610 hub") == 1
    finish(st)


def test_arrival_and_departure_after_start(station_factory, images):
    st = station_factory()
    st.expect("ready")
    st.cmd("dock 3 LATE0001 2b3c:0001 " + images[1])
    m = st.expect(r"arrived LATE0001 2b3c:0001 (/dev/sd[a-z]+) ([0-9a-f]{64})")
    assert m.group(2) == head_sha(images[1])
    st.cmd("undock 3")
    st.expect(r"left LATE0001 1-3")
    finish(st)


def test_double_arrival_is_ignored(station_factory, images):
    st = station_factory()
    st.expect("ready")
    st.cmd("dock 2 TWICE 1234:5678 " + images[0])
    st.expect(r"arrived TWICE .*")
    st.cmd("uevent 2 add")
    st.cmd("uevent 2 add")
    # Barrier: a later device's arrival comes after anything the extra uevents caused.
    st.cmd("dock 3 AFTER 1234:5678 " + images[1])
    st.expect(r"arrived AFTER .*")
    assert st.count(r"seen 1-2 .*") == 1
    assert st.count(r"arrived TWICE .*") == 1
    # A "remove" then the real undock: one departure only.
    st.cmd("uevent 2 remove")
    st.expect(r"left TWICE 1-2")
    st.cmd("undock 2")
    st.cmd("undock 3")
    st.expect(r"left AFTER 1-3")
    assert st.count(r"left TWICE .*") == 1
    finish(st)


def test_two_devices_at_once(station_factory, images):
    st = station_factory()
    st.expect("ready")
    st.cmd("dock 1 ALPHA 1234:5678 " + images[0])
    st.cmd("dock 7 BRAVO 1234:5678 " + images[1])  # behind the station's hub: 2-1.3
    a = st.expect(r"arrived ALPHA 1234:5678 (\S+) (\S+)")
    b = st.expect(r"arrived BRAVO 1234:5678 (\S+) (\S+)")
    assert a.group(1) != b.group(1)
    assert a.group(2) == head_sha(images[0])
    assert b.group(2) == head_sha(images[1])
    assert st.count(r"seen 2-1\.3 1234:5678 BRAVO ok 2:\d+ /sys/devices/\S+/usb2/2-1/2-1\.3") == 1
    st.cmd("undock 1")
    st.expect(r"left ALPHA 1-1")
    st.cmd("undock 7")
    st.expect(r"left BRAVO 2-1\.3")
    assert st.count(r"left .*") == 2
    finish(st)


def test_many_ports_at_once(station_factory, images):
    st = station_factory()
    st.expect("ready")
    for port in range(1, 17):
        st.cmd("dock %d REC%02d 1234:5678 %s" % (port, port, images[port % 3]))
    nodes = set()
    for _ in range(16):
        m = st.expect(r"arrived REC(\d\d) 1234:5678 (\S+) (\S+)")
        assert m.group(3) == head_sha(images[int(m.group(1)) % 3])
        nodes.add(m.group(2))
    assert len(nodes) == 16
    for port in range(1, 17):
        st.cmd("undock %d" % port)
    for _ in range(16):
        st.expect(r"left REC\d\d \S+")
    finish(st)


def test_dock_undock_dock_same_port(station_factory, images):
    st = station_factory()
    st.expect("ready")
    devnums = set()
    for i in range(3):
        img = images[i % 2]
        r = st.cmd("dock 5 AGAIN 1234:5678 " + img)
        devnums.add(re.search(r"dev=(\d+)", r).group(1))
        m = st.expect(r"arrived AGAIN 1234:5678 (\S+) (\S+)")
        assert m.group(1) == "/dev/sdb"
        assert m.group(2) == head_sha(img)
        st.cmd("undock 5")
        st.expect(r"left AGAIN 2-1\.1")
    assert len(devnums) == 3  # a new device number each time, as the kernel gives
    finish(st)


def test_disk_that_appears_later_is_waited_for(station_factory, images):
    st = station_factory("--settle-ms", "10000")
    st.expect("ready")
    st.cmd("dock 4 SLOW 1234:5678 -")
    st.expect(r"seen 1-4 1234:5678 SLOW ok .*")  # the probe is now looking, and failing
    st.cmd("disk 4 " + images[2])
    m = st.expect(r"arrived SLOW 1234:5678 (\S+) (\S+)")
    assert m.group(2) == head_sha(images[2])
    finish(st)


def test_no_disk_within_settle_time(station_factory):
    st = station_factory("--settle-ms", "300")
    st.expect("ready")
    st.cmd("dock 4 NODISK 1234:5678 -")
    st.expect(r"nodisk NODISK no disk after 0\.[3-9] s: USB device \S+: no disk under it yet")
    st.cmd("undock 4")
    st.expect(r"left NODISK 1-4")
    finish(st)


def test_departure_while_waiting_cancels_the_wait(station_factory, images):
    st = station_factory("--settle-ms", "600")
    st.expect("ready")
    st.cmd("dock 4 GONE 1234:5678 -")
    st.expect(r"seen 1-4 .*")
    st.cmd("undock 4")
    st.expect(r"left GONE 1-4")
    # Barrier past the settle time: a later wait that times out.
    st.cmd("dock 3 LATER 1234:5678 -")
    st.expect(r"nodisk LATER .*")
    assert st.count(r"nodisk GONE .*") == 0
    finish(st)


@pytest.mark.parametrize("serial,state", [
    ("-", "none"),
    ("BAD%01SERIAL", "invalid"),
    ("X" * 200, "invalid"),
    ("%FF%FE", "invalid"),
])
def test_unusable_serial_is_rejected_not_read(station_factory, images, serial, state):
    st = station_factory()
    st.expect("ready")
    st.cmd("dock 2 %s 1234:5678 %s" % (serial, images[0]))
    st.expect(r"rejected 1-2 1234:5678 serial " + state)
    st.cmd("dock 3 GOOD 1234:5678 " + images[1])  # barrier
    st.expect(r"arrived GOOD .*")
    assert st.count(r"arrived .*") == 1
    st.cmd("undock 2")
    st.expect(r"left \S+ 1-2")
    finish(st)


def test_serial_display_is_escaped(station_factory, images):
    st = station_factory()
    st.expect("ready")
    st.cmd("dock 2 A%0AB 1234:5678 " + images[0])
    st.expect(r"seen 1-2 1234:5678 A\\nB invalid .*")
    finish(st)


def test_vidpid_outside_allowlist_is_rejected(station_factory, images):
    st = station_factory("--allow", "1234:5678,2b3c:0001")
    st.expect("ready")
    st.cmd("dock 1 STRANGER 0bda:0129 " + images[0])
    st.expect(r"rejected 1-1 0bda:0129 not allowed")
    st.cmd("dock 2 FRIEND 2b3c:0001 " + images[1])
    st.expect(r"arrived FRIEND 2b3c:0001 .*")
    assert st.count(r"arrived STRANGER .*") == 0
    finish(st)


def test_simulator_rejects_bad_commands(station_factory, images):
    st = station_factory()
    st.expect("ready")
    for line, why in [
        ("dock 0 S 1234:5678 " + images[0], "bad PORT"),
        ("dock 17 S 1234:5678 " + images[0], "bad PORT"),
        ("dock 1 S 12345678 " + images[0], "bad VID:PID"),
        ("dock 1 S 1234:5678 /nonexistent.img", "not a readable regular file"),
        ("dock 1 S%zz 1234:5678 " + images[0], "bad SERIAL"),
        ("undock 1", "not docked"),
        ("disk 1 " + images[0], "not docked without a disk"),
        ("uevent 1 add", "not docked"),
        ("frobnicate", "unknown command"),
        ("x" * 5000, "longer than"),
    ]:
        r = st.cmd(line, ok=False)
        assert r.startswith("error ") and why in r, (line[:40], r)
    st.cmd("dock 1 S 1234:5678 " + images[0])
    assert st.cmd("dock 1 S 1234:5678 " + images[0], ok=False) == "error port 1 is docked"
    st.expect(r"arrived S .*")
    finish(st)


def test_simulator_exits_with_the_childs_status(station_factory):
    # The child's stdin is /dev/null: `read` must not eat the simulator's commands.
    st = station_factory(child=["sh", "-c", "read x; sleep 30"])
    r, rc = st.quit()
    assert r == "ok quit status=143" and rc == 143

    st2 = station_factory(child=["sh", "-c", "exit 7"])
    assert st2.proc.wait(timeout=TIMEOUT) == 7


def test_probe_is_leak_free_and_closes_its_loop(station_factory, images):
    """quit -> SIGTERM: the probe frees the watch and pending waits, and uv_loop_close
    must find no handle left (else it exits 1); under ASan, leaks fail it too."""
    st = station_factory("--settle-ms", "60000")
    st.expect("ready")
    st.cmd("dock 1 DONE 1234:5678 " + images[0])
    st.cmd("dock 2 WAITING 1234:5678 -")  # a wait still pending at exit
    st.expect(r"arrived DONE .*")
    st.expect(r"seen 1-2 .*")
    finish(st)
