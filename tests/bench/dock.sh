#!/usr/bin/env bash
# make bench (docking part): dock-to-"safe to remove" of a recorder image holding
# BENCH_DOCK_MB MiB of recordings (default 2048), under the recorder simulator, against
# in the same run and from a cold cache each: the raw read of the image (dd to
# /dev/null), cp + sync of the same recordings onto the store's filesystem, the same
# cp + sync followed by a cold SHA-256 of the copies (openssl dgst, two at a time: a
# copy proven on disk with standard tools, the disk work evidockd does), and mcopy
# extraction + sha256sum. Then
# four recorders docked at once (each a quarter of the data) against one, in aggregate
# MB/s, and evidockd's peak RSS. Prints figures and ratios; never fails on them.
#
# What bounds the first ratio: before "safe to remove" evidockd reads each recording
# from the recorder, writes it, and reads the copy back from the disk to check its hash;
# cp + sync does only the first two. Here the recorder image and the store share one
# virtual disk (about 2 GB/s shared by reads and writes, varying from run to run), so a
# verified copy moves 3 bytes through it for cp's 2: at cp's own efficiency it would
# reach 0.67x of cp + sync; evidockd's direct I/O is what gets it past that. The
# verified peer shows what the same check costs standard tools.
set -euo pipefail
BUILD=${1:-build}
MB=${BENCH_DOCK_MB:-2048}
FILE_MB=${BENCH_DOCK_FILE_MB:-256}
work=$(mktemp -d /var/tmp/evidock-dockbench-XXXXXX)
SIM_PID=
cleanup() {
        stop_station
        chattr -R -i "$work" 2>/dev/null || true
        rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=tests/bench/dock_lib.sh
. "$(dirname "$0")/dock_lib.sh"

echo "making a ${MB} MiB recorder image (files of ${FILE_MB} MiB) and four of $((MB / 4)) MiB..."
make_image "$work/one.img" "$MB" one
for k in 1 2 3 4; do make_image "$work/q$k.img" "$((MB / 4))" "q$k"; done
img_mb=$(($(stat -c %s "$work/one.img") >> 20))

drop; t0=$(now); dd if="$work/one.img" of=/dev/null bs=1M status=none; t_dd=$(since "$t0")
drop; t0=$(now); mcopy -s -m -i "$work/one.img" ::/DCIM "$work/extracted"
(cd "$work/extracted" && find . -type f -exec sha256sum {} + >/dev/null); t_mcopy=$(since "$t0")
drop; t0=$(now); cp -r "$work/extracted" "$work/cp"; sync; t_cp=$(since "$t0")
rm -rf "$work/cp"
drop; t0=$(now); cp -r "$work/extracted" "$work/cp"; sync; echo 3 >/proc/sys/vm/drop_caches
(cd "$work/cp" && find . -type f -print0 | xargs -0 -n 1 -P 2 openssl dgst -sha256 >/dev/null)
t_cpv=$(since "$t0")
rm -rf "$work/cp" "$work/extracted"

start_station one
ctl recorder add BENCH-1 --handler-id B1 --handler-name bench >/dev/null
drop; t0=$(now)
sim dock 1 BENCH-1 1234:5678 "$work/one.img"
wait_docks 1
t_dock=$(since "$t0")
rss1=$(awk '/VmHWM/ { print $2 }' "/proc/$DAEMON_PID/status")
cpu1=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$DAEMON_PID/stat")
stop_station
chattr -R -i "$work/state-one" 2>/dev/null || true
rm -rf "$work/state-one"

start_station four
for k in 1 2 3 4; do ctl recorder add "BENCH-Q$k" --handler-id "Q$k" --handler-name bench >/dev/null; done
drop; t0=$(now)
for k in 1 2 3 4; do sim dock "$k" "BENCH-Q$k" 1234:5678 "$work/q$k.img"; done
wait_docks 4
t_four=$(since "$t0")
rss4=$(awk '/VmHWM/ { print $2 }' "/proc/$DAEMON_PID/status")
stop_station

slow=$(awk -v a="$t_dd" -v b="$t_cp" 'BEGIN { print (a > b ? a : b) }')
printf '\n%-46s %9s %8s\n' "dock bench: ${MB} MiB of recordings" "seconds" "MB/s"
printf '%-46s %9.2f %8s\n' "dd of the image to /dev/null (${img_mb} MiB)" "$t_dd" "$(rate "$img_mb" "$t_dd")"
printf '%-46s %9.2f %8s\n' "cp -r + sync onto the store's filesystem" "$t_cp" "$(rate "$MB" "$t_cp")"
printf '%-46s %9.2f %8s\n' "cp -r + sync + cold SHA-256 of the copies" "$t_cpv" "$(rate "$MB" "$t_cpv")"
printf '%-46s %9.2f %8s\n' "mcopy extraction + sha256sum" "$t_mcopy" "$(rate "$MB" "$t_mcopy")"
printf '%-46s %9.2f %8s\n' "evidockd: one dock to \"safe to remove\"" "$t_dock" "$(rate "$MB" "$t_dock")"
printf '%-46s %9.2f %8s\n' "evidockd: four docks at once (aggregate)" "$t_four" "$(rate "$MB" "$t_four")"
awk -v d="$t_dock" -v s="$slow" -v m="$t_mcopy" -v f="$t_four" -v v="$t_cpv" 'BEGIN {
        printf "one dock vs the slower of dd and cp+sync: %.2f x (goal >= 0.85)\n", s / d
        printf "one dock vs cp+sync+cold SHA-256:         %.2f x\n", v / d
        printf "one dock vs mcopy + sha256sum:             %.2f x\n", m / d
        printf "four docks vs one (aggregate):             %.2f x (goal >= 1)\n", d / f }'
echo "evidockd CPU time for the one dock: ${cpu1} s (user + system, $(nproc) cores)"
echo "evidockd peak RSS: one dock $((rss1 / 1024)) MiB, four docks $((rss4 / 1024)) MiB (goal < 64 MiB)"
