#!/usr/bin/env bash
# The ALSA backend on real ALSA devices: boots Debian's stock kernel in QEMU (software emulation
# is enough) with a tiny initramfs that loads snd-aloop and runs the backend's
# `alsa-loopback-check` example (tone into the loopback, captured back, frequency checked, a
# device switch mid-stream, plug rate/channel conversion). Prints the guest's output and exits 0
# only if the check printed `ALSA-LOOPBACK: PASS`.
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
  rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
  dpkg-deb -x "$cache/$kpkg"_*.deb "$kdir.tmp"
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
for i in 1 2 3 4 5 6 7 8 9 10; do
  [ -e /dev/snd/pcmC0D1c ] && break
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

# Software emulation by default (a /dev/kvm that is present may still not work, as in nested
# setups); ALSA_QEMU_ACCEL=kvm to use KVM.
accel=${ALSA_QEMU_ACCEL:-tcg}
echo "booting $kpkg in QEMU ($accel), initramfs $(du -h "$work/initramfs.cpio.gz" | cut -f1)"
start=$(date +%s)
out=$work/guest.log
timeout "${ALSA_QEMU_TIMEOUT:-300}" qemu-system-x86_64 \
  -accel "$accel" -m 512 -smp 1 -nographic -no-reboot \
  -kernel "$kdir/boot/vmlinuz-$kver" -initrd "$work/initramfs.cpio.gz" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1" </dev/null | tr -d '\r' | tee "$out" || true
echo "QEMU run took $(( $(date +%s) - start )) s"
grep -q '^ALSA-LOOPBACK: PASS' "$out"
