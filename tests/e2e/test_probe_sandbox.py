"""The sandboxed parser (evidock-probe): recorder listings and media probes run in a
helper process. A helper that crashes, hangs or lies fails that dock or that file with
a clear reason, audited, and the daemon goes on. The misbehaving helpers are small
scripts put in place of the real one through $EVIDOCK_PROBE."""
import json
import os
import signal
import stat
import subprocess
import time

from simstation import BUILD, make_sim, mkimage  # noqa: F401

ENDED = ("done", "failed", "interrupted")
PROBE = os.path.join(BUILD, "evidock-probe")

# Runs the real helper, then changes its listing's answer as LIE says.
LIAR = r'''#!/usr/bin/python3
import json, os, subprocess, sys
real = os.environ["REAL_PROBE"]
if sys.argv[1] != "list":
    os.execv(real, [real] + sys.argv[1:])
r, w = os.pipe()
p = subprocess.Popen([real] + sys.argv[1:], pass_fds=(3, 4),
                     preexec_fn=lambda: os.dup2(w, 4))
os.close(w)
out = b""
while True:
    chunk = os.read(r, 65536)
    if not chunk:
        break
    out += chunk
p.wait()
msg = json.loads(out)
victim = [f for f in msg["files"] if f.get("extents")][0]
victim["extents"][0][1] = 1 << 40
os.write(4, json.dumps(msg).encode())
'''


# Crashes in "list" once it holds a device, and counts each such listing in $LIST_RUNS;
# the real helper otherwise. A lister started ahead of its dock (probe.h) holds no
# device until it is handed one over the socket at fd 3, so it is not counted before.
COUNTED_CRASH = r'''#!/usr/bin/python3
import os, signal, socket, stat, sys
real = os.environ["REAL_PROBE"]
if sys.argv[1] != "list":
    os.execv(real, [real] + sys.argv[1:])
if stat.S_ISSOCK(os.fstat(3).st_mode):
    socket.recv_fds(socket.socket(fileno=3), 1, 1)
with open(os.environ["LIST_RUNS"], "a") as f:
    f.write("run\n")
os.kill(os.getpid(), signal.SIGSEGV)
'''


# The real helper, noting in $PROBE_LOG each lister started ahead of its dock
# ("ready PID") and the device it is then handed ("device PID"); one started while
# $PROBE_GONE_MARK exists ends at once instead, as a helper killed while it waited would.
AHEAD = r'''#!/usr/bin/python3
import os, socket, stat, sys
real = os.environ["REAL_PROBE"]
def note(what):
    with open(os.environ["PROBE_LOG"], "a") as f:
        f.write(f"{what} {os.getpid()}\n")
if sys.argv[1] == "list" and stat.S_ISSOCK(os.fstat(3).st_mode):
    note("ready")
    gone = os.environ.get("PROBE_GONE_MARK", "")
    if gone and os.path.exists(gone):
        os.unlink(gone)
        note("gone")
        sys.exit(0)
    sock = socket.socket(fileno=3)
    _, fds, _, _ = socket.recv_fds(sock, 1, 1)
    sock.detach()
    os.dup2(fds[0], 3)
    note("device")
os.execv(real, [real] + sys.argv[1:])
'''


def script(tmp, name, body):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, stat.S_IRWXU)
    return path


def misbehaving(tmp, mode, action):
    """A helper that does action when run as `evidock-probe mode` and the marker file
    exists, and is the real one otherwise."""
    mark = os.path.join(tmp, "misbehave")
    open(mark, "w").close()
    path = script(tmp, "probe-" + mode, f'''#!/bin/sh
if [ "$1" = "{mode}" ] && [ -e "{mark}" ]; then {action}; fi
exec "{PROBE}" "$@"
''')
    return path, mark


def dock_failed(st, serial, port, img, want):
    st.register(serial)
    st.dock(port, serial, img)
    d = st.wait_dock(serial, ENDED)
    assert d["state"] == "failed", d
    assert want in d["error"], d
    failed = [e for e in st.json("audit") if e["event"] == "dock.failed"]
    assert any(want in (e["details"].get("error") or "") for e in failed), failed
    return d


def dock_done(st, serial, port, img):
    st.register(serial)
    st.dock(port, serial, img)
    d = st.wait_dock(serial, ENDED)
    assert d["state"] == "done", d
    return d


def test_crashing_lister_fails_the_dock_and_the_daemon_goes_on(make_sim, tmp):
    img = os.path.join(tmp, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "2")
    probe, mark = misbehaving(tmp, "list", "kill -SEGV $$")
    st = make_sim()
    st.start(env={"EVIDOCK_PROBE": probe})
    dock_failed(st, "REC-CRASH", 1, img, "probe crashed: signal 11 (SIGSEGV)")
    assert st.json("items") == []
    # The daemon is still there and docks the next recorder.
    os.unlink(mark)
    st.undock(1)
    st.wait_gone("REC-CRASH")
    dock_done(st, "REC-NEXT", 2, img)
    assert len(st.json("items")) > 0


