#!/bin/sh
# Flavour "raspios": what pi-gen's stage0/stage1 do that the packages do not. An
# mmdebstrap-style hook: `flavour-raspios.sh ROOTFS`. Not built on the CI machine (the
# Raspberry Pi archive is unreachable there); the static tests check its files.
set -eu
root=${1:?usage: flavour-raspios.sh ROOTFS}
in_root() {
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
        QEMU_CPU="${QEMU_CPU:-cortex-a72}" "$@"
}

# apt in the image: the archive's key comes from raspberrypi-archive-keyring (installed).
cat >"$root/etc/apt/sources.list.d/raspi.sources" <<'SOURCES'
Types: deb
URIs: http://archive.raspberrypi.com/debian/
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/raspberrypi-archive-keyring.pgp
SOURCES

# The firmware reads config.txt and cmdline.txt; Raspberry Pi OS ships them as files
# (overlay/raspios/boot/firmware, copied by appliance.sh, which runs first), not generated
# by a kernel hook as Debian does.
# raspberrypi-sys-mods' first boot resizes root and applies Raspberry Pi Imager's
# customisation (firstrun.sh / custom.toml; cloud-init user-data on trixie).
test -s "$root/boot/firmware/cmdline.txt"
test -s "$root/boot/firmware/config.txt"

# Raspberry Pi's kernels install into /boot/firmware themselves (kernel8.img, kernel_2712.img).
in_root update-initramfs -u -k all
