#!/usr/bin/env bash
# Makes sure the servers the tests talk to are up on 127.0.0.1: PostgreSQL (:5432)
# and Redis (:6379), and that nats-server is installed. Starts the machine's own installation when one is stopped;
# says exactly what is missing otherwise. Usage: scripts/services.sh [check|up]
set -euo pipefail

mode="${1:-up}"
fail() { echo "services: $*" >&2; exit 1; }

redis_up() { command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
postgres_up() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; }

wait_for() { # name, check function
  for _ in $(seq 1 60); do "$2" && return 0; sleep 0.5; done
  fail "$1 did not come up within 30 s"
}

if ! redis_up; then
  [ "$mode" = check ] && fail "Redis is not answering on 127.0.0.1:6379"
  command -v redis-server >/dev/null || fail "Redis is not running and redis-server is not installed (Debian: apt-get install redis-server)"
  echo "services: starting Redis on 127.0.0.1:6379"
  mkdir -p /tmp/strata-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/strata-redis --logfile /tmp/strata-redis/redis.log
  wait_for Redis redis_up
fi

if ! postgres_up; then
  [ "$mode" = check ] && fail "PostgreSQL is not answering on 127.0.0.1:5432"
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    echo "services: starting PostgreSQL $version on 127.0.0.1:5432"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_for PostgreSQL postgres_up
  else
    fail "PostgreSQL is not running and no cluster is installed (Debian: apt-get install postgresql; the tests expect trust auth for user postgres and a database named test on 127.0.0.1:5432)"
  fi
fi

# The tests use the database `test`; create it when a fresh cluster lacks it.
if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -c 'CREATE DATABASE test' >/dev/null \
    || fail "cannot create database test as user postgres on 127.0.0.1:5432"
fi
# The NATS tests start their own private nats-server -js processes (free
# ports, temp stores); they need only the binary. Debian puts it in /usr/sbin.
if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ] && [ -z "${STRATA_NATS_SERVER:-}" ]; then
  fail "nats-server is not installed (Debian: apt-get install nats-server; or set STRATA_NATS_SERVER to the binary)"
fi
echo "services: Redis and PostgreSQL are up; nats-server is installed"
