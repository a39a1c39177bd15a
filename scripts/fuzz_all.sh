#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (default 60) and prints, per target, what libFuzzer reports:
# executions, executions per second, coverage (`cov:` edges, `ft:` features), corpus size, peak RSS and crashes.
#   scripts/fuzz_all.sh [SECONDS] [TARGET...]
# Environment: JOBS=2 runs two targets at a time; RSS_MB (default 512) is libFuzzer's -rss_limit_mb (a target
# over it is a crash: memory must stay bounded); NICE=0 turns off `nice`; BUILD=0 runs the binaries already built.
# Needs cargo-fuzz (`cargo install cargo-fuzz`, from crates.io). The build is `cargo fuzz build -s none` (no
# sanitizer: the parsers are safe Rust; debug assertions and overflow checks are on) with RUSTC_BOOTSTRAP=1 so the
# stable toolchain accepts libFuzzer's flags. The corpus grows in fuzz/corpus/<target>/ (git-ignored), seeded from
# the committed fuzz/corpus-seeds/<target>/; a failing input lands in fuzz/artifacts/<target>/, the full log in
# fuzz/logs/<target>.log. Exit status 1 if any target crashed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"
secs="${1:-60}"
shift || true
all=(mjpeg_stream marlin_lines octoprint_json moonraker_json config_toml image_header analyze parse_line)
[ $# -gt 0 ] && targets=("$@") || targets=("${all[@]}")
jobs="${JOBS:-1}"
rss="${RSS_MB:-512}"
nice_cmd=(nice)
[ "${NICE:-1}" = 0 ] && nice_cmd=()

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 2; }
t0=$(date +%s)
[ "${BUILD:-1}" = 0 ] || RUSTC_BOOTSTRAP=1 "${nice_cmd[@]}" cargo fuzz build -s none
echo "build: $(( $(date +%s) - t0 )) s"
bin="target/$(rustc -vV | sed -n 's/^host: //p')/release"

max_len() {
  case "$1" in
    config_toml) echo 16384 ;;
    mjpeg_stream) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

run_one() {
  local t="$1"
  mkdir -p "corpus/$t" "artifacts/$t" logs
  local seeds="corpus-seeds/$t"
  [ -d "$seeds" ] || seeds="../tests/fixtures/gcode/edge"
  local extra=()
  case "$t" in analyze|parse_line) extra=(-dict=gcode.dict) ;; esac
  local before
  before=$(find "artifacts/$t" -type f | wc -l)
  set +e
  "${nice_cmd[@]}" "$bin/$t" "corpus/$t" "$seeds" "${extra[@]}" -max_total_time="$secs" -rss_limit_mb="$rss" \
    -timeout=10 -max_len="$(max_len "$t")" -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
    >"logs/$t.log" 2>&1
  local rc=$?
  set -e
  local after
  after=$(find "artifacts/$t" -type f | wc -l)
  echo "$rc $((after - before))" >"logs/$t.rc"
}

running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

printf '%-15s %12s %8s %7s %7s %7s %8s %8s %s\n' target executions exec/s cov ft corpus peak_MB crashes exit
failed=0
for t in "${targets[@]}"; do
  log="logs/$t.log"
  read -r rc crashes <"logs/$t.rc"
  last=$(grep -E "^#[0-9]+" "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  peak=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  printf '%-15s %12s %8s %7s %7s %7s %8s %8s %s\n' "$t" "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "${peak:-?}" "$crashes" "$rc"
  if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
    failed=1
    grep -m3 -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | sed "s/^/  $t: /" || true
  fi
done
exit "$failed"
