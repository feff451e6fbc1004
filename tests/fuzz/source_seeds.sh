#!/bin/bash
# fuzz_source_seeds.sh DIR: seed corpus for tests/fuzz/fuzz_source.c.
#
# Small FAT12/16/32 and exFAT images (plain, MBR, GPT) holding a few short files under
# DCIM, Chinese names and a deep folder, each written in the fuzzer's sparse format
# (u32 size, then runs of u32 offset, u16 length, bytes: the non-zero sectors). exFAT
# needs root (loop device, exfat-fuse).
set -euo pipefail
[ $# = 1 ] || { echo "usage: fuzz_source_seeds.sh DIR" >&2; exit 2; }
OUT=$1
mkdir -p "$OUT"
export LC_ALL=C.UTF-8 TZ=${TZ:-Asia/Shanghai}
TMP=$(mktemp -d)
LOOP='' FUSE_PID=''
cleanup() {
        [ -z "$FUSE_PID" ] || { umount "$TMP/mnt" 2>/dev/null || true; wait "$FUSE_PID" || true; }
        [ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null || true
        rm -rf "$TMP"
}
trap cleanup EXIT
mkdir "$TMP/mnt" "$TMP/src"
for i in 1 2 3; do head -c $((700 * i + 13)) /dev/urandom >"$TMP/src/f$i"; done
touch -d "2026-11-20 09:15:00" "$TMP"/src/*
DIRS=(/DCIM /DCIM/100MEDIA /DCIM/d1 /DCIM/d1/d2 /DCIM/d1/d2/d3 "/录像")
FILES=("f1|/DCIM/100MEDIA/VID0001.MP4" "f2|/DCIM/100MEDIA/vid0002.mov" "f3|/录像/现场 执法.MP4"
        "f1|/DCIM/d1/d2/d3/deep.mp4" "f2|/DCIM/NOTE.TXT")

fat() { # image size fat-bits
        truncate -s "$2" "$1"
        mkfs.vfat -F "$3" -n BODYCAM "$1" >/dev/null
        for d in "${DIRS[@]}"; do mmd -i "$1" "::$d"; done
        for f in "${FILES[@]}"; do mcopy -m -i "$1" "$TMP/src/${f%%|*}" "::${f#*|}"; done
        mdel -i "$1" ::/DCIM/NOTE.TXT # a deleted entry
}
exfat() { # image size
        truncate -s "$2" "$1"
        mkfs.exfat -L BODYCAM "$1" >/dev/null
        LOOP=$(losetup -f --show "$1")
        mount.exfat-fuse -d "$LOOP" "$TMP/mnt" >/dev/null 2>&1 &
        FUSE_PID=$!
        for _ in $(seq 200); do mountpoint -q "$TMP/mnt" && break; sleep 0.05; done
        mountpoint -q "$TMP/mnt"
        for d in "${DIRS[@]}"; do mkdir -p "$TMP/mnt$d"; done
        for f in "${FILES[@]}"; do cp -p "$TMP/src/${f%%|*}" "$TMP/mnt${f#*|}"; done
        rm "$TMP/mnt/DCIM/NOTE.TXT"
        umount "$TMP/mnt"
        wait "$FUSE_PID" || true
        FUSE_PID=
        losetup -d "$LOOP"
        LOOP=
}
table() { # image fs-image label(dos|gpt) type
        local size
        size=$(stat -c %s "$2")
        truncate -s $((size + 2 * 1048576)) "$1"
        printf 'label: %s\nstart=2048, size=%d, type=%s\n' "$3" $((size / 512)) "$4" |
                sfdisk -q "$1" >/dev/null
        dd if="$2" of="$1" bs=1M seek=1 conv=notrunc status=none
}
sparse() { # image seed
        /usr/bin/python3 - "$1" "$2" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read()
out = [struct.pack('<I', len(data))]
i, n = 0, len(data)
while i < n:
    if not any(data[i:i + 512]):
        i += 512
        continue
    j = i
    while j < n and j - i < 65024 and any(data[j:j + 512]):
        j += 512
    chunk = data[i:j].rstrip(b'\0') or data[i:i + 1]
    out.append(struct.pack('<IH', i, len(chunk)) + chunk)
    i = j
open(sys.argv[2], 'wb').write(b''.join(out))
PY
}

fat "$TMP/fat12.img" 1M 12 && sparse "$TMP/fat12.img" "$OUT/fat12"
fat "$TMP/fat16.img" 16M 16 && sparse "$TMP/fat16.img" "$OUT/fat16"
fat "$TMP/fat32.img" 34M 32 && sparse "$TMP/fat32.img" "$OUT/fat32"
table "$TMP/fat32-mbr.img" "$TMP/fat32.img" dos c && sparse "$TMP/fat32-mbr.img" "$OUT/fat32-mbr"
table "$TMP/fat16-gpt.img" "$TMP/fat16.img" gpt EBD0A0A2-B9E5-4433-87C0-68B6B72699C7 &&
        sparse "$TMP/fat16-gpt.img" "$OUT/fat16-gpt"
if [ "$(id -u)" = 0 ]; then
        exfat "$TMP/exfat.img" 4M && sparse "$TMP/exfat.img" "$OUT/exfat"
        table "$TMP/exfat-mbr.img" "$TMP/exfat.img" dos 7 && sparse "$TMP/exfat-mbr.img" "$OUT/exfat-mbr"
fi
ls -l "$OUT" >&2
