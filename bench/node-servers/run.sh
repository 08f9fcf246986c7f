#!/usr/bin/env bash
# Strata through Node vs ioredis and pg on the same Redis and PostgreSQL, in one
# run, with the servers' own ceilings (redis-benchmark, pgbench) beside them.
#
#   bash bench/node-servers/run.sh
#
# Environment: BENCH_REPS (default 3), BENCH_SECONDS per pass (default 2),
# BENCH_SKIP_BUILD=1 to use the addon already built, BENCH_SUITES (default
# "cache select rows"), BENCH_CEILINGS=0 to skip redis-benchmark/pgbench.
# Servers: Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (user
# postgres, trust auth). The database strata_bench is created and dropped here.
set -euo pipefail

main() {

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
reps="${BENCH_REPS:-3}"
secs="${BENCH_SECONDS:-2}"
suites="${BENCH_SUITES:-cache select rows}"
PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres
export PGHOST PGPORT PGUSER

missing=()
for tool in node npm redis-cli redis-benchmark psql pgbench pg_isready; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "run.sh: missing tools: ${missing[*]} (Debian: apt-get install redis-tools postgresql-client; Node >= 20)" >&2
  exit 1
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "run.sh: no Redis answering on 127.0.0.1:6379 (start one: redis-server --daemonize yes)" >&2
  exit 1
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "run.sh: no PostgreSQL answering on 127.0.0.1:5432 (the bench needs user postgres with trust auth)" >&2
  exit 1
fi

# Clients and the release addon.
if [[ ! -d "$here/node_modules/ioredis" || ! -d "$here/node_modules/pg" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  (cd "$root/bindings-node" && npm run build:release)
fi

# The benchmark database, dropped on exit.
on_exit() {
  psql -q -d test -c 'DROP DATABASE IF EXISTS strata_bench WITH (FORCE)' >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 -p 6379 del 'key:__rand_int__' 'counter:__rand_int__' >/dev/null 2>&1 || true
}
# shellcheck source=lib/snapshot.sh
source "$here/lib/snapshot.sh"
psql -q -v ON_ERROR_STOP=1 -d test -c 'DROP DATABASE IF EXISTS strata_bench WITH (FORCE)' -c 'CREATE DATABASE strata_bench'
psql -q -v ON_ERROR_STOP=1 -d strata_bench -f "$here/schema.sql"

out="$here/out/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out/ceilings"
{
  echo "date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "commit:    $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') (working tree may carry uncommitted edits)"
  echo "cpu:       $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"
  echo "node:      $(node --version); ioredis $(node -p "require('$here/node_modules/ioredis/package.json').version"); pg $(node -p "require('$here/node_modules/pg/package.json').version")"
  echo "redis:     $(redis-cli -h 127.0.0.1 info server | grep -m1 redis_version | tr -d '\r')"
  echo "postgres:  $(psql -tA -d test -c 'show server_version')"
  echo "addon:     $(ls "$STRATA_BENCH_BINDING"/*.node | xargs -n1 basename) ($(stat -c %y "$STRATA_BENCH_BINDING"/*.node | cut -d. -f1))"
  echo "reps:      $reps, ${secs}s per pass"
} | tee "$out/machine.txt"

for suite in $suites; do
  echo "== $suite"
  node --expose-gc "$here/compare.js" --suite="$suite" --reps="$reps" --seconds="$secs" --out="$out/$suite.jsonl"
done

if [[ "${BENCH_CEILINGS:-1}" != 0 ]]; then
  echo "== server ceilings"
  for i in $(seq 1 "$reps"); do
    redis-benchmark -h 127.0.0.1 -t get,set -n 100000 -c 64 -q > "$out/ceilings/redis-c64-$i.txt"
    redis-benchmark -h 127.0.0.1 -t get,set -n 20000 -c 1 -q > "$out/ceilings/redis-c1-$i.txt"
    # One connection with 64 commands pipelined: what the two Node clients do with 64 in flight.
    redis-benchmark -h 127.0.0.1 -t get,set -n 1000000 -c 1 -P 64 -q > "$out/ceilings/redis-p64-$i.txt"
    (cd "$here" && pgbench -h 127.0.0.1 -U postgres -n -c 64 -j 2 -T 10 -f select.sql strata_bench) > "$out/ceilings/pgbench-simple-c64-$i.txt" 2>&1
    (cd "$here" && pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 64 -j 2 -T 10 -f select.sql strata_bench) > "$out/ceilings/pgbench-prepared-c64-$i.txt" 2>&1
    (cd "$here" && pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 1 -j 1 -T 5 -f select.sql strata_bench) > "$out/ceilings/pgbench-prepared-c1-$i.txt" 2>&1
    # -q still prints progress with carriage returns; show only the results.
    for f in "$out"/ceilings/redis-*-"$i".txt; do
      echo "$(basename "$f" .txt): $(tr '\r' '\n' <"$f" | grep 'requests per second' | tr '\n' ' ')"
    done
    grep -H '^tps' "$out"/ceilings/pgbench-*-"$i".txt
  done
fi

echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at end" | tee -a "$out/machine.txt"
node "$here/report.js" "$out" | tee "$out/report.md"
echo "report: $out/report.md"
}

main "$@"
