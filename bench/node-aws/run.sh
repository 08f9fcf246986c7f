#!/usr/bin/env bash
# Strata through Node vs the official AWS SDK for JavaScript v3 on the same
# LocalStack, in one run.
#
#   bash bench/node-aws/run.sh
#
# Environment: BENCH_REPS (default 3), BENCH_SECONDS per pass (default 2),
# BENCH_SUITES (default "publish small large"), BENCH_SKIP_BUILD=1 to use the
# addon already built (it must include the `aws` feature).
# LocalStack: started with localstack/emulators if it is not running (and
# stopped again at the end); its endpoint comes from `localstack/emulators env`.
set -euo pipefail

main() {

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
reps="${BENCH_REPS:-3}"
secs="${BENCH_SECONDS:-2}"
suites="${BENCH_SUITES:-publish small large}"

command -v node >/dev/null || { echo "run.sh: node (>= 20) is needed" >&2; exit 1; }

started=0
if ! "$root/localstack/emulators" status localstack >/dev/null 2>&1; then
  "$root/localstack/emulators" up localstack
  started=1
fi
eval "$("$root/localstack/emulators" env --running localstack)"

if [[ ! -d "$here/node_modules/@aws-sdk/client-s3" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  (cd "$root/bindings-node" && npm run build:release -- --features aws)
fi

on_exit() {
  if [[ "$started" == 1 ]]; then "$root/localstack/emulators" down localstack >/dev/null 2>&1 || true; fi
}
# shellcheck source=../node-servers/lib/snapshot.sh
source "$root/bench/node-servers/lib/snapshot.sh"

out="$here/out/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
{
  echo "date:       $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "commit:     $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "cpu:        $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"
  echo "node:       $(node --version); @aws-sdk/client-s3 $(node -p "require('$here/node_modules/@aws-sdk/client-s3/package.json').version")"
  echo "localstack: $("$root/localstack/emulators" status localstack 2>/dev/null | head -1)"
  echo "reps:       $reps, ${secs}s per pass"
} | tee "$out/machine.txt"

for suite in $suites; do
  echo "== $suite"
  node --expose-gc "$here/compare.js" --suite="$suite" --reps="$reps" --seconds="$secs" --out="$out/$suite.jsonl"
done

echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at end" | tee -a "$out/machine.txt"
node "$here/report.js" "$out" | tee "$out/report.md"
echo "report: $out/report.md"
}

main "$@"
