#!/usr/bin/env bash
# The unit files pass systemd-analyze verify with nothing at all on stderr (it exits 0
# even on unknown keys), and each service's exposure score stays at or under its limit:
# evidockd and evidock-seal 1.0, evidock-console 1.1, evidock-replicate 2.0 (it reaches
# the network: its job, issue 13).
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
units="evidockd.service evidockd.socket evidock-console.service evidock-seal.service evidock-seal.socket
        evidock-replicate.service"
for u in $units; do
        sed -e "s|@SBINDIR@|$BUILD|g" -e "s|@DOCDIR@|$here|g" -e "s|@SYSCONFDIR@|/etc|g" \
                "$here/systemd/$u" > "$work/$u"
done
fail=0
for u in $units; do
        err=$(cd "$work" && systemd-analyze verify --man=no "$work/$u" 2>&1 >/dev/null) || fail=1
        if [ -n "$err" ]; then
                echo "systemd-analyze verify $u:"; echo "$err"; fail=1
        else
                echo "systemd-analyze verify $u: clean"
        fi
done
for limit in evidockd.service:1.0 evidock-console.service:1.1 evidock-seal.service:1.0 \
        evidock-replicate.service:2.0; do
        svc=${limit%%:*} max=${limit#*:}
        score=$(systemd-analyze security --offline=yes "$work/$svc" 2>/dev/null |
                sed -n "s/.*Overall exposure level for $svc: \([0-9.]*\).*/\1/p")
        echo "systemd-analyze security $svc: exposure $score"
        if [ -z "$score" ] || awk -v s="$score" -v m="$max" 'BEGIN { exit !(s > m) }'; then
                echo "exposure above $max (or unreadable)"; fail=1
        fi
done
exit $fail
