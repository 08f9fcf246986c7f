#!/usr/bin/env bash
# Builds the Node addon and runs the binding's checks: install the npm
# dev-dependencies, build the addon (dev profile, every provider), type-check
# the typed usage file, run the node tests (the packed tarball's among them).
# Called by the repository's scripts/test.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v node >/dev/null 2>&1; then
  echo "bindings-node: node is not installed (Node >= 20 is needed)" >&2
  exit 1
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "bindings-node: Node >= 20 is needed, found $(node --version)" >&2
  exit 1
fi

echo "== bindings-node: npm dependencies"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi

echo "== bindings-node: build the addon (every provider, as the package carries them)"
npm run build

echo "== bindings-node: typecheck"
npm run typecheck

echo "== bindings-node: tests"
npm test
