"""Signed disc images for case files (第二十六条, 第二十七条): an archivist exports a case
to an ISO image carrying the originals byte for byte, who made and extracted it and
when, and a signature; tools we did not write (bsdtar, 7z, sha256sum, openssl,
xorriso) check it, and so does `evidockctl verify-disc`. An export is registered like
any other copy."""
import json
import os
import pwd
import re
import shutil
import subprocess
import time

import pytest

from conftest import EVIDOCKCTL
from helpers import random_file, sha256_file
from test_access import users  # noqa: F401 (a fixture: unix users in role groups)

CASE = "X罚〔2026〕17号"
CN_NAME = "执法记录仪_20261118_091500.mp4"
WHEN = None  # set for each test by the fixture below


def utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@pytest.fixture(autouse=True)
def _extraction_time():
    """A fixed extraction time for each test, so that the same items give the same
    image: a little ahead of the test's start, so that it follows the ingests the test
    makes (a disc may not be backdated) and lies within the daemon's slack for the
    future (EXPORT_FUTURE_SLACK, 300 s)."""
    global WHEN
    WHEN = utc(int(time.time()) + 200)
PEOPLE = ["--maker", "王制作", "--extractor", "李提取", "--approver", "张所长",
          "--reason", "案件归档，移送法制科"]


def run(*cmd, cwd=None, check=True):
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} -> {p.returncode}: {p.stderr.decode(errors='replace')}")
    return p


def keyed_station(make_station, **conf):
    station = make_station(scrub__interval="off", **conf)
    station.start()
    station.ctl("keys", "init", check=True)
    return station


def labelled_case(station, tmp, sizes=(300000, 200000, 100000)):
    """Three recordings, one with a Chinese name, labelled with CASE; their ids."""
    src = os.path.join(tmp, "src")
    names = [CN_NAME, "CLIP0002.MP4", "CLIP0003.MP4"]
    for i, (name, size) in enumerate(zip(names, sizes)):
        random_file(os.path.join(src, "DCIM", name), size, 100 + i)
    station.ctl("recorder", "add", "SN-0001", "--handler-id", "0451", "--handler-name", "赵承办",
                "--since", "2026-01-01", check=True)
    station.ctl("import", src, "--recorder", "SN-0001", check=True)
    items = station.json("items")
    ids = [str(it["id"]) for it in items]
    station.ctl("label", *ids, "--case", CASE, "--party", "张三", check=True)
    return src, {it["original_path"].split("/")[-1]: it for it in station.json("items")}


def export(station, out, *args, check=True):
    p = station.ctl("--json", "export", *args, *PEOPLE, "-o", out)
    if check and p.returncode != 0:
        raise AssertionError(p.stderr.decode(errors="replace"))
    return json.loads(p.stdout) if p.returncode == 0 else p


def verify_disc(station, image, *args):
    p = station.ctl("verify-disc", image, *args)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def unpack(image, dest, *options):
    os.makedirs(dest)
    run("bsdtar", "xf", image, *options, "-C", dest)
    return dest


def cert_of(station):
    return os.path.join(station.state, "keys", "station.crt")


# ---- the station's key ----

def test_keys_init_and_status(make_station):
    station = make_station()
    station.start()
    status = station.json("status")
    assert status["signing"]["fingerprint"] is None
    assert any("keys init" in w for w in status["warnings"])
    p = station.ctl("export", "1", *PEOPLE, "-o", "/tmp/never.iso")
    assert p.returncode == 1 and b"no signing key" in p.stderr

    made = station.json("keys", "init")
    key = os.path.join(station.state, "keys", "station.key")
    assert made["key"] == key and made["cert"] == cert_of(station)
    assert os.stat(key).st_mode & 0o777 == 0o600
    fp = run("openssl", "x509", "-in", cert_of(station), "-noout", "-fingerprint",
             "-sha256").stdout.decode()
    assert fp.split("=")[1].strip().replace(":", "").lower() == made["fingerprint"]
    assert made["subject"] == "CN=e2e"
    status = station.json("status")
    assert status["signing"]["fingerprint"] == made["fingerprint"]
    assert not any("keys init" in w for w in status["warnings"])

    before = open(key, "rb").read()
    p = station.ctl("keys", "init")
    assert p.returncode == 1 and b"refusing to replace" in p.stderr
    assert open(key, "rb").read() == before
    assert [e["details"]["fingerprint"] for e in station.json("audit")
            if e["event"] == "keys.created"] == [made["fingerprint"]]


