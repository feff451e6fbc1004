"""The shipped units under a real systemd (a booted Debian 12 container, conftest.py):
socket activation, READY=1 and STATUS=, the sandbox as loaded, roles as real users,
an archivist's export into their home, the watchdog restarting a hung daemon, and
`systemd-analyze security` on the loaded unit. The tests run in this order on one
container (the watchdog one restarts the daemon, so it comes last)."""
import json
import os
import re
import signal
import subprocess
import tempfile

import pytest

from conftest import wait_for

SERVICE = "evidockd.service"
SOCKET = "evidockd.socket"
SEAL = "evidock-seal.service"
CASE = "X罚〔2026〕17号"
PEOPLE = ["--maker", "王制作", "--extractor", "李提取", "--approver", "张所长",
          "--reason", "案件归档"]
CAP_LINUX_IMMUTABLE = 9


def test_socket_activation_starts_the_service(station):
    assert station.show(SOCKET, "ActiveState")["ActiveState"] == "active"
    # Nothing has connected yet: the service is not running.
    assert station.show(SERVICE, "ActiveState")["ActiveState"] == "inactive"
    sock = station.run(["stat", "-c", "%a %U", "/run/evidock/control.sock"], check=True)
    assert sock.stdout.split() == ["666", "root"]
    # The first connection starts it; evidockctl gets its answer on that connection.
    r = station.ctl("status", user="clerk1")
    assert r.returncode == 0, r.stderr
    assert station.show(SERVICE, "ActiveState")["ActiveState"] == "active"


def test_ready_and_status_text(station):
    # Type=notify: "active (running)" only after READY=1.
    p = station.show(SERVICE, "ActiveState", "SubState", "StatusText", "MainPID", "Type")
    assert (p["Type"], p["ActiveState"], p["SubState"]) == ("notify", "active", "running"), p
    assert p["StatusText"].strip(), p
    assert int(p["MainPID"]) > 0


def test_the_sandbox_as_loaded(station):
    pid = station.show(SERVICE, "MainPID")["MainPID"]
    status = station.run(["cat", f"/proc/{pid}/status"], check=True).stdout
    fields = dict(line.split(":", 1) for line in status.splitlines())
    uid = station.run(["id", "-u", "evidock"], check=True).stdout.strip()
    assert fields["Uid"].split()[0] == uid
    # No capability at all (evidock-seal sets the immutable flag); no new privileges;
    # seccomp filtering.
    assert int(fields["CapEff"], 16) == 0, fields["CapEff"]
    assert int(fields["CapBnd"], 16) == 0, fields["CapBnd"]
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2"
    # Not in group disk (every disk): recorders' USB disks come as group evidock by the
    # udev rule installed beside the units, which udev reads without complaint.
    disk = station.run(["getent", "group", "disk"], check=True).stdout.split(":")[2]
    assert disk not in fields["Groups"].split(), fields["Groups"]
    rules = "/usr/local/lib/udev/rules.d/70-evidock.rules"
    assert 'ENV{ID_BUS}=="usb", GROUP="evidock"' in station.run(["cat", rules], check=True).stdout
    r = station.run(["udevadm", "test", "/sys/class/net/lo"])
    assert rules in r.stdout + r.stderr, r.stderr[-2000:]
    bad = [line for line in (r.stdout + r.stderr).splitlines()
           if "70-evidock.rules" in line and "Reading rules file" not in line]
    assert bad == [], bad
    # In its mount namespace: no homes, a read-only /usr, a writable state dir.
    ns = ["nsenter", "-t", pid, "-m", "--"]
    assert station.run(ns + ["ls", "-A", "/home"], check=True).stdout.strip() == ""
    r = station.run(ns + ["touch", "/usr/evidock-probe"])
    assert r.returncode != 0 and "Read-only file system" in r.stderr, r.stderr
    r = station.run(ns + ["findmnt", "-n", "-o", "OPTIONS", "--target", "/var/lib/evidock"],
                    check=True)
    assert r.stdout.split(",")[0] == "rw", r.stdout
    status = station.ctl("--json", "status", user="arch1")
    assert status.returncode == 0, status.stderr


