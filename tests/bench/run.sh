#!/usr/bin/env bash
# make bench: import throughput of evidockd against cp+sync, cp+sha256sum and dcfldd on
# the same files in the same run, cold cache for each. Prints figures; never fails on
# them. Sizes can be scaled down with BENCH_LARGE_MB / BENCH_SMALL_N for a quick look.
set -euo pipefail
BUILD=${1:-build}
LARGE_MB=${BENCH_LARGE_MB:-512}
SMALL_N=${BENCH_SMALL_N:-2000}
work=$(mktemp -d /var/tmp/evidock-bench-XXXXXX)
cleanup() {
        [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
        chattr -R -i "$work" 2>/dev/null || true
        rm -rf "$work"
}
trap cleanup EXIT
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s.%N; }

src="$work/src"
mkdir -p "$src/large" "$src/small"
echo "making 4 x ${LARGE_MB} MiB and ${SMALL_N} x 1 MiB files..."
for i in 1 2 3 4; do head -c "$((LARGE_MB << 20))" /dev/urandom > "$src/large/L$i.MP4"; done
head -c $((1 << 20)) /dev/urandom > "$work/seed"
for i in $(seq "$SMALL_N"); do
        { printf '%08d' "$i"; tail -c +9 "$work/seed"; } > "$src/small/S$i.MP4"
done
bytes=$(du -sb "$src" | cut -f1)
mb() { awk -v b="$bytes" -v t="$1" 'BEGIN { printf "%.0f", b / 1e6 / t }'; }

drop; t0=$(now); cp -r "$src" "$work/cp1"; sync; t_cp=$(awk "BEGIN{print $(now)-$t0}")
rm -rf "$work/cp1"
drop; t0=$(now); cp -r "$src" "$work/cp2"; sync
(cd "$src" && find . -type f -exec sha256sum {} + > /dev/null)
drop; (cd "$work/cp2" && find . -type f -exec sha256sum {} + > /dev/null)
t_sha=$(awk "BEGIN{print $(now)-$t0}")
rm -rf "$work/cp2"
mkdir -p "$work/dc"
drop; t0=$(now)
(cd "$src" && find . -type f | while read -r f; do
        mkdir -p "$work/dc/$(dirname "$f")"
        dcfldd if="$f" of="$work/dc/$f" hash=sha256 status=off hashlog=/dev/null 2>/dev/null
done); sync
t_dc=$(awk "BEGIN{print $(now)-$t0}")
rm -rf "$work/dc"

cat > "$work/evidock.conf" <<CONF
[station]
state_dir = $work/state
control_socket = $work/control.sock
CONF
"$BUILD/evidockd" -c "$work/evidock.conf" 2>"$work/evidockd.log" &
pid=$!
for _ in $(seq 100); do "$BUILD/evidockctl" --socket "$work/control.sock" status >/dev/null 2>&1 && break; sleep 0.1; done
drop; t0=$(now)
"$BUILD/evidockctl" --socket "$work/control.sock" import "$src" --recorder BENCH >/dev/null
t_evd=$(awk "BEGIN{print $(now)-$t0}")
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
kill "$pid"; wait "$pid" || true; pid=

printf '\n%-34s %8s %8s %10s\n' "tool ($((bytes >> 20)) MiB)" "seconds" "MB/s" "evidockd x"
for row in "cp -r + sync:$t_cp" "cp -r + sha256sum both sides:$t_sha" "dcfldd hash=sha256 per file:$t_dc" "evidockd import (hash+verify+catalog):$t_evd"; do
        name=${row%%:*}; t=${row##*:}
        printf '%-34s %8.2f %8s %10.2f\n' "$name" "$t" "$(mb "$t")" "$(awk -v a="$t" -v b="$t_evd" 'BEGIN{print a/b}')"
done
echo "evidockd peak RSS: $((rss / 1024)) MiB"
echo "goals: >= 0.85 x cp+sync throughput, >= 3 x cp+sha256sum, >= 2 x dcfldd, RSS < 64 MiB"