def test_an_organisations_own_key(make_station, tmp):
    """[signing] key and cert: an RSA key of the office's own signs the discs."""
    keys = os.path.join(tmp, "org")
    os.makedirs(keys)
    key, cert = os.path.join(keys, "org.key"), os.path.join(keys, "org.crt")
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
        cert, "-days", "30", "-utf8", "-subj", "/CN=某区公安分局")
    os.chmod(key, 0o600)
    station = make_station(scrub__interval="off", signing__key=key, signing__cert=cert)
    station.start()
    assert station.json("status")["signing"]["subject"] == "CN=某区公安分局"
    p = station.ctl("keys", "init")
    assert p.returncode == 1 and b"[signing] key names the key" in p.stderr
    assert not os.path.exists(os.path.join(station.state, "keys", "station.key"))
    labelled_case(station, tmp)
    out = os.path.join(tmp, "case.iso")
    export(station, out, "--case", CASE)
    rc, stdout, _ = verify_disc(station, out, "--cert", cert)
    assert rc == 0 and "signed by CN=某区公安分局" in stdout, stdout
    # Another certificate does not vouch for it.
    other = os.path.join(tmp, "other")
    os.makedirs(other)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
        os.path.join(other, "k"), "-out", os.path.join(other, "c"), "-days", "30", "-subj",
        "/CN=someone else")
    rc, stdout, err = verify_disc(station, out, "--cert", os.path.join(other, "c"))
    assert rc == 1 and problems(stdout) == [("MISMATCH", "signature.p7s")], stdout
    # A key others can read is refused, and status says why.
    os.chmod(key, 0o644)
    p = export(station, os.path.join(tmp, "again.iso"), "--case", CASE, check=False)
    assert p.returncode == 1 and b"chmod 0600" in p.stderr
    assert any("chmod 0600" in w for w in station.json("status")["warnings"])


# ---- an export, checked by tools we did not write ----

