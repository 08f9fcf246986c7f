#!/usr/bin/env bash
# Judges the Service Bus emulator with Microsoft's own SDKs: the Python `azure-servicebus`
# tests and the Node `@azure/service-bus` tests, run side by side (each test starts its own
# private broker, so they do not contend). Exit status: non-zero if either fails.
#
# Needs: STRATA_SERVICEBUS_BIN (the broker binary; `localstack/emulators env servicebus` prints
# it), a Python with azure-servicebus==7.15.0 and pytest (STRATA_TEST_TOOLS_BIN/python, from
# `localstack/emulators install tools`), Node.js 20+ and npm.
set -euo pipefail
cd "$(dirname "$0")"

: "${STRATA_SERVICEBUS_BIN:?set STRATA_SERVICEBUS_BIN to the servicebus-emulator binary}"
export STRATA_SERVICEBUS_BIN
python=${STRATA_TEST_TOOLS_BIN:+$STRATA_TEST_TOOLS_BIN/}python
"$python" -c 'import azure.servicebus, pytest' 2>/dev/null ||
  { echo "judges: $python lacks azure-servicebus or pytest: run localstack/emulators install tools" >&2; exit 1; }
command -v node >/dev/null || { echo "judges: node not found: apt-get install nodejs npm" >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd node && { [ -d node_modules/@azure/service-bus ] || npm ci --no-audit --no-fund --loglevel=error; } && node --test test/) >"$out/node.log" 2>&1 &
node_pid=$!
"$python" -m pytest python -q -p no:cacheprovider >"$out/python.log" 2>&1 &
python_pid=$!

status=0
wait $python_pid || status=1
echo "==> Python judge (azure-servicebus 7.15):"
if [ $status -ne 0 ]; then cat "$out/python.log"; else tail -n 1 "$out/python.log"; fi
node_status=0
wait $node_pid || node_status=1
echo "==> Node judge (@azure/service-bus 7.9):"
if [ $node_status -ne 0 ]; then cat "$out/node.log"; else grep -E '^# (tests|pass|fail|duration_ms)' "$out/node.log"; fi
exit $((status | node_status))
