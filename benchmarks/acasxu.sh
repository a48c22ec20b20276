#!/usr/bin/env bash
# ACAS Xu, one instance at a time, the way VNN-COMP runs a tool: each instance is a fresh
# `certus verify NET PROP --timeout T` process (start-up and loading included in its time), with
# the instance's own timeout from instances.csv. Prints one row per instance, then the table of
# results per property and a summary line; writes the rows to benchmarks/results/acasxu_runs.csv.
#
#   benchmarks/acasxu.sh [--filter SUBSTRING] [--timeout-scale F] [-- EXTRA VERIFY ARGS...]
#
# The shared benchmarks are read from ../shared/benchmarks/acasxu (or $ACASXU_DIR). Extra
# arguments go to every `certus verify` (e.g. `-- --search-opt clip=off` for an ablation).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${ACASXU_DIR:-$here/../../shared/benchmarks/acasxu}
filter=""
scale=1
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --filter) filter=$2; shift 2 ;;
    --timeout-scale) scale=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -f "$dir/instances.csv" ] || { echo "no $dir/instances.csv" >&2; exit 2; }
# $CERTUS_BIN: a binary to run instead of building this checkout's release binary.
bin=${CERTUS_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet --manifest-path "$here/../Cargo.toml"
  bin=$here/../target/release/certus
fi
mkdir -p "$here/results"
out=$here/results/acasxu_runs.csv
echo "onnx,vnnlib,expected,result,time_s,score" > "$out"
paste -d, "$dir/instances.csv" <(tail -n +2 "$dir/expected.csv" | cut -d, -f3) |
while IFS=, read -r onnx vnnlib timeout expected; do
  case "$onnx,$vnnlib" in *"$filter"*) ;; *) continue ;; esac
  t=$(awk -v t="$timeout" -v s="$scale" 'BEGIN { print t * s }')
  start=$(date +%s.%N)
  result=$("$bin" verify "$dir/$onnx" "$dir/$vnnlib" --timeout "$t" "${extra[@]}" 2>/dev/null | head -n 1) || true
  end=$(date +%s.%N)
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
  expected=$(echo "$expected" | tr -d '\r')
  case "$result" in
    sat|unsat) if [ "$result" = "$expected" ]; then score=ok; else score=WRONG; fi ;;
    *) score=- ;;
  esac
  printf '%-40s %-16s %-8s %-8s %8s  %s\n' "$onnx" "$vnnlib" "$expected" "$result" "$secs" "$score"
  echo "$onnx,$vnnlib,$expected,$result,$secs,$score" >> "$out"
done
echo
awk -F, 'NR > 1 {
    split($2, p, /[_.]/); prop = p[2];
    n[prop]++; t[prop] += $5; if ($6 == "ok") s[prop]++; if ($6 == "WRONG") w[prop]++;
    if ($5 > mx[prop]) mx[prop] = $5;
    N++; T += $5; if ($6 == "ok") S++; if ($6 == "WRONG") W++;
    if ($5 > MX) { MX = $5; slow = $1 " " $2 }
  }
  END {
    printf "%-8s %9s %7s %9s %9s\n", "property", "instances", "solved", "total s", "slowest";
    for (k = 1; k <= 10; k++) if (n[k]) printf "prop_%-3s %9d %7d %9.1f %9.1f\n", k, n[k], s[k], t[k], mx[k];
    printf "summary: %d instances, %d solved, %d wrong, %.1f s total wall (start-up included), slowest %.1f s (%s)\n", N, S, W, T, MX, slow
  }' "$out"
