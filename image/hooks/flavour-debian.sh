#!/bin/sh
# Flavour "debian": point Debian's raspi-firmware at our partition labels and consoles,
# then let its kernel hook write /boot/firmware (kernel, initrd, DTBs, config.txt,
# cmdline.txt) again. An mmdebstrap-style hook: `flavour-debian.sh ROOTFS`, /proc mounted
# (the hook refuses to run when it cannot tell it is in a chroot).
set -eu
root=${1:?usage: flavour-debian.sh ROOTFS}
in_root() {
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
        QEMU_CPU="${QEMU_CPU:-cortex-a72}" "$@"
}

defaults="$root/etc/default/raspi-firmware"
set_default() {  # KEY VALUE: replace the commented default, or add it
    if grep -q "^#\?$1=" "$defaults"; then
        sed -i "s|^#\?$1=.*|$1=$2|" "$defaults"
    else
        echo "$1=$2" >>"$defaults"
    fi
}
# Root by label, as in fstab and genimage.cfg.in (not /dev/mmcblk0p2: a USB boot differs).
set_default ROOTPART '"LABEL=rootfs"'
# Serial console (the Pi 3/4 mini UART under upstream kernels) and the screen. Fixed here:
# "auto" would look at the build machine's /dev.
set_default CONSOLES '"ttyS1,115200 tty0"'
# No contiguous-memory pool: headless, and cma= on a Pi 4 can stop it from booting.
set_default CMA 0

kernel=$(cd "$root/usr/lib/modules" && ls | sort -V | tail -n 1)
in_root env DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware "$kernel"
echo "flavour-debian: /boot/firmware/cmdline.txt: $(cat "$root/boot/firmware/cmdline.txt")"
