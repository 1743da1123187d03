#!/usr/bin/env bash
# Issue 4 benchmarks of a device build: the stripped size of the softphone example and its
# memory during a call. The device softphone (profile `device`, --no-default-features: no
# built-in fake cloud) runs in real-environment mode against the separate `fake-cloud` binary,
# which rings it once; nothing of the fake cloud is in the measured process.
#
# Prints figures only (targets: stripped size < 3 MB, RSS during a call < 8 MB); it fails only
# when something does not run. Installs what a fresh Debian 12 lacks, as scripts/test.sh does.
#
# The device softphone is linked with packed relative relocations (`-z pack-relative-relocs`,
# DT_RELR: 0.33 MB smaller than a plain PIE, still position-independent); the binary then needs
# glibc 2.36 or later (Debian 12). DEVICE_LINK_ARGS="" links without it.
#
#   ./scripts/device-bench.sh [--hangup-after SECS]     (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."

hangup_after=5
while [ $# -gt 0 ]; do
  case "$1" in
    --hangup-after) hangup_after=${2:?--hangup-after needs SECS}; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
# libopus for the Opus codec (crate `opus`, linked against the system library)
pkg-config --exists opus 2>/dev/null || need+=(libopus-dev)
# GNU time for the maximum resident set size, strip for the stripped sizes
[ -x /usr/bin/time ] || need+=(time)
command -v strip >/dev/null 2>&1 || need+=(binutils)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
device_bin="$target_dir/device/examples/softphone"
default_bin="$target_dir/release/examples/softphone"
cloud_bin="$target_dir/release/fake-cloud"

link_args=${DEVICE_LINK_ARGS--Wl,-z,pack-relative-relocs}
link_flags=()
for a in $link_args; do link_flags+=(-C "link-arg=$a"); done
echo "== building the device softphone (profile device, --no-default-features, link args: ${link_args:-none})"
# `cargo rustc` gives the flags to the final link only, so the dependencies' builds are shared
# with `cargo build --profile device`.
cargo rustc --locked --profile device -p genesys-webrtc-examples --example softphone \
  --no-default-features -- "${link_flags[@]}"
echo "== building fake-cloud and the default softphone (release, with the fake cloud)"
cargo build --locked --release -p genesys-webrtc-sim --bin fake-cloud -p genesys-webrtc-examples --example softphone

