#!/bin/sh
# Write small seed recordings for fuzz_media into DIR (made here, never committed).
set -eu
dir=${1:?usage: media_seeds.sh DIR}
mkdir -p "$dir"
ff() { ffmpeg -nostdin -v error -y "$@"; }
v="-f lavfi -i testsrc=size=64x48:rate=10 -f lavfi -i sine=sample_rate=8000 -t 0.3 -c:v libx264 -pix_fmt yuv420p -c:a aac -b:a 16k -metadata creation_time=2026-11-20T09:15:00Z"
ff $v "$dir/moov_end.mp4"
ff $v -movflags +faststart "$dir/faststart.mp4"
ff $v -movflags frag_keyframe+empty_moov "$dir/frag.mp4"
ff $v -f mov "$dir/clip.mov"
ff $v -f mpegts "$dir/clip.ts"
ff $v -f matroska "$dir/clip.mkv"
ff $v -f avi "$dir/clip.avi"
ff $v -f flv "$dir/clip.flv"
ff -f lavfi -i testsrc=size=32x24 -frames:v 1 "$dir/photo.jpg"
a="-f lavfi -i sine=sample_rate=8000 -t 0.3"
ff $a -c:a pcm_s16le "$dir/tone.wav"
ff $a -c:a libmp3lame "$dir/tone.mp3"
ff $a -c:a aac -f adts "$dir/tone.aac"
# AMR-NB storage format: header and 10 frames of 12.2 kbit/s.
{ printf '#!AMR\n'; for i in 1 2 3 4 5 6 7 8 9 10; do printf '\074'; head -c 31 /dev/zero; done; } \
        >"$dir/voice.amr"
