"""Docks at USB speed (issue 16), at a size for make check: four recorders, each image
on its own loop device whose reads a blkio cgroup throttles (as tests/bench/docks.py
does at full size), docked at once through the recorder simulator. Every dock ends
"done" with every recording stored under mcopy's hash, and all four read at the same
time although parallel_copies is 2: a slow bus does not hold up the others."""
import os
import shutil
import subprocess
import time

import pytest

from simstation import make_sim, mkimage  # noqa: F401
from test_dock import ENDED, check_stored

BPS = 3 * 1048576  # the throttle: each recording takes a few seconds to read
CGROUP_ROOT = "/sys/fs/cgroup/blkio"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.isdir(CGROUP_ROOT) or not shutil.which("losetup"),
    reason="needs root, losetup and a cgroup v1 blkio hierarchy")


class Throttled:
    """A recorder image inside a small ext4 filesystem on a loop device of its own."""

    def __init__(self, tmp, i, image):
        self.fs = os.path.join(tmp, "fs%d.img" % i)
        self.mnt = os.path.join(tmp, "mnt%d" % i)
        os.makedirs(self.mnt)
        size = os.path.getsize(image) + (48 << 20)
        subprocess.run(["truncate", "-s", str(size), self.fs], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", self.fs], check=True)
        self.loop = subprocess.run(["losetup", "-f", "--show", self.fs], check=True,
                                   capture_output=True, text=True).stdout.strip()
        subprocess.run(["mount", self.loop, self.mnt], check=True)
        self.image = os.path.join(self.mnt, "recorder.img")
        shutil.copyfile(image, self.image)
        rdev = os.stat(self.loop).st_rdev
        self.majmin = "%d:%d" % (os.major(rdev), os.minor(rdev))

    def close(self):
        subprocess.run(["umount", self.mnt], check=False)
        subprocess.run(["losetup", "-d", self.loop], check=False)


@pytest.fixture
def throttled(tmp):
    made, cgroup = [], os.path.join(CGROUP_ROOT, "evidock-test-%d" % os.getpid())
    os.makedirs(cgroup, exist_ok=True)

    def make(i, image):
        r = Throttled(tmp, i, image)
        made.append(r)
        with open(os.path.join(cgroup, "blkio.throttle.read_bps_device"), "w") as f:
            f.write("%s %d\n" % (r.majmin, BPS))
        return r

    # This process joins the cgroup so that the daemon it starts is throttled too.
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
        f.write("%d\n" % os.getpid())
    try:
        yield make
    finally:
        with open(os.path.join(CGROUP_ROOT, "cgroup.procs"), "w") as f:
            f.write("%d\n" % os.getpid())
        for r in made:
            r.close()
        try:
            os.rmdir(cgroup)
        except OSError:
            pass


def most_reading_at_once(samples, window=1.0):
    """The most docks that each read at least 1 MiB within one window of seconds, from
    samples [(monotonic time, {serial: bytes_done})]."""
    best, j = 0, 0
    for t, now in samples:
        while t - samples[j][0] > window:
            j += 1
        before = samples[j][1]
        best = max(best, sum(1 for s, b in now.items() if b - before.get(s, 0) >= 1 << 20))
    return best


def test_four_throttled_docks_read_at_once_and_verify(make_sim, throttled, tmp):
    # One large recording each, of different lengths: with two copies for all docks
    # (the old scheduling) at most three would read within any second.
    n = 4
    manifests, recorders = {}, {}
    for i in range(n):
        serial = "SLOW-%d" % i
        img = os.path.join(tmp, "r%d.img" % i)
        manifests[serial] = mkimage(img, "--fs", "fat32", "--clips", "0", "--big",
                                    "%dM" % (6 + 3 * i))
        recorders[serial] = throttled(i, img)
        os.unlink(img)
    st = make_sim(ingest__parallel_copies="2")
    st.start()
    for serial in manifests:
        st.register(serial, handler="h" + serial, handler_id="H" + serial)
    subprocess.run(["sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches"], check=True)
    for i, serial in enumerate(manifests):
        st.dock(1 + i, serial, recorders[serial].image)

    samples, ended = [], {}
    deadline = time.monotonic() + 300
    while len(ended) < n and time.monotonic() < deadline:
        docks = {d["serial"]: d for d in st.docks() if d["serial"] in manifests}
        samples.append((time.monotonic(), {s: d.get("bytes_done", 0) for s, d in docks.items()}))
        ended.update({s: d for s, d in docks.items() if d["state"] in ENDED})
        time.sleep(0.05)
    assert len(ended) == n, ended
    assert all(d["state"] == "done" for d in ended.values()), ended
    assert most_reading_at_once(samples) == n, "the four docks never read at the same time"
    for serial, manifest in manifests.items():
        check_stored(st, serial, manifest)
    # And the station verifies every stored copy afresh.
    out = st.json("verify")
    assert out.get("ok") is True, out
