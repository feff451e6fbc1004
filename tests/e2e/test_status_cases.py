"""status reads no item for its warnings (issue 16): overdue case files come from the
case records alone. The warnings are the ones the brute-force listing gives (case list
--overdue walks every case number of the items' labels), in the same order."""
import os

from helpers import random_file


def test_overdue_case_warnings_match_the_full_listing(station, tmp):
    src = os.path.join(tmp, "src")
    for i in range(24):
        random_file(os.path.join(src, "DCIM/100MEDIA/VID%04d.MP4" % i), 700 + i, i)
    station.ctl("import", src, "--recorder", "SC-1", check=True)
    ids = [it["id"] for it in station.json("items")]
    cases = ["X罚〔2025〕%d号" % n for n in (7, 3, 12, 5, 9, 1)]
    for k, item in enumerate(ids):  # 18 labelled in six cases, six left unlabelled
        if k < 18:
            station.ctl("label", item, "--case", cases[k % 6], "--party", "张三", check=True)
    # Overdue: ended long ago, not filed (three of them); closed but not yet due; filed;
    # open (no record at all).
    for no in (cases[0], cases[1], cases[4]):
        station.ctl("case", "close", no, "--ended", "2025-01-10", check=True)
    station.ctl("case", "close", cases[2], "--ended", "2099-01-01", check=True)
    station.ctl("case", "close", cases[3], "--ended", "2025-01-10", check=True)
    station.ctl("case", "filed", cases[3], "--ref", "A-3", check=True)

    listed = station.json("case", "list", "--overdue")["cases"]
    assert sorted(c["case_no"] for c in listed) == sorted([cases[0], cases[1], cases[4]])
    want = ["case %s: its file was due on %s (the act ended on 2025-01-10) and is not filed; "
            "evidockctl case filed --ref" % (c["case_no"], c["due"])
            for c in sorted(listed, key=lambda c: c["case_no"].encode())]
    got = [w for w in station.json("status")["warnings"] if w.startswith("case ")]
    assert got == want
    # Filing one takes its warning away at once.
    station.ctl("case", "filed", cases[1], "--ref", "A-1", check=True)
    got = [w for w in station.json("status")["warnings"] if w.startswith("case ")]
    assert got == [w for w in want if cases[1] not in w]
