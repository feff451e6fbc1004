"""evidockctl import: verified, write-once, catalogued and audited storage."""
import base64
import json
import os
import socket
import subprocess
import threading
import time

from helpers import random_file, sha256_file, write


def items_by_path(station):
    out = {}
    for it in station.json("items"):
        raw = base64.b64decode(it["original_path_b64"]) if "original_path_b64" in it \
            else it["original_path"].encode()
        out[raw] = it
    return out


def test_import_stores_exact_write_once_copies(station, tmp):
    src = os.path.join(tmp, "src")
    files = {
        "DCIM/100MEDIA/CLIP0001.MP4": 3 * 1024 * 1024 + 17,
        "DCIM/100MEDIA/clip0002.mov": 1,
        "DCIM/100MEDIA/photo.JPG": 20000,
        "DCIM/empty.mp4": 0,
    }
    for i, (name, size) in enumerate(files.items()):
        random_file(os.path.join(src, name), size, i)
    write(os.path.join(src, "DCIM/notes.txt"), b"not a recording")

    r = station.ctl("--json", "import", src, "--recorder", "REC-001", check=True)
    report = json.loads(r.stdout)
    assert report["files_total"] == 4 and report["files_stored"] == 4
    assert report["files_failed"] == 0

    items = items_by_path(station)
    assert sorted(items) == sorted(n.encode() for n in files)
    for name in files:
        it = items[name.encode()]
        path = station.object_path(it["sha256"])
        assert it["sha256"] == sha256_file(os.path.join(src, name))
        assert sha256_file(path) == it["sha256"]
        assert it["size"] == files[name]
        assert it["recorder"] == "REC-001"
        assert os.stat(path).st_mode & 0o7777 == 0o444
        assert it["retain_until"] is not None
        for key in ("id", "sha256", "size", "recorder", "original_path", "recorded_at",
                    "time_source", "ingested_at", "verified_at", "deadline", "late",
                    "clock_suspect", "labels", "retain_until", "hold", "evidence", "exports",
                    "media"):
            assert key in it, key
        attrs = subprocess.run(["lsattr", path], capture_output=True, text=True).stdout
        assert "i" in attrs.split()[0], attrs
        try:
            os.open(path, os.O_WRONLY)
            raise AssertionError("an object opened for writing")
        except PermissionError:
            pass
    status = station.json("status")
    assert status["write_once"] == "immutable"
    assert status["items_total"] == 4
    assert os.listdir(os.path.join(station.state, "tmp")) == []

    # show by id and by sha256 prefix; the audit log records each item.
    one = items[b"DCIM/100MEDIA/CLIP0001.MP4"]
    assert station.json("show", one["id"])["sha256"] == one["sha256"]
    assert station.json("show", one["sha256"][:12])["id"] == one["id"]
    assert station.ctl("show", one["sha256"][:11]).returncode == 1
    events = [e["event"] for e in station.json("audit")]
    assert events.count("item.stored") == 4
    assert "import.started" in events and "import.done" in events


def test_restart_keeps_everything_and_reimport_skips(make_station, tmp):
    station = make_station()
    station.start()
    src = os.path.join(tmp, "src")
    for i in range(5):
        random_file(os.path.join(src, f"V{i}.MP4"), 100000 + i, i)
    station.ctl("import", src, "--recorder", "R1", check=True)
    before = station.json("items")
    assert station.stop() == 0
    station.start()
    assert station.json("items") == before
    report = station.json("import", src, "--recorder", "R1")
    assert report["files_skipped"] == 5 and report["files_stored"] == 0
    assert station.json("verify")["ok"] is True


def test_duplicate_content_is_stored_once(station, tmp):
    src = os.path.join(tmp, "src")
    random_file(os.path.join(src, "a/one.mp4"), 500000, 7)
    random_file(os.path.join(src, "b/two.mp4"), 500000, 7)
    report = station.json("import", src, "--recorder", "R1")
    assert report["files_stored"] == 1 and report["files_duplicate"] == 1
    items = station.json("items")
    assert len(items) == 1
    # Copies run in parallel: either may be first; the other is its occurrence.
    places = [items[0]["original_path"]] + [o["original_path"] for o in items[0]["occurrences"]]
    assert sorted(places) == ["a/one.mp4", "b/two.mp4"]
    objects = [f for _, _, fs in os.walk(os.path.join(station.state, "objects")) for f in fs]
    assert len(objects) == 1


