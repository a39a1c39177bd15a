#!/usr/bin/env bash
# Measures the dashboard against `layerwatch demo --keep` (release build):
#  - first load: bytes of HTML + JS + CSS, navigation timings, first contentful paint (Chromium);
#  - the daemon's CPU (utime + stime from /proc/<pid>/stat) over WINDOW seconds
#    without any page open, then WINDOW seconds with one page open, then again
#    without (to see drift). Measured in the demo's steady state after its
#    failure paused the printer: the camera still streams and every frame is
#    still classified and judged, so the page still gets an event per frame.
# Usage: scripts/web_measure.sh            (WINDOW=30 by default)
# Needs .tools/venv-node (Node.js), /usr/bin/chromium and .tools/web/node_modules/playwright-core (scripts/setup.sh test).
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOW="${WINDOW:-30}"
nice cargo build --release --bin layerwatch
bin=target/release/layerwatch
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"
log="$(mktemp)"
"$bin" demo --keep --time-scale 1.0 --web "127.0.0.1:$port" >/dev/null 2>"$log" &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 240); do
  curl -fs "$url/api/status" 2>/dev/null | grep -q '"state":"paused"' && break
  sleep 0.5
done
sleep 5
ticks="$(getconf CLK_TCK)"
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
state() { curl -fs "$url/api/status" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["printer"]["state"], "camera", round(s["camera"]["fps"],2), "fps")'; }
echo "daemon pid $pid, $(state)"
a="$(cpu)"; sleep "$WINDOW"; b="$(cpu)"
echo "without a page: $(( b - a )) ticks in ${WINDOW} s  ($(state))"
LW_URL="$url" LW_HOLD="$((WINDOW + 5))" LW_PLAYWRIGHT="$PWD/.tools/web/node_modules/playwright-core" \
  LW_CHROMIUM=/usr/bin/chromium .tools/venv-node/bin/node tests/web/measure.mjs &
node_pid=$!
sleep 4
c="$(cpu)"; sleep "$WINDOW"; d="$(cpu)"
echo "with one page open: $(( d - c )) ticks in ${WINDOW} s  ($(state))"
wait "$node_pid"
sleep 2
e="$(cpu)"; sleep "$WINDOW"; f="$(cpu)"
echo "without a page again: $(( f - e )) ticks in ${WINDOW} s  ($(state))"
python3 - "$a" "$b" "$c" "$d" "$e" "$f" "$ticks" "$WINDOW" <<'PY'
import sys
a, b, c, d, e, f, hz, w = map(float, sys.argv[1:])
pc = lambda x, y: (y - x) / hz / w * 100
idle = (pc(a, b) + pc(e, f)) / 2
print(f"daemon CPU, % of one core: {pc(a, b):.2f} without a page, {pc(c, d):.2f} with one page, "
      f"{pc(e, f):.2f} without again; page adds {pc(c, d) - idle:+.2f} points")
PY
