#!/bin/sh
# Disc export throughput: evd_disc_build (through tests/bench/disc_bench.c) and, when
# BUILD_DIR holds evidockd, the whole `evidockctl export` through a running daemon
# (items imported first), against `xorriso -as mkisofs -J -R` over the same 2 GiB of
# files, in the same run, each with a cold page cache (echo 3 > /proc/sys/vm/drop_caches,
# root only) and its output synced.
#
#   tests/bench/disc.sh [BUILD_DIR]
#
# With BUILD_DIR, disc_bench links BUILD_DIR/libevidock.a; without, it is compiled from
# lib/*.c (EVD_LIBDIRS="dir1 dir2" adds directories to look for sources in).
# Environment: BENCH_DIR (where the files go, default a new dir in /var/tmp, removed
# afterwards; it must be a disk, not tmpfs; a given one is kept and its files reused),
# BENCH_FILES (default 16) x BENCH_MB (default 128 MiB each), BENCH_ROUNDS (default 3:
# xorriso and evidock alternate, the best time of each counts, which damps the noise of
# a shared machine). Prints MB/s (10^6 bytes of payload per second) of each and the
# ratio; goal >= 0.8.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-}
FILES=${BENCH_FILES:-16}
MB=${BENCH_MB:-128}
LIBDIRS="$ROOT/lib ${EVD_LIBDIRS:-}"

for tool in xorriso sha256sum cc pkg-config; do
        command -v "$tool" >/dev/null || { echo "disc.sh: $tool is missing" >&2; exit 1; }
done

ROUNDS=${BENCH_ROUNDS:-3}
DAEMON_PID=
stop_daemon() {
        if [ -n "$DAEMON_PID" ]; then
                kill "$DAEMON_PID" 2>/dev/null || true
                wait "$DAEMON_PID" 2>/dev/null || true
                DAEMON_PID=
        fi
        if [ -d "$WORK/state" ]; then
                chattr -R -i "$WORK/state" 2>/dev/null || true
                rm -rf "$WORK/state"
        fi
}
if [ -n "${BENCH_DIR:-}" ]; then
        WORK=$BENCH_DIR
        trap 'stop_daemon; rm -f "$WORK/x.iso" "$WORK/e.iso" "$WORK/d.iso" "$WORK/disc_bench"' EXIT INT TERM
else
        WORK=$(mktemp -d /var/tmp/evd-disc-bench.XXXXXX)
        trap 'stop_daemon; rm -rf "$WORK"' EXIT INT TERM
fi
mkdir -p "$WORK/src" "$WORK/keys"

# The driver.
CFLAGS="-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra"
PKGS="libisofs-1 libcrypto"
if [ -n "$BUILD" ] && [ -f "$BUILD/libevidock.a" ]; then
        cc $CFLAGS -I"$ROOT/lib" $(pkg-config --cflags $PKGS) -o "$WORK/disc_bench" \
                "$ROOT/tests/bench/disc_bench.c" "$BUILD/libevidock.a" \
                $(pkg-config --libs $PKGS) -lpthread
else
        srcs="" incs=""
        for m in disc keys err util name; do
                found=""
                for d in $LIBDIRS; do
                        if [ -f "$d/$m.c" ]; then found="$d/$m.c"; break; fi
                done
                [ -n "$found" ] || { echo "disc.sh: lib/$m.c not found in $LIBDIRS" >&2; exit 1; }
                srcs="$srcs $found"
        done
        for d in $LIBDIRS; do incs="$incs -I$d"; done
        cc $CFLAGS $incs $(pkg-config --cflags $PKGS) -o "$WORK/disc_bench" \
                "$ROOT/tests/bench/disc_bench.c" $srcs $(pkg-config --libs $PKGS) -lpthread
fi

# 2 GiB of incompressible files, like recordings.
i=1
while [ "$i" -le "$FILES" ]; do
        f="$WORK/src/$(printf 'REC_%04d.MP4' "$i")"
        if [ ! -f "$f" ] || [ "$(stat -c %s "$f")" -ne $((MB * 1048576)) ]; then
                head -c $((MB * 1048576)) /dev/urandom > "$f"
        fi
        i=$((i + 1))
