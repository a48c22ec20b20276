#!/usr/bin/env bash
# Runs `certus bench` on the shared VNN-COMP benchmarks and keeps the per-instance CSVs.
#
#   benchmarks/run.sh [SHARED_BENCHMARKS_DIR] [TIMEOUT_SCALE] [BENCH...]
#
# SHARED_BENCHMARKS_DIR defaults to ../shared/benchmarks, TIMEOUT_SCALE to 1 (the VNN-COMP
# timeouts), BENCH to "acasxu mnistfc mnistfc_2021 eran". Results go to benchmarks/results/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=${1:-$here/../../shared/benchmarks}
scale=${2:-1}
shift $(( $# > 2 ? 2 : $# ))
benches=${*:-acasxu mnistfc mnistfc_2021 eran}
cargo build --release --quiet --manifest-path "$here/../Cargo.toml"
bin=$here/../target/release/certus
mkdir -p "$here/results"
status=0
for b in $benches; do
  echo "== $b (timeout scale $scale)"
  "$bin" bench "$shared/$b" --timeout-scale "$scale" --csv "$here/results/$b.csv" | tail -n 1 || status=1
done
exit $status
