#!/usr/bin/env bash
# make demo: the station's main job on a throw-away state dir. Builds a recorder's
# storage (FAT32 image with short ffmpeg recordings), starts evidockd under the recorder
# simulator (umockdev: no USB needed), registers the recorder to a demo handler, docks
# it and shows its progress up to "safe to remove"; then lists the items, compares them
# with what mcopy extracts, verifies the store and the audit log, undocks and stops.
# The web console runs alongside and its address is printed. Run from a terminal (stdin
# a tty), the demo keeps the station and its console up once the recorder is safe to
# remove, until Enter is pressed (EVIDOCK_DEMO_HOLD=0: never wait); without a terminal
# (CI, pipes) it never waits.
set -euo pipefail
BUILD=${1:-build}
work=$(mktemp -d /tmp/evidock-demo-XXXXXX)
cleanup() {
        [ -n "${CONSOLE_PID:-}" ] && kill "$CONSOLE_PID" 2>/dev/null && wait "$CONSOLE_PID" 2>/dev/null
        if [ -n "${SIM_PID:-}" ]; then
                echo quit >&"${SIM[1]}" 2>/dev/null || true
                wait "$SIM_PID" 2>/dev/null || true
        fi
        chattr -R -i "$work" 2>/dev/null || true
        rm -rf "$work"
}
trap cleanup EXIT

echo "== building a recorder image: FAT32, DCIM folders, ffmpeg recordings"
./tests/sim/mkimage.sh "$work/recorder.img" --fs fat32 --clips 4 --seconds 2 --size 128M \
        --big 48M --manifest "$work/manifest.txt"
cut -f2,3,5 "$work/manifest.txt"
before=$(sha256sum <"$work/recorder.img")
cat >"$work/evidock.conf" <<CONF
[station]
name = demo-station
state_dir = $work/state
control_socket = $work/control.sock
[usb]
allow = 1234:5678
settle_seconds = 5
[ingest]
parallel_copies = 2
[calendar]
files = $(pwd)/config/calendar/cn-2024.txt $(pwd)/config/calendar/cn-2025.txt $(pwd)/config/calendar/cn-2026.txt
CONF

echo "== starting evidockd under the recorder simulator (umockdev-wrapper evidock-sim)"
coproc SIM { exec umockdev-wrapper "$BUILD/evidock-sim" -- "$BUILD/evidockd" -c "$work/evidock.conf" 2>"$work/evidockd.log"; }
sim() { echo "$*" >&"${SIM[1]}"; IFS= read -r -t 30 reply <&"${SIM[0]}"; echo "   sim: $reply"; }
IFS= read -r -t 30 reply <&"${SIM[0]}"
echo "   sim: $reply"
ctl() { "$BUILD/evidockctl" --socket "$work/control.sock" "$@"; }
for _ in $(seq 100); do ctl status >/dev/null 2>&1 && break; sleep 0.1; done

# The web console (headless is fine: nobody has to look). DEMO_CONSOLE_PORT to move it.
listen=127.0.0.1:${DEMO_CONSOLE_PORT:-8080}
"$BUILD/evidock-console" -c "$work/evidock.conf" --listen "$listen" >"$work/console.log" 2>&1 &
CONSOLE_PID=$!
for _ in $(seq 50); do grep -q listening "$work/console.log" && break; sleep 0.1; done
console_up=
if grep -q listening "$work/console.log"; then
        console_up=1
        echo "== web console: http://$listen/board (the board follows the dock below)"
else
        echo "== web console did not start: $(cat "$work/console.log")"
fi

echo "== evidockctl recorder add DEMO-0001 --handler-id 012345 --handler-name 张三"
ctl recorder add DEMO-0001 --handler-id 012345 --handler-name 张三 --model DSJ-V9
echo "== docking it on port 3"
sim dock 3 DEMO-0001 1234:5678 "$work/recorder.img"
for _ in $(seq 600); do
        line=$(ctl status | grep '^dock ' || true)
        [ -n "$line" ] && echo "   $line"
        case $line in *"safe to remove"* | *failed* | *interrupted*) break ;; esac
        sleep 0.2
done
echo "== evidockctl items"
ctl items
echo "== sha256 of the recordings as mcopy extracted them (compare with the items)"
awk -F'\t' '$5 ~ /\.(MP4|mp4|MOV|mov|JPG)$/ { print $3 "  " $5 }' "$work/manifest.txt"
echo "== the recorder's image is unchanged: $( [ "$(sha256sum <"$work/recorder.img")" = "$before" ] && echo yes || echo NO)"
echo "== evidockctl verify"
ctl verify
echo "== evidockctl audit (docking)"
ctl audit | grep -E 'dock\.' || true
if [ -n "$console_up" ] && [ -t 0 ] && [ "${EVIDOCK_DEMO_HOLD:-1}" != 0 ]; then
        echo "== the console stays up at http://$listen/ until you press Enter"
        read -r _ || true
fi
echo "== undocking"
sim undock 3
sleep 0.3
ctl status | grep -E '^(dock|warnings)' || echo "   no dock left in status"
echo "== evidockctl calendar 2026-10-10 (a Saturday worked after National Day)"
ctl calendar 2026-10-10
sim quit
wait "$SIM_PID" || true
SIM_PID=
kill "$CONSOLE_PID" 2>/dev/null && wait "$CONSOLE_PID" 2>/dev/null
CONSOLE_PID=
echo "== evidockd's log"
cat "$work/evidockd.log"
echo "== demo done"
