#!/usr/bin/env bash
# How many printers one daemon holds at one frame per second each (issue 14, part 3).
#
# For each N, runs the release binary (`layerwatch run`) with a `[[printers]]` config of N printers,
# each with its own folder camera (real JPEG photos from datasets/samples, replayed at 1 frame/s,
# looping, scaled to SIZE, 1280x720 by default) and the real built-in ONNX model on the one shared inference pool; `printer.kind = "none"`
# (always printing: every frame is judged; a printer link costs next to nothing beside inference).
# After a warm-up it measures, over DUR seconds: the daemon's CPU (% of one core, from
# /proc/PID/stat), its RSS (VmRSS at the end, VmHWM peak), the frames judged per second against the
# N offered, frames dropped before inference, and the frame-to-verdict latency (capture timestamp to
# the decision step, the "frame judged" debug line's age_ms: queueing for the shared worker
# included), p50 and p99. The load average before and after is printed: other work on the machine
# skews every figure.
#
# Usage: scripts/bench_printers.sh            (N = 1 2 4 8 12 16, 60 s each after 15 s warm-up)
#        NS="1 8" DUR=30 SIZE=1920x1080 scripts/bench_printers.sh
# Needs: cargo build --release (target/release/layerwatch), python3. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LAYERWATCH_BIN:-target/release/layerwatch}
NS=${NS:-"1 2 4 8 12 16"}
DUR=${DUR:-60}
WARM=${WARM:-15}
SAMPLES=datasets/samples/images/autozmj2n
[ -x "$BIN" ] || { echo "build first: cargo build --release ($BIN missing)" >&2; exit 1; }
SIZE=${SIZE:-1280x720}
HZ=$(getconf CLK_TCK)
work=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

# The sample photos are 320x320; a printer camera sends 1280x720 or more, and decoding is most of the
# per-frame cost beside inference: the photos are scaled to SIZE (JPEG quality 85) with OpenCV from
# the reference venv (scripts/setup.sh test). SIZE=orig keeps them as they are.
frames="$work/frames"
mkdir -p "$frames"
py=.tools/venv-ref/bin/python
if [ "$SIZE" != orig ] && [ -x "$py" ]; then
  "$py" - "$SAMPLES" "$frames" "$SIZE" <<'PY'
import glob, os, sys, cv2
src, dst, size = sys.argv[1:]
w, h = map(int, size.split("x"))
for i, f in enumerate(sorted(glob.glob(os.path.join(src, "*.jpg")))):
    img = cv2.resize(cv2.imread(f), (w, h), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(os.path.join(dst, f"frame_{i:03d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 85])
PY
else
  [ "$SIZE" = orig ] || echo "# $py missing: the 320x320 photos as they are" >&2
  SIZE=orig
  k=0
  for f in "$SAMPLES"/*.jpg; do k=$((k + 1)); cp "$f" "$frames/frame_$(printf %03d $k).jpg"; done
fi

echo "# bench_printers: $(nproc) cores, $(uname -r), frames $SIZE ($(ls "$frames" | wc -l) looped), ${DUR}s per N after ${WARM}s warm-up"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %8s %10s %10s %12s %9s %9s %9s %9s\n' N cpu_% rss_MiB peak_MiB MiB/printer judged/s dropped p50_ms p99_ms
base_rss=""
for n in $NS; do
  dir="$work/n$n"
  mkdir -p "$dir"
  {
    echo "[general]"
    echo "data_dir = \"$dir/data\""
    echo "log = \"warn,layerwatch::app::stages::decision=debug,layerwatch::web=info\""
    echo "log_format = \"json\""
    echo "[camera]"
    echo "source = \"folder\""
    echo "fps = 1"
    echo "interval_ms = 1000"
    echo "loop_replay = true"
    echo "pace = true"
    echo "[printer]"
    echo "kind = \"none\""
    echo "[web]"
    echo "bind = \"127.0.0.1:0\""
  } >"$dir/layerwatch.toml"
  for i in $(seq 1 "$n"); do
    mkdir -p "$dir/cam$i"
    cp "$frames"/*.jpg "$dir/cam$i/"
    printf '\n[[printers]]\nname = "p%d"\ncamera = { name = "cam%d", path = "%s" }\n' "$i" "$i" "$dir/cam$i" >>"$dir/layerwatch.toml"
  done
  "$BIN" --config "$dir/layerwatch.toml" run >"$dir/log.jsonl" 2>&1 &
  pid=$!
  sleep "$WARM"
  t0=$(date +%s.%N)
  read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  from=$(wc -l <"$dir/log.jsonl")
  sleep "$DUR"
  t1=$(date +%s.%N)
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  addr=$(grep -m1 '"web server listening"' "$dir/log.jsonl" | python3 -c 'import sys, json; print(json.loads(sys.stdin.read())["addr"])')
  dropped=$(curl -s "http://$addr/metrics" | awk '/^layerwatch_frames_dropped_total/ {s += $2} END {print s + 0}')
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
  tail -n +"$((from + 1))" "$dir/log.jsonl" >"$dir/window.jsonl"
  python3 - "$dir/window.jsonl" "$n" "$u0" "$s0" "$u1" "$s1" "$t0" "$t1" "$HZ" "$rss" "$hwm" "$dropped" "${base_rss:-$rss}" <<'PY'
import json, sys
path, n, u0, s0, u1, s1, t0, t1, hz, rss, hwm, dropped, base = sys.argv[1:]
n = int(n)
ages = []
for line in open(path):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("message") == "frame judged":
        ages.append(int(r["age_ms"]))
ages.sort()
wall = float(t1) - float(t0)
cpu = (int(u1) + int(s1) - int(u0) - int(s0)) / int(hz) / wall * 100
pct = lambda q: ages[min(len(ages) - 1, int(q * len(ages)))] if ages else float("nan")
per = (int(rss) - int(base)) / 1024 / max(n - 1, 1) if n > 1 else float("nan")
print(f"{n:<4} {cpu:8.1f} {int(rss) / 1024:10.1f} {int(hwm) / 1024:10.1f} {per:12.1f} {len(ages) / wall:9.2f} {dropped:>9} {pct(0.5):9.0f} {pct(0.99):9.0f}")
PY
  [ -n "$base_rss" ] || base_rss=$rss
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# MiB/printer: (RSS at N - RSS at the first N) / (N - 1); judged/s should be N (one frame per second each)"
