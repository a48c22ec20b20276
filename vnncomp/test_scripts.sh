#!/usr/bin/env bash
# Runs the VNN-COMP scripts as the competition does (install, then prepare + run per instance)
# on a few shared instances and checks each result file: a valid first line written before the
# timeout, no answer contradicting expected.csv, and every `sat` counterexample in the
# competition's format with the inputs inside the property's box (certus replays it itself).
# Not part of `cargo test` (it builds the release binary and takes a minute or two).
#
#   vnncomp/test_scripts.sh [BENCHMARKS_DIR] [TIMEOUT_S]
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="${1:-$ROOT/../shared/benchmarks}"
TIMEOUT="${2:-20}"
if [ ! -d "$BENCH" ]; then
    echo "no benchmarks at $BENCH" >&2
    exit 2
fi
"$ROOT/vnncomp/install_tool.sh" v1 >/dev/null || { echo "install_tool.sh failed" >&2; exit 1; }

# category onnx vnnlib (relative to $BENCH/<category>): two unsat, two sat, a conv net, and a
# gzipped copy of one instance.
INSTANCES=(
    "acasxu onnx/ACASXU_run2a_1_1_batch_2000.onnx vnnlib/prop_1.vnnlib"
    "acasxu onnx/ACASXU_run2a_1_7_batch_2000.onnx vnnlib/prop_3.vnnlib"
    "acasxu onnx/ACASXU_run2a_1_9_batch_2000.onnx vnnlib/prop_7.vnnlib"
    "mnistfc onnx/mnist-net_256x2.onnx vnnlib/prop_1_0.03.vnnlib"
    "collins_rul_cnn onnx/NN_rul_small_window_20.onnx vnnlib/robustness_2perturbations_delta5_epsilon10_w20.vnnlib"
)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fails=0
check() {  # category onnx vnnlib expected
    local cat="$1" onnx="$2" vnnlib="$3" expected="$4"
    local result="$TMP/result.txt"
    "$ROOT/vnncomp/prepare_instance.sh" v1 "$cat" "$onnx" "$vnnlib" 2>/dev/null \
        || { echo "FAIL prepare: $onnx $vnnlib"; fails=$((fails + 1)); return; }
    local start end
    start=$(date +%s.%N)
    "$ROOT/vnncomp/run_instance.sh" v1 "$cat" "$onnx" "$vnnlib" "$result" "$TIMEOUT" 2>/dev/null
    end=$(date +%s.%N)
    local took first
    took=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    first="$(head -n 1 "$result" 2>/dev/null)"
    local verdict="ok"
    case "$first" in
        sat|unsat|unknown|timeout) ;;
        *) verdict="FAIL (first line '$first')" ;;
    esac
    if awk -v t="$took" -v T="$TIMEOUT" 'BEGIN { exit !(t > T) }'; then
        verdict="FAIL (took $took s > $TIMEOUT s)"
    fi
    if { [ "$first" = sat ] && [ "$expected" = unsat ]; } || { [ "$first" = unsat ] && [ "$expected" = sat ]; }; then
        verdict="FAIL (WRONG: $first, expected $expected)"
    fi
    if [ "$first" = sat ]; then
        # `((X_0 v)` / ` (X_1 v)` ... ` (Y_m v))`: every line one assignment, X before Y.
        if ! tail -n +2 "$result" | python3 "$ROOT/vnncomp/check_cex.py" "$onnx" "$vnnlib"; then
            verdict="FAIL (counterexample)"
        fi
    fi
    echo "$verdict  $first (expected $expected, $took s)  $(basename "$onnx") $(basename "$vnnlib")"
    [ "$verdict" = ok ] || fails=$((fails + 1))
}
for row in "${INSTANCES[@]}"; do
    read -r cat onnx vnnlib <<< "$row"
    dir="$BENCH/$cat"
    [ -f "$dir/$onnx" ] || { echo "skip (missing): $dir/$onnx"; continue; }
    expected="$(awk -F, -v o="$onnx" -v v="$vnnlib" '$1 == o && $2 == v { print $3 }' "$dir/expected.csv")"
    check "$cat" "$dir/$onnx" "$dir/$vnnlib" "${expected:-unknown}"
done
# The competition ships files gzipped: the same first instance from .gz copies.
read -r cat onnx vnnlib <<< "${INSTANCES[0]}"
if [ -f "$BENCH/$cat/$onnx" ]; then
    gzip -c "$BENCH/$cat/$onnx" > "$TMP/net.onnx.gz"
    gzip -c "$BENCH/$cat/$vnnlib" > "$TMP/prop.vnnlib.gz"
    check "$cat" "$TMP/net.onnx.gz" "$TMP/prop.vnnlib.gz" unsat
fi
echo "$fails failed"
[ "$fails" -eq 0 ]
