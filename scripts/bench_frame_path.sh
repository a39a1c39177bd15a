#!/usr/bin/env bash
# The frame-path benchmark session, side by side in one run: Rust (fp32 and int8 models: a per-frame
# latency loop, a batch 1/4/8 loop, criterion per stage), the Python reference on the same frames (fp32
# and int8, the same reduced-decode steps; fp32 also with the training side's full decode), and the
# peak RSS of `layerwatch classify` over those frames (fp32 and int8). Everything runs pinned to one core
# (taskset -c 0) with one inference thread. Needs `scripts/setup.sh test` (ONNX Runtime, venv-ref).
#   scripts/bench_frame_path.sh            # ~4 min after the release build
#   FRAME_PATH_SECONDS=30 scripts/bench_frame_path.sh
# Figures land in target/frame_path/*.json and are summarised at the end, with the targets of issue 14
# (>= 1.5x the reference's frames per CPU-second, decode <= the reference's, <= 100 MiB peak RSS).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
out="$root/target/frame_path"
py="$root/.tools/venv-ref/bin/python"
[ -x "$py" ] || { echo "missing $py: run scripts/setup.sh test" >&2; exit 2; }
[ -f "$root/.tools/ort/libonnxruntime.so" ] || { echo "missing ONNX Runtime: run scripts/setup.sh test" >&2; exit 2; }
export ORT_DYLIB_PATH="$root/.tools/ort/libonnxruntime.so"
secs="${FRAME_PATH_SECONDS:-15}"
pin=(taskset -c 0)
command -v taskset >/dev/null || { echo "taskset not found: running unpinned" >&2; pin=(); }

echo "== build (release)"
nice cargo build --release --locked --bin layerwatch
nice cargo bench --locked --bench frame_path --no-run
echo "load average before the measurements: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

echo "== rust: latency loop and batch 1/4/8 (fp32, int8), criterion (one core)"
FRAME_PATH_SECONDS="$secs" "${pin[@]}" cargo bench --locked --bench frame_path -- \
  --warm-up-time 1 --measurement-time 4

echo "== python reference on the same frames (one core)"
for run in fp32:reduced:classifier int8:reduced:classifier-int8 fp32:full:classifier; do
  IFS=: read -r model mode toml <<<"$run"
  "${pin[@]}" "$py" scripts/bench_reference.py bench --model "models/$toml.toml" --frames "$out/frames" \
    --seconds "$secs" --decode "$mode" > "$out/python_${model}_$mode.txt"
  head -1 "$out/python_${model}_$mode.txt"
  tail -1 "$out/python_${model}_$mode.txt" > "$out/python_${model}_$mode.json"
done

echo "== peak RSS: layerwatch classify over $(ls "$out/frames" | wc -l) frames (release, built-in models)"
printf '[vision]\nprecision = "int8"\n' > "$out/int8.toml"
for model in fp32 int8; do
  cfg=()
  [ "$model" = int8 ] && cfg=(--config "$out/int8.toml")
  /usr/bin/time -v "${pin[@]}" target/release/layerwatch "${cfg[@]}" classify --json "$out/frames" \
    > "$out/classify_$model.jsonl" 2> "$out/classify_$model.time" || true
  tail -1 "$out/classify_$model.jsonl"
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/classify_$model.time")
  echo "{\"rss_kb\": ${rss_kb:-0}}" > "$out/rss_$model.json"
done

echo "== summary"
python3 - "$out" <<'PY'
import json, sys, os
d = sys.argv[1]
ld = lambda name: json.load(open(os.path.join(d, name)))
r = {m: ld(f"rust_{m}.json") for m in ("fp32", "int8")}
p = {m: ld(f"python_{m}_reduced.json") for m in ("fp32", "int8")}
pf = ld("python_fp32_full.json")
rss = {m: ld(f"rss_{m}.json")["rss_kb"] / 1024 for m in ("fp32", "int8")}
batch = {m: ld(f"batch_{m}.json")["batches"] for m in ("fp32", "int8")}
def line(name, x):
    return (f"{name:<28} {x['fps']:5.1f} frames/s wall, {x['fps_cpu']:5.1f}/CPU-s | wall p50 {x['p50_ms']:6.2f} "
            f"p99 {x['p99_ms']:6.2f} ms | CPU p50 {x['cpu_p50_ms']:5.2f} p99 {x['cpu_p99_ms']:5.2f} ms | CPU: decode "
            f"{x['decode_ms']:5.2f} resize+tensor {x['resize_tensor_ms']:5.2f} inference {x['inference_ms']:5.2f} ms")
print(line("rust fp32 (scaled decode)", r["fp32"]))
print(line("rust int8 (scaled decode)", r["int8"]))
print(line("python fp32 (scaled decode)", p["fp32"]))
print(line("python int8 (scaled decode)", p["int8"]))
print(line("python fp32 (training steps)", pf))
ratio = lambda a, b: a["fps_cpu"] / b["fps_cpu"]
print(f"frames per CPU-second, rust/python: fp32 vs fp32 {ratio(r['fp32'], p['fp32']):.2f}x, "
      f"int8 vs int8 {ratio(r['int8'], p['int8']):.2f}x, rust int8 vs python fp32 {ratio(r['int8'], p['fp32']):.2f}x "
      f"(fp32 vs the training steps {ratio(r['fp32'], pf):.2f}x)")
for m in ("fp32", "int8"):
    print(f"batch ({m}): " + ", ".join(f"{b['batch']}: {b['fps_cpu']:.1f}/CPU-s" for b in batch[m]))
print(f"peak RSS of layerwatch classify: fp32 {rss['fp32']:.1f} MiB, int8 {rss['int8']:.1f} MiB")
print(f"load average at the end: {os.getloadavg()} on {os.cpu_count()} CPUs "
      f"(CPU-second figures do not count waiting; wall-clock ones do)")
ok = lambda b: "met" if b else "NOT met"
print("targets (issue 14):")
print(f"  >= 1.5x the reference's frames per CPU-second, same model: fp32 {ratio(r['fp32'], p['fp32']):.2f}x "
      f"{ok(ratio(r['fp32'], p['fp32']) >= 1.5)}; int8 {ratio(r['int8'], p['int8']):.2f}x "
      f"{ok(ratio(r['int8'], p['int8']) >= 1.5)}; rust int8 vs reference fp32 {ratio(r['int8'], p['fp32']):.2f}x "
      f"{ok(ratio(r['int8'], p['fp32']) >= 1.5)}")
print(f"  decode <= the reference's: rust {r['fp32']['decode_ms']:.2f} ms vs python {p['fp32']['decode_ms']:.2f} ms "
      f"{ok(r['fp32']['decode_ms'] <= p['fp32']['decode_ms'])}")
print(f"  <= 100 MiB peak RSS, one camera: fp32 {rss['fp32']:.1f} MiB {ok(rss['fp32'] <= 100)}; "
      f"int8 {rss['int8']:.1f} MiB {ok(rss['int8'] <= 100)}")
PY
