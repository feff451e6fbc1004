"""Recording facts: what each stored recording is (media probe), whether it is whole,
and when it was recorded and how the station knows (container, file name, filesystem)."""
import os
import subprocess

from helpers import random_file

FF = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
CLIP = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i",
        "sine=frequency=1000:sample_rate=48000", "-t", "2", "-c:v", "libx264", "-pix_fmt",
        "yuv420p", "-c:a", "aac"]


def make_clip(path, creation_time=None, extra=()):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    meta = ["-metadata", f"creation_time={creation_time}"] if creation_time else []
    subprocess.run(FF + CLIP + meta + list(extra) + [path], check=True)
    return path


def test_probe_and_recording_time(station, tmp):
    src = os.path.join(tmp, "src")
    make_clip(os.path.join(src, "container.mp4"), "2026-11-20T01:15:00Z")
    make_clip(os.path.join(src, "VID_20261120_091500.mp4"))  # 09:15 in Beijing
    plain = make_clip(os.path.join(src, "plain.mov"), extra=["-f", "mov"])
    os.utime(plain, (1795000000, 1795000000))
    cut = make_clip(os.path.join(tmp, "whole.mp4"), "2026-11-20T02:00:00Z",
                    ["-movflags", "+faststart"])
    with open(cut, "rb") as f:
        data = f.read()
    with open(os.path.join(src, "cut.mp4"), "wb") as f:
        f.write(data[: len(data) // 2])
    random_file(os.path.join(src, "noise.mp4"), 100000, 9)
    subprocess.run(FF + ["-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1",
                         os.path.join(src, "photo.jpg")], check=True)

    report = station.json("import", src, "--recorder", "R1")
    assert report["files_stored"] == 6, report
    items = {it["original_path"]: it for it in station.json("items")}

    c = items["container.mp4"]
    assert c["time_source"] == "container"
    assert c["recorded_at"] == "2026-11-20T01:15:00Z"
    assert c["media"]["container"] == "mp4" and c["media"]["integrity"] == "ok"
    assert abs(c["media"]["duration_s"] - 2.0) < 0.2
    kinds = sorted(s["type"] for s in c["media"]["streams"])
    assert kinds == ["audio", "video"]
    video = [s for s in c["media"]["streams"] if s["type"] == "video"][0]
    assert (video["codec"], video["width"], video["height"]) == ("h264", 320, 240)
    # 2026-11-20 is a Friday: two working days on is Tuesday 11-24, 23:59:59 in Beijing.
    assert c["deadline"] == "2026-11-24T15:59:59Z"

    n = items["VID_20261120_091500.mp4"]
    assert n["time_source"] == "filename" and n["recorded_at"] == "2026-11-20T01:15:00Z"
    p = items["plain.mov"]
    assert p["time_source"] == "filesystem" and p["recorded_at"] == "2026-11-18T11:06:40Z"
    assert p["media"]["container"] == "mov"

    assert items["cut.mp4"]["media"]["integrity"] == "truncated"
    assert items["noise.mp4"]["media"]["integrity"] == "not-media"
    photo = items["photo.jpg"]["media"]
    assert photo["container"] == "jpeg" and photo["integrity"] == "ok"
    shown = station.ctl("show", items["cut.mp4"]["id"], check=True).stdout.decode()
    assert "integrity: truncated" in shown
    # FFmpeg's own messages went into the items, not to the daemon's log.
    assert "moov" not in station.read_log() and "partial file" not in station.read_log()
