#!/usr/bin/env bash
# Strata through Node vs the official NATS JavaScript clients
# (@nats-io/transport-node + @nats-io/jetstream) on the same JetStream server,
# in one run, with async-nats alone in Rust beside them as the ceiling.
#
#   bash bench/node-nats/run.sh
#
# Environment: BENCH_NATS_URL (default nats://127.0.0.1:4222; a server with
# JetStream enabled must be running there), BENCH_REPS (default 3),
# BENCH_SECONDS per publish pass (default 2), BENCH_COUNT messages per receive
# pass (default 50000), BENCH_SUITES (default "publish receive ceiling"),
# BENCH_SKIP_BUILD=1 to use the addon already built (it must include the
# `nats` feature, on by default). Every stream the run makes is deleted at the end.
set -euo pipefail

main() {

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
reps="${BENCH_REPS:-3}"
secs="${BENCH_SECONDS:-2}"
count="${BENCH_COUNT:-50000}"
suites="${BENCH_SUITES:-publish receive ceiling}"
export BENCH_NATS_URL="${BENCH_NATS_URL:-nats://127.0.0.1:4222}"

command -v node >/dev/null || { echo "run.sh: node (>= 20) is needed" >&2; exit 1; }
hostport="${BENCH_NATS_URL#*://}"
if ! (exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null; then
  echo "run.sh: no NATS server at $BENCH_NATS_URL (start one with JetStream: nats-server -js)" >&2
  exit 1
fi

if [[ ! -d "$here/node_modules/@nats-io/jetstream" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  (cd "$root/bindings-node" && npm run build:release)
fi
if [[ " $suites " == *" ceiling "* ]]; then
  (cd "$root" && cargo build --release -p strata-bench --bin nats_ceiling)
  ceiling_bin="${CARGO_TARGET_DIR:-$root/target}/release/nats_ceiling"
fi

# shellcheck source=../node-servers/lib/snapshot.sh
source "$root/bench/node-servers/lib/snapshot.sh"
# shellcheck source=../node-servers/lib/machine.sh
source "$root/bench/node-servers/lib/machine.sh"

out="$here/out/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
machine_header \
  "node:     $(node --version); @nats-io/jetstream $(node -p "require('$here/node_modules/@nats-io/jetstream/package.json').version"), @nats-io/transport-node $(node -p "require('$here/node_modules/@nats-io/transport-node/package.json').version")" \
  "server:   $BENCH_NATS_URL, $(nats-server --version 2>/dev/null || echo 'nats-server version unknown')" \
  "reps:     $reps, ${secs}s per publish pass, $count messages per receive pass"

for suite in $suites; do
  echo "== $suite"
  if [[ "$suite" == ceiling ]]; then
    "$ceiling_bin" "$count" "$reps" | tee "$out/ceiling.jsonl"
  else
    node --expose-gc "$here/compare.js" --suite="$suite" --reps="$reps" --seconds="$secs" --count="$count" --out="$out/$suite.jsonl"
  fi
done

finish_run
}

main "$@"