def test_export_checked_by_standard_tools(make_station, tmp):
    station = keyed_station(make_station)
    src, items = labelled_case(station, tmp)
    out = os.path.join(tmp, "out", "case17.iso")
    os.makedirs(os.path.dirname(out))
    r = export(station, out, "--case", CASE, "--time", WHEN)

    assert r["extraction_time"] == WHEN and r["items"] == 3
    [vol] = r["volumes"]
    assert vol["path"] == out and vol["sha256"] == sha256_file(out)
    assert sorted(vol["items"]) == sorted(it["id"] for it in items.values())
    assert os.listdir(os.path.dirname(out)) == ["case17.iso"]  # nothing partial left
    p = run("xorriso", "-indev", out, "-toc")
    toc = (p.stdout + p.stderr).decode()
    assert "Volume id    : 'X_2026_17'" in toc and "Rock_Ridge Joliet" in toc

    # bsdtar (Rock Ridge): payload and tag manifests, the signature with openssl.
    x = unpack(out, os.path.join(tmp, "x"))
    run("sha256sum", "-c", "--strict", "manifest-sha256.txt", cwd=x)
    run("sha256sum", "-c", "--strict", "tagmanifest-sha256.txt", cwd=x)
    for cafile in (cert_of(station), "station-cert.pem"):
        p = run("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "signature.p7s",
                "-content", "tagmanifest-sha256.txt", "-CAfile", cafile, "-purpose", "any",
                "-out", "/dev/null", cwd=x)
        assert b"Verification successful" in p.stderr
    for name, it in items.items():
        assert sha256_file(os.path.join(x, "data", "SN-0001", name)) == it["sha256"]
        assert sha256_file(os.path.join(src, "DCIM", name)) == it["sha256"]
    assert sorted(os.listdir(os.path.join(x, "data", "SN-0001"))) == sorted(items)
    assert open(os.path.join(x, "station-cert.pem"), "rb").read() == \
        open(cert_of(station), "rb").read()

    # 7z (Joliet) gets the same files.
    y = os.path.join(tmp, "y")
    run("7z", "x", f"-o{y}", out)
    run("sha256sum", "-c", "--strict", "manifest-sha256.txt", cwd=y)
    run("sha256sum", "-c", "--strict", "tagmanifest-sha256.txt", cwd=y)

    # What the disc says (第二十六条: maker, extractor, extraction time).
    info = open(os.path.join(x, "bag-info.txt"), encoding="utf-8").read()
    total = sum(it["size"] for it in items.values())
    for line in (f"Case-Number: {CASE}", "Party: 张三", "Handler: 赵承办", "Maker: 王制作",
                 "Extractor: 李提取", f"Extraction-Time: {WHEN}", "Approver: 张所长",
                 "Reason: 案件归档，移送法制科", "Station: e2e", "Item-Count: 3",
                 f"Payload-Oxum: {total}.3", "Bagging-Date: " + time.strftime("%Y-%m-%d", time.gmtime())):
        assert line in info.splitlines(), (line, info)
    assert "Bag-Count: 1 of 1" in info.splitlines()
    facts = json.load(open(os.path.join(x, "items.json"), encoding="utf-8"))
    assert facts["extraction_time"] == WHEN and facts["station"] == "e2e"
    by_path = {f["disc_path"]: f for f in facts["items"]}
    for name, it in items.items():
        f = by_path[f"data/SN-0001/{name}"]
        for key in ("id", "sha256", "size", "recorder", "original_path", "recorded_at",
                    "ingested_at", "retain_until"):
            assert f[key] == it[key], key
        assert f["labels"]["case_no"] == CASE and f["labels"]["handler"] == "赵承办"
    history = [json.loads(line) for line in open(os.path.join(x, "audit-history.jsonl"))]
    station_log = {e["seq"]: e for e in station.json("audit")}
    for e in history:
        assert station_log[e["seq"]] == e  # the station's own entries, hash and all
    for it in items.values():
        events = [e["event"] for e in history if e["subject"] == f"item:{it['id']}"]
        assert events == ["item.stored", "item.labelled"]
    readme = open(os.path.join(x, "README.txt"), encoding="utf-8").read()
    assert "sha256sum -c manifest-sha256.txt" in readme and "openssl cms -verify" in readme

    # verify-disc: every file OK, against the disc's own and the station's certificate.
    rc, stdout, _ = verify_disc(station, out)
    assert rc == 0, stdout
    assert f"OK       data/SN-0001/{CN_NAME}" in stdout and "disc OK" in stdout
    assert "not who signed it" in stdout
    rc, stdout, _ = verify_disc(station, out, "--cert", cert_of(station))
    assert rc == 0 and "checked against the certificate you gave" in stdout
    doc = json.loads(station.ctl("--json", "verify-disc", out, check=True).stdout)
    assert doc["ok"] is True and doc["summary"]["payload_files"] == 3
    assert {f["verdict"] for f in doc["files"]} == {"OK"}

    # The export is registered: one audit entry, and each item's exports[].
    [done] = [e for e in station.json("audit") if e["event"] == "export.done"]
    d = done["details"]
    assert (d["maker"], d["extractor"], d["approver"], d["reason"], d["time"], d["case"]) == \
        ("王制作", "李提取", "张所长", "案件归档，移送法制科", WHEN, CASE)
    assert d["volumes"][0]["sha256"] == vol["sha256"] and d["volumes"][0]["path"] == out
    assert sorted(d["items"]) == sorted(vol["items"])
    for it in items.values():
        [e] = station.json("show", it["id"])["exports"]
        assert e["image_sha256"] == vol["sha256"] and e["volume"] == 1
        assert (e["time"], e["maker"], e["extractor"]) == (WHEN, "王制作", "李提取")
        assert e["audit_seq"] == done["seq"]
    log = station.json("access-log")
    assert [e["event"] for e in log] == ["export.done"]
    rows = station.ctl("access-log", "--format", "csv", check=True).stdout.decode()
    assert vol["sha256"] in rows and "李提取" in rows and out in rows
    assert station.json("verify")["ok"] is True


