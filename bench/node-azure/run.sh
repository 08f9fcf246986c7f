#!/usr/bin/env bash
# Strata through Node vs @azure/storage-blob on the same Azurite, in one run.
#
#   bash bench/node-azure/run.sh
#
# Environment: BENCH_REPS (default 3), BENCH_SECONDS per pass (default 2),
# BENCH_SUITES (default "small large"), BENCH_SKIP_BUILD=1 to use the addon
# already built (it must include the `azure` feature, on by default).
# Azurite: started with localstack/emulators if it is not running (and stopped
# again at the end); its endpoint comes from `localstack/emulators env`.
set -euo pipefail

main() {

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
reps="${BENCH_REPS:-3}"
secs="${BENCH_SECONDS:-2}"
suites="${BENCH_SUITES:-small large}"

command -v node >/dev/null || { echo "run.sh: node (>= 20) is needed" >&2; exit 1; }

started=0
if ! "$root/localstack/emulators" status azurite >/dev/null 2>&1; then
  "$root/localstack/emulators" up azurite
  started=1
fi
eval "$("$root/localstack/emulators" env --running azurite)"

if [[ ! -d "$here/node_modules/@azure/storage-blob" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  (cd "$root/bindings-node" && npm run build:release)
fi

on_exit() {
  if [[ "$started" == 1 ]]; then "$root/localstack/emulators" down azurite >/dev/null 2>&1 || true; fi
}
# shellcheck source=../node-servers/lib/snapshot.sh
source "$root/bench/node-servers/lib/snapshot.sh"
# shellcheck source=../node-servers/lib/machine.sh
source "$root/bench/node-servers/lib/machine.sh"

out="$here/out/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
machine_header \
  "node:     $(node --version); @azure/storage-blob $(node -p "require('$here/node_modules/@azure/storage-blob/package.json').version")" \
  "azurite:  $("$root/localstack/emulators" status azurite 2>/dev/null | sed -n 2p)" \
  "reps:     $reps, ${secs}s per pass"

for suite in $suites; do
  echo "== $suite"
  node --expose-gc "$here/compare.js" --suite="$suite" --reps="$reps" --seconds="$secs" --out="$out/$suite.jsonl"
done

finish_run
}

main "$@"
