#!/usr/bin/env bash
# Runs every test of the workspace. Installs what a fresh Debian 12 with only the Rust toolchain
# lacks. Long fuzz/soak runs have their own scripts; this stays well under 30 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# The core must stay runtime-agnostic: no async runtime in its dependency tree.
if cargo tree -p genesys-webrtc -e normal --prefix none --locked | grep -iE '^(tokio|smol|async-std|async-io|async-net) '; then
  echo "core (genesys-webrtc) depends on an async runtime" >&2
  exit 1
fi
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