def test_same_input_same_bytes(make_station, tmp):
    station = keyed_station(make_station)
    _, items = labelled_case(station, tmp)
    a, b, c = (os.path.join(tmp, n) for n in ("a.iso", "b.iso", "c.iso"))
    ra = export(station, a, "--case", CASE, "--time", WHEN)
    rb = export(station, b, "--case", CASE, "--time", WHEN)
    assert open(a, "rb").read() == open(b, "rb").read()
    assert ra["volumes"][0]["sha256"] == rb["volumes"][0]["sha256"]
    # The items named one by one, in any order: the same disc.
    ids = [str(it["id"]) for it in items.values()]
    export(station, c, *reversed(ids), "--time", WHEN)
    assert sha256_file(c) == sha256_file(a)
    os.unlink(c)
    # Another extraction time: another image.
    export(station, c, "--case", CASE, "--time", utc(int(time.time()) + 201))
    assert sha256_file(c) != sha256_file(a)
    assert len(station.json("show", ids[0])["exports"]) == 4


def test_chinese_names_in_joliet_and_rock_ridge(make_station, tmp):
    station = keyed_station(make_station)
    labelled_case(station, tmp)
    out = os.path.join(tmp, "out.iso")
    export(station, out, "--case", CASE)
    # Rock Ridge: xorriso and bsdtar read it by default.
    listing = run("xorriso", "-indev", out, "-ls", "/data/SN-0001").stdout.decode()
    assert f"'{CN_NAME}'" in listing
    assert f"data/SN-0001/{CN_NAME}" in run("bsdtar", "tf", out).stdout.decode()
    # Joliet: bsdtar without Rock Ridge, and 7z.
    joliet = run("bsdtar", "tf", out, "--options", "!rockridge").stdout.decode().splitlines()
    assert f"data/SN-0001/{CN_NAME}" in joliet
    plain = run("bsdtar", "tf", out, "--options",
                "!rockridge,!joliet").stdout.decode().splitlines()
    assert f"data/SN-0001/{CN_NAME}" not in plain  # so the checks above can fail
    assert CN_NAME in run("7z", "l", out).stdout.decode()


# ---- tampering ----

def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x01]))


def offset_of(image, needle):
    data = open(image, "rb").read()
    off = data.find(needle)
    assert off >= 0 and data.find(needle, off + 1) < 0
    return off


def problems(stdout):
    """(verdict, path) of each line of verify-disc that is not OK."""
    found = []
    for line in stdout.splitlines():
        verdict = line.split(" ")[0]
        if verdict in ("MISMATCH", "MISSING", "EXTRA", "BAD"):
            found.append((verdict, line[9:].split(": ")[0]))
    return found


