#!/usr/bin/env bash
# VNN-COMP: run one instance. Usage: run_instance.sh v1 CATEGORY ONNX VNNLIB RESULT_FILE TIMEOUT
# Writes RESULT_FILE before TIMEOUT seconds have passed: its first line is `sat`, `unsat`,
# `unknown`, `timeout` or `error`; after `sat` comes the counterexample, `((X_0 v)` ... `(Y_m v))`
# (the inputs, then the outputs onnxruntime computes in float32), replayed by certus first.
# certus gets the budget minus a margin for loading and writing; if it is still running at the
# hard limit it is stopped and the result is `timeout`.
set -uo pipefail
if [ "${1:-}" != "v1" ]; then
    echo "expected the version string 'v1' as the first argument, got '${1:-}'" >&2
    exit 1
fi
if [ "$#" -ne 6 ]; then
    echo "usage: run_instance.sh v1 CATEGORY ONNX VNNLIB RESULT_FILE TIMEOUT" >&2
    exit 1
fi
CATEGORY="$2" ONNX="$3" VNNLIB="$4" RESULT="$5" TIMEOUT="$6"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CERTUS="$ROOT/target/release/certus"
PIDFILE="${TMPDIR:-/tmp}/certus_vnncomp_$(id -u).pid"
# Budgets in seconds (awk: TIMEOUT may be fractional). certus stops searching at BUDGET and
# returns within about a second; the hard stop at HARD leaves time to write the file.
read -r BUDGET HARD < <(awk -v t="$TIMEOUT" 'BEGIN {
    m = t * 0.1; if (m < 2) m = 2; if (m > 10) m = 10;
    b = t - m; if (b < 0.5) b = t * 0.5;
    h = t - 0.5; if (h < b) h = b;
    printf "%.3f %.3f\n", b, h }')

# Memory: 90% of what is available now, so that a large instance ends `unknown` (certus stops
# at 85% of its limit) instead of being killed by the system.
MEM_MIB=$(awk '/^MemAvailable:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo 2>/dev/null)

rm -f "$RESULT"
echo "certus: category '$CATEGORY', $ONNX, $VNNLIB, timeout $TIMEOUT s (search budget $BUDGET s)" >&2
"$CERTUS" verify "$ONNX" "$VNNLIB" --timeout "$BUDGET" --result-file "$RESULT" \
    ${MEM_MIB:+--memory-limit "$MEM_MIB"} >&2 &
pid=$!
echo "$pid" > "$PIDFILE"
# Stop certus at the hard limit (a watchdog in the background, cancelled when certus ends).
( sleep "$HARD" && kill -TERM "$pid" 2>/dev/null && sleep 0.3 && kill -KILL "$pid" 2>/dev/null ) &
watchdog=$!
wait "$pid"
code=$?
kill "$watchdog" 2>/dev/null
wait "$watchdog" 2>/dev/null
rm -f "$PIDFILE"
if [ ! -s "$RESULT" ]; then
    # Stopped before it wrote (or an unexpected failure): say so in the competition's words.
    if [ "$code" -ge 128 ]; then echo "timeout" > "$RESULT"; else echo "error" > "$RESULT"; fi
fi
echo "certus exited with code $code; result: $(head -n 1 "$RESULT")" >&2
exit 0
