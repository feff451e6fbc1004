#!/usr/bin/env python3
"""make bench (docks at USB speed): N recorders docked together, each read at USB 2.0
speed, against the raw read of the same images through the same throttle in the same
run.

Each recorder image (BENCH_USB_MB MiB of distinct random "recordings", FAT32) lives on
a small ext4 filesystem of its own on a loop device; a blkio cgroup (v1) limits reads of
each loop device to BENCH_USB_BPS bytes a second (36.7 MB/s: what USB 2.0 mass storage
gives). This process joins the cgroup, so evidockd, the simulator and the dd peers it
starts are all throttled the same way. For N in BENCH_USB_DOCKS (default 1 4 8 16):
  - peer: N `dd iflag=direct` reads of the images at once, each timed;
  - evidockd: N recorders docked through tests/sim at once, each timed from its dock
    to "safe to remove" (status polled every 50 ms).
Prints per dock its time against its raw read and against its bound (the slower of
its raw read and a plain copy of it, below), the aggregate MB/s, the slowest dock
against the median, and evidockd's peak RSS. First, one recorder of BENCH_USB_ALONE_MB
MiB docked alone without a throttle gives the disk-bound rate of a single dock.
Goals (issue 16): each dock at most 1.1x its raw read at 8 docks, aggregate at least
0.95x the raw reads' (or 0.9x the unthrottled single dock's rate where that is
lower), slowest at least 0.8x the median, RSS under 64 MiB at 8 docks and 128 MiB at
16. Never fails on a figure.

Run as root (loop devices, mounts, cgroups): `make bench`, or
`tests/bench/docks.py BUILD_DIR`."""
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build"))
os.environ["EVIDOCK_BUILD"] = BUILD
sys.path.insert(0, os.path.join(REPO, "tests/e2e"))
from simstation import SimStation  # noqa: E402

MB = int(os.environ.get("BENCH_USB_MB", "96"))
ALONE_MB = int(os.environ.get("BENCH_USB_ALONE_MB", "384"))
FILE_MB = int(os.environ.get("BENCH_USB_FILE_MB", "32"))
BPS = int(os.environ.get("BENCH_USB_BPS", str(35 * 1048576)))
COUNTS = [int(n) for n in os.environ.get("BENCH_USB_DOCKS", "1 4 8 16").split()]
CGROUP = f"/sys/fs/cgroup/blkio/evidock-bench-{os.getpid()}"
ENV = dict(os.environ, LC_ALL="C.UTF-8", TZ="Asia/Shanghai", MTOOLS_SKIP_CHECK="1")


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, env=ENV, **kw)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


class Recorder:
    """A recorder image on its own throttled loop device."""

    def __init__(self, work, i, mb=MB):
        self.serial = f"USB-{i:02d}"
        self.mb = mb
        self.fs = os.path.join(work, f"fs{i}.img")
        self.mnt = os.path.join(work, f"mnt{i}")
        self.image = os.path.join(self.mnt, "recorder.img")
        self.loop = None
        os.makedirs(self.mnt)
        run("truncate", "-s", f"{mb + mb // 8 + 96}M", self.fs)
        run("mkfs.ext4", "-q", "-F", "-m", "0", self.fs)
        self.loop = run("losetup", "-f", "--show", self.fs, capture_output=True,
                        text=True).stdout.strip()
        run("mount", self.loop, self.mnt)
        run("truncate", "-s", f"{mb + mb // 16 + 64}M", self.image)
        run("mkfs.vfat", "-F", "32", "-n", "BODYCAM", self.image, stdout=subprocess.DEVNULL)
        run("mmd", "-i", self.image, "::/DCIM", "::/DCIM/100MEDIA")
        left, k = mb, 0
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            while left > 0:
                n, k = min(left, FILE_MB), k + 1
                clip = os.path.join(tmp, f"VID_{i:02d}_{k:04d}.MP4")
                with open(clip, "wb") as f:
                    f.write(os.urandom(n << 20))
                run("mcopy", "-m", "-i", self.image, clip, "::/DCIM/100MEDIA/")
                os.unlink(clip)
                left -= n
        rdev = os.stat(self.loop).st_rdev
        self.majmin = f"{os.major(rdev)}:{os.minor(rdev)}"

    def close(self):
        subprocess.run(["umount", self.mnt], check=False)
        if self.loop:
            subprocess.run(["losetup", "-d", self.loop], check=False)