def test_roles_as_real_users(station):
    assert station.ctl("status", user="arch1").returncode == 0
    assert station.ctl("status", user="clerk1").returncode == 0
    r = station.ctl("status", user="nobody1")
    assert r.returncode == 1, (r.stdout, r.stderr)
    # A clerk may not export; nothing is written into their home.
    out = "/home/clerk1/case.iso"
    r = station.ctl("export", "--case", CASE, *PEOPLE, "-o", out, user="clerk1")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.strip()
    assert station.run(["test", "-e", out]).returncode == 1
    # The state dir is the daemon's alone, whatever the caller's role.
    for user in ("clerk1", "arch1"):
        r = station.run(["ls", "/var/lib/evidock"], user=user)
        assert r.returncode != 0 and "Permission denied" in r.stderr, (user, r.stderr)
    # Nor import, which is an admin's.
    r = station.ctl("import", "/srv", "--recorder", "SN-NONE", user="clerk1")
    assert r.returncode == 1, (r.stdout, r.stderr)


@pytest.fixture(scope="module")
def labelled_case(station):
    """A real recording (ffmpeg, made on the host) imported as an admin and labelled with
    CASE; the station's signing key made."""
    with tempfile.TemporaryDirectory() as tmp:
        clip = os.path.join(tmp, "20260302_101500.mp4")
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc=duration=2:size=160x120:rate=10", "-c:v", "mpeg4", clip],
                       check=True)
        station.copy_in(clip, "/srv/evidock-in/DCIM/20260302_101500.mp4")
    for argv in (["keys", "init"],
                 ["recorder", "add", "SN-0001", "--handler-id", "1", "--handler-name", "张三",
                  "--since", "2026-01-01"],
                 ["import", "/srv/evidock-in", "--recorder", "SN-0001"]):
        r = station.ctl(*argv, user="admin1")
        assert r.returncode == 0, (argv, r.stdout, r.stderr)
    items = json.loads(station.ctl("--json", "items", user="clerk1").stdout)
    assert len(items) == 1, items
    item = str(items[0]["id"])
    r = station.ctl("label", item, "--case", CASE, "--party", "李四", user="clerk1")
    assert r.returncode == 0, r.stderr
    return item


def test_import_under_the_unit(station, labelled_case):
    shown = json.loads(station.ctl("--json", "show", labelled_case, user="arch1").stdout)
    assert shown["labels"]["case_no"] == CASE
    assert shown["media"]["integrity"] == "ok", shown["media"]
    # Write-once by the immutable flag, set through evidock-seal: not even the daemon's
    # own user can remove the stored original.
    status = json.loads(station.ctl("--json", "status", user="clerk1").stdout)
    assert status["write_once"] == "immutable", status
    sha = shown["sha256"]
    obj = f"/var/lib/evidock/objects/{sha[:2]}/{sha[2:4]}/{sha}"
    r = station.run(["rm", "-f", obj], user="evidock")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, (r.returncode, r.stderr)
    assert station.run(["test", "-f", obj]).returncode == 0


def test_the_seal_helper_as_loaded(station, labelled_case):
    # Started by its socket on evidockd's first request: the evidock user with
    # CAP_LINUX_IMMUTABLE alone, no new privileges, seccomp, no network.
    p = station.show(SEAL, "ActiveState", "MainPID")
    assert p["ActiveState"] == "active", p
    status = station.run(["cat", f"/proc/{p['MainPID']}/status"], check=True).stdout
    fields = dict(line.split(":", 1) for line in status.splitlines())
    uid = station.run(["id", "-u", "evidock"], check=True).stdout.strip()
    assert fields["Uid"].split()[0] == uid
    assert int(fields["CapEff"], 16) == 1 << CAP_LINUX_IMMUTABLE, fields["CapEff"]
    assert int(fields["CapBnd"], 16) == 1 << CAP_LINUX_IMMUTABLE, fields["CapBnd"]
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2"
    # Its socket is evidock's alone: an archivist cannot even connect.
    st = station.run(["stat", "-c", "%a %U", "/run/evidock/seal.sock"], check=True)
    assert st.stdout.split() == ["600", "evidock"], st.stdout
    score, table = exposure(station, SEAL)
    print(f"\nsystemd-analyze security {SEAL}: {score}")
    assert score <= 1.0, table


