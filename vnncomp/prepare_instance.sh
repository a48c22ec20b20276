#!/usr/bin/env bash
# VNN-COMP: prepare one instance. Usage: prepare_instance.sh v1 CATEGORY ONNX VNNLIB
# Stops a run of ours that a previous instance left behind (by the process id run_instance.sh
# recorded, never by name), and checks that the files exist and the network loads (so that an
# unreadable model is reported here, outside the timed run). `.gz` files are read directly.
set -uo pipefail
if [ "${1:-}" != "v1" ]; then
    echo "expected the version string 'v1' as the first argument, got '${1:-}'" >&2
    exit 1
fi
if [ "$#" -ne 4 ]; then
    echo "usage: prepare_instance.sh v1 CATEGORY ONNX VNNLIB" >&2
    exit 1
fi
CATEGORY="$2" ONNX="$3" VNNLIB="$4"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CERTUS="$ROOT/target/release/certus"
PIDFILE="${TMPDIR:-/tmp}/certus_vnncomp_$(id -u).pid"

if [ -f "$PIDFILE" ]; then
    pid="$(cat "$PIDFILE")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "stopping a previous certus run (pid $pid)" >&2
        kill -TERM "$pid" 2>/dev/null
        sleep 1
        kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$PIDFILE"
fi
if [ ! -x "$CERTUS" ]; then
    echo "$CERTUS is missing: run install_tool.sh v1 first" >&2
    exit 1
fi
for f in "$ONNX" "$VNNLIB"; do
    if [ ! -f "$f" ]; then
        echo "no such file: $f" >&2
        exit 1
    fi
done
echo "preparing certus for category '$CATEGORY': $ONNX, $VNNLIB" >&2
if ! "$CERTUS" inspect "$ONNX" >/dev/null; then
    echo "certus cannot load $ONNX" >&2
    exit 1
fi
exit 0