def throttle(recorders):
    """Limit reads of each recorder's loop device, and put this process in the cgroup."""
    os.makedirs(CGROUP, exist_ok=True)
    for r in recorders:
        with open(os.path.join(CGROUP, "blkio.throttle.read_bps_device"), "w") as f:
            f.write(f"{r.majmin} {BPS}\n")
    with open(os.path.join(CGROUP, "cgroup.procs"), "w") as f:
        f.write(f"{os.getpid()}\n")


def unthrottle():
    with open("/sys/fs/cgroup/blkio/cgroup.procs", "w") as f:
        f.write(f"{os.getpid()}\n")
    try:
        os.rmdir(CGROUP)
    except OSError:
        pass


def raw_reads(recorders):
    """Seconds each dd iflag=direct of the images took, all at once."""
    drop_caches()
    t0 = time.monotonic()
    procs = {r.serial: subprocess.Popen(["dd", f"if={r.image}", "of=/dev/null", "bs=1M",
                                         "iflag=direct", "status=none"]) for r in recorders}
    done = {}
    while len(done) < len(procs):
        for serial, p in procs.items():
            if serial not in done and p.poll() is not None:
                assert p.returncode == 0, f"dd of {serial} failed"
                done[serial] = time.monotonic() - t0
        time.sleep(0.01)
    return done


def raw_copies(work, recorders):
    """Seconds each plain copy of an image into the store's filesystem took, all at
    once: dd iflag=direct from the throttled image, oflag=direct into a file under
    /var/tmp, then the copy read back with iflag=direct (what a copy must write and
    read again, without hashing, listing or a catalogue). The disk-bound peer."""
    drop_caches()
    t0 = time.monotonic()
    outs = {r.serial: os.path.join(work, f"copy-{r.serial}") for r in recorders}
    script = ('dd if="$1" of="$2" bs=1M iflag=direct oflag=direct conv=fdatasync status=none'
              ' && dd if="$2" of=/dev/null bs=1M iflag=direct status=none')
    procs = {r.serial: subprocess.Popen(["sh", "-c", script, "sh", r.image, outs[r.serial]])
             for r in recorders}
    done = {}
    while len(done) < len(procs):
        for serial, p in procs.items():
            if serial not in done and p.poll() is not None:
                assert p.returncode == 0, f"copy of {serial} failed"
                done[serial] = time.monotonic() - t0
        time.sleep(0.01)
    for out in outs.values():
        os.unlink(out)
    return done


def memory(pid):
    """evidockd's RSS now: (anonymous, file-backed) in KiB."""
    anon = files = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                anon = int(line.split()[1])
            elif line.startswith("RssFile:"):
                files = int(line.split()[1])
    return anon, files


def docks(work, recorders, n):
    """Seconds from each dock to its "safe to remove", and evidockd's peak RSS in KiB."""
    root = os.path.join(work, f"station-{n}")
    os.makedirs(root)
    station = SimStation(root)
    station.start()
    try:
        for r in recorders:
            station.register(r.serial, handler=f"inspector {r.serial}", handler_id=r.serial)
        pid = station.daemon_pid()
        drop_caches()
        docked = {}
        for port, r in enumerate(recorders, 1):
            station.dock(port, r.serial, r.image)
            docked[r.serial] = time.monotonic()
        safe = {}
        peak_anon = peak_file = 0
        while len(safe) < len(recorders):
            anon, files = memory(pid)
            peak_anon, peak_file = max(peak_anon, anon), max(peak_file, files)
            for d in station.docks():
                if d["serial"] in docked and d["serial"] not in safe:
                    if d.get("safe_to_remove"):
                        safe[d["serial"]] = time.monotonic() - docked[d["serial"]]
                    elif d["state"] in ("failed", "interrupted"):
                        raise RuntimeError(f"dock {d['serial']} {d['state']}: {d}")
            time.sleep(0.05)
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
        return safe, (rss, peak_anon, peak_file)
    finally:
        station.stop()
        subprocess.run(["chattr", "-R", "-i", root], stderr=subprocess.DEVNULL, check=False)
        subprocess.run(["rm", "-rf", root], check=False)