def test_hostile_names_are_kept_exactly_and_shown_escaped(station, tmp):
    src = os.path.join(tmp, "src").encode()
    names = [
        b"line\nbreak.mp4",
        b"x" * 251 + b".mp4",
        b"bad\xff\xfeutf8.mp4",
        "执法记录仪_张三_视频.mp4".encode(),
        b"--recorder.mp4",
        b"-rf.mp4",
        b"esc\x1b[31mred.mp4",
        b"back\\slash.mp4",
    ]
    for i, n in enumerate(names):
        random_file(os.path.join(src, n).decode("utf-8", "surrogateescape"), 1000 + i, 100 + i)
    report = station.json("import", src.decode(), "--recorder", "R1")
    assert report["files_stored"] == len(names), report
    items = items_by_path(station)
    assert sorted(items) == sorted(names)
    for n in names:
        assert items[n]["sha256"] == sha256_file(os.path.join(src, n))
    table = station.ctl("items", check=True).stdout
    assert b"line\\nbreak.mp4" in table
    assert b"bad\\xff\\xfeutf8.mp4" in table
    assert b"esc\\x1b[31mred.mp4" in table
    assert b"\x1b" not in table
    assert "执法记录仪_张三_视频.mp4".encode() in table
    assert table.count(b"\n") == len(names) + 1  # a header and one line per item


def test_links_and_special_files_are_skipped_with_a_note(station, tmp):
    src = os.path.join(tmp, "src")
    random_file(os.path.join(src, "real.mp4"), 1000, 1)
    outside = random_file(os.path.join(tmp, "outside.mp4"), 1000, 2)
    os.symlink(outside, os.path.join(src, "link.mp4"))
    os.symlink(tmp, os.path.join(src, "linkdir"))
    os.mkfifo(os.path.join(src, "pipe.mp4"))
    report = station.json("import", src, "--recorder", "R1")
    assert report["files_stored"] == 1
    reasons = {e["path"]: e["reason"] for e in report["skipped_entries"]}
    assert "symbolic link" in reasons["link.mp4"]
    assert "symbolic link" in reasons["linkdir"]
    assert "not a regular file" in reasons["pipe.mp4"]
    assert [it["original_path"] for it in station.json("items")] == ["real.mp4"]


def test_file_vanishing_or_unreadable_mid_import(make_station, tmp):
    station = make_station(ingest__parallel_copies="1", ingest__verify="source+destination")
    station.start()
    src = os.path.join(tmp, "src")
    random_file(os.path.join(src, "a_big.mp4"), 200 * 1024 * 1024, 1)
    random_file(os.path.join(src, "m_ok.mp4"), 1000, 2)
    random_file(os.path.join(src, "z_vanish.mp4"), 1000, 3)
    random_file(os.path.join(src, "z_fifo.mp4"), 1000, 4)
    random_file(os.path.join(src, "z_ok.mp4"), 1000, 5)
    result = {}

    def run():
        result["p"] = station.ctl("--json", "import", src, "--recorder", "R1")

    t = threading.Thread(target=run)
    t.start()
    # Once the listing is done (the import shows in status), change the files under it.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        imports = station.json("status")["imports"]
        if imports and imports[0]["files_total"] == 5:
            break
        time.sleep(0.01)
    os.unlink(os.path.join(src, "z_vanish.mp4"))
    os.unlink(os.path.join(src, "z_fifo.mp4"))
    os.mkfifo(os.path.join(src, "z_fifo.mp4"))
    t.join(timeout=300)
    p = result["p"]
    assert p.returncode == 1
    report = json.loads(p.stdout)
    assert report["files_stored"] == 3, report
    assert report["files_failed"] == 2
    reasons = {f["original_path"]: f["reason"] for f in report["failures"]}
    assert "vanished" in reasons["z_vanish.mp4"]
    assert "no longer a regular file" in reasons["z_fifo.mp4"]
    stored = sorted(it["original_path"] for it in station.json("items"))
    assert stored == ["a_big.mp4", "m_ok.mp4", "z_ok.mp4"]
    failed = [e for e in station.json("audit") if e["event"] == "ingest.file_failed"]
    assert len(failed) == 2


def test_many_small_files(station, tmp):
    src = os.path.join(tmp, "src")
    n = int(os.environ.get("EVD_SMALL_FILES", "10000"))
    for i in range(n):
        d = os.path.join(src, f"D{i // 1000:02d}")
        if i % 1000 == 0:
            os.makedirs(d)
        with open(os.path.join(d, f"F{i:05d}.MP4"), "wb") as f:
            f.write(i.to_bytes(4, "little") * 64)
    report = station.json("import", src, "--recorder", "R1")
    assert report["files_stored"] == n and report["files_failed"] == 0
    assert station.json("status")["items_total"] == n
    assert station.json("verify", "--audit")["audit"]["ok"] is True
    stored = [e for e in station.json("audit") if e["event"] == "item.stored"]
    assert len(stored) == n