def test_hanging_lister_is_killed_at_the_deadline(make_sim, tmp):
    img = os.path.join(tmp, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "1")
    probe, mark = misbehaving(tmp, "list", "exec sleep 600")
    st = make_sim()
    st.start(env={"EVIDOCK_PROBE": probe, "EVIDOCK_PROBE_DEADLINE_MS": "3000"})
    dock_failed(st, "REC-HANG", 1, img, "probe timed out after 3 s")
    assert st.json("status") is not None
    # No sleeping helper is left behind.
    left = subprocess.run(["pgrep", "-f", "sleep 600"], capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout


def test_lying_lister_extent_past_the_device_end_is_refused(make_sim, tmp):
    img = os.path.join(tmp, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "2")
    liar = script(tmp, "liar", LIAR)
    st = make_sim()
    st.start(env={"EVIDOCK_PROBE": liar, "REAL_PROBE": PROBE})
    d = dock_failed(st, "REC-LIAR", 1, img, "the probe's answer is nonsense")
    assert "past the end of the device" in d["error"], d
    assert st.json("items") == []


def test_garbage_answer_fails_the_dock(make_sim, tmp):
    img = os.path.join(tmp, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "1")
    probe, _ = misbehaving(tmp, "list", "printf '{\"v\":1,\"files\":' >&4; exit 0")
    st = make_sim()
    st.start(env={"EVIDOCK_PROBE": probe})
    dock_failed(st, "REC-GARBAGE", 1, img, "the probe's answer is malformed")


def test_crashing_media_probe_keeps_the_recording_with_the_reason(make_sim, tmp):
    img = os.path.join(tmp, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "2")
    probe, _ = misbehaving(tmp, "media-serve", "kill -SEGV $$")
    st = make_sim()
    st.start(env={"EVIDOCK_PROBE": probe})
    dock_done(st, "REC-MEDIA", 1, img)
    items = st.json("items")
    assert items
    for it in items:
        # Stored all the same (it is evidence), and the item says why it was not probed.
        assert it["media"]["probe_error"] == "probe crashed: signal 11 (SIGSEGV)", it
        assert it["media"]["integrity"] is None


def run_probe(args, fd, env=None):
    # As evidockd starts it: no LeakSanitizer check at exit in a sanitizer build (its
    # tracer is something the seccomp filter kills; probe.c).
    env = dict(os.environ if env is None else env, ASAN_OPTIONS="detect_leaks=0")
    r, w = os.pipe()
    p = subprocess.Popen([PROBE] + args, pass_fds=(3, 4), env=env,
                         preexec_fn=lambda: (os.dup2(fd, 3), os.dup2(w, 4)))
    os.close(w)
    out = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        out += chunk
    os.close(r)
    assert p.wait(timeout=120) == 0
    return json.loads(out)


def test_helper_runs_in_its_sandbox(tmp):
    img = os.path.join(tmp, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "1")
    with open(img, "rb") as f:
        # Its filter refuses open(2): a parser bug reaches no other file.
        msg = run_probe(["media"], f.fileno(), dict(os.environ, EVIDOCK_PROBE_TEST_SYSCALL="1"))
        assert msg == {"v": 1, "error": -1, "text": "open refused"}
        # And it does its job all the same.
        msg = run_probe(["list", "mp4"], f.fileno())
    assert msg["partitions"] == 1 and len(msg["files"]) == 1
    assert all(e[1] + e[2] <= os.path.getsize(img) for e in msg["files"][0]["extents"])


def test_recorder_that_crashed_the_lister_is_not_listed_again_after_a_restart(make_sim, tmp):
    img = os.path.join(tmp, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "1")
    runs = os.path.join(tmp, "list-runs")
    probe = script(tmp, "counted-crash", COUNTED_CRASH)
    env = {"EVIDOCK_PROBE": probe, "REAL_PROBE": PROBE, "LIST_RUNS": runs}

    def listings():
        with open(runs) as f:
            return len(f.readlines())

    def audited(event):
        return [e for e in st.json("audit") if e["event"] == event]

    st = make_sim()
    st.start(env=env)
    first = dock_failed(st, "REC-LOOP", 1, img, "probe crashed: signal 11 (SIGSEGV)")
    assert listings() == 1
    # The daemon restarts (a crash, the watchdog, systemctl restart) with the recorder
    # still plugged in: it is not listed again, its dock fails at once with the reason.
    assert st.stop() == 0
    st.start(env=env, defer_cmds=[f"dock 1 REC-LOOP 1234:5678 {img}"])
    d = st.wait_dock("REC-LOOP", ENDED)
    assert d["state"] == "failed", d
    assert d["error"] == ("not read again: the lister failed on it: probe crashed: signal 11 "
                          "(SIGSEGV); undock it to retry"), d
    assert d["session"] != first["session"]
    rec = st.wait_dock_record(d["session"])
    assert rec["event"] == "dock.failed" and rec["error"] == d["error"], rec
    assert listings() == 1
    # Audited once: one dock.failed for it, and no dock.accepted.
    failed = [e for e in audited("dock.failed") if e["subject"] == f"dock:{d['session']}"]
    assert len(failed) == 1, failed
    assert [e for e in audited("dock.accepted")
            if e["subject"] == f"dock:{d['session']}"] == []
    assert any("not read again" in w for w in st.json("status")["warnings"])
    # Undocked and docked again: it is listed again (and here crashes again).
    st.undock(1)
    st.wait_gone("REC-LOOP")
    st.dock(1, "REC-LOOP", img)
    d = st.wait_dock("REC-LOOP", ENDED)
    assert d["state"] == "failed" and d["error"] == "probe crashed: signal 11 (SIGSEGV)", d
    assert listings() == 2
    assert st.json("items") == []


def notes(path, timeout=60):
    """The lines of a PROBE_LOG, once it has any."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                lines = [line.split() for line in f if line.endswith("\n")]
            if lines:
                return lines
        time.sleep(0.05)
    raise AssertionError(f"nothing in {path} after {timeout} s")


def test_lister_is_started_before_the_disk_appears(make_sim, tmp):
    img = os.path.join(tmp, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "2")
    log = os.path.join(tmp, "probe.log")
    st = make_sim()
    st.start(env={"EVIDOCK_PROBE": script(tmp, "ahead", AHEAD), "REAL_PROBE": PROBE,
                  "PROBE_LOG": log})
    st.register("REC-AHEAD")
    st.sim("dock 1 REC-AHEAD 1234:5678 -")  # the recorder, its disk not yet there
    [(what, pid)] = notes(log)
    assert what == "ready"
    st.sim(f"disk 1 {img}")
    d = st.wait_dock("REC-AHEAD", ENDED)
    assert d["state"] == "done", d
    # The helper started ahead listed the disk: no other started after it.
    with open(log) as f:
        assert [line.split() for line in f] == [["ready", pid], ["device", pid]]
    assert st.json("items")


def test_lister_that_ended_while_waiting_is_not_used(make_sim, tmp):
    img = os.path.join(tmp, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "1")
    log, mark = os.path.join(tmp, "probe.log"), os.path.join(tmp, "gone")
    open(mark, "w").close()
    st = make_sim()
    st.start(env={"EVIDOCK_PROBE": script(tmp, "ahead", AHEAD), "REAL_PROBE": PROBE,
                  "PROBE_LOG": log, "PROBE_GONE_MARK": mark})
    st.register("REC-GONE")
    st.sim("dock 1 REC-GONE 1234:5678 -")
    deadline = time.monotonic() + 60
    while ["gone"] != [w for w, _ in notes(log)][-1:] and time.monotonic() < deadline:
        time.sleep(0.05)
    gone = notes(log)[-1][1]
    while os.path.exists(f"/proc/{gone}/stat") and time.monotonic() < deadline:
        with open(f"/proc/{gone}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.05)
    # The recorder is not blamed for it: a fresh lister lists the disk.
    st.sim(f"disk 1 {img}")
    d = st.wait_dock("REC-GONE", ENDED)
    assert d["state"] == "done", d
    assert st.json("items")
    with open(log) as f:
        lines = [line.split() for line in f]
    assert lines[:2] == [["ready", gone], ["gone", gone]], lines
    assert lines[-1][0] == "device" and lines[-1][1] != gone, lines


def test_lister_started_for_other_extensions_is_not_used(make_sim, tmp):
    img = os.path.join(tmp, "rec.img")
    mkimage(img, "--fs", "fat32", "--clips", "2")
    log = os.path.join(tmp, "probe.log")
    st = make_sim(usb__settle_seconds="120", ingest__extensions="mp4 jpg wav")
    st.start(env={"EVIDOCK_PROBE": script(tmp, "ahead", AHEAD), "REAL_PROBE": PROBE,
                  "PROBE_LOG": log})
    st.register("REC-EXT")
    st.sim("dock 1 REC-EXT 1234:5678 -")
    [(_, first)] = notes(log)
    # The extensions change before the disk appears: what was started for the old ones
    # lists nothing (it would list the wrong files).
    with open(st.conf) as f:
        text = f.read()
    with open(st.conf, "w") as f:
        f.write(text.replace("extensions = mp4 jpg wav", "extensions = mp4"))
    daemon = int(subprocess.check_output(["pgrep", "-P", str(st.proc.pid)]).split()[0])
    os.kill(daemon, signal.SIGHUP)
    deadline = time.monotonic() + 60
    while not any(e["event"] == "config.reloaded" for e in st.json("audit")):
        assert time.monotonic() < deadline, "no config.reloaded"
        time.sleep(0.05)
    st.sim(f"disk 1 {img}")
    d = st.wait_dock("REC-EXT", ENDED)
    assert d["state"] == "done", d
    with open(log) as f:
        lines = [line.split() for line in f]
    assert lines[0] == ["ready", first] and ["device", first] not in lines, lines
    assert lines[-1][0] == "device" and lines[-1][1] != first, lines
    assert {os.path.splitext(it["original_path"])[1].lower() for it in st.json("items")} == {".mp4"}
    assert not os.path.exists(f"/proc/{first}")  # dropped and reaped
