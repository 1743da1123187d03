#!/usr/bin/env bash
# Issue 4 benchmarks of a device build: the stripped size of the softphone example, its memory
# during a call and its CPU per call-second. The device softphone (profile `device`,
# --no-default-features: no built-in fake cloud; feature release-max-level-info: no debug and
# trace logs compiled in) runs in real-environment mode against the separate `fake-cloud`
# binary, which rings it once; nothing of the fake cloud is in the measured process.
#
# Memory: peak VmRSS during the call, and at that peak the resident kB of each kind of mapping
# (binary, each library, heap and malloc arenas, each thread's stack) split into private and
# shared, with PSS and the private dirty part. CPU: utime + stime of the whole softphone process
# (every thread) from /proc/PID/stat between the first and the last sample of the call, divided
# by the seconds between them (10 ms ticks: use --hangup-after 30 or more for a steadier figure).
#
# Prints figures only (targets: stripped size < 3 MB, RSS during a call < 8 MB); it fails only
# when something does not run. Installs what a fresh Debian 12 lacks, as scripts/test.sh does.
#
# The device softphone is linked with packed relative relocations (`-z pack-relative-relocs`,
# DT_RELR: 0.33 MB smaller than a plain PIE, still position-independent); the binary then needs
# glibc 2.36 or later (Debian 12). DEVICE_LINK_ARGS="" links without it.
#
#   ./scripts/device-bench.sh [--hangup-after SECS] [--no-build]    (default 5 s)
#
# --no-build measures the binaries of the last run as they are (e.g. to repeat a measurement);
# DEVICE_BIN=PATH measures another device softphone binary; SOFTPHONE_ARGS="..." adds arguments
# to its command line (e.g. --no-echo-cancellation, to see what the echo canceller costs).
set -euo pipefail
cd "$(dirname "$0")/.."

hangup_after=5
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --hangup-after) hangup_after=${2:?--hangup-after needs SECS}; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
device_bin=${DEVICE_BIN:-$target_dir/device/examples/softphone}
default_bin="$target_dir/release/examples/softphone"
cloud_bin="$target_dir/release/fake-cloud"

link_args=${DEVICE_LINK_ARGS--Wl,-z,pack-relative-relocs}
link_flags=()
for a in $link_args; do link_flags+=(-C "link-arg=$a"); done
if [ "$build" = 1 ]; then
  echo "== building the device softphone (profile device, --no-default-features --features release-max-level-info, AWS_LC_SYS_NO_JITTER_ENTROPY=${AWS_LC_SYS_NO_JITTER_ENTROPY-1}, link args: ${link_args:-none})"
  # `cargo rustc` gives the flags to the final link only, so the dependencies' builds are shared
  # with `cargo build --profile device`. AWS_LC_SYS_NO_JITTER_ENTROPY=1 builds AWS-LC without its
  # CPU-jitter entropy source (a 131 kB heap block from the first random number on, and its
  # code, 19 kB): its DRBG is then seeded from the OS (getrandom), as BoringSSL's and ring's are.
  AWS_LC_SYS_NO_JITTER_ENTROPY=${AWS_LC_SYS_NO_JITTER_ENTROPY-1} cargo rustc --locked --profile device -p genesys-webrtc-examples --example softphone \
    --no-default-features --features release-max-level-info -- "${link_flags[@]}"
  echo "== building fake-cloud and the default softphone (release, with the fake cloud)"
  cargo build --locked --release -p genesys-webrtc-sim --bin fake-cloud -p genesys-webrtc-examples --example softphone
fi

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

# The shared libraries a binary needs beyond glibc itself (libc, libm, libpthread, libdl, librt,
# the dynamic loader, the vDSO), with their sizes on disk: code that moved out of the binary
# rather than away.
needed_libs() {
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' |
    grep -vE '^(libc|libm|libpthread|libdl|librt|ld-linux[^ ]*)\.so' |
    while read -r soname path; do
      real=$(readlink -f "$path")
      printf "  %-18s %8d bytes = %.2f MB  (%s)\n" "$soname" "$(stat -L -c %s "$real")" \
        "$(awk -v b="$(stat -L -c %s "$real")" 'BEGIN { print b / 1e6 }')" "$real"
    done
}

