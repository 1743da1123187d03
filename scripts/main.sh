#!/usr/bin/env bash
# The main job: the softphone example against the built-in simulated cloud (or a real environment with
# --environment ENV --token TOKEN [--ca-file PEM]). Installs what a fresh Debian 12 lacks.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
# libopus for the Opus codec (crate `opus`, linked against the system library)
pkg-config --exists opus 2>/dev/null || need+=(libopus-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

exec cargo run --release --locked -p genesys-webrtc-examples --example softphone -- "$@"
