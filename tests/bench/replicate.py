#!/usr/bin/env python3
"""make bench (replication): evidock-replicate against `s3cmd put` of the same objects
to the same single-node Ceph RGW in the same run, and the station's ingest with the
replicator busy against without.

  - peer: `s3cmd put` of the BENCH_REPL_FILES objects (BENCH_REPL_FILE_MB MiB each, the
    station's own object files) into a plain bucket, one s3cmd per object, BENCH_REPL_
    PARALLEL at a time (as many as the replicator's connections);
  - evidock-replicate: the same objects (already in the catalogue) into an Object Lock
    bucket, from its start to the last confirmed copy: COMPLIANCE retention read back,
    item records and reports to evidockd included. Goal: at least 0.8x the peer's MB/s;
  - docking: a simulated recorder (tests/sim, a FAT32 image of the same size) docked
    to "safe to remove" while the replicator copies what came before, against another
    such dock with the replicator stopped. Goal: at least 0.9x.
Prints the figures and the ratios; never fails on a figure. Run as root:
`make bench`, or `tests/bench/replicate.py BUILD_DIR`."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build"))
os.environ["EVIDOCK_BUILD"] = BUILD
sys.path.insert(0, os.path.join(REPO, "tests/e2e"))
sys.path.insert(0, os.path.join(REPO, "tests/ceph"))
from simstation import SimStation, mkimage  # noqa: E402
from helpers import random_file  # noqa: E402
from rgw import RGW  # noqa: E402

FILES = int(os.environ.get("BENCH_REPL_FILES", "8"))
FILE_MB = int(os.environ.get("BENCH_REPL_FILE_MB", "16"))
PARALLEL = int(os.environ.get("BENCH_REPL_PARALLEL", "2"))
REPLICATE = os.path.join(BUILD, "evidock-replicate")


def replication(st):
    return json.loads(st.ctl("--json", "replication", check=False).stdout or "{}")


def wait(what, check, timeout=900):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def folder(root, name, seed):
    src = os.path.join(root, name)
    for i in range(FILES):
        random_file(os.path.join(src, f"DCIM/CLIP{i:04d}.MP4"), FILE_MB << 20, seed + i)
    return src


def timed_dock(st, port, work, name):
    """Dock a fresh recorder image of FILES x FILE_MB MiB; seconds to "safe to remove"."""
    img = os.path.join(work, name + ".img")
    mkimage(img, "--fs", "fat32", "--size", f"{FILES * FILE_MB + 64}M", "--clips", "1",
            "--big", f"{FILES * FILE_MB}M", manifest=False)
    st.register(name)
    t0 = time.monotonic()
    st.dock(port, name, img)
    d = st.wait_dock(name, ("done", "failed", "interrupted"), timeout=900)
    took = time.monotonic() - t0
    if d["state"] != "done" or not d["safe_to_remove"]:
        raise SystemExit(f"dock {name}: {d}")
    return took


def timed_import(st, src):
    t0 = time.monotonic()
    st.ctl("import", src, "--recorder", "R1", check=True)
    return time.monotonic() - t0


def main():
    work = tempfile.mkdtemp(prefix="evd-bench-repl-")
    mb = FILES * FILE_MB
    rgw = RGW(memstore_mb=max(1024, mb * 8)).start()
    st = None
    rep = None
    try:
        root = os.path.join(work, "st")
        os.makedirs(root)
        st = SimStation(root)
        creds = os.path.join(root, "s3.cred")
        with open(creds, "w") as f:
            f.write(f"access_key = {rgw.access_key}\nsecret_key = {rgw.secret_key}\n")
        os.chmod(creds, 0o600)
        bucket = rgw.make_bucket("evd-bench-lock")
        plain = rgw.make_bucket("evd-bench-plain", lock=False)
        with open(st.conf, "a") as f:
            f.write(f"[replication]\nendpoint = {rgw.endpoint}\nbucket = {bucket}\n"
                    f"region = {rgw.region}\ncredentials = {creds}\nparallel = {PARALLEL}\n"
                    f"part_size = 64\nreconcile = off\n")
        st.start()
        timed_import(st, folder(work, "a", 1000))
        objects = [st.object_path(i["sha256"]) for i in st.json("items")]
        cfg = rgw.s3cmd_config(os.path.join(work, "s3cfg"))

        def put(path):
            subprocess.run(["s3cmd", "-c", cfg, "--no-progress", "put", path,
                            f"s3://{plain}/peer/{os.path.basename(path)}"], check=True,
                           capture_output=True, timeout=900)

        t0 = time.monotonic()
        with ThreadPoolExecutor(PARALLEL) as pool:
            list(pool.map(put, objects))
        peer_s = time.monotonic() - t0
        logf = open(os.path.join(work, "replicate.log"), "ab")
        t0 = time.monotonic()
        rep = subprocess.Popen([REPLICATE, "-c", st.conf], stdout=logf, stderr=logf)
        wait("replication", lambda: replication(st).get("confirmed") == FILES)
        ours_s = time.monotonic() - t0
        print(f"replication of {FILES} x {FILE_MB} MiB ({PARALLEL} at once): "
              f"s3cmd put {mb / peer_s:.1f} MiB/s ({peer_s:.2f} s), evidock-replicate "
              f"{mb / ours_s:.1f} MiB/s ({ours_s:.2f} s, bucket check and retention read "
              f"back included): {peer_s / ours_s:.2f}x (goal >= 0.8x)")
        # a dock with the replicator busy copying the previous import, and one without
        timed_import(st, folder(work, "d", 4000))  # work for the replicator meanwhile
        busy_s = timed_dock(st, 1, work, "BENCH-BUSY")
        wait("replication drained", lambda: replication(st).get("pending") == 0)
        rep.terminate()
        rep.wait(timeout=60)
        rep = None
        idle_s = timed_dock(st, 2, work, "BENCH-IDLE")
        print(f"docking of {mb} MiB to \"safe to remove\": {mb / idle_s:.1f} MiB/s without "
              f"replication, {mb / busy_s:.1f} MiB/s with the replicator copying: "
              f"{idle_s / busy_s:.2f}x (goal >= 0.9x)")
    finally:
        if rep:
            rep.terminate()
            rep.wait(timeout=60)
        if st and st.proc:
            st.stop()
        rgw.stop()
        subprocess.run(["chattr", "-R", "-i", work], stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
