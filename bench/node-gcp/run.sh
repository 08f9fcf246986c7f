#!/usr/bin/env bash
# Strata through Node vs @google-cloud/pubsub and @google-cloud/storage on the
# same emulators (Google's Pub/Sub emulator, fake-gcs-server), in one run.
#
#   bash bench/node-gcp/run.sh
#
# Environment: BENCH_REPS (default 3), BENCH_SECONDS per pass (default 2),
# BENCH_COUNT messages per receive pass (default 20000), BENCH_SUITES (default
# "publish receive small"), BENCH_SKIP_BUILD=1 to use the addon already built
# (it must include the `gcp` feature). The emulators are started with
# localstack/emulators if they are not running (and stopped again at the end).
set -euo pipefail

main() {

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
reps="${BENCH_REPS:-3}"
secs="${BENCH_SECONDS:-2}"
count="${BENCH_COUNT:-20000}"
suites="${BENCH_SUITES:-publish receive small}"

command -v node >/dev/null || { echo "run.sh: node (>= 20) is needed" >&2; exit 1; }

started=()
for name in pubsub gcs; do
  "$root/localstack/emulators" status "$name" >/dev/null 2>&1 || started+=("$name")
done
((${#started[@]} == 0)) || "$root/localstack/emulators" up "${started[@]}"
eval "$("$root/localstack/emulators" env --running pubsub gcs)"

if [[ ! -d "$here/node_modules/@google-cloud/pubsub" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  (cd "$root/bindings-node" && npm run build:release -- --features gcp)
fi

on_exit() {
  ((${#started[@]} == 0)) || "$root/localstack/emulators" down "${started[@]}" >/dev/null 2>&1 || true
}
# shellcheck source=../node-servers/lib/snapshot.sh
source "$root/bench/node-servers/lib/snapshot.sh"
# shellcheck source=../node-servers/lib/machine.sh
source "$root/bench/node-servers/lib/machine.sh"

out="$here/out/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
machine_header \
  "node:     $(node --version); @google-cloud/pubsub $(node -p "require('$here/node_modules/@google-cloud/pubsub/package.json').version" 2>/dev/null || echo '?')" \
  "reps:     $reps, ${secs}s per pass, $count messages per receive pass"

for suite in $suites; do
  echo "== $suite"
  node --expose-gc "$here/compare.js" --suite="$suite" --reps="$reps" --seconds="$secs" --count="$count" --out="$out/$suite.jsonl"
done

finish_run
}

main "$@"
