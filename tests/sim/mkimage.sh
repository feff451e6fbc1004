#!/bin/bash
# mkimage.sh: build a body-worn recorder's storage as an image file, for tests.
#
# usage: mkimage.sh OUT.img --fs fat12|fat16|fat32|exfat [--mbr|--gpt] [--parts N]
#                   [--junk-part] [--size 64M] [--clips N] [--seconds S]
#                   [--name-style dcim|chinese|hostile] [--fragment] [--big SIZE]
#                   [--label NAME] [--manifest FILE]
#
# Recordings are small ffmpeg clips (320x240, S seconds, each different) in DCIM-style
# folders, plus files that are not recordings (.JPG, .TXT), a deleted recording and, with
# --fragment, a recording scattered over many holes. FAT is filled with mtools, exFAT
# through exfat-fuse on a loop device (root; the kernel needs no exfat driver). With
# --mbr or --gpt the image gets a partition table (sfdisk) and N partitions (default 1)
# starting at 1 MiB; --junk-part puts an unformatted partition before them. --big adds
# one file of SIZE random bytes (e.g. 200M, for throughput runs).
#
# File times are local: TZ is used as set (Asia/Shanghai when unset); recording i is
# stamped 2026-11-20 09:15:00 plus i minutes.
#
# The manifest (stdout, or FILE) lists every regular file as extracted afterwards from
# OUT.img by tools we did not write (mcopy -s -m for FAT, a read-only exfat-fuse mount for
# exFAT), sorted, one line each, tab-separated:
#   PARTITION  SIZE  SHA256  MTIME  PATH
# PARTITION counts FAT/exFAT filesystems in table order from 0; MTIME is seconds since
# the epoch as the extracting tool reads the local time; PATH is relative to the root
# ("DCIM/100MEDIA/X.MP4").
# shellcheck disable=SC2016 # single-quoted '$' is part of file names here
set -euo pipefail

die() { echo "mkimage.sh: $*" >&2; exit 2; }

[ $# -ge 1 ] || die "usage: mkimage.sh OUT.img --fs fat32|exfat [options] (see the script)"
OUT=$1; shift
FS='' TABLE=none PARTS=1 JUNK=0 SIZE=64M CLIPS=3 SECONDS_=1 STYLE=dcim FRAGMENT=0 BIG=''
LABEL=BODYCAM MANIFEST=''
while [ $# -gt 0 ]; do
        case $1 in
        --fs) FS=${2:?}; shift 2 ;;
        --mbr) TABLE=mbr; shift ;;
        --gpt) TABLE=gpt; shift ;;
        --parts) PARTS=${2:?}; shift 2 ;;
        --junk-part) JUNK=1; shift ;;
        --size) SIZE=${2:?}; shift 2 ;;
        --clips) CLIPS=${2:?}; shift 2 ;;
        --seconds) SECONDS_=${2:?}; shift 2 ;;
        --name-style) STYLE=${2:?}; shift 2 ;;
        --fragment) FRAGMENT=1; shift ;;
        --big) BIG=${2:?}; shift 2 ;;
        --label) LABEL=${2:?}; shift 2 ;;
        --manifest) MANIFEST=${2:?}; shift 2 ;;
        *) die "unknown option $1" ;;
        esac
done
case $FS in fat12 | fat16 | fat32 | exfat) ;; *) die "--fs fat12|fat16|fat32|exfat" ;; esac
case $STYLE in dcim | chinese | hostile) ;; *) die "--name-style dcim|chinese|hostile" ;; esac
[[ $PARTS =~ ^[1-4]$ ]] || die "--parts 1..4"
[[ $CLIPS =~ ^[0-9]+$ ]] || die "--clips N"
[[ $SECONDS_ =~ ^[1-9][0-9]*$ ]] || die "--seconds S"
[ "$TABLE" != none ] || [ "$PARTS" = 1 ] || die "--parts needs --mbr or --gpt"
[ "$TABLE" != none ] || [ "$JUNK" = 0 ] || die "--junk-part needs --mbr or --gpt"
for tool in ffmpeg sha256sum; do command -v $tool >/dev/null || die "$tool missing"; done
if [ "$FS" = exfat ]; then
        for tool in mkfs.exfat mount.exfat-fuse losetup mountpoint; do
                command -v $tool >/dev/null || die "$tool missing"
        done
        [ "$(id -u)" = 0 ] || die "exFAT needs root (loop device and FUSE)"
else
        for tool in mkfs.vfat mcopy mmd mdel; do command -v $tool >/dev/null || die "$tool missing"; done
