#!/usr/bin/env bash
# make bench (sandbox part): docking throughput of this station against the station
# just before the recorder parsers moved into the sandboxed helper evidock-probe (issue
# 12: "within 5% of today's"). In the same run it builds the pre-sandbox station from
# BENCH_SANDBOX_BASE (default 1dc16c7^1, the first parent of the merge of t-probe) with
# git archive + `make -j2 all build/evidock-sim` in a scratch dir (removed afterwards),
# then docks the same FAT32 recorder images through each station's own simulator,
# alternating old and new (old first in odd rounds, new first in even ones), from a cold
# cache each, BENCH_SANDBOX_ROUNDS times each (default 3), for two cases (each dock as a
# real one comes: the recorder on USB first, its disk 1 s later, the kernel's default
# usb-storage delay_use; timed from the disk's appearance, the same for both stations;
# the new station starts its helpers in that second, probe.h):
#   large  BENCH_SANDBOX_MB MiB (default 512) of recordings of BENCH_SANDBOX_FILE_MB MiB
#   small  BENCH_SANDBOX_FILES files (default 2000) of BENCH_SANDBOX_FILE_KB KiB (64),
#          where a per-file cost of the probe would show.
# Prints per case the median seconds to "safe to remove" of each station and new/old
# beside the goal (<= 1.05), the daemon's CPU time (with its reaped helpers), and the
# helper starts per dock of the new station, counted with strace -f -e trace=execve in
# one extra dock per case that is not timed. Never fails on the figures; fails, saying
# so, when the old station cannot be built here. BENCH_SANDBOX_OLD=DIR uses an already
# built old build dir instead (to rerun quickly).
set -euo pipefail
BUILD=$(realpath "${1:-build}")
NEW=$BUILD
BASE=${BENCH_SANDBOX_BASE:-1dc16c7^1}
MB=${BENCH_SANDBOX_MB:-512}
FILE_MB=${BENCH_SANDBOX_FILE_MB:-128}
FILES=${BENCH_SANDBOX_FILES:-2000}
FILE_KB=${BENCH_SANDBOX_FILE_KB:-64}
ROUNDS=${BENCH_SANDBOX_ROUNDS:-3}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /var/tmp/evidock-sandboxbench-XXXXXX)
cleanup() {
        stop_station
        chattr -R -i "$work" 2>/dev/null || true
        rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=tests/bench/dock_lib.sh
. "$here/dock_lib.sh"
die() { echo "sandbox bench: $*" >&2; exit 1; }

if [ -n "${BENCH_SANDBOX_OLD:-}" ]; then
        OLD=$(realpath "$BENCH_SANDBOX_OLD")
else
        base=$(git -C "$here" rev-parse --verify -q "$BASE^{commit}") ||
                die "cannot build the pre-sandbox station: $BASE is not in the history of this checkout (it needs the git repository)"
        echo "building the pre-sandbox station ($BASE = ${base:0:7}) in $work/old..."
        mkdir "$work/old"
        top=$(git -C "$here" rev-parse --show-toplevel)
        git -C "$top" archive "$base" | tar -x -C "$work/old" ||
                die "cannot build the pre-sandbox station: git archive $BASE failed"
        # Not the outer make's flags (BUILD=..., jobserver): the old tree builds alone.
        if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$work/old" -j2 all build/evidock-sim \
                >"$work/old-build.log" 2>&1; then
                tail -n 20 "$work/old-build.log" >&2
                die "cannot build the pre-sandbox station ($BASE) on this machine: the figures need it"
        fi
        OLD=$work/old/build
fi
for b in "$OLD" "$NEW"; do
        for p in evidockd evidockctl evidock-sim; do
                [ -x "$b/$p" ] || die "$b/$p is missing"
        done
done
[ -x "$NEW/evidock-probe" ] || die "$NEW/evidock-probe is missing: is $NEW the sandboxed station?"

small_mb=$(((FILES * FILE_KB + 1023) / 1024))
n_large=$(((MB + FILE_MB - 1) / FILE_MB))
n_small=$(((small_mb * 1024 + FILE_KB - 1) / FILE_KB))
echo "making the recorder images: ${MB} MiB in $n_large files, $n_small files of ${FILE_KB} KiB..."
make_image "$work/large.img" "$MB" large
make_image "$work/small.img" "$small_mb" small "$FILE_KB"

# One dock of image by the station of build dir b, from a cold cache, on fresh state;
# sets DOCK_T (seconds to "safe to remove") and DOCK_CPU (user + system time of
# evidockd and its helpers, then).
dock_once() { # b name image
        local t0 pids
        BUILD=$1
        start_station "$2"
        ctl recorder add BENCH-1 --handler-id B1 --handler-name bench >/dev/null
        drop
        sim dock 1 BENCH-1 1234:5678 -
        sleep 1 # usb-storage's delay_use: the disk appears a second after the recorder
        t0=$(now)
        sim disk 1 "$3"
        wait_docks 1
        DOCK_T=$(since "$t0")
        # The daemon's, its reaped children's and its live ones' (a media-serve helper
        # may still be waiting for work).
        mapfile -t pids < <(pgrep -P "$DAEMON_PID" || true)
        pids=("$DAEMON_PID" ${pids[@]+"${pids[@]}"})
        DOCK_CPU=$(cd /proc && cat "${pids[@]/%//stat}" 2>/dev/null |
                awk -v hz="$(getconf CLK_TCK)" '{ t += $14 + $15 + $16 + $17 } END { printf "%.2f", t / hz }')
        stop_station
        chattr -R -i "$work/state-$2" 2>/dev/null || true
        rm -rf "$work/state-$2"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Sets STARTS to the helper starts in one (untimed) dock of image by the new station,
# from strace's execve log.
probe_starts() { # image
        local log=$work/execve.log
        STATION_WRAP=(strace -f -qq -e trace=execve -e signal=none -o "$log")
        BUILD=$NEW
        start_station counted
        STATION_WRAP=()
        ctl recorder add BENCH-1 --handler-id B1 --handler-name bench >/dev/null
        sim dock 1 BENCH-1 1234:5678 -
        sleep 1
        sim disk 1 "$1"
        wait_docks 1
        stop_station
        chattr -R -i "$work/state-counted" 2>/dev/null || true
        rm -rf "$work/state-counted"
        STARTS=$(grep -c 'execve("[^"]*/evidock-probe".* = 0$' "$log" || true)
        rm -f "$log"
}

declare -A T C S
for c in large small; do
        for r in $(seq "$ROUNDS"); do
                if [ $((r % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
                for s in $order; do
                        if [ "$s" = old ]; then b=$OLD; else b=$NEW; fi
                        dock_once "$b" "$s-$c-$r" "$work/$c.img"
                        echo "  $c, round $r, $s station: $DOCK_T s (CPU $DOCK_CPU s)"
                        T[$c-$s]+="$DOCK_T "
                        C[$c-$s]+="$DOCK_CPU "
                done
        done
        probe_starts "$work/$c.img"
        S[$c]=$STARTS
done

# What one helper start costs by itself: exec of evidock-probe up to its usage error
# (dynamic linking of libavformat, The Sleuth Kit, ...), warm cache, median of 5, ms.
start_ms=$(for _ in 1 2 3 4 5; do
        t0=$(now)
        "$NEW/evidock-probe" </dev/null >/dev/null 2>&1 || true
        awk -v t="$(since "$t0")" 'BEGIN { print t * 1000 }'
done | median)

med() { tr ' ' '\n' <<<"${1% }" | median; }
printf '\nsandbox bench: seconds to "safe to remove", median of %s docks each, cold cache\n' "$ROUNDS"
printf '  old = %s (%s, before evidock-probe), new = %s\n' "$BASE" "${base:-$OLD}" "$NEW"
printf '%-34s %8s %8s %9s %8s %8s %7s\n' case old new new/old "CPU old" "CPU new" helpers
over=
for c in large small; do
        if [ "$c" = large ]; then
                label="${MB} MiB in $n_large files"
                files=$n_large
        else
                label="$n_small files of ${FILE_KB} KiB"
                files=$n_small
        fi
        to=$(med "${T[$c-old]}") tn=$(med "${T[$c-new]}")
        co=$(med "${C[$c-old]}") cn=$(med "${C[$c-new]}")
        ratio=$(awk -v o="$to" -v n="$tn" 'BEGIN { printf "%.3f", n / o }')
        printf '%-34s %8.2f %8.2f %9s %8.2f %8.2f %7s  goal <= 1.05: %s\n' "$label" "$to" "$tn" \
                "$ratio" "$co" "$cn" "${S[$c]}" \
                "$(awk -v r="$ratio" 'BEGIN { print (r <= 1.05 ? "met" : "OVER") }')"
        if awk -v r="$ratio" 'BEGIN { exit !(r > 1.05) }'; then
                over+=$(awk -v o="$to" -v n="$tn" -v f="$files" -v s="${S[$c]}" -v co="$co" -v cn="$cn" \
                        -v c="$c" -v m="$start_ms" 'BEGIN {
                        d = n - o
                        printf "  %s: %.2f s more per dock (%.1f ms per file, CPU %+.2f s); %d helper starts", c, d, 1000 * d / f, cn - co, s
                        printf " x %.0f ms each = %.2f s (at most: some overlap the copy)\n", m, s * m / 1000
                        printf "  %s: were it a fixed cost per dock, new/old would reach 1.05 at docks of %.1f s (old)\n", c, d / 0.05 }')$'\n'
        fi
done
echo "helpers: evidock-probe starts in one dock of the new station (strace -f -e trace=execve)"
printf 'one helper start (exec + dynamic linking, warm cache, median of 5): %.0f ms\n' "$start_ms"
if [ -n "$over" ]; then
        printf 'over the goal; what bounds it:\n%s' "$over"
fi