# Resident memory of one /proc/PID/smaps snapshot by kind: the binary, each library, the main
# thread's heap and stack, the threads' stacks and malloc arenas, other anonymous mappings;
# each as Rss = private + shared (kB), with Pss and the private dirty part (memory only this
# process holds and that cannot be dropped and re-read from the file).
smaps_breakdown() {
  awk -v bin="$2" -v threads="${3:-}" '
    function hex(h,   i, v) { v = 0; for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1; return v }
    function kb(range,   a) { split(range, a, "-"); return (hex(a[2]) - hex(a[1])) / 1024 }
    BEGIN {
      # "0xSP name" lines: which thread stack a mapping is
      while (threads != "" && (getline line < threads) > 0) {
        split(line, f, " ")
        if (f[1] ~ /^0x/) { nt++; sp[nt] = hex(substr(f[1], 3)); tname[nt] = substr(line, length(f[1]) + 2) }
      }
    }
    /^[0-9a-f]+-[0-9a-f]+ / {
      n++; range[n] = $1; perms[n] = $2; name[n] = $6; size[n] = kb($1)
      split($1, a, "-"); lo[n] = a[1]; hi[n] = a[2]
      next
    }
    /^Rss:/ { rss[n] = $2 } /^Pss:/ { pss[n] = $2 }
    /^Private_Clean:/ { pc[n] = $2 } /^Private_Dirty:/ { pd[n] = $2 }
    END {
      for (i = 1; i <= n; i++) {
        nm = name[i]
        if (nm == bin) k = "binary (text, rodata, relro, data)"
        else if (nm ~ /\/libc\.so/) k = "libc.so.6"
        else if (nm ~ /\/libm\.so/) k = "libm.so.6"
        else if (nm ~ /\/libopus\.so/) k = "libopus.so"
        else if (nm ~ /\/ld-linux/) k = "ld-linux (dynamic loader)"
        else if (nm ~ /^\//) k = "other libraries"
        else if (nm == "[heap]") k = "[heap] (main malloc arena)"
        else if (nm == "[stack]") k = "[stack] (main thread)"
        else if (nm ~ /^\[/) k = "other " nm
        else if (perms[i] == "---p") k = "guard and reserve pages"
        # glibc: a thread arena reserves 64 MiB and makes the part in use read-write.
        else if (i < n && name[i + 1] == "" && perms[i + 1] == "---p" && lo[i + 1] == hi[i] &&
                 size[i] + size[i + 1] == 65536) k = "malloc arenas of threads"
        # a thread stack sits just above its 4 kB guard page
        else if (i > 1 && name[i - 1] == "" && perms[i - 1] == "---p" && hi[i - 1] == lo[i] &&
                 size[i - 1] == 4) {
          who = "thread stacks"
          for (t = 1; t <= nt; t++) if (sp[t] >= hex(lo[i]) && sp[t] < hex(hi[i])) who = "thread stack of \"" tname[t] "\""
          k = who " (" size[i] " kB reserved)"
        }
        else k = "other anonymous (large allocations, TLS)"
        R[k] += rss[i]; P[k] += pss[i]; PR[k] += pc[i] + pd[i]; PD[k] += pd[i]; N[k]++
        L[k] = L[k] (L[k] == "" ? "" : "+") rss[i]
        tr += rss[i]; tp += pss[i]; tpr += pc[i] + pd[i]; tpd += pd[i]
      }
      printf "  %8s %8s %8s %8s  %s\n", "Rss", "Pss", "Private", "Priv.dirty", "(kB)"
      for (k in R) if (R[k] > 0) printf "  %8d %8d %8d %8d  %s%s\n", R[k], P[k], PR[k], PD[k], k, (k ~ /^(thread|malloc)/ && N[k] > 1 ? " x" N[k] " (" L[k] ")" : "") | "sort -rn"
      close("sort -rn")
      printf "  %8d %8d %8d %8d  total\n", tr, tp, tpr, tpd
    }' "$1"
}

# A freshly linked binary's pages are dirty in the page cache until written back, and smaps
# counts them as Private_Dirty: write it back first so the breakdown shows what a device sees.
sync "$device_bin" 2>/dev/null || sync
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
  --wav "$work/far-end.wav" ${SOFTPHONE_ARGS:-} \
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
cpu_t0=""
cpu_t1=""
cpu_ticks0=0
cpu_ticks1=0
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
        cp "/proc/$phone_pid/smaps" "$work/peak-smaps" 2>/dev/null || true
        # Each thread's name and stack pointer (from /proc/PID/task/TID/syscall), to name the
        # thread stacks in the breakdown.
        for t in "/proc/$phone_pid"/task/*; do
          printf '%s %s\n' "$(awk '{ print $(NF - 1) }' "$t/syscall" 2>/dev/null)" "$(cat "$t/comm" 2>/dev/null)"
        done >"$work/peak-threads" 2>/dev/null || true
      fi
      call_hwm=$hwm
    fi
    # CPU of the whole process (every thread): utime + stime in clock ticks, fields 14 and 15
    # of /proc/PID/stat (counted after the ")" that ends the command name).
    ticks=""
    [ -n "$phone_pid" ] &&
      ticks=$(sed 's/.*) //' "/proc/$phone_pid/stat" 2>/dev/null | awk '{ print $12 + $13 }' || true)
    if [ -n "$ticks" ]; then
      now=$(date +%s.%N)
      if [ -z "$cpu_t0" ]; then
        cpu_t0=$now
        cpu_ticks0=$ticks
      fi
      cpu_t1=$now
      cpu_ticks1=$ticks
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
echo "shared libraries the device softphone needs beyond glibc (ldd; not counted above):"
needed_libs "$device_bin"
echo "RSS signed in, before the call (VmRSS):        $(kib "${idle_rss:-0}")"
echo "RSS during the call (peak VmRSS):              $(kib "$call_rss_peak")  [$call_samples samples, 200 ms apart]"
echo "  of which anonymous (heap, stacks):          $(kib "$peak_anon")"
echo "  of which file-backed (binary, libraries):    $(kib "$peak_file")"
echo "  its PSS (shared library pages divided among the processes mapping them): $(kib "${peak_pss:-0}")"
echo "VmHWM at the last sample of the call:          $(kib "$call_hwm")"
echo "resident memory at the peak by kind (/proc/PID/smaps):"
[ -s "$work/peak-smaps" ] && smaps_breakdown "$work/peak-smaps" "$device_bin" "$work/peak-threads"
echo "max RSS of the run (/usr/bin/time -v):         $(kib "${max_rss:-0}")"
if [ -n "$cpu_t0" ]; then
  echo "CPU of the device softphone during the call (utime + stime of all its threads, /proc/PID/stat):"
  awk -v t0="$cpu_t0" -v t1="$cpu_t1" -v c0="$cpu_ticks0" -v c1="$cpu_ticks1" -v hz="$(getconf CLK_TCK)" '
    BEGIN {
      s = t1 - t0; cpu = (c1 - c0) / hz
      if (s <= 0) { print "  (the call was too short to measure)"; exit }
      printf "  %.2f s of CPU over %.2f s of call = %.1f ms per call-second (%.2f %% of one core; %d Hz ticks)\n",
        cpu, s, 1000 * cpu / s, 100 * cpu / s, hz
    }'
fi
if [ "$phone_rc" -ne 0 ] || [ "$call_samples" -eq 0 ]; then
  echo "the call did not run as expected (exit status $phone_rc, $call_samples samples during the call)" >&2
  exit 1
fi
