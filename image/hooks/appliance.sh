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

step "the logger as release \$version in /opt/smartmeter/releases (offline, from the bundle's wheels)"
# The layout the updater keeps (services/updater/layout.py): releases side by side, `current`
# and `good` pointing at the running one; venv and supervisord.conf are links for the paths
# documented before releases existed.
version=$(cat "$bundle/version")
opt=/opt/smartmeter
release=$opt/releases/$version
wheels=/tmp/smartmeter-wheels
rm -rf "$root$wheels" "$root$opt"
cp -r "$bundle/wheels" "$root$wheels"
cp "$bundle/requirements.txt" "$root$wheels/"
project=$(cd "$root$wheels" && ls smartmeter_logger-*.whl)
mkdir -p "$root$release"
in_root python3 -m venv "$release/venv"
in_root "$release/venv/bin/pip" install --quiet --no-index --no-cache-dir \
    --disable-pip-version-check --find-links "$wheels" \
    -r "$wheels/requirements.txt" "$wheels/$project"
rm -rf "$root$wheels"
for f in supervisord.conf requirements.txt version; do
    install -m 0644 "$bundle/$f" "$root$release/$f"
done
ln -s "releases/$version" "$root$opt/current"
ln -s "releases/$version" "$root$opt/good"
ln -s current/venv "$root$opt/venv"
ln -s current/supervisord.conf "$root$opt/supervisord.conf"
ln -s current/requirements.txt "$root$opt/requirements.txt"
ln -s current/version "$root$opt/version"
in_root "$opt/current/venv/bin/smartmeterctl" --version

step "the update public key (bundles signed by its secret key are accepted)"
install -D -m 0644 "$bundle/update.pub" "$root/usr/share/smartmeter/update.pub"

step "default settings (health endpoint open to the LAN)"
in_root install -m 0600 -o smartmeter -g smartmeter /dev/null /etc/smartmeter/settings.yml
cat "$bundle/settings.yml" >"$root/etc/smartmeter/settings.yml"

step "time zone Asia/Tokyo; the clock starts no earlier than this build"
ln -sf /usr/share/zoneinfo/Asia/Tokyo "$root/etc/localtime"
echo Asia/Tokyo >"$root/etc/timezone"
touch "$root/usr/lib/clock-epoch"

step "units: logger, first-boot import, root growth, SSH keys, network"
in_root systemctl enable smartmeter.service smartmeter-import.service \
    smartmeter-update-recover.service smartmeter-update-card.service \
    smartmeter-growroot.service smartmeter-sshkeys.service \
    systemd-networkd.service systemd-resolved.service systemd-timesyncd.service \
    avahi-daemon.service apt-daily.timer apt-daily-upgrade.timer
# SSH only when smartmeter.env brings a key; the apt timers only for security updates
# (overlay: apt.conf.d/20auto-upgrades, 52smartmeter-unattended-upgrades).
# wpa_supplicant.service is the D-Bus one; Wi-Fi uses wpa_supplicant@wlan0 when configured.
in_root systemctl disable ssh.service wpa_supplicant.service 2>/dev/null || true
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
