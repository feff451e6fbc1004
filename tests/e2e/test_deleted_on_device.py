"""Recordings deleted on the recorder (第三十一条(三) sanctions deleting records): at each
dock the lister also names the deleted FAT and exFAT directory entries with a recording
extension, the dock records them and the audit log has them, and status warns. They are
listed, never recovered, never written: the image stays byte for byte what it was."""
import os
import subprocess

import pytest

from helpers import sha256_file
from simstation import make_sim, mkimage  # noqa: F401

ENDED = ("done", "failed", "interrupted")


def deleted_events(st):
    return [e for e in st.json("audit") if e["event"] == "dock.deleted_on_device"]


@pytest.mark.parametrize("fs", ["fat32", "exfat"])
def test_deleted_recordings_are_named(make_sim, tmp, fs):
    img = os.path.join(tmp, "rec.img")
    manifest = mkimage(img, "--fs", fs, "--clips", "3")
    # mkimage deletes DCIM/DELETED.MP4 (mdel, or rm through exfat-fuse). On FAT delete
    # more with mdel: a clip and a long-named recording; a deleted .TXT is no recording
    # and is not named. (In a folder of their own: FAT reuses a deleted slot.)
    want = {"DCIM/DELETED.MP4"}
    if fs == "fat32":
        clip = sorted(p for p in manifest if p.upper().endswith(".MP4"))[0]
        spec = img
        os.environ.setdefault("MTOOLS_SKIP_CHECK", "1")
        subprocess.run(["mmd", "-i", spec, "::/MISC"], check=False)  # 1 though made
        for name in ("执法记录仪_删除.mp4", "note.txt"):
            src = os.path.join(tmp, name)
            with open(src, "wb") as f:
                f.write(os.urandom(5000))
            subprocess.run(["mcopy", "-i", spec, src, f"::/MISC/{name}"], check=True)
        for name in ("执法记录仪_删除.mp4", "note.txt"):  # all made first: no slot reused
            subprocess.run(["mdel", "-i", spec, f"::/MISC/{name}"], check=True)
        subprocess.run(["mdel", "-i", spec, f"::/{clip}"], check=True)
        want |= {"MISC/执法记录仪_删除.mp4", clip}
    before = sha256_file(img)

    st = make_sim()
    st.start()
    st.register("DSJ-0001")
    st.dock(1, "DSJ-0001", img)
    d = st.wait_dock("DSJ-0001", ENDED)
    assert d["state"] == "done", d
    assert sha256_file(img) == before  # listed, never written

    [ev] = deleted_events(st)
    got = ev["details"]["entries"]
    # FAT overwrites the first byte of a deleted 8.3 name; the long name keeps it.
    def norm(p):
        head, _, base = p.rpartition("/")
        return f"{head}/{base[1:]}" if fs == "fat32" and base.isascii() else p
    assert sorted(norm(e["path"]) for e in got) == sorted(norm(p) for p in want), got
    assert ev["subject"] == f"dock:{d['session']}" and ev["details"]["serial"] == "DSJ-0001"
    for e in got:
        assert e["size"] is None or e["size"] > 0
        assert e["mtime"] is None or e["mtime"].startswith("20")
    n = len(want)
    warnings = st.json("status")["warnings"]
    assert f"recorder DSJ-0001: {n} recording(s) deleted on the device since its last dock" \
        in warnings, warnings

    # Docked again with nothing newly deleted: nothing new is audited, the warning goes.
    st.undock(1)
    st.wait_gone("DSJ-0001")
    st.dock(1, "DSJ-0001", img)
    assert st.wait_dock("DSJ-0001", ENDED)["state"] == "done"
    assert len(deleted_events(st)) == 1
    assert not [w for w in st.json("status")["warnings"] if "deleted on the device" in w]
    assert sha256_file(img) == before
