# Sourced by the bench run.sh scripts: copies the binding (JS layer + addon)
# aside so a rebuild elsewhere during the run cannot swap it underneath
# (bench/node/common.js loads STRATA_BENCH_BINDING), and removes the copy on exit
# after calling the script's own `on_exit` if it defines one.
# Needs: $root (the repository).
# A STRATA_BENCH_BINDING already set (a snapshot made beforehand) is used as is.
if [[ -n "${STRATA_BENCH_BINDING:-}" ]]; then
  snap=""
else
  snap="$(mktemp -d /tmp/strata-bench-binding-XXXXXX)"
  cp -r "$root/bindings-node/index.js" "$root/bindings-node/package.json" "$root/bindings-node/lib" "$snap/"
  cp "$root"/bindings-node/strata.*.node "$snap/"
  export STRATA_BENCH_BINDING="$snap"
fi
snapshot_cleanup() {
  if declare -F on_exit >/dev/null; then on_exit; fi
  if [[ -n "$snap" ]]; then rm -rf "$snap"; fi
}
trap snapshot_cleanup EXIT
