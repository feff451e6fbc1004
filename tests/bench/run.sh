#!/usr/bin/env bash
# make bench: import throughput of evidockd against cp+sync, cp+sha256sum and dcfldd on
# the same files in the same run, cold cache for each. Prints figures; never fails on
# them. Sizes can be scaled down with BENCH_LARGE_MB / BENCH_SMALL_N for a quick look.
# Then many small files (BENCH_TINY_N x 100 KiB, 10,000 unless told; issue 16 point 4):
# cp -r + sync against evidockd import of the same files, again in the same run.
set -euo pipefail
BUILD=${1:-build}
LARGE_MB=${BENCH_LARGE_MB:-512}
SMALL_N=${BENCH_SMALL_N:-2000}
TINY_N=${BENCH_TINY_N:-10000}
work=$(mktemp -d /var/tmp/evidock-bench-XXXXXX)
cleanup() {
        [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
        chattr -R -i "$work" 2>/dev/null || true
        rm -rf "$work"
}
trap cleanup EXIT
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s.%N; }
# CPU seconds of a process, its reaped children and its live ones (the probes).
cpu() {
        local hz own kids
        hz=$(getconf CLK_TCK)
        own=$(awk -v hz="$hz" '{print ($14 + $15 + $16 + $17) / hz}' "/proc/$1/stat")
        kids=$(for k in $(pgrep -P "$1"); do awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$k/stat"; done |
                awk '{s += $1} END {print s + 0}')
        awk -v a="$own" -v b="$kids" 'BEGIN{print a + b}'
}

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
"$BUILD/evidockctl" --socket "$work/control.sock" import "$src" --recorder BENCH --allow-unregistered >/dev/null
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

# Small files: the cost per file (syncs, the sandboxed probe, the catalogue) rather
# than per byte. A fresh station, so that the first import's catalogue does not count.
tiny="$work/tiny"
mkdir -p "$tiny/DCIM"
echo
echo "making ${TINY_N} x 100 KiB files..."
head -c $((100 << 10)) /dev/urandom > "$work/seed100"
for i in $(seq "$TINY_N"); do
        { printf '%08d' "$i"; tail -c +9 "$work/seed100"; } > "$tiny/DCIM/T$i.MP4"
done
drop; t0=$(now); cp -r "$tiny" "$work/cp3"; sync; t_cp3=$(awk "BEGIN{print $(now)-$t0}")
rm -rf "$work/cp3"
sed -i "s|^state_dir = .*|state_dir = $work/state2|" "$work/evidock.conf"
"$BUILD/evidockd" -c "$work/evidock.conf" 2>>"$work/evidockd.log" &
pid=$!
for _ in $(seq 100); do "$BUILD/evidockctl" --socket "$work/control.sock" status >/dev/null 2>&1 && break; sleep 0.1; done
drop; t0=$(now); c0=$(cpu "$pid")
"$BUILD/evidockctl" --socket "$work/control.sock" import "$tiny" --recorder BENCH --allow-unregistered >/dev/null
t_evd3=$(awk "BEGIN{print $(now)-$t0}"); c_evd3=$(awk -v a="$(cpu "$pid")" -v b="$c0" 'BEGIN{print a-b}')
kill "$pid"; wait "$pid" || true; pid=
printf '\n%-34s %8s %8s %10s\n' "small files (${TINY_N} x 100 KiB)" "seconds" "files/s" "evidockd x"
for row in "cp -r + sync:$t_cp3" "evidockd import:$t_evd3"; do
        name=${row%%:*}; t=${row##*:}
        printf '%-34s %8.2f %8.0f %10.2f\n' "$name" "$t" "$(awk -v n="$TINY_N" -v t="$t" 'BEGIN{print n/t}')" \
                "$(awk -v a="$t" -v b="$t_evd3" 'BEGIN{print a/b}')"
done
echo "goal: evidockd import >= 0.8 x cp+sync throughput on small files"
awk -v c="$c_evd3" -v n="$TINY_N" -v k="$(nproc)" -v t="$t_evd3" 'BEGIN{printf \
        "bound: evidockd and its sandboxed probes used %.1f s of CPU (%.2f ms a file): %.1f s on %d cores, against %.1f s taken\n", c, 1000 * c / n, c / k, k, t}'
