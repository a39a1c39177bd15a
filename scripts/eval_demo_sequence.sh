#!/usr/bin/env bash
# Rebuilds the built-in demo's recorded sequence (datasets/demo/frames/, frames.csv, printer.jsonl,
# manifest.toml) with the synthetic-sequence generator: 30 normal frames then 30 spaghetti frames
# (onset half-way) at a 2 s nominal interval, drawn from the licence-OK stills listed in
# datasets/demo/pick.txt (all CC BY 4.0, Roboflow "Auto-ZMJ2N" by TU Berlin; chosen by eye for
# looking like a printer camera), with the printer stream from datasets/demo/print.gcode.
# Needs the development image set (not in the repository) at $IMAGES.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
IMAGES="${IMAGES:-/work/shared/datasets/print-failures}"
BIN="${BIN:-target/debug/layerwatch}"
rm -rf datasets/demo/frames datasets/demo/printer.jsonl datasets/demo/manifest.toml
"$BIN" dataset synth --images "$IMAGES" --pick datasets/demo/pick.txt --kinds spaghetti \
  --gcode datasets/demo/print.gcode --single --out datasets/demo --name demo \
  --frames 60 --interval 2s --onset 0.5,0.5 --failure-share 1 --size 448x336 --quality 72,85 \
  --max-frame-kb 38 --no-noise --seed 1 \
  --attribution "Auto-ZMJ2N by TU Berlin, Roboflow Universe (https://universe.roboflow.com/tu-berlin-pvdvq/auto-zmj2n), CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/); resized to 448x336 and re-encoded"
du -sh datasets/demo/frames
