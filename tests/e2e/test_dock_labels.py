"""A clerk labels everything one dock brought in (issue 4: labels by dock session)."""
import os

from simstation import make_sim, mkimage  # noqa: F401
from test_dock import ENDED


def test_label_a_dock_session(make_sim, tmp):
    img = os.path.join(tmp, "rec.img")
    manifest = mkimage(img, "--fs", "fat32", "--clips", "3")
    st = make_sim()
    st.start()
    st.register("REC-LBL")
    st.dock(2, "REC-LBL", img)
    d = st.wait_dock("REC-LBL", ENDED, timeout=120)
    assert d["state"] == "done", d
    items = st.json("items", "--recorder", "REC-LBL")
    assert items and all(it["dock_session"] == d["session"] for it in items)
    r = st.json("label", "--session", str(d["session"]), "--case", "X罚〔2026〕17号",
                "--party", "张三")
    assert sorted(r["items"]) == sorted(it["id"] for it in items)
    assert st.json("items", "--unlabeled") == []
    p = st.ctl("label", "--session", "999", "--case", "X罚〔2026〕17号", "--party", "张三")
    assert p.returncode == 1 and b"no items selected" in p.stderr
    p = st.ctl("label", "--session", "x", "--case", "X罚〔2026〕17号", "--party", "张三")
    assert p.returncode == 1 and b"dock session number" in p.stderr
    del manifest
