#!/usr/bin/env bash
# Runs every test of the workspace. Installs what a fresh Debian 12 with only the Rust toolchain
# lacks. Long fuzz/soak runs have their own scripts; this stays well under 30 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
# libopus for the Opus codec (crate `opus`, linked against the system library)
pkg-config --exists opus 2>/dev/null || need+=(libopus-dev)
# libasound for the ALSA backend (crate `alsa`; its tests run on file PCMs, no sound card)
pkg-config --exists alsa 2>/dev/null || need+=(libasound2-dev)
# headless Chromium + chromedriver for the browser interop test (tests/tests/interop_chromium.rs)
command -v chromium >/dev/null 2>&1 || need+=(chromium chromium-driver)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# unshare (util-linux) and ip (iproute2) give the interop test its own loopback-only namespace
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# coturn, a third-party TURN server for the relay interop test (tests/tests/interop_coturn.rs,
# which starts its own turnserver on a free loopback port)
command -v turnserver >/dev/null 2>&1 || need+=(coturn)
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
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --doc --locked 2>&1 | tee -a "$log"
cargo test --workspace --all-targets --locked 2>&1 | tee -a "$log"
# The softphone with the ALSA backend (feature `alsa` is not on by default) must keep building.
cargo check -q -p genesys-webrtc-examples --features alsa --example softphone --locked
# One closing line over every test binary (cargo prints one per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1); if ($i ~ /^ignored/) s += $(i-1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
