#!/usr/bin/env bash
# Measures the camera-adaptive decision ([decision.adapt]) with eval, as reported in the README
# ("Reading scores relative to the camera"). Needs the shared dataset and a release build:
#   scripts/eval_adapt.sh [DATASET] [OUT]
# 1. scores every image of the dataset with the built-in model;
# 2. builds two pick lists from the val+test splits (never trained on): "high" = normal images scoring
#    >= 0.3 (normal frames that score high, as on a camera the model has never seen) + all failures;
#    "all" = every normal image + all failures;
# 3. synthesises 24 sequences from each (prusa_cube20.gcode, 160 frames at 2 s, half with a failure);
# 4. runs eval with --adapt off, print, camera and on over each set and prints the summaries.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-$root/../shared/datasets/print-failures}"
out="${2:-$root/target/eval-adapt}"
bin="$root/target/release/layerwatch"
mkdir -p "$out"
"$bin" classify "$data/images" --json 2>/dev/null > "$out/scores.jsonl"
python3 - "$data" "$out" <<'PY'
import csv, json, sys
data, out = sys.argv[1].rstrip('/') + '/', sys.argv[2]
score = {}
for line in open(f'{out}/scores.jsonl'):
    o = json.loads(line)
    if o.get('type') == 'image' and o.get('ok'):
        score[o['path'].split(data, 1)[-1]] = o['failure']
rows = [r for r in csv.DictReader(open(data + 'labels.csv')) if r['split'] in ('val', 'test')]
normal = [r['path'] for r in rows if r['failure'] == '0']
failure = [r['path'] for r in rows if r['failure'] == '1']
high = [p for p in normal if score.get(p, 0.0) >= 0.3]
open(f'{out}/pick_high.txt', 'w').write('\n'.join(high + failure) + '\n')
open(f'{out}/pick_all.txt', 'w').write('\n'.join(normal + failure) + '\n')
print(f'normal {len(normal)} (scoring >= 0.3: {len(high)}), failure {len(failure)}')
PY
for set in high all; do
  rm -rf "$out/seq_$set"
  "$bin" dataset synth --images "$data" --pick "$out/pick_$set.txt" --gcode "$root/tests/fixtures/gcode/prusa_cube20.gcode" \
    --out "$out/seq_$set" --name "$set" --count 24 --frames 160 --interval 2s --failure-share 0.5 --seed 7 \
    --size 448x336 >/dev/null
  for mode in off print camera on; do
    echo "== $set, --adapt $mode"
    "$bin" eval "$out/seq_$set" --adapt "$mode" --out "$out/report_${set}_$mode" 2>/dev/null | grep -A3 '^sequences'
  done
done
