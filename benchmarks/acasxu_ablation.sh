#!/usr/bin/env bash
# The input-split search's ablation table on ACAS Xu: benchmarks/acasxu.sh once with the default
# SearchConfig and once with each ingredient switched off (or replaced), one summary row each.
#
#   benchmarks/acasxu_ablation.sh [--filter SUBSTRING] [--timeout-scale F]
#
# Arguments go to acasxu.sh (its default: all 186 instances at their 116 s timeouts; use a filter
# or a scale to keep it short). Each configuration's rows are kept in
# benchmarks/results/acasxu_ablation_<name>.csv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
configs=(
  "default:"
  "sb-branching:branching=sb"
  "no-clip:clip=off"
  "no-farkas:farkas=off"
  "no-witness:witness=off,centre=off"
  "no-pgd:root-attack=off,pgd-every=0"
  "no-inherit:inherit=off"
  "no-backward:backward=off"
  "no-forward:forward=off"
  "no-interval-first:interval-first=off"
  "no-multi-split:multi-split=off"
)
printf '%-18s %-40s %s\n' configuration switches summary
for c in "${configs[@]}"; do
  name=${c%%:*}
  opts=${c#*:}
  extra=()
  [ -n "$opts" ] && extra=(-- --search-opt "$opts")
  summary=$("$here/acasxu.sh" "$@" "${extra[@]}" | grep '^summary:' | sed 's/^summary: //')
  cp "$here/results/acasxu_runs.csv" "$here/results/acasxu_ablation_$name.csv"
  printf '%-18s %-40s %s\n' "$name" "${opts:-(none)}" "$summary"
done
