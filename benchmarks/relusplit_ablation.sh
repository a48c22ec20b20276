#!/usr/bin/env bash
# Ablations of the ReLU-split search (issue 13): `certus bench` on one benchmark folder once per
# setting, then one table row per setting (solved, unsat, sat, wrong, total seconds). The
# settings are `--relu-split-opt` lists (see certus::relusplit::ReluSplitConfig::KEYS); the
# first row is the default and the baseline engine `crown` (input splitting) is the last.
#
#   benchmarks/relusplit_ablation.sh [--bench DIR] [--timeout-scale F] [--filter SUBSTRING]
#                                    [--only NAME]
#
# Default: ../shared/benchmarks/mnistfc ($CERTUS_SHARED/benchmarks/mnistfc) at --timeout-scale 0.02. Each bench runs its instances
# one after the other in one process (no start-up per instance); run it on a quiet machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${CERTUS_SHARED:-$here/../../shared}/benchmarks/mnistfc
scale=0.02
filter=""
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bench) dir=$2; shift 2 ;;
    --timeout-scale) scale=$2; shift 2 ;;
    --filter) filter=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -f "$dir/instances.csv" ] || { echo "no $dir/instances.csv" >&2; exit 2; }
cargo build --release --quiet --manifest-path "$here/../Cargo.toml"
bin=$here/../target/release/certus
mkdir -p "$here/results"
# name|engine|switches
settings=(
  "default|relu-split|"
  "no-beta|relu-split|beta=off"
  "babsr|relu-split|branching=babsr"
  "kfsb-k1|relu-split|k=1"
  "kfsb-k8|relu-split|k=8"
  "iterations-5|relu-split|iterations=5"
  "batch-8|relu-split|batch=8"
  "batch-256|relu-split|batch=256"
  "root-lp|relu-split|root-lp=on"
  "no-candidates|relu-split|candidates=off"
  "reroot-12|relu-split|reroot-depth=12"
  "reroot-first-20|relu-split|reroot-depth=20,reroot-first=on"
  "no-refine|relu-split|refine=0"
  "refine-last|relu-split|refine-last=on"
  "refine-64|relu-split|refine=0.5,refine-leaves=64"
  "crown-input-split|crown|"
)
printf '%-20s %9s %7s %6s %5s %6s %9s\n' setting instances solved unsat sat wrong "total s"
for s in "${settings[@]}"; do
  IFS='|' read -r name engine opts <<< "$s"
  if [ -n "$only" ] && [ "$only" != "$name" ]; then continue; fi
  args=(bench "$dir" --timeout-scale "$scale" --engine "$engine")
  [ -n "$filter" ] && args+=(--filter "$filter")
  [ -n "$opts" ] && args+=(--relu-split-opt "$opts")
  out=$here/results/relusplit_$name.txt
  "$bin" "${args[@]}" > "$out" 2>/dev/null || true
  # summary: N instances, S solved (U unsat, A sat), W wrong, ..., T s total
  tail -n 1 "$out" | sed -E 's/[(),]//g' | awk -v n="$name" '{
      for (i = 1; i <= NF; i++) {
        if ($(i+1) == "instances") N = $i; if ($(i+1) == "solved") S = $i;
        if ($(i+1) == "unsat") U = $i; if ($(i+1) == "sat") A = $i;
        if ($(i+1) == "wrong") W = $i; if ($(i+1) == "s" && $(i+2) == "total") T = $i;
      }
      printf "%-20s %9s %7s %6s %5s %6s %9s\n", n, N, S, U, A, W, T }'
done