def test_tampering_is_found(make_station, tmp):
    station = keyed_station(make_station)
    src, _ = labelled_case(station, tmp)
    good = os.path.join(tmp, "good.iso")
    export(station, good, "--case", CASE)
    x = unpack(good, os.path.join(tmp, "x"))

    def copy(name):
        path = os.path.join(tmp, name)
        shutil.copyfile(good, path)
        return path

    # A byte of a recording.
    img = copy("payload.iso")
    flip(img, offset_of(img, open(os.path.join(src, "DCIM", "CLIP0002.MP4"), "rb").read(4096))
         + 1000)
    rc, out, err = verify_disc(station, img)
    assert rc == 1 and "disc FAILED" in out
    assert problems(out) == [("MISMATCH", "data/SN-0001/CLIP0002.MP4")], out
    assert "data/SN-0001/CLIP0002.MP4: SHA-256" in err

    # A hex digit of the manifest: the tag manifest no longer matches it.
    img = copy("manifest.iso")
    manifest = open(os.path.join(x, "manifest-sha256.txt"), "rb").read()
    off = offset_of(img, manifest)
    with open(img, "r+b") as f:
        f.seek(off)
        f.write(b"0" if manifest[:1] != b"0" else b"1")
    rc, out, err = verify_disc(station, img)
    assert rc == 1
    assert ("MISMATCH", "manifest-sha256.txt") in problems(out), out
    assert "first: manifest-sha256.txt: SHA-256" in err

    # A byte of the signature.
    img = copy("signature.iso")
    sig = open(os.path.join(x, "signature.p7s"), "rb").read()
    flip(img, offset_of(img, sig) + len(sig) - 10)
    rc, out, err = verify_disc(station, img)
    assert rc == 1
    assert problems(out) == [("MISMATCH", "signature.p7s")], out
    assert "signature.p7s: signature does not verify" in err

    # What Windows shows (Joliet) pointed at other data than the checked Rock Ridge
    # names: the Joliet directory record of one file gets another file's extent.
    def record(image, name, encoding):
        data = open(image, "rb").read()
        raw = name.encode(encoding)
        off = data.find(raw)
        assert off > 33 and data.find(raw, off + 1) < 0, name
        rec = off - 33
        assert data[rec + 32] in (len(raw), len(raw) + (4 if encoding == "utf-16-be" else 0))
        return rec, data[rec + 2:rec + 18]  # location and length, both byte orders

    img = copy("joliet.iso")
    rec, _ = record(img, "CLIP0002.MP4", "utf-16-be")
    _, other = record(img, "CLIP0003.MP4", "utf-16-be")
    with open(img, "r+b") as f:
        f.seek(rec + 2)
        f.write(other)
    rc, out, err = verify_disc(station, img)
    assert rc == 1 and problems(out) == [("MISMATCH", "data/SN-0001/CLIP0002.MP4")], out
    assert "the Joliet tree (what Windows shows) points at other data" in err
    j = os.path.join(tmp, "j")
    run("7z", "x", f"-o{j}", img)  # 7z reads Joliet: it sees the other data
    assert run("sha256sum", "-c", "manifest-sha256.txt", cwd=j, check=False).returncode == 1

    # The same tree rebuilt with xorriso verifies: the rebuild alone changes nothing...
    def rebuild(name, tree):
        path = os.path.join(tmp, name)
        run("xorriso", "-as", "mkisofs", "-J", "-R", "-joliet-long", "-o", path, tree)
        return path

    rc, out, _ = verify_disc(station, rebuild("rebuilt.iso", x))
    assert rc == 0, out

    # ... but an extra file, or a missing one, is found and named.
    extra = os.path.join(tmp, "extra")
    shutil.copytree(x, extra)
    random_file(os.path.join(extra, "data", "SN-0001", "extra.mp4"), 1000, 9)
    rc, out, err = verify_disc(station, rebuild("extra.iso", extra))
    assert rc == 1 and ("EXTRA", "data/SN-0001/extra.mp4") in problems(out), out
    assert "data/SN-0001/extra.mp4: not listed in manifest-sha256.txt" in out + err

    missing = os.path.join(tmp, "missing")
    shutil.copytree(x, missing)
    os.unlink(os.path.join(missing, "data", "SN-0001", "CLIP0003.MP4"))
    rc, out, err = verify_disc(station, rebuild("missing.iso", missing))
    assert rc == 1 and ("MISSING", "data/SN-0001/CLIP0003.MP4") in problems(out), out
    assert "data/SN-0001/CLIP0003.MP4: listed in manifest-sha256.txt, not on the disc" in err

    # Not an image at all: an error, not a verdict.
    p = station.ctl("verify-disc", os.path.join(x, "bagit.txt"))
    assert p.returncode == 1 and b"not a readable ISO 9660 image" in p.stderr
    assert station.ctl("verify-disc").returncode == 2


# ---- volumes ----