def test_tampering_is_detected(make_station, tmp):
    station = make_station()
    station.start()
    src = os.path.join(tmp, "src")
    random_file(os.path.join(src, "a.mp4"), 300000, 1)
    random_file(os.path.join(src, "b.mp4"), 300000, 2)
    station.ctl("import", src, "--recorder", "R1", check=True)
    assert station.ctl("verify").returncode == 0

    # One flipped byte in an object.
    victim = station.json("items")[1]
    path = station.object_path(victim["sha256"])
    subprocess.run(["chattr", "-i", path], check=True)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(1234)
        b = f.read(1)
        f.seek(1234)
        f.write(bytes([b[0] ^ 1]))
    p = station.ctl("verify", "--store")
    assert p.returncode == 1
    assert f"item {victim['id']}: object {victim['sha256']}: content differs".encode() in p.stdout

    # An edited audit entry, rewritten with LMDB's own tools while the daemon is down.
    assert station.stop() == 0
    catalog = os.path.join(station.state, "catalog")
    dump = subprocess.run(["mdb_dump", "-p", "-s", "audit", catalog], capture_output=True,
                          check=True).stdout
    assert b"R1" in dump
    edited = dump.replace(b'"recorder":"R1"', b'"recorder":"R2"', 1)
    assert edited != dump
    subprocess.run(["mdb_load", "-s", "audit", catalog], input=edited, check=True)
    station.start()
    p = station.ctl("verify", "--audit")
    assert p.returncode == 1
    assert b"content does not match its hash (the entry was edited)" in p.stdout


def test_bad_config_lines_are_refused(tmp):
    from conftest import EVIDOCKD
    cases = [
        ("[station]\nstate_dir = nope\n", ":2: 'nope' is not an absolute path"),
        ("[ingest]\nparallel_copies = 99\n", ":2: '99' is not a whole number from 1 to 16"),
        ("[retention]\ndefault = 1 month\n", ":2: default retention '1 month' is under the 3-month floor"),
        ("[nosuch]\nkey = 1\n", ":1: unknown section [nosuch]"),
        # The misspelt section is named at its own line, not at its first key's.
        ("[station]\nname = a\n\n[retension]\n# six months\npurge = 30d\n",
         ":4: unknown section [retension]"),
        ("[station]\nkey = 1\n", ":2: unknown key 'key' in [station]"),
        ("[station]\ntimezone = Asia/Shangai\n",
         ":2: unknown time zone 'Asia/Shangai' (not in the system's zone database"),
    ]
    for text, want in cases:
        path = os.path.join(tmp, "bad.conf")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([EVIDOCKD, "-n", "-c", path], capture_output=True, text=True)
        assert p.returncode == 1
        assert path + want in p.stderr, p.stderr
        p = subprocess.run([EVIDOCKD, "-c", path], capture_output=True, text=True, timeout=10)
        assert p.returncode == 1 and want in p.stderr


def test_malformed_requests_get_errors_and_harm_nothing(station):
    def ask(payload):
        s = socket.socket(socket.AF_UNIX)
        s.connect(station.sock)
        s.sendall(payload)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return json.loads(data.splitlines()[0]) if data else None

    assert "not valid JSON" in ask(b"garbage\n")["error"]
    assert "not a JSON object" in ask(b"[1,2]\n")["error"]
    assert "no \"cmd\"" in ask(b'{"cmd": 5}\n')["error"]
    assert "unknown command" in ask(b'{"cmd": "rm -rf"}\n')["error"]
    assert "must be an object" in ask(b'{"cmd": "items", "args": "x"}\n')["error"]
    assert "must be true or false" in ask(b'{"cmd": "items", "args": {"late": "yes"}}\n')["error"]
    assert "must be a string" in ask(b'{"cmd": "show", "args": {"item": 5}}\n')["error"]
    assert "no such item" in ask(b'{"cmd": "show", "args": {"item": "999"}}\n')["error"]
    assert "not a time" in ask(b'{"cmd": "items", "args": {"since": "yesterday"}}\n')["error"]
    assert "recorder serial" in ask(b'{"cmd": "import", "args": {"dir": "/tmp", "recorder": "../x"}}\n')["error"]
    assert "longer than" in ask(b"x" * 300000)["error"]
    assert ask(b'{"cmd": "status"}\n')["ok"] is True
    assert station.ctl("status").returncode == 0


def test_client_usage_errors_exit_2(station):
    assert station.ctl("nosuchcommand").returncode == 2
    assert station.ctl("import").returncode == 2
    assert station.ctl("import", "/tmp").returncode == 2
    assert station.ctl("items", "--bogus").returncode == 2
    p = station.ctl("show", "12")
    assert p.returncode == 1 and b"no such item" in p.stderr


def test_client_finds_the_socket_through_the_configuration(station):
    from conftest import EVIDOCKCTL
    p = subprocess.run([EVIDOCKCTL, "-c", station.conf, "--json", "status"], capture_output=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["state_dir"] == station.state
    p = subprocess.run([EVIDOCKCTL, "-c", "/nonexistent.conf", "status"], capture_output=True)
    assert p.returncode == 1 and b"/nonexistent.conf" in p.stderr
    p = subprocess.run([EVIDOCKCTL, "--socket", "/nonexistent.sock", "status"], capture_output=True)
    assert p.returncode == 1 and b"cannot reach evidockd" in p.stderr
    assert subprocess.run([EVIDOCKCTL, "--help"], capture_output=True).returncode == 0
    assert subprocess.run([EVIDOCKCTL], capture_output=True).returncode == 2