fi
[ "$TABLE" = none ] || command -v sfdisk >/dev/null || die "sfdisk missing (Debian package fdisk)"

export LC_ALL=C.UTF-8 # mtools mangles non-ASCII names otherwise
export TZ=${TZ:-Asia/Shanghai}
export MTOOLS_SKIP_CHECK=1 MTOOLS_NO_VFAT=0

TMP=$(mktemp -d)
LOOP='' FUSE_PID='' MNT=$TMP/mnt
cleanup() {
        if [ -n "$FUSE_PID" ]; then
                umount "$MNT" 2>/dev/null || true
                wait "$FUSE_PID" 2>/dev/null || true
        fi
        [ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null || true
        rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$MNT" "$TMP/clips"

bytes() { numfmt --from=iec "$1"; }

# ---- recordings ----
BASE=$(date -d "2026-11-20 09:15:00" +%s)
make_clip() { # index file
        local i=$1 f=$2
        ffmpeg -nostdin -hide_banner -loglevel error -y \
                -f lavfi -i "testsrc=size=320x240:rate=25" \
                -f lavfi -i "sine=frequency=$((400 + 37 * i)):sample_rate=48000" \
                -t "$SECONDS_" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac \
                -metadata creation_time="$(date -u -d @$((BASE + 60 * i)) +%FT%TZ)" \
                -metadata title="clip $i" -movflags +faststart "$f"
        touch -d @$((BASE + 60 * i)) "$f"
}
NCLIPS=$((CLIPS > 0 ? CLIPS : 1))
for i in $(seq 0 $((NCLIPS - 1))); do make_clip "$i" "$TMP/clips/$i.mp4"; done
clip() { echo "$TMP/clips/$(($1 % NCLIPS)).mp4"; }

# The tree to write: lines "DIR||path" or "FILE|source|path", in order ('|' cannot be
# in a FAT or exFAT name).
PLAN=$TMP/plan
: >"$PLAN"
d() { printf 'DIR||%s\n' "$1" >>"$PLAN"; }
f() { printf 'FILE|%s|%s\n' "$1" "$2" >>"$PLAN"; }
aux() { # a file that is not a recording
        printf '%s\n' "$2" >"$TMP/aux$1"
        touch -d @$((BASE - 3600)) "$TMP/aux$1"
        echo "$TMP/aux$1"
}
case $STYLE in
dcim)
        d /DCIM; d /DCIM/100MEDIA; d /MISC
        for i in $(seq 0 $((CLIPS - 1))); do
                f "$(clip "$i")" "/DCIM/100MEDIA/$(date -d @$((BASE + 60 * i)) +VID_%Y%m%d_%H%M%S)_$(printf %04d $((i + 1))).MP4"
        done
        [ "$CLIPS" -lt 2 ] || f "$(clip 1)" /DCIM/100MEDIA/lower_case.mp4
        [ "$CLIPS" -lt 3 ] || f "$(clip 2)" /DCIM/100MEDIA/MOVIE0001.MOV
        f "$(aux 1 thumbnail)" /DCIM/100MEDIA/THUMB0001.JPG
        f "$(aux 2 'device log')" /MISC/DEVICE.TXT
        ;;
chinese)
        d /DCIM; d /DCIM/执法记录仪; d /录像; d "/录像/2026年11月20日"
        for i in $(seq 0 $((CLIPS - 1))); do
                if [ $((i % 2)) = 0 ]; then
                        f "$(clip "$i")" "/DCIM/执法记录仪/张三_警号012345_$(date -d @$((BASE + 60 * i)) +%Y%m%d_%H%M%S).MP4"
                else
                        f "$(clip "$i")" "/录像/2026年11月20日/现场执法录像 第$((i + 1))段.mov"
                fi
        done
        f "$(aux 1 说明)" "/录像/说明.txt"
        # An odd second: exFAT keeps it (10 ms field = 100), FAT rounds it to even.
        cp "$(clip 0)" "$TMP/odd.mp4"
        touch -d @$((BASE + 61)) "$TMP/odd.mp4"
        f "$TMP/odd.mp4" "/录像/2026年11月20日/奇数秒.MP4"
        ;;
