# Shared by the docking benches (dock.sh, sandbox.sh), sourced: making FAT32 recorder
# images, running a station (evidockd under the recorder simulator), docking and waiting
# for "safe to remove", dropping the page cache. The caller sets BUILD (the build dir
# whose evidock-sim, evidockd and evidockctl run; start_station and ctl read it when
# called), work (a scratch dir it removes) and FILE_MB (size of one recording in
# make_image), and calls stop_station on exit.
# shellcheck shell=bash disable=SC2154,SC2034 # work, BUILD: the caller's; DAEMON_PID: for it
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v m="$1" -v t="$2" 'BEGIN { printf "%.0f", m * 1048576 / 1e6 / t }'; }
export MTOOLS_SKIP_CHECK=1 LC_ALL=C.UTF-8 TZ=Asia/Shanghai
SIM_PID=

# A FAT32 recorder image holding mb MiB of distinct random "recordings", each of
# file_kb KiB (default FILE_MB MiB; the last one smaller when it does not divide).
make_image() { # path mb tag [file_kb]
        local img=$1 mb=$2 tag=$3 dir=$work/files-$3 unit=${4:-$((FILE_MB << 10))}
        local left=$(($2 << 10)) i=0 n
        mkdir -p "$dir/DCIM/100MEDIA"
        truncate -s "$((mb + mb / 16 + 64))M" "$img"
        mkfs.vfat -F 32 -n BODYCAM "$img" >/dev/null
        while [ "$left" -gt 0 ]; do
                n=$((left < unit ? left : unit))
                i=$((i + 1))
                head -c "$((n << 10))" /dev/urandom >"$dir/DCIM/100MEDIA/$(printf 'VID_%s_%04d.MP4' "$tag" "$i")"
                left=$((left - n))
        done
        mcopy -s -m -i "$img" "$dir/DCIM" ::/
        rm -rf "$dir"
}

# Start evidockd of $BUILD under its simulator with a fresh config named name; sets
# SOCK, SIM_PID (the simulator) and DAEMON_PID. STATION_WRAP (an array, may be unset)
# is put before the simulator's command line (e.g. strace).
start_station() { # name
        cat >"$work/$1.conf" <<CONF
[station]
state_dir = $work/state-$1
control_socket = $work/$1.sock
[usb]
allow = 1234:5678
CONF
        coproc SIM { exec ${STATION_WRAP[@]+"${STATION_WRAP[@]}"} umockdev-wrapper "$BUILD/evidock-sim" -- "$BUILD/evidockd" -c "$work/$1.conf" 2>>"$work/evidockd.log"; }
        IFS= read -r -t 30 _ <&"${SIM[0]}"
        SOCK=$work/$1.sock
        for _ in $(seq 200); do ctl status >/dev/null 2>&1 && break; sleep 0.05; done
        DAEMON_PID=$(pgrep -P "$SIM_PID" | head -1)
}
stop_station() {
        if [ -n "$SIM_PID" ]; then
                { echo quit >&"${SIM[1]}"; } 2>/dev/null || true
                wait "$SIM_PID" 2>/dev/null || true
                SIM_PID=
        fi
}
ctl() { "$BUILD/evidockctl" --socket "$SOCK" "$@"; }
sim() { echo "$*" >&"${SIM[1]}"; IFS= read -r -t 30 reply <&"${SIM[0]}"; case $reply in ok*) ;; *) echo "sim: $reply" >&2; exit 1 ;; esac; }
# Wait until n docks say "safe to remove" (or fail); polls every 50 ms.
wait_docks() {
        local n=$1 st
        while :; do
                st=$(ctl status)
                if [ "$(grep -c 'safe to remove' <<<"$st" || true)" -ge "$n" ]; then return 0; fi
                if grep -qE '^dock .*: (failed|interrupted)' <<<"$st"; then echo "$st" >&2; exit 1; fi
                sleep 0.05
        done
}
