#!/usr/bin/env bash
# The frame-path benchmark session: Rust (criterion + a per-frame latency loop), the Python reference on the
# same frames, and the peak RSS of `layerwatch classify` over those frames. Everything runs pinned to one core
# (taskset -c 0) with one inference thread. Needs `scripts/setup.sh test` (ONNX Runtime, venv-ref).
#   scripts/bench_frame_path.sh            # ~3 min after the release build
#   FRAME_PATH_SECONDS=30 scripts/bench_frame_path.sh
# Figures land in target/frame_path/{rust,python_full,python_reduced}.json and are summarised at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
out="$root/target/frame_path"
py="$root/.tools/venv-ref/bin/python"
[ -x "$py" ] || { echo "missing $py: run scripts/setup.sh test" >&2; exit 2; }
[ -f "$root/.tools/ort/libonnxruntime.so" ] || { echo "missing ONNX Runtime: run scripts/setup.sh test" >&2; exit 2; }
export ORT_DYLIB_PATH="$root/.tools/ort/libonnxruntime.so"
pin=(taskset -c 0)
command -v taskset >/dev/null || { echo "taskset not found: running unpinned" >&2; pin=(); }

echo "== build (release)"
nice cargo build --release --locked --bin layerwatch
nice cargo bench --locked --bench frame_path --no-run

echo "== rust: criterion + latency loop (one core)"
"${pin[@]}" cargo bench --locked --bench frame_path -- --warm-up-time 2 --measurement-time 8

echo "== python reference on the same frames (one core)"
for mode in full reduced; do
  "${pin[@]}" "$py" scripts/bench_reference.py bench --model models/classifier.toml --frames "$out/frames" \
    --seconds "${FRAME_PATH_SECONDS:-15}" --decode "$mode" > "$out/python_$mode.txt"
  head -1 "$out/python_$mode.txt"
  tail -1 "$out/python_$mode.txt" > "$out/python_$mode.json"
done

echo "== peak RSS: layerwatch classify over $(ls "$out/frames" | wc -l) frames (release, built-in model)"
/usr/bin/time -v "${pin[@]}" target/release/layerwatch classify --json "$out/frames" > "$out/classify.jsonl" \
  2> "$out/classify.time" || true
tail -1 "$out/classify.jsonl"
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/classify.time")
echo "{\"rss_kb\": $rss_kb}" > "$out/rss.json"

echo "== summary"
python3 - "$out" <<'PY'
import json, sys, os
d = sys.argv[1]
r = json.load(open(os.path.join(d, "rust.json")))
pf = json.load(open(os.path.join(d, "python_full.json")))
pr = json.load(open(os.path.join(d, "python_reduced.json")))
rss = json.load(open(os.path.join(d, "rss.json")))["rss_kb"] / 1024
def line(name, x):
    return (f"{name:<24} {x['fps']:5.1f} frames/s wall, {x['fps_cpu']:5.1f}/CPU-s | wall p50 {x['p50_ms']:6.2f} "
            f"p99 {x['p99_ms']:6.2f} ms | CPU p50 {x['cpu_p50_ms']:5.2f} p99 {x['cpu_p99_ms']:5.2f} ms | CPU: decode "
            f"{x['decode_ms']:5.2f} resize+tensor {x['resize_tensor_ms']:5.2f} inference {x['inference_ms']:5.2f} ms")
print(line("rust (scaled decode)", r))
print(line("python (training steps)", pf))
print(line("python (scaled decode)", pr))
print(f"rust/python frames per CPU-second: {r['fps_cpu'] / pf['fps_cpu']:.2f}x vs training steps, "
      f"{r['fps_cpu'] / pr['fps_cpu']:.2f}x vs the same steps (wall: {r['fps'] / pf['fps']:.2f}x / {r['fps'] / pr['fps']:.2f}x)")
print(f"load average at the end: {os.getloadavg()} on {os.cpu_count()} CPUs (wall-clock figures include waiting for the CPU)")
print(f"peak RSS of layerwatch classify: {rss:.1f} MiB")
print(f"targets: >= 60 frames/s on one core (per CPU-second): {'met' if r['fps_cpu'] >= 60 else 'NOT met'}; "
      f"<= 120 MB peak RSS: {'met' if rss * 1.048576 <= 120 else 'NOT met'}; "
      f"ratio >= 5x: {'met' if r['fps_cpu'] / pf['fps_cpu'] >= 5 else 'NOT met'}")
PY