done
(cd "$WORK/src" && sha256sum -- *.MP4) | sed "s|  |  $WORK/src/|" > "$WORK/list"
sync
BYTES=$((FILES * MB * 1048576))

drop_caches() {
        sync
        if [ -w /proc/sys/vm/drop_caches ]; then
                echo 3 > /proc/sys/vm/drop_caches
        else
                echo "disc.sh: not root: caches stay warm, numbers are not cold-cache" >&2
        fi
}

now() { date +%s.%N; }
# Arithmetic on decimals with awk (no bc needed): calc EXPR, and lt A B (A < B).
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# The daemon's own export: a station holding the same files.
CTL=
if [ -n "$BUILD" ] && [ -x "$BUILD/evidockd" ] && [ -x "$BUILD/evidockctl" ]; then
        stop_daemon
        cat > "$WORK/evidock.conf" <<CONF
[station]
name = bench
state_dir = $WORK/state
control_socket = $WORK/ctl.sock
[scrub]
interval = off
CONF
        "$BUILD/evidockd" -c "$WORK/evidock.conf" 2>"$WORK/evidockd.log" &
        DAEMON_PID=$!
        CTL="$BUILD/evidockctl --socket $WORK/ctl.sock"
        i=0
        until $CTL status >/dev/null 2>&1; do
                i=$((i + 1))
                [ "$i" -lt 100 ] || { echo "disc.sh: evidockd did not start" >&2; exit 1; }
                sleep 0.1
        done
        echo "importing the files into a bench station..."
        $CTL import "$WORK/src" --recorder BENCH >/dev/null
        $CTL keys init >/dev/null
        IDS=$($CTL --json items | sed -n 's/^    "id": \([0-9]*\),$/\1/p' | tr '\n' ' ')
        [ -n "$IDS" ] || { echo "disc.sh: no items in the bench station" >&2; exit 1; }
fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
best_x="" best_e="" best_d=""
round=1
while [ "$round" -le "$ROUNDS" ]; do
        rm -f "$WORK/x.iso" "$WORK/e.iso"
        drop_caches
        t0=$(now)
        xorriso -as mkisofs -J -R -o "$WORK/x.iso" "$WORK/src" >/dev/null 2>&1
        sync
        t1=$(now)
        tx=$(calc "$t1 - $t0")

        drop_caches
        t0=$(now)
        out=$("$WORK/disc_bench" "$WORK/keys" "$WORK/list" "$WORK/e.iso")
        t1=$(now)
        te=$(calc "$t1 - $t0")
        echo "round $round: xorriso ${tx}s, evidock ${te}s ($out)"
        if [ -z "$best_x" ] || lt "$tx" "$best_x"; then best_x=$tx; fi
        if [ -z "$best_e" ] || lt "$te" "$best_e"; then best_e=$te; fi
        rm -f "$WORK/e.iso"
        if [ -n "$CTL" ]; then
                rm -f "$WORK/d.iso"
                drop_caches
                t0=$(now)
                # shellcheck disable=SC2086
                $CTL export $IDS --maker bench --extractor bench --approver bench \
                        --reason bench -o "$WORK/d.iso" >/dev/null
                t1=$(now)
                td=$(calc "$t1 - $t0")
                echo "round $round: evidockctl export ${td}s"
                if [ -z "$best_d" ] || lt "$td" "$best_d"; then best_d=$td; fi
        fi
        round=$((round + 1))
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

mbx=$(calc "$BYTES / $best_x / 1000000")
mbe=$(calc "$BYTES / $best_e / 1000000")
ratio=$(calc "$mbe / $mbx")
printf 'payload: %d files, %d bytes\n' "$FILES" "$BYTES"
printf 'xorriso -as mkisofs -J -R + sync: %8.1f MB/s\n' "$mbx"
printf 'evidock disc build (fsync):       %8.1f MB/s\n' "$mbe"
printf 'ratio evidock/xorriso:            %8.2f (goal >= 0.80)\n' "$ratio"
if [ -n "$best_d" ]; then
        mbd=$(calc "$BYTES / $best_d / 1000000")
        printf 'evidockctl export (daemon, fsync): %7.1f MB/s\n' "$mbd"
        printf 'ratio export/xorriso:             %8.2f (goal >= 0.80)\n' "$(calc "$mbd / $mbx")"
fi