def test_archivist_exports_into_their_home(station, labelled_case):
    out = "/home/arch1/case.iso"
    r = station.ctl("export", "--case", CASE, *PEOPLE, "-o", out, user="arch1")
    assert r.returncode == 0, (r.stdout, r.stderr)
    st = station.run(["stat", "-c", "%U %G %a", out], check=True).stdout.split()
    assert st[0] == "arch1" and st[1] == "arch1", st
    assert st[2] in ("600", "640"), st
    r = station.ctl("verify-disc", out, user="arch1")
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_archivist_copies_into_their_home(station, labelled_case):
    copies = "/home/arch1/copies"
    station.run(["mkdir", copies], user="arch1", check=True)
    r = station.ctl("--json", "access", labelled_case, "--requester", "法院", "--approver",
                    "所长", "--reason", "调取", "--copy-to", copies, user="arch1")
    assert r.returncode == 0, (r.stdout, r.stderr)
    copy = json.loads(r.stdout)["copy_to"]
    assert copy.startswith(copies + "/"), copy
    st = station.run(["stat", "-c", "%U %G %a", copy], check=True).stdout.split()
    assert st[0] == "arch1" and st[1] == "arch1", st
    assert st[2] in ("600", "640"), st
    shown = json.loads(station.ctl("--json", "show", labelled_case, user="arch1").stdout)
    r = station.run(["sha256sum", copy], user="arch1", check=True)
    assert r.stdout.split()[0] == shown["sha256"]
    # A clerk may not; nothing is made.
    r = station.ctl("access", labelled_case, "--requester", "a", "--approver", "b",
                    "--reason", "c", "--copy-to", "/home/clerk1", user="clerk1")
    assert r.returncode == 1, (r.stdout, r.stderr)
    listed = station.run(["ls", "-A", "/home/clerk1"], user="clerk1", check=True).stdout
    assert "20260302_101500.mp4" not in listed, listed


def exposure(station, unit=SERVICE):
    r = station.run(["systemd-analyze", "security", unit], check=True)
    m = re.search(r"Overall exposure level for " + re.escape(unit) + r": ([0-9.]+)", r.stdout)
    assert m, r.stdout
    return float(m.group(1)), r.stdout


def test_security_exposure_at_most_1_0(station):
    # What the unit can reach while docking works (see the unit's comments), with the
    # immutable flag left to evidock-seal: 1.0.
    score, table = exposure(station)
    print(f"\nsystemd-analyze security {SERVICE}: {score}")
    assert score <= 1.0, table


def test_watchdog_restarts_a_hung_daemon(station):
    # A test-only drop-in shortens the shipped 30 s so the test waits seconds, not a minute.
    dropin = "/etc/systemd/system/evidockd.service.d/test-watchdog.conf"
    station.run(["mkdir", "-p", os.path.dirname(dropin)], check=True)
    station.run(["sh", "-c", f"printf '[Service]\\nWatchdogSec=5s\\n' > {dropin}"], check=True)
    station.run(["systemctl", "daemon-reload"], check=True)
    station.run(["systemctl", "restart", SERVICE], check=True)
    before = station.show(SERVICE, "MainPID", "NRestarts", "WatchdogUSec", "ActiveState")
    assert before["WatchdogUSec"] == "5s", before
    assert before["ActiveState"] == "active", before
    old = before["MainPID"]
    # Alive and pinging: it outlives two watchdog periods.
    r = station.run(["systemctl", "show", SERVICE, "-p", "MainPID"], check=True)
    assert r.stdout.strip() == f"MainPID={old}"

    station.run(["kill", "-STOP", old], check=True)

    def restarted():
        p = station.show(SERVICE, "MainPID", "ActiveState", "NRestarts")
        return p if p["MainPID"] not in ("0", old) and p["ActiveState"] == "active" else None

    after = wait_for("a new evidockd after the watchdog fired", restarted, timeout=90, every=0.5)
    assert int(after["NRestarts"]) == int(before["NRestarts"]) + 1, (before, after)
    assert "Watchdog timeout" in station.journal(SERVICE)
    assert station.ctl("status", user="clerk1").returncode == 0
