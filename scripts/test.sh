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

# One build for the tests and the Node addon: napi-rs always builds with an
# explicit `--target` (into target/<triple>/), so the tests do too, and the
# addon's build reuses their compiled dependencies instead of redoing them all.
# (Set before the emulators: the Service Bus emulator is built from this workspace.)
export CARGO_BUILD_TARGET="${CARGO_BUILD_TARGET:-$(rustc -vV | sed -n 's/^host: //p')}"

step "emulators (LocalStack, moto, fake-gcs-server, Pub/Sub emulator, Azurite, Service Bus emulator): install into localstack/.emulators and start"
EMULATORS=(localstack moto gcs pubsub azurite servicebus)
started=()
for name in "${EMULATORS[@]}"; do
  localstack/emulators status "$name" >/dev/null 2>&1 || started+=("$name")
done
# Stop on exit only what this run started; emulators already running stay up.
stop_started() { [ ${#started[@]} -eq 0 ] || localstack/emulators down "${started[@]}" >/dev/null 2>&1 || true; }
trap stop_started EXIT
localstack/emulators up "${EMULATORS[@]}"
# The other clients the interop tests read and write with (aws CLI, boto3, Google's and Microsoft's Python clients, nats-py, pytest).
localstack/emulators install tools
eval "$(localstack/emulators env --running)"

# Cloud providers (and NATS) are cargo features; the tests build them all in one go.
# The NATS tests start private nats-servers themselves (apt-get install nats-server).
FEATURES=(--features strata-infra/aws,strata-integration-tests/aws,strata-examples/aws,strata-infra/gcp,strata-integration-tests/gcp,strata-infra/azure,strata-integration-tests/azure,strata-infra/nats)

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked "${FEATURES[@]}" -- -D warnings

step "cargo test (conformance suite on every provider, servers and emulators; config; engine)"
cargo test --workspace --locked "${FEATURES[@]}"

step "Service Bus emulator judged by Microsoft's SDKs (Python azure-servicebus, Node @azure/service-bus)"
bash servicebus-emulator/judges/run.sh

if [ -f bindings-node/scripts/ci.sh ]; then
  step "Node binding: build, typecheck, node --test"
  bash bindings-node/scripts/ci.sh
fi

step "all tests passed"
