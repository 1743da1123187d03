#!/usr/bin/env bash
# The ALSA backend on real ALSA devices: boots Debian's stock kernel in QEMU (software emulation
# is enough) with a tiny initramfs that loads snd-aloop and runs the backend's
# `alsa-loopback-check` example (tone into the loopback, captured back, frequency checked, a
# device switch mid-stream, plug rate/channel conversion, recovered xruns). The guest also has an
# emulated USB sound card (QEMU's usb-audio on xHCI, snd-usb-audio) that this script unplugs
# through the QEMU monitor when the check asks (`UNPLUG-NOW`): the core audio loop playing on it
# must report the vanished speaker and fall back to the system default. Prints the guest's output
# and exits 0 only if the check printed `ALSA-LOOPBACK: PASS`.
#
# Not part of scripts/test.sh (it downloads a ~70 MB kernel package once and boots a VM); the
# file-PCM tests of backends/alsa (tests/file_pcm.rs) run in every `cargo test --workspace`.
# Cache: target/alsa-qemu/cache (the .deb files); work files: target/alsa-qemu/.
# Set ALSA_QEMU_TIMEOUT (seconds, default 300) to bound the guest's run, ALSA_QEMU_ACCEL=kvm to
# use KVM instead of software emulation.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/target/alsa-qemu
cache=$work/cache
mkdir -p "$cache"

need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists alsa 2>/dev/null || need+=(libasound2-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# Debian's kernel (the versioned package the linux-image-amd64 metapackage points at) and a
# static busybox for the guest's shell.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$kpkg" ]; then
  echo "cannot resolve linux-image-amd64 (run apt-get update)" >&2
  exit 1
fi
(
  cd "$cache"
  ls "$kpkg"_*.deb >/dev/null 2>&1 || apt-get download "$kpkg"
  ls busybox-static_*.deb >/dev/null 2>&1 || apt-get download busybox-static
) 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
kver=${kpkg#linux-image-}
kdir=$work/kernel-$kver
if [ ! -d "$kdir/boot" ]; then
  # Only the kernel, the module list and the sound/USB modules (the whole package is ~400 MB).
  rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
  dpkg-deb --fsys-tarfile "$cache/$kpkg"_*.deb | tar -x -C "$kdir.tmp" --wildcards \
    './boot/vmlinuz-*' './lib/modules/*/modules.order' './lib/modules/*/kernel/sound/*' \
    './lib/modules/*/kernel/drivers/usb/*' './lib/modules/*/kernel/drivers/media/mc/*'
  mv "$kdir.tmp" "$kdir"
fi
bbdir=$work/busybox
if [ ! -x "$bbdir/bin/busybox" ]; then
  rm -rf "$bbdir" && mkdir -p "$bbdir"
  dpkg-deb -x "$cache"/busybox-static_*.deb "$bbdir"
fi

# The check binary (dynamically linked: its libraries and ALSA's configuration go in too).
cargo build -q -p genesys-webrtc-alsa --example alsa-loopback-check
bin=$root/target/debug/examples/alsa-loopback-check

init=$work/initramfs
rm -rf "$init"
mkdir -p "$init"/{bin,dev,proc,sys,tmp,lib/modules,usr/share}
# ALSA's dmix/dsnoop (behind `default`) want the `audio` group to exist.
mkdir -p "$init/etc"
echo 'root:x:0:0:root:/tmp:/bin/sh' > "$init/etc/passwd"
printf 'root:x:0:\naudio:x:29:root\n' > "$init/etc/group"
cp "$bbdir/bin/busybox" "$init/bin/busybox"
cp "$bin" "$init/check"
strip "$init/check" 2>/dev/null || true
ldd "$bin" | awk '/=>/ { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
  [ -f "$lib" ] || continue
  mkdir -p "$init$(dirname "$lib")"
  cp -L "$lib" "$init$lib"
done
cp -r /usr/share/alsa "$init/usr/share/alsa"

# snd-aloop and what it needs, in load order: the package has no modules.dep (depmod makes it at
# install), so read each module's `depends=` from its .modinfo section.
mods=$kdir/lib/modules/$kver
modpath() { grep -E "/($1|$(echo "$1" | tr _ -)|$(echo "$1" | tr - _))\.ko(\.xz)?$" "$mods/modules.order" | head -n1; }
modinfo_depends() {
  local f=$mods/$1
  case "$f" in *.xz) xz -dc "$f" ;; *) cat "$f" ;; esac | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '
}
order=()
add_module() {
  local p dep
  p=$(modpath "$1")
  [ -n "$p" ] || { echo "module $1 not in $kpkg" >&2; exit 1; }
  for seen in "${order[@]}"; do [ "$seen" = "$p" ] && return 0; done
  for dep in $(modinfo_depends "$p"); do add_module "$dep"; done
  order+=("$p")
}
add_module snd-aloop
add_module xhci-pci
add_module snd-usb-audio
: > "$init/modules.list"
for m in "${order[@]}"; do
  base=$(basename "$m")
  case "$base" in
    *.xz) xz -dc "$mods/$m" > "$init/lib/modules/${base%.xz}"; base=${base%.xz} ;;
    *) cp "$mods/$m" "$init/lib/modules/$base" ;;
  esac
  echo "$base" >> "$init/modules.list"
