#!/usr/bin/env bash
# make bench (a catalogue that grows): for each size in BENCH_CATALOG_SIZES (default
# 10000 100000 1000000), tests/bench/fill writes that many realistic items and three
# audit entries each through libevidock; then the real evidockd is started on it and
# timed with evidockctl (each time includes evidockctl's own start, a few ms). Prints
# one column per size, so that a query that grows with the catalogue shows. Goals
# (issue 16): start < 2 s, status and show < 20 ms, filtered items < 100 ms, anonymous
# RSS < 64 MiB, <= 2 KiB per item with its audit entries; flat or logarithmic curves.
# Never fails on a figure.
set -euo pipefail
BUILD=${1:-build}
SIZES=${BENCH_CATALOG_SIZES:-10000 100000 1000000}
work=$(mktemp -d /var/tmp/evidock-catbench-XXXXXX)
pid=
cleanup() {
        [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
        rm -rf "$work"
}
trap cleanup EXIT
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
ctl() { "$BUILD/evidockctl" --socket "$work/sock" "$@"; }

declare -A R
rows=(fill_s start_ms status_ms show_ms case_ms recorder_range_ms overdue_page_ms
      unlabeled_page_ms late_page_ms first_page_ms anon_rss_mib file_rss_mib bytes_per_item)
for n in $SIZES; do
        st="$work/st-$n"
        t0=$(date +%s%N)
        "$BUILD/fill" "$st" "$n"
        R[fill_s,$n]=$(( $(ms "$t0") / 1000 ))
        printf '[station]\nstate_dir = %s\ncontrol_socket = %s\n[scrub]\ninterval = off\n' \
                "$st" "$work/sock" > "$work/c.conf"
        sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
        t0=$(date +%s%N)
        "$BUILD/evidockd" -c "$work/c.conf" 2>"$work/log-$n" &
        pid=$!
        until ctl status >/dev/null 2>&1; do sleep 0.01; done
        R[start_ms,$n]=$(ms "$t0")
        t0=$(date +%s%N); ctl --json status >/dev/null; R[status_ms,$n]=$(ms "$t0")
        t0=$(date +%s%N); ctl --json show $((n / 2)) >/dev/null; R[show_ms,$n]=$(ms "$t0")
        t0=$(date +%s%N); ctl --json items --case "X罚〔2025〕42号" >/dev/null; R[case_ms,$n]=$(ms "$t0")
        t0=$(date +%s%N)
        ctl --json items --recorder BWC00007 --since 2024-06-01T00:00:00Z \
                --until 2024-06-30T23:59:59Z >/dev/null
        R[recorder_range_ms,$n]=$(ms "$t0")
        t0=$(date +%s%N); ctl --json items --overdue --limit 100 >/dev/null
        R[overdue_page_ms,$n]=$(ms "$t0")
        t0=$(date +%s%N); ctl --json items --unlabeled --limit 1000 >/dev/null
        R[unlabeled_page_ms,$n]=$(ms "$t0")
        t0=$(date +%s%N); ctl --json items --late --limit 1000 >/dev/null
        R[late_page_ms,$n]=$(ms "$t0")
        t0=$(date +%s%N); ctl --json items --limit 1000 >/dev/null
        R[first_page_ms,$n]=$(ms "$t0")
        R[anon_rss_mib,$n]=$(( $(awk '/RssAnon/ {print $2}' "/proc/$pid/status") / 1024 ))
        R[file_rss_mib,$n]=$(( $(awk '/RssFile/ {print $2}' "/proc/$pid/status") / 1024 ))
        used=$(du -B1 "$st/catalog/data.mdb" | cut -f1)
        R[bytes_per_item,$n]=$(( used / n ))
        kill "$pid"; wait "$pid" || true; pid=
        rm -rf "$st"
done

printf '\ncatalogue of N items (3 audit entries each; evidockctl round trips)\n%-20s' "N"
for n in $SIZES; do printf '%12s' "$n"; done; echo
for row in "${rows[@]}"; do
        printf '%-20s' "$row"
        for n in $SIZES; do printf '%12s' "${R[$row,$n]}"; done
        echo
done
echo "goals: start < 2000 ms; status, show < 20 ms; filtered items < 100 ms; anonymous RSS"
echo "< 64 MiB; <= 2048 bytes per item with its audit entries (issue 16)"