work=$(mktemp -d)
cloud_pid=""
time_pid=""
cleanup() {
  exec 3>&- || true
  [ -n "$time_pid" ] && kill "$time_pid" 2>/dev/null || true
  [ -n "$cloud_pid" ] && kill "$cloud_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# "N bytes = X.XX MB (Y.YY MiB)"
size_of() {
  strip -o "$work/stripped" "$1"
  local bytes
  bytes=$(stat -c %s "$work/stripped")
  rm -f "$work/stripped"
  awk -v b="$bytes" 'BEGIN { printf "%d bytes = %.2f MB (%.2f MiB)", b, b / 1e6, b / 1048576 }'
}
# "N kB = X.XX MB (Y.YY MiB)" for a /proc or GNU time figure (which are in KiB)
kib() { awk -v k="$1" 'BEGIN { printf "%d kB = %.2f MB (%.2f MiB)", k, k * 1024 / 1e6, k / 1024 }'; }

device_size=$(size_of "$device_bin")
default_size=$(size_of "$default_bin")

echo "== starting fake-cloud"
mkfifo "$work/cloud.in"
"$cloud_bin" --ca-out "$work/ca.pem" <"$work/cloud.in" >"$work/cloud.out" 2>"$work/cloud.err" &
cloud_pid=$!
# Our end of its standard input: commands go through fd 3; closing it stops the cloud.
exec 3>"$work/cloud.in"
for _ in $(seq 150); do
  grep -qx ready "$work/cloud.out" && break
  kill -0 "$cloud_pid" 2>/dev/null || { cat "$work/cloud.err" >&2; echo "fake-cloud exited" >&2; exit 1; }
  sleep 0.2
done
grep -qx ready "$work/cloud.out" || { echo "fake-cloud did not get ready" >&2; exit 1; }
value() { sed -n "s/^$1=//p" "$work/cloud.out"; }

echo "== device softphone in real mode against fake-cloud ($(value api_host)), hang-up after ${hangup_after} s"
# sh writes its pid (the softphone's, after exec) for the /proc sampling below.
/usr/bin/time -v -o "$work/time.txt" sh -c 'echo $$ >"$0"; exec "$@"' "$work/phone.pid" "$device_bin" \
  --environment "$(value environment)" --token "$(value access_token)" \
  --api-host "$(value api_host)" --ws-host "$(value ws_host)" --ca-file "$(value ca_file)" \
  --media-address 127.0.0.1 --hangup-after "$hangup_after" --max-calls 1 \
  --wav "$work/far-end.wav" \
  </dev/null >"$work/phone.out" 2>"$work/phone.err" 3>&- &
time_pid=$!
: >>"$work/phone.out"

# Sample the softphone's memory every 200 ms; "during the call" is from "connection Connected"
# to "hanging up" / "session ended" in its output.
phone_pid=""
rang=0
ring_errors=0
dtmf_sent=0
idle_rss=0
call_rss_peak=0
peak_anon=0
peak_file=0
peak_pss=0
call_hwm=0
call_samples=0
start=$(date +%s)
while kill -0 "$time_pid" 2>/dev/null; do
  [ -z "$phone_pid" ] && [ -s "$work/phone.pid" ] && phone_pid=$(cat "$work/phone.pid")
  rss=0
  hwm=0
  anon=0
  file=0
  if [ -n "$phone_pid" ] && [ -r "/proc/$phone_pid/status" ]; then
    read -r rss hwm anon file < <(awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 }
      /^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } END { print r + 0, h + 0, a + 0, f + 0 }' \
      "/proc/$phone_pid/status" 2>/dev/null || echo 0 0 0 0)
  fi
  if [ "$rang" = 0 ] && grep -q "waiting for calls" "$work/phone.out"; then
    sleep 0.2 # let the sign-in settle, then take the idle figure
    [ -n "$phone_pid" ] && idle_rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$phone_pid/status" 2>/dev/null || echo 0)
    echo ring >&3
    rang=1
  elif [ "$rang" = 1 ] && ! grep -q '^ringing call=' "$work/cloud.out" &&
       [ "$(grep -c '^error=' "$work/cloud.out")" -gt "$ring_errors" ]; then
    # Not signed in yet on the cloud's side ("error=no client is signed in"): ring again.
    ring_errors=$((ring_errors + 1))
    echo ring >&3
  fi
  if grep -q "connection Connected" "$work/phone.out" &&
     ! grep -qE "hanging up|session ended" "$work/phone.out"; then
    if [ "$dtmf_sent" = 0 ]; then
      echo "dtmf 9*" >&3
      dtmf_sent=1
    fi
    if [ "$rss" -gt 0 ]; then
      call_samples=$((call_samples + 1))
      if [ "$rss" -gt "$call_rss_peak" ]; then
        call_rss_peak=$rss
        peak_anon=$anon
        peak_file=$file
        peak_pss=$(awk '/^Pss:/ { print $2 }' "/proc/$phone_pid/smaps_rollup" 2>/dev/null || echo 0)
        # Resident kB per mapped file (and [heap], [stack], anonymous) at the peak.
        awk '/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "" ? "[anonymous]" : $6) }
          /^Rss:/ { rss[name] += $2 }
          END { for (n in rss) if (rss[n] > 0) printf "%8d kB  %s\n", rss[n], n }' \
          "/proc/$phone_pid/smaps" 2>/dev/null | sort -rn >"$work/peak-maps.txt" || true
      fi
      call_hwm=$hwm
    fi
  fi
  if [ $(($(date +%s) - start)) -gt $((hangup_after + 90)) ]; then
    echo "the softphone did not finish in time; stopping it" >&2
    kill "$phone_pid" 2>/dev/null || true
    break
  fi
  sleep 0.2
done
phone_rc=0
wait "$time_pid" || phone_rc=$?
time_pid=""

echo calls >&3
sleep 0.3
exec 3>&- # end-of-file: fake-cloud stops
wait "$cloud_pid" || true
cloud_pid=""

echo
echo "== softphone output (exit status $phone_rc)"
cat "$work/phone.out"
if [ -s "$work/phone.err" ]; then
  echo "-- its standard error"
  cat "$work/phone.err"
fi
echo "-- fake-cloud replies"
sed -n '/^ready$/,$p' "$work/cloud.out" | tail -n +2

max_rss=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$work/time.txt")
echo
echo "== figures (issue 4 targets: stripped size < 3 MB, RSS during a call < 8 MB)"
echo "stripped size, device softphone:              $device_size"
echo "stripped size, default softphone (fake cloud): $default_size"
echo "RSS signed in, before the call (VmRSS):        $(kib "${idle_rss:-0}")"
echo "RSS during the call (peak VmRSS):              $(kib "$call_rss_peak")  [$call_samples samples, 200 ms apart]"
echo "  of which anonymous (heap, stacks):          $(kib "$peak_anon")"
echo "  of which file-backed (binary, libraries):    $(kib "$peak_file")"
echo "  its PSS (shared library pages divided among the processes mapping them): $(kib "${peak_pss:-0}")"
echo "VmHWM at the last sample of the call:          $(kib "$call_hwm")"
echo "resident per mapping at the peak (/proc/PID/smaps):"
sed 's/^/  /' "$work/peak-maps.txt" 2>/dev/null | head -12 || true
echo "max RSS of the run (/usr/bin/time -v):         $(kib "${max_rss:-0}")"
if [ "$phone_rc" -ne 0 ] || [ "$call_samples" -eq 0 ]; then
  echo "the call did not run as expected (exit status $phone_rc, $call_samples samples during the call)" >&2
  exit 1
fi