def report(n, recorders, raw, copies, safe, mem, alone):
    print(f"\n{n} recorder(s) at {BPS / 1e6:.1f} MB/s each, {MB} MiB of recordings each")
    print(f"  {'recorder':10} {'raw read s':>10} {'copy s':>8} {'safe s':>8} {'ratio':>6}"
          f" {'vs bound':>8}")
    for r in recorders:
        s = r.serial
        print(f"  {s:10} {raw[s]:10.2f} {copies[s]:8.2f} {safe[s]:8.2f} {safe[s] / raw[s]:6.2f}"
              f" {safe[s] / max(raw[s], copies[s]):8.2f}")
    worst = max(safe[s] / raw[s] for s in safe)
    worst_bound = max(safe[s] / max(raw[s], copies[s]) for s in safe)
    total_mb = n * MB * 1048576 / 1e6
    agg_raw = total_mb / max(raw.values())
    agg = total_mb / max(safe.values())
    agg_copy = total_mb / max(copies.values())
    median = statistics.median(safe.values())
    print(f"  worst dock vs its raw read: {worst:.2f} x (goal <= 1.1 at 8 docks)")
    print(f"  worst dock vs its bound, the slower of its raw read and its plain copy"
          f" (copy s): {worst_bound:.2f} x")
    print(f"  aggregate: evidockd {agg:.0f} MB/s, raw reads {agg_raw:.0f} MB/s: "
          f"{agg / agg_raw:.2f} x; unthrottled single dock {alone:.0f} MB/s: {agg / alone:.2f} x"
          " (goal >= 0.95 x the raw reads, or >= 0.9 x the single dock where that is lower)")
    print(f"  slowest dock vs the median (rate): {median / max(safe.values()):.2f} x "
          "(goal >= 0.8)")
    print(f"  peer: plain copies (dd direct, fdatasync, read back) at once: {agg_copy:.0f} MB/s;"
          f" evidockd {agg / agg_copy:.2f} x that (what the disk and CPU allow here)")
    rss, anon, files = mem
    print(f"  evidockd peak RSS: {rss // 1024} MiB (goal < 64 MiB at 8, < 128 MiB at 16);"
          f" sampled peaks: anonymous {anon // 1024} MiB, file-backed {files // 1024} MiB")


def main():
    if os.geteuid() != 0:
        sys.exit("docks.py: run as root (loop devices, mounts, blkio cgroup)")
    work = tempfile.mkdtemp(prefix="evidock-usbbench-", dir="/var/tmp")
    recorders = []
    try:
        print(f"making {max(COUNTS)} recorder images of {MB} MiB, each on its own loop device,"
              f" and one of {ALONE_MB} MiB read without a throttle...")
        for i in range(1, max(COUNTS) + 1):
            recorders.append(Recorder(work, i))
        fast = Recorder(work, 99, ALONE_MB)
        recorders.append(fast)
        throttle(recorders[:-1])
        # The disk-bound rate: one dock whose recorder reads as fast as the disk allows.
        safe, _ = docks(work, [fast], "alone")
        alone = ALONE_MB * 1048576 / 1e6 / safe[fast.serial]
        print(f"\nunthrottled single dock ({ALONE_MB} MiB): {safe[fast.serial]:.2f} s,"
              f" {alone:.0f} MB/s (the disk-bound rate)")
        for n in COUNTS:
            raw = raw_reads(recorders[:n])
            copies = raw_copies(work, recorders[:n])
            safe, mem = docks(work, recorders[:n], n)
            report(n, recorders[:n], raw, copies, safe, mem, alone)
    finally:
        unthrottle()
        for r in recorders:
            r.close()
        subprocess.run(["rm", "-rf", work], check=False)


if __name__ == "__main__":
    main()
