#!/usr/bin/env bash
# Local vs remote inference, side by side in one run (issue 14 part 4): starts the KServe model server
# (tests/peers/kserve_server.py, onnxruntime, one inference thread) on 127.0.0.1, then runs
# benches/remote_inference.rs, which scores the sample frames alternately with ONNX Runtime in-process and
# through the server. The client is pinned to core 0 and the server to core 1 (a farm's server is another
# machine), one inference thread each. Loopback: no network latency is in the remote figures.
# Needs `scripts/setup.sh test` (ONNX Runtime, .tools/venv-kserve). Not part of `make test`.
#   scripts/bench_remote.sh                 # ~1 min after the build
#   BENCH_SECONDS=60 scripts/bench_remote.sh
# Prints one JSON line per backend: frames_per_s, p50/p95/p99 latency (ms per frame: decode, preprocess,
# inference and, remote, the HTTP round trip), client CPU ms per frame and the server's CPU ms per frame.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
py="$root/.tools/venv-kserve/bin/python"
[ -x "$py" ] || { echo "missing $py: run scripts/setup.sh test" >&2; exit 2; }
[ -f "$root/.tools/ort/libonnxruntime.so" ] || { echo "missing ONNX Runtime: run scripts/setup.sh test" >&2; exit 2; }
export ORT_DYLIB_PATH="$root/.tools/ort/libonnxruntime.so"
client=(taskset -c 0)
server=(taskset -c 1)
command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ] || { echo "taskset or a 2nd core missing: unpinned" >&2; client=(); server=(); }

echo "== build (release)"
nice cargo bench --locked --bench remote_inference --no-run

port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$root/target/bench_remote_server.log"
"${server[@]}" "$py" tests/peers/kserve_server.py --http_port "$port" --model models/classifier.onnx --threads 1 \
  > "$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$port/v2/models/classifier/ready" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
echo "== server ready on 127.0.0.1:$port (pid $pid); measuring ${BENCH_SECONDS:-20} s per backend"
KSERVE_URL="http://127.0.0.1:$port" KSERVE_PID=$pid "${client[@]}" \
  cargo bench --locked --bench remote_inference 2>/dev/null | grep '^{'
