# Sourced by the bench run.sh scripts: the lines every run's machine.txt
# starts and ends with, and the report at the end.
# Needs: $root (the repository), $here (the bench's folder), $out (the run's folder).

# Writes machine.txt: date, commit, CPU and load, then each argument as a line
# ("node: …", "server: …", "reps: …").
machine_header() {
  {
    echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "commit:   $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "cpu:      $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"
    printf '%s\n' "$@"
  } | tee "$out/machine.txt"
}

# Adds the load at the end to machine.txt and writes report.md with the bench's report.js.
finish_run() {
  echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at end" | tee -a "$out/machine.txt"
  node "$here/report.js" "$out" | tee "$out/report.md"
  echo "report: $out/report.md"
}
