"""Repair (issue 12, finding 9): a stored object that fails its hash is moved to
STATE_DIR/quarantine/ (never deleted) and replaced by a fresh verified copy when the
same content arrives again; item.repaired is audited and fixity returns to ok."""
import os
import subprocess

from helpers import random_file, sha256_file


def lsattr(path):
    p = subprocess.run(["lsattr", "-d", path], capture_output=True, text=True)
    return p.stdout.split()[0] if p.returncode == 0 else ""


def test_a_damaged_object_is_repaired_by_a_fresh_copy(make_station, tmp):
    station = make_station()
    station.start()
    src = os.path.join(tmp, "src")
    random_file(os.path.join(src, "clip.mp4"), 20000, 3)
    station.ctl("import", src, "--recorder", "R1", check=True)
    item = station.json("items")[0]
    path = station.object_path(item["sha256"])
    immutable = station.json("status")["write_once"] == "immutable"

    # Damage it as root would: lift the flag, flip a byte.
    subprocess.run(["chattr", "-i", path], check=False)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(1234)
        b = f.read(1)
        f.seek(1234)
        f.write(bytes([b[0] ^ 0xFF]))
    damaged = sha256_file(path)
    assert damaged != item["sha256"]

    p = station.ctl("verify", "--store")
    assert p.returncode == 1 and b"content differs" in p.stdout
    assert station.json("show", str(item["id"]))["fixity"] == "damaged"
    assert any(f"ALARM: item {item['id']}" in w for w in station.json("status")["warnings"])

    # The same recording comes again (the same import: not skipped, since the stored
    # copy is damaged).
    station.ctl("import", src, "--recorder", "R1", check=True)
    assert sha256_file(path) == item["sha256"]
    quarantine = os.path.join(station.state, "quarantine")
    kept = os.listdir(quarantine)
    assert len(kept) == 1 and kept[0].startswith(item["sha256"])
    assert sha256_file(os.path.join(quarantine, kept[0])) == damaged
    if immutable:
        assert "i" in lsattr(path) and "i" in lsattr(os.path.join(quarantine, kept[0]))
    repaired = [e for e in station.json("audit") if e["event"] == "item.repaired"]
    assert len(repaired) == 1 and repaired[0]["details"]["id"] == item["id"]
    assert repaired[0]["details"]["was"] == "damaged"
    assert station.json("show", str(item["id"]))["fixity"] == "ok"
    assert not any("ALARM" in w for w in station.json("status")["warnings"])
    assert station.json("verify")["ok"] is True
    assert len(station.json("items")) == 1


def test_a_missing_object_is_restored(make_station, tmp):
    station = make_station()
    station.start()
    src = os.path.join(tmp, "src")
    random_file(os.path.join(src, "clip.mp4"), 5000, 4)
    station.ctl("import", src, "--recorder", "R1", check=True)
    item = station.json("items")[0]
    path = station.object_path(item["sha256"])
    subprocess.run(["chattr", "-i", path], check=False)
    os.unlink(path)
    assert station.ctl("verify", "--store").returncode == 1
    station.ctl("import", src, "--recorder", "R1", check=True)
    assert sha256_file(path) == item["sha256"]
    repaired = [e for e in station.json("audit") if e["event"] == "item.repaired"]
    assert len(repaired) == 1 and repaired[0]["details"]["was"] == "missing"
    assert station.json("verify")["ok"] is True
