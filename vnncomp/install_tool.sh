#!/usr/bin/env bash
# VNN-COMP: install certus. Usage: install_tool.sh v1
# Installs the system libz3 (Debian/Ubuntu, when missing) and a Rust toolchain (when `cargo` is
# missing), then builds target/release/certus. Idempotent.
set -euo pipefail
if [ "${1:-}" != "v1" ]; then
    echo "expected the version string 'v1' as the first argument, got '${1:-}'" >&2
    exit 1
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

# (grep without -q: with pipefail, an early exit would SIGPIPE ldconfig and fail the test.)
if ! ldconfig -p 2>/dev/null | grep 'libz3\.so' >/dev/null; then
    echo "installing libz3-dev" >&2
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q libz3-dev
fi
if ! command -v cargo >/dev/null; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "installing Rust (rustup, stable)" >&2
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
fi
cd "$ROOT"
cargo build --release --locked
"$ROOT/target/release/certus" --version
