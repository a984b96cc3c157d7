#!/bin/sh
# THE appliance layer, shared by every flavour: the logger and how the machine runs it.
#
# An mmdebstrap-style hook: `appliance.sh ROOTFS`, run on the build machine as root with
# /proc, /sys and /dev mounted in ROOTFS; commands for the image run in it with chroot
# (aarch64 under qemu-user). The same file can serve as an mmdebstrap --customize-hook or
# an rpi-image-gen layer hook.
#
# Environment:
#   SMARTMETER_APP_BUNDLE     wheels/, requirements.txt, supervisord.conf, settings.yml, version
#   SMARTMETER_IMAGE_OVERLAY  image/overlay (its appliance/ and <flavour>/ are copied in)
#   SMARTMETER_FLAVOUR        debian or raspios
set -eu

root=${1:?usage: appliance.sh ROOTFS}
bundle=${SMARTMETER_APP_BUNDLE:?}
overlay=${SMARTMETER_IMAGE_OVERLAY:?}
flavour=${SMARTMETER_FLAVOUR:-debian}

# A clean environment inside: nothing of the build machine (PIP_*, PYTHON*) may leak in.
in_root() {
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
        HOME=/root QEMU_CPU="${QEMU_CPU:-cortex-a72}" "$@"
}
step() { echo "appliance: $*"; }

step "files from overlay/appliance and overlay/$flavour"
cp -rT --preserve=mode,timestamps "$overlay/appliance" "$root"
if [ -d "$overlay/$flavour" ]; then
    cp -rT --preserve=mode,timestamps "$overlay/$flavour" "$root"
fi

step "the smartmeter user (dialout for the dongle) and its folders"
in_root systemd-sysusers /usr/lib/sysusers.d/smartmeter.conf
in_root install -d -m 0750 -o root -g smartmeter /etc/smartmeter
in_root install -d -m 0750 -o smartmeter -g smartmeter \
    /var/lib/smartmeter /var/lib/smartmeter/state /var/log/smartmeter

step "the logger in its own venv, /opt/smartmeter/venv (offline, from the bundle's wheels)"
wheels=/tmp/smartmeter-wheels
rm -rf "$root$wheels"
cp -r "$bundle/wheels" "$root$wheels"
cp "$bundle/requirements.txt" "$root$wheels/"
project=$(cd "$root$wheels" && ls smartmeter_logger-*.whl)
rm -rf "$root/opt/smartmeter/venv"
in_root python3 -m venv /opt/smartmeter/venv
in_root /opt/smartmeter/venv/bin/pip install --quiet --no-index --no-cache-dir \
    --disable-pip-version-check --find-links "$wheels" \
    -r "$wheels/requirements.txt" "$wheels/$project"
rm -rf "$root$wheels"
install -m 0644 "$bundle/supervisord.conf" "$root/opt/smartmeter/supervisord.conf"
install -m 0644 "$bundle/version" "$root/opt/smartmeter/version"
install -m 0644 "$bundle/requirements.txt" "$root/opt/smartmeter/requirements.txt"
in_root /opt/smartmeter/venv/bin/smartmeterctl --version

step "default settings (health endpoint open to the LAN)"
in_root install -m 0600 -o smartmeter -g smartmeter /dev/null /etc/smartmeter/settings.yml
cat "$bundle/settings.yml" >"$root/etc/smartmeter/settings.yml"

step "time zone Asia/Tokyo; the clock starts no earlier than this build"
ln -sf /usr/share/zoneinfo/Asia/Tokyo "$root/etc/localtime"
echo Asia/Tokyo >"$root/etc/timezone"
touch "$root/usr/lib/clock-epoch"

step "units: logger, first-boot import, root growth, SSH keys, network"
in_root systemctl enable smartmeter.service smartmeter-import.service \
    smartmeter-growroot.service smartmeter-sshkeys.service \
    systemd-networkd.service systemd-resolved.service systemd-timesyncd.service \
    avahi-daemon.service
# SSH only when smartmeter.env brings a key; no package timers on an appliance.
# wpa_supplicant.service is the D-Bus one; Wi-Fi uses wpa_supplicant@wlan0 when configured.
in_root systemctl disable ssh.service wpa_supplicant.service apt-daily.timer \
    apt-daily-upgrade.timer 2>/dev/null || true
in_root systemctl mask dpkg-db-backup.timer e2scrub_all.timer 2>/dev/null || true
ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"

step "no secrets of this build: machine-id, SSH host keys, passwords"
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
rm -f "$root"/etc/ssh/ssh_host_*
in_root passwd --lock root >/dev/null
rm -rf "$root/var/log/journal"
find "$root/var/log" -type f \( -name '*.log' -o -name 'lastlog' -o -name '*tmp' \) \
    -exec truncate -s 0 {} +
rm -rf "$root/var/cache/apt"/*.bin "$root/var/lib/apt/lists"/* "$root/tmp"/* "$root/root/.cache"

step "stamp"
{
    echo "SMARTMETER_VERSION=$(cat "$bundle/version")"
    echo "SMARTMETER_FLAVOUR=$flavour"
    echo "SMARTMETER_BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$root/etc/smartmeter-release"
