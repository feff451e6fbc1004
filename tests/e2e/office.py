"""What the office tests share (test_office.py, test_office_zone.py): a station whose
imports are checked against the registry, files recorded at a given local time, and
the display width of a table's rows."""
import os
import subprocess
import unicodedata

from helpers import random_file

FF = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
CLIP = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "1", "-c:v", "libx264",
        "-pix_fmt", "yuv420p"]


def width(text):
    """Terminal columns of text: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def aligned(lines, last_col_start_title):
    """Every row of a table has the same display width up to where the last column
    starts (its title's column in the head line)."""
    head = lines[0]
    cut = width(head[: head.index(last_col_start_title)])
    widths = set()
    for line in lines[1:]:
        # the prefix of line whose display width is cut
        w, k = 0, 0
        while k < len(line) and w < cut:
            w += width(line[k])
            k += 1
        widths.add(w)
        assert line[k - 1] == " ", (line, k)
    return widths == {cut}


def out(p):
    return p.stdout.decode()


def err(p):
    return p.stderr.decode()


def strict(station):
    """The station as an office runs it: imports of unregistered serials refused."""
    station.allow_unregistered = False
    return station


def file_at(path, epoch, size=1000, seed=0):
    random_file(path, size + seed, seed)
    os.utime(path, (epoch, epoch))
    return path


def clip(path, extra=()):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run(FF + CLIP + list(extra) + [path], check=True)
    return path


def truncated_clip(tmp, path):
    whole = clip(os.path.join(tmp, "whole-" + os.path.basename(path)),
                 ["-movflags", "+faststart"])
    with open(whole, "rb") as f:
        data = f.read()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    return path