def test_multi_volume_export(make_station, tmp):
    station = keyed_station(make_station)
    _, items = labelled_case(station, tmp, sizes=(700000, 700000, 700000))
    capacity = 2800000  # each volume: a 1 MiB reserve and two of the files
    out = os.path.join(tmp, "case.iso")
    r = export(station, out, "--case", CASE, "--media", str(capacity), "--time", WHEN)
    vols = r["volumes"]
    assert [v["path"] for v in vols] == [os.path.join(tmp, "case-1.iso"),
                                         os.path.join(tmp, "case-2.iso")]
    assert not os.path.exists(out)
    assert [len(v["items"]) for v in vols] == [2, 1]
    series = []
    for n, v in enumerate(vols, 1):
        assert os.path.getsize(v["path"]) <= capacity
        assert sha256_file(v["path"]) == v["sha256"]
        rc, stdout, _ = verify_disc(station, v["path"], "--cert", cert_of(station))
        assert rc == 0, stdout
        x = unpack(v["path"], os.path.join(tmp, f"v{n}"))
        run("sha256sum", "-c", "--strict", "manifest-sha256.txt", cwd=x)
        info = open(os.path.join(x, "bag-info.txt"), encoding="utf-8").read().splitlines()
        assert f"Bag-Count: {n} of 2" in info and f"Item-Count: {len(v['items'])}" in info
        assert f"Bag-Group-Identifier: X_2026_17 {WHEN}" in info
        assert len(os.listdir(os.path.join(x, "data", "SN-0001"))) == len(v["items"])
        series.append(open(os.path.join(x, "series.json"), "rb").read())
        assert json.load(open(os.path.join(x, "items.json")))["volume"] == n
    assert series[0] == series[1]  # every volume carries the whole series
    index = json.loads(series[0])
    assert [[i["id"] for i in v["items"]] for v in index["series"]] == \
        [v["items"] for v in vols]
    p = run("xorriso", "-indev", vols[1]["path"], "-toc")
    toc = (p.stdout + p.stderr).decode()
    assert "Volume id    : 'X_2026_17_2'" in toc
    for it in items.values():
        [e] = station.json("show", it["id"])["exports"]
        v = next(v for v in vols if it["id"] in v["items"])
        assert (e["volume"], e["volumes"], e["image_sha256"]) == (vols.index(v) + 1, 2,
                                                                   v["sha256"])
    [done] = [e for e in station.json("audit") if e["event"] == "export.done"]
    assert [v["sha256"] for v in done["details"]["volumes"]] == [v["sha256"] for v in vols]

    # A recording larger than the medium: a clear error, nothing written.
    p = export(station, os.path.join(tmp, "small.iso"), "--case", CASE, "--media", "1500000",
               check=False)
    assert p.returncode == 1 and b"does not fit on a medium of 1500000 bytes" in p.stderr
    p = export(station, os.path.join(tmp, "bad.iso"), "--case", CASE, "--media", "floppy",
               check=False)
    assert p.returncode == 1 and b"--media 'floppy'" in p.stderr
    assert sorted(f for f in os.listdir(tmp) if f.endswith(".iso")) == ["case-1.iso",
                                                                        "case-2.iso"]
    assert len([e for e in station.json("audit") if e["event"] == "export.done"]) == 1


# ---- refusals and failures ----

def test_failed_exports_leave_nothing(make_station, tmp):
    station = keyed_station(make_station)
    _, items = labelled_case(station, tmp)
    out_dir = os.path.join(tmp, "out")
    os.makedirs(out_dir)
    out = os.path.join(out_dir, "case.iso")

    def nothing_left():
        assert os.listdir(out_dir) == []
        assert not [e for e in station.json("audit") if e["event"] == "export.done"]
        assert all(station.json("show", it["id"])["exports"] == [] for it in items.values())

    # A stored copy that no longer matches its hash is never exported.
    it = items["CLIP0002.MP4"]
    obj = station.object_path(it["sha256"])
    run("chattr", "-i", obj, check=False)
    os.chmod(obj, 0o644)
    flip(obj, 10)
    p = export(station, out, "--case", CASE, check=False)
    assert p.returncode == 1 and b"not exported" in p.stderr and b"CLIP0002.MP4" in p.stderr
    nothing_left()
    flip(obj, 10)

    p = export(station, out, "99", check=False)
    assert p.returncode == 1 and b"99: no such item" in p.stderr
    p = export(station, out, "--case", "Y罚〔2026〕1号", check=False)
    assert p.returncode == 1 and b"no item is labelled with case" in p.stderr
    p = export(station, out, "--case", CASE, "--time", "2099-01-01", check=False)
    assert p.returncode == 1 and b"future" in p.stderr
    p = station.ctl("export", "--case", CASE, *PEOPLE)
    assert p.returncode == 2 and b"export: -o is required" in p.stderr
    p = station.ctl("export", "--case", CASE, *PEOPLE[:-2], "-o", out)
    assert p.returncode == 2 and b"--reason is required" in p.stderr
    p = station.ctl("export", "--case", CASE, *PEOPLE, "-o", os.path.join(tmp, "no/dir/x.iso"))
    assert p.returncode == 1 and b"No such file or directory" in p.stderr
    nothing_left()

    # An existing file is never replaced.
    open(out, "wb").write(b"keep me")
    p = export(station, out, "--case", CASE, check=False)
    assert p.returncode == 1 and b"exists already" in p.stderr
    assert open(out, "rb").read() == b"keep me"
    os.unlink(out)
    nothing_left()


