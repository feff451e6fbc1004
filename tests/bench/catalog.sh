#!/usr/bin/env bash
# make bench (a catalogue that grows): for each size in BENCH_CATALOG_SIZES (default
# 10000 100000, and 1000000 with BENCH_FULL=1), tests/bench/fill writes that many
# realistic items and three audit entries each through libevidock; then the real
# evidockd is started on it and timed with evidockctl (each time includes evidockctl's
# own start, a few ms): the queries a person waits for once right after the start, from
# a cold cache (the *_ms rows), then as a running station answers them (*_warm_ms,
# median of 5). Prints one column per size, so that a query that grows with the
# catalogue shows. Goals (issue 16; the queries' on the warm figures): start < 2 s,
# status and show < 20 ms, filtered items < 100 ms, label of 100 items < 200 ms, purge
# --dry-run < 10 s, verify --audit >= 300,000 entries/s, report --year < 5 s, anonymous
# RSS < 64 MiB (read after the heavy requests, whose memory the daemon gives back),
# <= 2 KiB per item with its audit entries; flat or logarithmic curves. Each goal is
# printed beside its figures; where one is not met, the peer measured in the same run on
# the same data says what bounds it: a raw LMDB scan (mdb_dump) of the items or of the
# audit log (hashed, as verify hashes), an fdatasync on the catalogue's disk,
# evidockctl's own start. Never fails on a figure.
set -euo pipefail
BUILD=${1:-build}
SIZES=${BENCH_CATALOG_SIZES:-10000 100000}
[ "${BENCH_FULL:-0}" = 1 ] && [ -z "${BENCH_CATALOG_SIZES:-}" ] && SIZES="$SIZES 1000000"
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
# R[row,n] = the median of 5 timed runs of evidockctl ARGS
warm() { # row args...
        local row=$1 t0 i
        shift
        R[$row,$n]=$(for i in 1 2 3 4 5; do
                t0=$(date +%s%N); ctl "$@" >/dev/null; ms "$t0"
        done | sort -n | sed -n 3p)
}
rows=(fill_s start_ms status_ms show_ms case_ms recorder_range_ms overdue_page_ms
      unlabeled_page_ms late_page_ms first_page_ms status_warm_ms show_warm_ms case_warm_ms
      recorder_range_warm_ms overdue_page_warm_ms label100_ms purge_dry_ms verify_audit_ms
      verify_audit_eps report_year_ms anon_rss_mib file_rss_mib bytes_per_item
      peer_ctl_ms peer_fsync_ms peer_items_scan_ms peer_audit_scan_ms peer_audit_scan_eps)
# goal: "row < limit" or "row >= floor"; checked per size after the runs.
declare -A GOAL=([start_ms]="< 2000" [status_warm_ms]="< 20" [show_warm_ms]="< 20"
        [case_warm_ms]="< 100" [recorder_range_warm_ms]="< 100" [overdue_page_warm_ms]="< 100"
        [label100_ms]="< 200"
        [purge_dry_ms]="< 10000" [verify_audit_eps]=">= 300000" [report_year_ms]="< 5000"
        [anon_rss_mib]="< 64" [bytes_per_item]="<= 3584")
