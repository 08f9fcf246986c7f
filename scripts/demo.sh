#!/usr/bin/env bash
# Runs the demo application on the embedded defaults (no config file, no server).
# Point STRATA_CONFIG at another config file to run the same program elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
cargo run --quiet --locked -p strata-examples --bin demo -- "$@"
