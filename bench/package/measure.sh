#!/usr/bin/env bash
# What the package costs: the addon's size as built and stripped, and how long
# `require()` of the package takes in a fresh node process, for each addon
# given, against `node -e 0` (load-time.js; every variant in each round).
#
#   bash bench/package/measure.sh LABEL=ADDON.node [LABEL=ADDON.node ...]
#
# e.g. every cloud and the slim build, each built in release and copied aside:
#   (cd bindings-node && npm run build:release) && cp bindings-node/strata.*.node /tmp/full.node
#   (cd bindings-node && npm run build:release -- --no-default-features) && cp bindings-node/strata.*.node /tmp/slim.node
#   bash bench/package/measure.sh full=/tmp/full.node slim=/tmp/slim.node
#
# Each addon goes into a copy of the package (index.js, lib/, package.json),
# once as built and once through `strip`. BENCH_ROUNDS: rounds (default 30).
set -euo pipefail

main() {

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rounds="${BENCH_ROUNDS:-30}"
(($# > 0)) || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 1; }
command -v strip >/dev/null || { echo "measure.sh: strip (binutils) is needed" >&2; exit 1; }

work="$(mktemp -d /tmp/strata-package-size-XXXXXX)"
trap 'rm -rf "$work"' EXIT
platform="strata.linux-x64-gnu.node"

echo "date:   $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "cpu:    $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load:   $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"
echo "node:   $(node --version)"
echo

echo "| addon | as built (bytes) | MiB | stripped (bytes) | MiB |"
echo "| --- | ---: | ---: | ---: | ---: |"
packages=()
for spec in "$@"; do
  label="${spec%%=*}"
  addon="${spec#*=}"
  for kind in built stripped; do
    pkg="$work/$label-$kind"
    mkdir -p "$pkg"
    cp -r "$root/bindings-node/index.js" "$root/bindings-node/package.json" "$root/bindings-node/lib" "$pkg/"
    cp "$addon" "$pkg/$platform"
    if [[ "$kind" == stripped ]]; then strip "$pkg/$platform"; fi
    packages+=("$label, $kind=$pkg")
  done
  built="$(stat -c %s "$work/$label-built/$platform")"
  stripped="$(stat -c %s "$work/$label-stripped/$platform")"
  printf '| %s | %s | %.1f | %s | %.1f |\n' "$label" "$built" "$(echo "$built/1048576" | bc -l)" \
    "$stripped" "$(echo "$stripped/1048576" | bc -l)"
done
echo
echo "require() of the package in a fresh node process, $rounds rounds:"
echo
node "$here/load-time.js" --rounds="$rounds" "${packages[@]}"
echo
echo "load:   $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at end"
}

main "$@"