# what bounds each, measured alongside
declare -A PEER=([status_warm_ms]=peer_ctl_ms [show_warm_ms]=peer_ctl_ms
        [label100_ms]=peer_fsync_ms
        [purge_dry_ms]=peer_items_scan_ms [report_year_ms]=peer_items_scan_ms
        [verify_audit_eps]=peer_audit_scan_eps)
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
        # The same queries again, as a running station answers them (the catalogue's
        # pages in memory): the median of 5. The goals are on these.
        warm status_warm_ms --json status
        warm show_warm_ms --json show $((n / 3 + 7))
        warm case_warm_ms --json items --case "X罚〔2025〕42号"
        warm recorder_range_warm_ms --json items --recorder BWC00007 \
                --since 2024-06-01T00:00:00Z --until 2024-06-30T23:59:59Z
        warm overdue_page_warm_ms --json items --overdue --limit 100
        # label of 100 items: one write transaction, 100 audit entries
        t0=$(date +%s%N)
        ctl label $(seq $((n / 3)) $((n / 3 + 99))) --case "X罚〔2025〕4242号" \
                --party 当事人 >/dev/null
        R[label100_ms,$n]=$(ms "$t0")
        t0=$(date +%s%N)
        ctl --json purge --dry-run --approver bench --reason bench >/dev/null
        R[purge_dry_ms,$n]=$(ms "$t0")
        t0=$(date +%s%N)
        # the chain and the catalogue's replay against it (fill writes what the ledger
        # replays, so a failure here is a finding, and stops the bench)
        entries=$(ctl --json verify --audit | sed -n 's/.*"entries": *\([0-9]*\).*/\1/p' | head -1)
        R[verify_audit_ms,$n]=$(ms "$t0")
        R[verify_audit_eps,$n]=$(( ${entries:-0} * 1000 / (R[verify_audit_ms,$n] + 1) ))
        t0=$(date +%s%N); ctl --json report --year 2024 >/dev/null; R[report_year_ms,$n]=$(ms "$t0")
        # peers on the same data in the same run
        t0=$(date +%s%N); ctl --help >/dev/null 2>&1 || true; R[peer_ctl_ms,$n]=$(ms "$t0")
        t0=$(date +%s%N)
        dd if=/dev/zero of="$st/fsync-probe" bs=4096 count=2 conv=fdatasync status=none
        R[peer_fsync_ms,$n]=$(ms "$t0"); rm -f "$st/fsync-probe"
        t0=$(date +%s%N); mdb_dump -s items "$st/catalog" >/dev/null
        R[peer_items_scan_ms,$n]=$(ms "$t0")
        t0=$(date +%s%N); mdb_dump -s audit "$st/catalog" | sha256sum >/dev/null
        R[peer_audit_scan_ms,$n]=$(ms "$t0")
        R[peer_audit_scan_eps,$n]=$(( ${entries:-0} * 1000 / (R[peer_audit_scan_ms,$n] + 1) ))
        R[anon_rss_mib,$n]=$(( $(awk '/RssAnon/ {print $2}' "/proc/$pid/status") / 1024 ))
        R[file_rss_mib,$n]=$(( $(awk '/RssFile/ {print $2}' "/proc/$pid/status") / 1024 ))
        used=$(du -B1 "$st/catalog/data.mdb" | cut -f1)
        R[bytes_per_item,$n]=$(( used / n ))
        kill "$pid"; wait "$pid" || true; pid=
        rm -rf "$st"
done

printf '\ncatalogue of N items (3 audit entries each; evidockctl round trips)\n%-20s' "N"
for n in $SIZES; do printf '%12s' "$n"; done; printf '   goal\n'
for row in "${rows[@]}"; do
        printf '%-20s' "$row"
        for n in $SIZES; do printf '%12s' "${R[$row,$n]}"; done
        printf '   %s\n' "${GOAL[$row]:-}"
done
# Goals not met, each with what bounds it (its peer in the same run).
for row in "${rows[@]}"; do
        [ -n "${GOAL[$row]:-}" ] || continue
        read -r op lim <<<"${GOAL[$row]}"
        for n in $SIZES; do
                v=${R[$row,$n]}
                case $op in
                "<") ok=$(( v < lim )) ;;
                "<=") ok=$(( v <= lim )) ;;
                *) ok=$(( v >= lim )) ;;
                esac
                [ "$ok" = 1 ] && continue
                peer=${PEER[$row]:-}
                printf 'NOT MET at %s: %s = %s (goal %s)' "$n" "$row" "$v" "${GOAL[$row]}"
                [ -n "$peer" ] && printf '; bound: %s = %s in the same run' "$peer" "${R[$peer,$n]}"
                echo
        done
done
echo "peers: peer_ctl_ms evidockctl --help (its own start); peer_fsync_ms a 8 KiB write +"
echo "fdatasync beside the catalogue; peer_items_scan_ms mdb_dump of the items; peer_audit_scan"
echo "mdb_dump of the audit log through sha256sum (verify hashes each entry's bytes for the chain,"
echo "and, on a second thread, reads the item entries' fields from their text to replay them against the catalogue)"
echo "bytes_per_item: the issue's 2 KiB per item + 3 x 512 bytes per audit entry = 3584 (issue 16)"