hostile)
        d /DCIM; d "/DCIM/ a dir with spaces"; d '/DCIM/$RECYCLE'
        deep=/DCIM/d1
        d $deep
        for k in 2 3 4 5 6 7 8 9 10; do deep=$deep/d$k; d $deep; done
        names=("a b  c.MP4" " lead.mp4" '$DATA.MP4' ".hidden.mp4" $'cafe\u0301 NFD form.mp4'
                $'caf\u00e9 NFC form.mp4' $'rlo\u202egnp.mp4' "semi;#%&'()[]+,=@!~\`{}.mp4"
                "x.Mp4" "UPPER.MOV" "录像 视频.MP4" "trail.mp4." "no_extension" ".mp4"
                "double.mp4.txt" "$(printf 'L%.0s' $(seq 1 180)).mp4")
        [ "$FS" != exfat ] || names+=("🎥录像.mp4") # mtools truncates non-BMP characters
        i=0
        for n in "${names[@]}"; do f "$(clip "$i")" "/DCIM/$n"; i=$((i + 1)); done
        f "$(clip 1)" "/DCIM/ a dir with spaces/inner.mp4"
        f "$(clip 2)" '/DCIM/$RECYCLE/kept.mp4'
        f "$(clip 0)" "$deep/deep.mp4"
        : >"$TMP/empty"
        touch -d @"$BASE" "$TMP/empty"
        f "$TMP/empty" /DCIM/EMPTY.MP4
        ;;
esac
if [ -n "$BIG" ]; then
        head -c "$(bytes "$BIG")" /dev/urandom >"$TMP/big"
        touch -d @$((BASE + 7200)) "$TMP/big"
        grep -qx 'DIR||/DCIM' "$PLAN" || d /DCIM
        f "$TMP/big" /DCIM/BIG0001.MP4
fi

# ---- filesystems ----
SECTOR=512
TOTAL=$(bytes "$SIZE")
[ $((TOTAL % 1048576)) = 0 ] || die "--size must be a whole number of MiB"

mkfs_part() { # file
        case $FS in
        fat12) mkfs.vfat -F 12 -n "$LABEL" -h "$HIDDEN" "$1" >/dev/null ;;
        fat16) mkfs.vfat -F 16 -n "$LABEL" -h "$HIDDEN" "$1" >/dev/null ;;
        fat32) mkfs.vfat -F 32 -n "$LABEL" -h "$HIDDEN" "$1" >/dev/null ;;
        exfat) mkfs.exfat -L "$LABEL" "$1" >/dev/null ;;
        esac
}

fuse_mount() { # device [options]
        local dev=$1
        shift
        mount.exfat-fuse -d "$@" "$dev" "$MNT" >/dev/null 2>&1 &
        FUSE_PID=$!
        for _ in $(seq 200); do
                mountpoint -q "$MNT" && return 0
                kill -0 "$FUSE_PID" 2>/dev/null || break
                sleep 0.05
        done
        die "exfat-fuse did not mount $dev"
}
fuse_umount() {
        umount "$MNT"
        wait "$FUSE_PID" || true # the daemon writes everything out before it exits
        FUSE_PID=
}

# Writers: one set for mtools (FAT), one for a FUSE mount (exFAT).
IMGSPEC=
w_dir() { if [ "$FS" = exfat ]; then mkdir -p "$MNT$1"; else mmd -i "$IMGSPEC" "::$1"; fi; }
w_file() { # source path
        if [ "$FS" = exfat ]; then
                cp "$1" "$MNT$2"
                touch -r "$1" "$MNT$2"
        else
                mcopy -m -i "$IMGSPEC" "$1" "::$2"
        fi
}
w_del() { if [ "$FS" = exfat ]; then rm -f "$MNT$1"; else mdel -i "$IMGSPEC" "::$1"; fi; }
w_free() { # free bytes
        if [ "$FS" = exfat ]; then
                df -B1 --output=avail "$MNT" | tail -1 | tr -d ' '
        else
                mdir -i "$IMGSPEC" ::/ | awk '/bytes free/ { gsub(/[^0-9]/, "", $0); print }'
        fi
}