def test_purged_items_cannot_be_exported(make_station, tmp):
    station = make_station(scrub__interval="off")
    station.start()
    station.ctl("keys", "init", check=True)
    src = os.path.join(tmp, "src")
    random_file(os.path.join(src, "old.mp4"), 5000, 1)
    station.ctl("import", src, "--recorder", "R1", check=True)
    [item] = station.json("items")
    assert station.stop() == 0
    station.start(shift_days=250)  # past 6 months and 30 days of grace
    station.ctl("purge", "--approver", "局长", "--reason", "retention over", check=True)
    p = export(station, os.path.join(tmp, "old.iso"), str(item["id"]), check=False)
    assert p.returncode == 1
    assert f"item {item['id']} was purged".encode() in p.stderr and b"cannot be exported" in p.stderr
    assert not os.path.exists(os.path.join(tmp, "old.iso"))


def test_roles_for_export_and_keys(make_station, tmp, users):  # noqa: F811
    station = make_station(scrub__interval="off")
    station.start()
    os.chmod(tmp, 0o755)
    p = station.ctl("keys", "init", user="evd-t-arch")
    assert p.returncode == 1 and b"permission denied: keys.init needs the admin role" in p.stderr
    station.ctl("keys", "init", user="evd-t-admin", check=True)
    labelled_case(station, tmp)
    # Each writes where they may write themselves: the images are made by the client.
    mine = os.path.join(tmp, "mine")
    os.makedirs(mine)
    arch = pwd.getpwnam("evd-t-arch")
    os.chown(mine, arch.pw_uid, arch.pw_gid)
    os.chmod(mine, 0o777)  # the clerk could write here too: the role stops them
    out = os.path.join(mine, "case.iso")
    p = station.ctl("export", "--case", CASE, *PEOPLE, "-o", out, user="evd-t-clerk")
    assert p.returncode == 1 and b"permission denied: export needs the archivist role" in p.stderr
    assert not os.path.exists(out)
    station.ctl("export", "--case", CASE, *PEOPLE, "-o", out, user="evd-t-arch", check=True)
    st = os.stat(out)
    assert st.st_uid == arch.pw_uid and st.st_mode & 0o007 == 0
    # verify-disc runs in the client itself: anyone may check a disc they can read.
    os.chmod(out, 0o644)
    p = station.ctl("verify-disc", out, user="evd-t-nobody")
    assert p.returncode == 0, p.stderr
    [done] = [e for e in station.json("audit") if e["event"] == "export.done"]
    assert done["actor"]["name"] == "evd-t-arch"
    # A uid's first refusal is audited within a second (the rest once a minute).
    deadline = time.monotonic() + 30
    while True:
        refused = {(e["actor"]["name"], e["subject"]) for e in station.json("audit")
                   if e["event"] == "request.refused"}
        if refused >= {("evd-t-clerk", "export")} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert refused >= {("evd-t-clerk", "export")}


def test_progress_on_a_terminal(make_station, tmp):
    station = keyed_station(make_station)
    labelled_case(station, tmp)
    master, slave = os.openpty()
    out = os.path.join(tmp, "case.iso")
    p = subprocess.run([EVIDOCKCTL, "--socket", station.sock, "export", "--case", CASE, *PEOPLE, "-o", out],
                       stdout=subprocess.PIPE, stderr=slave, timeout=120)
    os.close(slave)
    drawn = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    assert p.returncode == 0
    assert re.search(rb"\rvolume 1 of 1 \[#{30}\] 100%  [0-9.]+ [KM]iB of [0-9.]+ [KM]iB", drawn), drawn
    assert b"exported to 1 image" in p.stdout