done

cat > "$init/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do
  insmod /lib/modules/$m || echo "insmod $m failed"
done
for i in $(seq 1 25); do
  [ -e /dev/snd/pcmC0D1c ] && [ -e /dev/snd/pcmC1D0p ] && break
  sleep 0.2
done
echo "guest: kernel $(uname -r), modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
cat /proc/asound/cards
t0=$(cut -d' ' -f1 /proc/uptime)
HOME=/tmp /check
echo "guest: check exited $? (uptime $t0 s -> $(cut -d' ' -f1 /proc/uptime) s)"
poweroff -f
EOF
chmod +x "$init/init"
(cd "$init" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.cpio.gz"
rm -rf "$init"

# Software emulation by default (a /dev/kvm that is present may still not work, as in nested
# setups); ALSA_QEMU_ACCEL=kvm to use KVM.
accel=${ALSA_QEMU_ACCEL:-tcg}
echo "booting $kpkg in QEMU ($accel), initramfs $(du -h "$work/initramfs.cpio.gz" | cut -f1)"
start=$(date +%s)
out=$work/guest.log
raw=$work/guest.raw
rm -f "$raw" "$out"
: > "$raw"
# The QEMU monitor on a local TCP port: the host unplugs the USB sound card when the guest asks.
port=$(( 20000 + RANDOM % 20000 ))
(
  for _ in $(seq 1 $(( ${ALSA_QEMU_TIMEOUT:-300} * 5 ))); do
    if grep -q 'UNPLUG-NOW' "$raw" 2>/dev/null; then
      if exec 3<>"/dev/tcp/127.0.0.1/$port"; then
        printf 'device_del usbaudio\n' >&3
        sleep 1
        exec 3>&-
        echo "host: unplugged the USB sound card (device_del usbaudio)"
      fi
      exit 0
    fi
    sleep 0.2
  done
) &
watcher=$!
timeout "${ALSA_QEMU_TIMEOUT:-300}" qemu-system-x86_64 \
  -accel "$accel" -m 512 -smp 1 -nographic -no-reboot \
  -monitor "tcp:127.0.0.1:$port,server=on,wait=off" \
  -device qemu-xhci,id=xhci -audiodev none,id=snd0 \
  -device usb-audio,audiodev=snd0,id=usbaudio,bus=xhci.0 \
  -kernel "$kdir/boot/vmlinuz-$kver" -initrd "$work/initramfs.cpio.gz" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1" </dev/null > "$raw" 2>&1 &
qemu=$!
tail -f "$raw" --pid=$qemu | tr -d '\r' || true
wait $qemu || true
kill "$watcher" 2>/dev/null || true
tr -d '\r' < "$raw" > "$out"
echo "QEMU run took $(( $(date +%s) - start )) s"
grep -q '^ALSA-LOOPBACK: PASS' "$out"
