#!/usr/bin/env bash
# Strata through Node vs Microsoft's @azure/service-bus on the same Service Bus
# emulator (this repository's, release build, a private instance), in one run.
#
#   bash bench/node-servicebus/run.sh
#
# Environment: BENCH_REPS (default 3), BENCH_SECONDS per publish pass (default 2),
# BENCH_COUNT messages per receive pass (default 20000), BENCH_SUITES (default
# "publish receive"), BENCH_SKIP_BUILD=1 to use the addon already built (it must
# include the `azure` feature, on by default).
set -euo pipefail

main() {

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
reps="${BENCH_REPS:-3}"
secs="${BENCH_SECONDS:-2}"
count="${BENCH_COUNT:-20000}"
suites="${BENCH_SUITES:-publish receive}"

command -v node >/dev/null || { echo "run.sh: node (>= 20) is needed" >&2; exit 1; }
if [[ ! -d "$here/node_modules/@azure/service-bus" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  (cd "$root/bindings-node" && npm run build:release)
fi
(cd "$root" && cargo build -q --release --locked -p strata-servicebus-emulator --bin servicebus-emulator)
broker="${CARGO_TARGET_DIR:-$root/target}/release/servicebus-emulator"

work="$(mktemp -d)"
on_exit() {
  if [[ -n "${broker_pid:-}" ]]; then kill "$broker_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
# shellcheck source=../node-servers/lib/snapshot.sh
source "$root/bench/node-servers/lib/snapshot.sh"
# shellcheck source=../node-servers/lib/machine.sh
source "$root/bench/node-servers/lib/machine.sh"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$broker" --config "$here/config.json" --port "$port" --log warn >"$work/out" 2>"$work/err" &
broker_pid=$!
for _ in $(seq 1 100); do grep -q listening "$work/out" && break; sleep 0.05; done
grep -q listening "$work/out" || { echo "run.sh: the emulator did not start: $(cat "$work/err")" >&2; exit 1; }
export BENCH_SERVICEBUS_CONNECTION_STRING="Endpoint=sb://127.0.0.1:$port;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true"


out="$here/out/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
machine_header \
  "node:     $(node --version); @azure/service-bus $(node -p "require('$here/node_modules/@azure/service-bus/package.json').version")" \
  "broker:   servicebus-emulator (release) on 127.0.0.1:$port, entities from bench/node-servicebus/config.json" \
  "reps:     $reps, ${secs}s per publish pass, $count messages per receive pass"

for suite in $suites; do
  echo "== $suite"
  node --expose-gc "$here/compare.js" --suite="$suite" --reps="$reps" --seconds="$secs" --count="$count" --out="$out/$suite.jsonl"
done

finish_run
}

main "$@"
