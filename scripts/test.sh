#!/usr/bin/env bash
# Runs the whole Strata test suite: formatting, lints, and every test.
# It installs and starts what the tests need; a missing prerequisite stops it
# with a message saying what to install. Exit status: non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }

step "servers the tests need (PostgreSQL, Redis)"
bash scripts/services.sh up

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (conformance suite on the embedded providers, config, engine)"
cargo test --workspace --locked

if [ -f bindings-node/scripts/ci.sh ]; then
  step "Node binding: build, typecheck, node --test"
  bash bindings-node/scripts/ci.sh
fi

step "all tests passed"
