"""Disclosure is not internal use (第二十九条): records are internal material; showing
them outside needs a head's approval ([roles] heads), a secret (涉密) item is copied or
exported only with a security approver ([roles] security), and a disclosure disc's
audit history carries neither the access register nor what concerns other cases."""
import json
import os

from helpers import random_file
from test_export import PEOPLE, export, keyed_station, unpack

CASE = "X罚〔2026〕17号"
OTHER = "X罚〔2026〕99号"
HEADS = {"roles__heads": "张所长", "roles__security": "钱保密"}
WHO = ["--requester", "律师甲", "--reason", "当事人申请"]


def imported(station, tmp, n=3):
    src = os.path.join(tmp, "src")
    for i in range(n):
        random_file(os.path.join(src, f"CLIP{i:04d}.MP4"), 20000 + i, 40 + i)
    station.ctl("import", src, "--recorder", "R1", check=True)
    return [str(it["id"]) for it in station.json("items")]


def refused(p, *words):
    err = p.stderr.decode()
    assert p.returncode == 1, (p.returncode, err)
    for w in words:
        assert w in err, (w, err)


def test_disclosure_and_secret_refusals(make_station, tmp):
    station = keyed_station(make_station, **HEADS)
    a, b, c = imported(station, tmp)
    station.ctl("label", a, b, c, "--case", CASE, check=True)
    copies = os.path.join(tmp, "copies")
    os.makedirs(copies)
    out = os.path.join(tmp, "disc.iso")

    # A disclosure approved by someone who is not a head: refused, nothing registered.
    p = station.ctl("access", a, *WHO, "--approver", "李科长", "--purpose", "disclosure")
    refused(p, "第二十九条", "李科长", "[roles] heads")
    p = station.ctl("access", a, *WHO, "--approver", "李科长", "--purpose", "disclosure",
                    "--copy-to", copies)
    refused(p, "第二十九条", "[roles] heads")
    p = station.ctl("export", "--case", CASE, "--maker", "王", "--extractor", "李", "--approver",
                    "李科长", "--reason", "公开", "--purpose", "disclosure", "-o", out)
    refused(p, "第二十九条", "[roles] heads")
    p = station.ctl("access", a, *WHO, "--approver", "张所长", "--purpose", "publicity")
    refused(p, "--purpose", "internal nor disclosure")
    assert station.json("access-log") == [] and os.listdir(copies) == []
    assert not os.path.exists(out)

    # A secret item: no copy, no export without the security approver.
    station.ctl("secret", b, "--reason", "涉及国家秘密", check=True)
    p = station.ctl("access", b, *WHO, "--approver", "张所长", "--copy-to", copies)
    refused(p, "第二十九条", "涉密", f"item {b} is marked secret", "--security-approver")
    p = station.ctl("access", b, *WHO, "--approver", "张所长", "--copy-to", copies,
                    "--security-approver", "孙某")
    refused(p, "涉密", "孙某", "[roles] security")
    p = station.ctl("export", "--case", CASE, *PEOPLE, "-o", out)
    refused(p, "第二十九条", "涉密", f"item {b} is marked secret")
    p = station.ctl("export", b, *PEOPLE, "-o", out, "--security-approver", "孙某")
    refused(p, "涉密", "[roles] security")
    # A disclosure approved by the head still needs the security approver for it.
    p = station.ctl("access", b, *WHO, "--approver", "张所长", "--purpose", "disclosure")
    refused(p, "涉密", "--security-approver")
    assert station.json("access-log") == [] and os.listdir(copies) == []
    assert not os.path.exists(out)

    # What is allowed: viewing it internally, and with both approvals a copy and a
    # disclosure; each registered with its purpose.
    station.ctl("access", b, *WHO, "--approver", "张所长", check=True)
    station.ctl("access", b, *WHO, "--approver", "张所长", "--copy-to", copies,
                "--security-approver", "钱保密", check=True)
    station.ctl("access", a, *WHO, "--approver", "张所长", "--purpose", "disclosure",
                check=True)
    log = station.json("access-log")
    got = [(e["details"]["id"], e["details"]["purpose"], e["details"].get("security_approver"),
            bool(e["details"]["copy_to"])) for e in log]
    assert got == [(int(b), "internal", None, False), (int(b), "internal", "钱保密", True),
                   (int(a), "disclosure", None, False)]
    assert len(os.listdir(copies)) == 1
    table = station.ctl("access-log", check=True).stdout.decode().splitlines()
    assert "PURPOSE" in table[0] and "disclosure" in table[3] and "internal" in table[1]
    csv = station.ctl("access-log", "--format", "csv", check=True).stdout.decode("utf-8-sig")
    assert csv.splitlines()[0].endswith(",kind,purpose")
    assert csv.splitlines()[3].endswith(",disclosure")


def test_disclosure_disc_history(make_station, tmp):
    station = keyed_station(make_station, **HEADS)
    a, b, c = imported(station, tmp)
    # a was first labelled with another case, then with CASE; c stays in the other case
    # and is evidence there; a is viewed and copied (the access register).
    station.ctl("label", a, c, "--case", OTHER, check=True)
    station.ctl("label", a, b, "--case", CASE, check=True)
    station.ctl("evidence", c, "--case", OTHER, check=True)
    station.ctl("access", a, *WHO, "--approver", "张所长", check=True)

    internal = os.path.join(tmp, "internal.iso")
    export(station, internal, "--case", CASE)
    shown = os.path.join(tmp, "disclosure.iso")
    p = station.ctl("--json", "export", "--case", CASE, "--maker", "王制作", "--extractor",
                    "李提取", "--approver", "张所长", "--reason", "依申请公开", "--purpose",
                    "disclosure", "-o", shown, check=True)
    assert json.loads(p.stdout)["purpose"] == "disclosure"

    def history(image, name):
        x = unpack(image, os.path.join(tmp, name))
        with open(os.path.join(x, "audit-history.jsonl"), encoding="utf-8") as f:
            lines = [json.loads(line) for line in f]
        with open(os.path.join(x, "bag-info.txt"), encoding="utf-8") as f:
            return lines, f.read().splitlines()

    full, info = history(internal, "x1")
    assert "Purpose: internal" in info
    assert "item.accessed" in [e["event"] for e in full]
    assert any(OTHER in json.dumps(e, ensure_ascii=False) for e in full)

    kept, info = history(shown, "x2")
    assert "Purpose: disclosure" in info and "Approver: 张所长" in info
    assert kept, "the disclosure disc keeps the history of its own case"
    assert "item.accessed" not in [e["event"] for e in kept]
    assert not [e for e in kept if OTHER in json.dumps(e, ensure_ascii=False)]
    # What is left is the station's own entries, unchanged: each item's storing and its
    # labelling with CASE alone (a's relabelling from the other case is left out).
    station_log = {e["seq"]: e for e in station.json("audit")}
    assert all(station_log[e["seq"]] == e for e in kept)
    events = [(e["subject"], e["event"]) for e in kept]
    assert events == [(f"item:{a}", "item.stored"), (f"item:{b}", "item.stored"),
                      (f"item:{b}", "item.labelled")]
    # The register says what the disc was for.
    [done] = [e for e in station.json("access-log") if e["event"] == "export.done"
              and e["details"]["purpose"] == "disclosure"]
    assert done["details"]["approver"] == "张所长"
