"""The sandboxed parser (evidock-probe): recorder listings and media probes run in a
helper process. A helper that crashes, hangs or lies fails that dock or that file with
a clear reason, audited, and the daemon goes on. The misbehaving helpers are small
scripts put in place of the real one through $EVIDOCK_PROBE."""
import json
import os
import stat
import subprocess

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
    probe, _ = misbehaving(tmp, "list", f"echo run >> {runs}; kill -SEGV $$")
    env = {"EVIDOCK_PROBE": probe}

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
