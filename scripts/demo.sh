#!/usr/bin/env bash
# Runs the demo application (examples/node/upload-pipeline.mjs) on the embedded
# defaults: no config file, no server. Builds the Node addon first if needed.
# Point STRATA_CONFIG at another config file to run the same program elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "demo: cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
command -v node >/dev/null || { echo "demo: node not found: install Node.js >= 20" >&2; exit 1; }

(
  cd bindings-node
  if [ ! -d node_modules ]; then
    echo "demo: installing the binding's build tools (npm ci)…" >&2
    npm ci --no-audit --no-fund --loglevel=error >&2
  fi
  # The slim addon: the embedded and self-hosted providers, all the demo needs
  # on the embedded defaults. `npm run build` there builds the one with every
  # cloud (what the npm package carries), for STRATA_CONFIG files naming them.
  if [ -z "${STRATA_CONFIG:-}" ]; then
    echo "demo: building the Node addon, embedded and self-hosted providers (first time takes a few minutes)…" >&2
    npm run --silent build:slim >/dev/null
  else
    echo "demo: building the Node addon with every cloud, for $STRATA_CONFIG (first time takes several minutes)…" >&2
    npm run --silent build >/dev/null
  fi
)
exec node examples/node/upload-pipeline.mjs "$@"