# Fill the free space with small files, delete every other one, then write a file
# larger than any hole: it lands in pieces.
fragment() {
        local free n k chunk dir=/FILL del=()
        w_dir $dir
        free=$(w_free)
        n=200
        chunk=$(((free - 1048576) / n / 4096 * 4096))
        [ "$chunk" -ge 4096 ] || die "no room to fragment"
        mkdir "$TMP/fill"
        head -c "$chunk" /dev/urandom >"$TMP/chunk"
        for k in $(seq 1 $n); do ln "$TMP/chunk" "$TMP/fill/F$k.BIN"; done
        for k in $(seq 1 2 $n); do del+=("$dir/F$k.BIN"); done
        if [ "$FS" = exfat ]; then
                cp "$TMP"/fill/* "$MNT$dir/"
                (cd "$MNT" && rm -f "${del[@]#/}")
        else
                mcopy -i "$IMGSPEC" "$TMP"/fill/* "::$dir/"
                mdel -i "$IMGSPEC" "${del[@]/#/::}"
        fi
        head -c $((n * chunk * 3 / 8)) /dev/urandom >"$TMP/frag"
        touch -d @$((BASE + 3600)) "$TMP/frag"
        w_file "$TMP/frag" /DCIM/FRAG0001.MP4
}

populate() {
        local kind src path
        while IFS='|' read -r kind src path; do
                if [ "$kind" = DIR ]; then w_dir "$path"; else w_file "$src" "$path"; fi
        done <"$PLAN"
        # A recording deleted on the recorder: must not be listed.
        w_file "$(clip 0)" /DCIM/DELETED.MP4
        w_del /DCIM/DELETED.MP4
        [ "$FRAGMENT" = 0 ] || fragment
}

build_fs() { # file
        mkfs_part "$1"
        if [ "$FS" = exfat ]; then
                LOOP=$(losetup -f --show "$1")
                fuse_mount "$LOOP"
                populate
                fuse_umount
                losetup -d "$LOOP"
                LOOP=
        else
                IMGSPEC=$1
                populate
        fi
}

# Extract one filesystem of OUT at byte offset OFF (SIZE bytes) and print its manifest.
manifest_fs() { # part off size
        local part=$1 off=$2 size=$3 x=$TMP/x$1
        mkdir -p "$x"
        if [ "$FS" = exfat ]; then
                LOOP=$(losetup -f --show -r -o "$off" --sizelimit "$size" "$OUT")
                fuse_mount "$LOOP" -o ro
                cp -a "$MNT/." "$x/"
                fuse_umount
                losetup -d "$LOOP"
                LOOP=
        else
                mcopy -s -m -n -i "$OUT@@$off" "::*" "$x/"
        fi
        (cd "$x" && find . -type f -print0 | sort -z | while IFS= read -r -d '' p; do
                printf '%s\t%s\t%s\t%s\t%s\n' "$part" "$(stat -c %s "$p")" \
                        "$(sha256sum <"$p" | cut -d' ' -f1)" "$(stat -c %Y "$p")" "${p#./}"
        done)
}

rm -f "$OUT"
truncate -s "$TOTAL" "$OUT"
OFFSETS=() SIZES=()
if [ "$TABLE" = none ]; then
        HIDDEN=0
        build_fs "$OUT"
        OFFSETS=(0) SIZES=("$TOTAL")
else
        start=2048
        end=$((TOTAL / SECTOR - 34))      # room for GPT's backup header
        count=$((PARTS + JUNK))
        each=$(((end - start) / count / 2048 * 2048))
        case $FS in fat12 | fat16) mtype=e ;; fat32) mtype=c ;; exfat) mtype=7 ;; esac
        gtype=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7 # Microsoft basic data
        {
                if [ "$TABLE" = mbr ]; then echo "label: dos"; else echo "label: gpt"; fi
                for k in $(seq 0 $((count - 1))); do
                        s=$((start + k * each))
                        if [ "$JUNK" = 1 ] && [ "$k" = 0 ]; then
                                t=$([ "$TABLE" = mbr ] && echo 83 || echo 0FC63DAF-8483-4772-8E79-3D69D8477DE4)
                        else
                                t=$([ "$TABLE" = mbr ] && echo "$mtype" || echo "$gtype")
                        fi
                        echo "start=$s, size=$each, type=$t"
                done
        } | sfdisk -q "$OUT" >/dev/null
        for k in $(seq "$JUNK" $((count - 1))); do
                s=$((start + k * each))
                HIDDEN=$s
                truncate -s $((each * SECTOR)) "$TMP/part.img"
                build_fs "$TMP/part.img"
                dd if="$TMP/part.img" of="$OUT" bs=1M seek=$((s * SECTOR / 1048576)) \
                        conv=notrunc,sparse status=none
                rm -f "$TMP/part.img"
                OFFSETS+=($((s * SECTOR))) SIZES+=($((each * SECTOR)))
        done
fi

{
        for k in "${!OFFSETS[@]}"; do manifest_fs "$k" "${OFFSETS[$k]}" "${SIZES[$k]}"; done
} >"$TMP/manifest"
if [ -n "$MANIFEST" ]; then cp "$TMP/manifest" "$MANIFEST"; else cat "$TMP/manifest"; fi
