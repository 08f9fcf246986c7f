#!/usr/bin/env bash
# The Service Bus emulator's throughput (send batches; receive + complete; receive-and-delete)
# and its memory per 100k queued messages, with Microsoft's Node SDK as the client.
#
#   bash bench/servicebus-emulator/run.sh
#
# Environment: BENCH_MESSAGES (default 100000), BENCH_SIZE (256), BENCH_BATCH (100),
# BENCH_INFLIGHT (8), BENCH_RECEIVE (500), BENCH_REPS (default 3).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
command -v node >/dev/null || { echo "run.sh: node (>= 20) is needed" >&2; exit 1; }
[[ -d "$here/node_modules/@azure/service-bus" ]] || (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$root" && cargo build -q --release --locked -p strata-servicebus-emulator --bin servicebus-emulator)
bin="${CARGO_TARGET_DIR:-$root/target}/release/servicebus-emulator"

work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cat >"$work/config.json" <<'JSON'
{"UserConfig":{"Namespaces":[{"Name":"bench","Queues":[{"Name":"bench","Properties":{"LockDuration":"PT1M","MaxDeliveryCount":10}}]}]}}
JSON
for rep in $(seq 1 "${BENCH_REPS:-3}"); do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$bin" --config "$work/config.json" --port "$port" --log warn >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 1 100); do grep -q listening "$work/out" && break; sleep 0.05; done
  BENCH_PORT=$port BENCH_BROKER_PID=$pid node "$here/bench.js"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
