#!/usr/bin/env bash
# Runs fuzz targets one after another, each for SECONDS (default 600), on one
# core and niced, keeping new inputs in corpus/<target>/ and any crash in
# artifacts/<target>/. Logs go to logs/<target>.log.
#
#   fuzz/run.sh [SECONDS] [TARGET…]          (default: every target)
#   FUZZ_FEATURES=--no-default-features fuzz/run.sh 600 names_and_keys node_wire
set -u
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(names_and_keys node_wire pg_decode sns_sqs_wire pubsub_gcp_wire config)
fi
target_dir=${FUZZ_TARGET_DIR:-target}
mkdir -p logs
for target in "${targets[@]}"; do
  dict=()
  [ -f "dicts/$target.dict" ] && dict=(-dict="dicts/$target.dict")
  mkdir -p "corpus/$target" "artifacts/$target"
  echo "== $target: ${seconds}s from $(date -u +%H:%M:%S)" | tee "logs/$target.log"
  RUSTC_BOOTSTRAP=1 nice -n 10 cargo fuzz run ${FUZZ_FEATURES:-} --target-dir "$target_dir" -O "$target" \
    "corpus/$target" -- -max_total_time="$seconds" -jobs=1 -workers=1 -timeout=10 \
    -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/" "${dict[@]}" >> "logs/$target.log" 2>&1
  status=$?
  # With -jobs, libFuzzer writes the job's own output to fuzz-0.log.
  [ -f fuzz-0.log ] && cat fuzz-0.log >> "logs/$target.log" && rm -f fuzz-0.log
  echo "== $target: exit $status at $(date -u +%H:%M:%S)" | tee -a "logs/$target.log"
done
