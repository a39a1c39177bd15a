#!/usr/bin/env bash
# The compressed-week soak (issue 13, item 10): the release daemon against OctoPrint's VirtualPrinter on a
# pseudo-terminal (monitor mode, SD prints at the VirtualPrinter's pace: moves 10x faster, about 14x overall), a simulated 1 fps MJPEG camera and a
# signing webhook receiver, with camera drops, printer unplugs, webhook outages and kill -9 + restart injected on a
# schedule. It is the ignored test `tests/soak.rs`, which fails on a lost or phantom alert, an incident left open,
# an unexpected exit, or RSS/FD growth. Under OUT it writes:
#   report.md      pace, injections, RSS/FD over time, alerts written vs delivered (dedupe key), incidents
#   samples.csv    t_s,life,age_s,pid,rss_kb,fds,threads of the daemon, every 10 s
#   events.csv     every injection and printer state change
#   receiver.jsonl every request the webhook receiver saw
#   run/           the daemon's config, logs (daemon-N.log, one per life) and data folder
#   bin/           the copies of the daemon and the test that ran (rebuilding the checkout meanwhile is safe)
#   build.txt      the commit they were built from; test.log: the harness's output
#
# Usage: scripts/soak.sh [MINUTES] [OUT]          (defaults: 120 minutes, /work/soak-run)
# Schedule knobs (seconds), from the environment: SOAK_KILL_EVERY_S (900), SOAK_CAMERA_DROP_EVERY_S (420),
# SOAK_CAMERA_DOWN_S (20), SOAK_UNPLUG_EVERY_S (1380), SOAK_UNPLUG_DOWN_S (15), SOAK_WEBHOOK_OUTAGE_EVERY_S (660),
# SOAK_WEBHOOK_DOWN_S (90), SOAK_SAMPLE_EVERY_S (10); the camera loops SOAK_NORMAL_FRAMES (180) normal frames then
# SOAK_FAILURE_FRAMES (30) of spaghetti at 1 fps; SOAK_AIMED_KILLS=0 kills only on the schedule (with
# SOAK_KILL_EVERY_S=100000: one long daemon life, to see its RSS settle). Needs `scripts/setup.sh test` (OctoPrint's
# venv, ONNX Runtime).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
minutes="${1:-120}"
out="$(realpath -m "${2:-/work/soak-run}")"
mkdir -p "$out/bin"
test -x .tools/venv-octoprint/bin/python || { echo "soak: .tools/venv-octoprint is missing: run scripts/setup.sh test" >&2; exit 2; }
# Build first (the test build makes target/release/layerwatch too), then run copies: the clock starts with the
# soak, and later builds do not touch it.
exe="$(cargo test --release --locked --test soak --no-run --message-format=json \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "soak":
        print(m["executable"])')"
cp "$exe" "$out/bin/soak"
cp target/release/layerwatch "$out/bin/layerwatch"
{ git rev-parse HEAD; git status --short; } > "$out/build.txt"
echo "soak: ${minutes} min, output in $out (report.md at the end)"
export LAYERWATCH_TEST_BIN="$out/bin/layerwatch"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$root/.tools/ort/libonnxruntime.so}"
SOAK_MINUTES="$minutes" SOAK_OUT="$out" "$out/bin/soak" --ignored --nocapture --test-threads 1 2>&1 | tee "$out/test.log"
exit "${PIPESTATUS[0]}"
