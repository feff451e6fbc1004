#!/usr/bin/env bash
# make demo: the station's main job on a throw-away state dir. Makes a few short
# recordings with ffmpeg, starts evidockd, imports them as a recorder's folder,
# lists them, verifies the store and the audit log, and stops.
set -euo pipefail
BUILD=${1:-build}
work=$(mktemp -d /tmp/evidock-demo-XXXXXX)
cleanup() {
        [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
        chattr -R -i "$work" 2>/dev/null || true
        rm -rf "$work"
}
trap cleanup EXIT

echo "== making recordings in $work/DCIM"
mkdir -p "$work/DCIM/100MEDIA"
for i in 1 2 3; do
        ffmpeg -v error -f lavfi -i "testsrc=size=640x360:rate=25" \
                -f lavfi -i "sine=frequency=$((400 * i)):sample_rate=48000" -t 3 \
                -c:v libx264 -pix_fmt yuv420p -c:a aac \
                -metadata creation_time="2026-11-20T0$i:15:00Z" \
                "$work/DCIM/100MEDIA/20261120_0${i}1500.MP4"
done
cat > "$work/evidock.conf" <<CONF
[station]
name = demo-station
state_dir = $work/state
control_socket = $work/control.sock
[calendar]
files = $(pwd)/config/calendar/cn-2026.txt
CONF

echo "== starting evidockd"
"$BUILD/evidockd" -c "$work/evidock.conf" &
pid=$!
ctl() { "$BUILD/evidockctl" --socket "$work/control.sock" "$@"; }
for _ in $(seq 100); do ctl status >/dev/null 2>&1 && break; sleep 0.1; done

echo "== evidockctl import $work/DCIM --recorder DEMO-0001"
ctl import "$work/DCIM" --recorder DEMO-0001
echo "== evidockctl items"
ctl items
echo "== evidockctl show 1"
ctl show 1
echo "== evidockctl verify"
ctl verify
echo "== sha256sum of the originals (compare with the items above)"
(cd "$work/DCIM" && sha256sum 100MEDIA/*)
echo "== evidockctl audit"
ctl audit
echo "== evidockctl calendar 2026-10-10 (a Saturday worked after National Day)"
ctl calendar 2026-10-10
echo "== evidockctl status"
ctl status
kill "$pid"
wait "$pid"
pid=
echo "== demo done"
