"""The image recipe, checked without building anything (seconds, no root needed).

Package lists and flavours are well formed; fstab, cmdline.txt and genimage's partition
labels agree; units and supervisord.conf parse; the overlay holds no secret; the first-boot
importer does what smartmeter.env.example promises, against a fake boot partition.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.image_fixtures import (
    APPLIANCE,
    IMAGE,
    OVERLAY,
    PROJECT,
    app,
    build,
    disk,
    load_script,
    recipe,
)

UNITS = sorted((APPLIANCE / "etc/systemd/system").glob("*.service"))
IMPORTER = APPLIANCE / "usr/lib/smartmeter/import-boot-config"
EXAMPLE = APPLIANCE / "boot/firmware/smartmeter.env.example"


# --- package lists and flavours --------------------------------------------------------


@pytest.mark.parametrize("name", recipe.FLAVOURS)
def test_each_flavour_reads_and_adds_only_new_packages(name: str) -> None:
    flavour = recipe.read_flavour(name)
    packages = recipe.all_packages(flavour)
    assert packages == sorted(set(packages))
    assert flavour.suite == "trixie", "the appliance layer's wheels are built for trixie's 3.13"
    assert all(s.startswith("deb http") for s in flavour.sources)
    for hook in flavour.hooks:
        assert os.access(IMAGE / "hooks" / hook, os.X_OK)


def test_base_list_is_sorted_and_has_what_the_appliance_layer_uses() -> None:
    base = recipe.read_package_list(IMAGE / "packages/base.txt")
    assert base == sorted(base)
    needed = {"python3-venv", "systemd-sysv", "udev", "openssh-server", "sudo", "tzdata",
              "cloud-guest-utils", "wpasupplicant", "systemd-resolved", "avahi-daemon"}  # fmt: skip
    assert needed <= set(base)


def test_debian_flavour_is_debian_only_and_raspios_pins_the_raspberry_pi_key() -> None:
    debian = recipe.read_flavour("debian")
    assert not any("raspberrypi.com" in s for s in debian.sources)
    assert {"linux-image-arm64", "raspi-firmware", "firmware-brcm80211"} <= set(debian.packages)
    raspios = recipe.read_flavour("raspios")
    assert any("archive.raspberrypi.com" in s for s in raspios.sources)
    assert [k.fingerprint for k in raspios.keyrings] == ["CF8A1AF502A2AA2D763BAE7E82B129927FA3303E"]
    for pkg in ("linux-image-rpi-v8", "linux-image-rpi-2712", "raspberrypi-sys-mods"):
        assert pkg in raspios.packages


def test_a_bad_package_name_or_directive_is_refused_with_the_line(tmp_path: Path) -> None:
    shutil.copytree(IMAGE / "flavours", tmp_path / "flavours")
    shutil.copytree(IMAGE / "hooks", tmp_path / "hooks")
    flavour = tmp_path / "flavours/debian.txt"
    flavour.write_text(flavour.read_text() + "Linux_Image\n")
    with pytest.raises(recipe.RecipeError, match=r"debian.txt:\d+: 'Linux_Image'"):
        recipe.read_flavour("debian", tmp_path)
    flavour.write_text("@suite trixie\n@mirror http://x\n")
    with pytest.raises(recipe.RecipeError, match="'@mirror'"):
        recipe.read_flavour("debian", tmp_path)


def test_base_cache_key_follows_packages_and_base_overlay_only(tmp_path: Path) -> None:
    for part in ("flavours", "hooks", "packages", "overlay/base"):
        shutil.copytree(IMAGE / part, tmp_path / part)
    flavour = recipe.read_flavour("debian", tmp_path)
    key = recipe.base_cache_key(flavour, tmp_path)
    assert key == recipe.base_cache_key(flavour, tmp_path)
    assert key.startswith("debian-trixie-")
    (tmp_path / "overlay/appliance").mkdir()
    (tmp_path / "overlay/appliance/x").write_text("app change")
    assert recipe.base_cache_key(flavour, tmp_path) == key, "an app change must not rebuild base"
    base = tmp_path / "packages/base.txt"
    base.write_text(base.read_text() + "htop\n")
    assert recipe.base_cache_key(flavour, tmp_path) != key
    base.write_text((IMAGE / "packages/base.txt").read_text())
    initramfs = tmp_path / "overlay/base/etc/initramfs-tools/conf.d/smartmeter.conf"
    initramfs.write_text("MODULES=most\n")
    assert recipe.base_cache_key(flavour, tmp_path) != key


# --- labels: genimage, fstab, cmdline.txt ----------------------------------------------


def _genimage_labels(text: str) -> dict[str, str]:
    labels = {}
    for block in re.finditer(r"image (\S+) \{(.*?)\n\}", text, re.S):
        m = re.search(r'label = "([^"]+)"', block.group(2))
        mount = re.search(r'mountpoint = "([^"]+)"', block.group(2))
        if m and mount:
            labels[mount.group(1)] = m.group(1)
    return labels


def test_genimage_config_renders_with_both_partitions() -> None:
    text = disk.render_genimage("smartmeter-test.img")
    assert "@" not in re.sub(r"#.*", "", text)
    assert _genimage_labels(text) == {"/boot/firmware": "bootfs", "/": "rootfs"}
    assert 'partition-table-type = "mbr"' in text  # a Pi 3 boots from MBR only
    assert re.search(r"partition-type = 0x0C\s+bootable = true", text)


def test_fstab_mounts_exactly_the_labels_genimage_writes() -> None:
    labels = _genimage_labels(disk.render_genimage("x.img"))
    fstab = {}
    for line in (APPLIANCE / "etc/fstab").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            spec, mount, fstype, options, *_ = line.split()
            fstab[mount] = (spec, fstype, options)
            assert "noatime" in options.split(",")
    assert fstab["/"][:2] == (f"LABEL={labels['/']}", "ext4")
    assert fstab["/boot/firmware"][:2] == (f"LABEL={labels['/boot/firmware']}", "vfat")
    assert "fmask=0177" in fstab["/boot/firmware"][2], "the FAT copy of smartmeter.env: root only"


def test_both_flavours_boot_the_root_label() -> None:
    root = "LABEL=" + _genimage_labels(disk.render_genimage("x.img"))["/"]
    debian_hook = (IMAGE / "hooks/flavour-debian.sh").read_text()
    assert f"set_default ROOTPART '\"{root}\"'" in debian_hook
    cmdline = (OVERLAY / "raspios/boot/firmware/cmdline.txt").read_text()
    assert len(cmdline.splitlines()) == 1, "cmdline.txt is one line"
    assert f"root={root}" in cmdline.split()


# --- units, supervisord, udev ----------------------------------------------------------


def _unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_each_unit_parses_and_runs_something_that_exists(path: Path) -> None:
    unit = _unit(path)
    assert set(unit.sections()) <= {"Unit", "Service", "Install"}
    assert unit.get("Unit", "Description")
    command = unit.get("Service", "ExecStart").split()[0]
    shipped = APPLIANCE / command.lstrip("/")
    assert shipped.exists() or command.startswith(
        ("/usr/bin/", "/opt/smartmeter/current/venv/bin/", "/opt/smartmeter/good/venv/bin/")
    )
    if shipped.exists():
        assert os.access(shipped, os.X_OK)
    assert unit.get("Install", "WantedBy")


def test_units_verify_with_systemd_analyze(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    units = tmp_path / "units"
    units.mkdir()
    for path in UNITS:  # the commands do not exist on this machine: verify the syntax only
        text = re.sub(r"^(Exec\w+)=\S+", r"\1=/bin/true", path.read_text(), flags=re.M)
        text = re.sub(r"^EnvironmentFile=.*$", "", text, flags=re.M)
        (units / path.name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(units.iterdir())],
        capture_output=True, text=True,
    )  # fmt: skip
    bad = [ln for ln in result.stderr.splitlines() if re.search(r"Unknown (key|section)", ln)]
    assert not bad, "\n".join(bad)


def test_logger_service_runs_supervisord_as_its_user_and_never_gives_up() -> None:
    unit = _unit(APPLIANCE / "etc/systemd/system/smartmeter.service")
    s = dict(unit.items("Service"))
    assert s["User"] == "smartmeter"
    assert s["Restart"] == "always"
    assert s["KillMode"] == "control-group"
    assert s["RuntimeDirectory"] == "smartmeter" and s["RuntimeDirectoryMode"] == "0750"
    assert s["ExecStart"] == "/opt/smartmeter/current/venv/bin/smartmeterctl supervise"
    assert unit.get("Unit", "StartLimitIntervalSec") == "0"
    assert "smartmeter-import.service" in unit.get("Unit", "After")


def _appliance_environment() -> dict[str, str]:
    env = {}
    for line in (APPLIANCE / "usr/lib/smartmeter/environment").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


def test_appliance_paths_are_the_agreed_ones() -> None:
    assert _appliance_environment() == {
        "SMARTMETER_HOME": "/var/lib/smartmeter",
        "SMARTMETER_CONFIG": "/etc/smartmeter/settings.yml",
        "SMARTMETER_ENV_FILE": "/etc/smartmeter/smartmeter.env",
        "SMARTMETER_RUNTIME_DIR": "/run/smartmeter",
        "SMARTMETER_DATA_DIR": "/var/lib/smartmeter/state",
        "SMARTMETER_LOG_DIR": "/var/log/smartmeter",
        "SMARTMETER_SUPERVISORD_CONF": "/opt/smartmeter/current/supervisord.conf",
        "SMARTMETER_RELEASE_ROOT": "/opt/smartmeter",
        "SMARTMETER_UPDATE_PUBKEY": "/usr/share/smartmeter/update.pub",
        "SMARTMETER_BASE_PYTHON": "/usr/bin/python3",
        "SMARTMETER_UPDATE_GATE_SECONDS": "300",
    }


def test_supervisord_conf_parses_with_the_appliance_environment(tmp_path: Path) -> None:
    from supervisor.options import ServerOptions

    env = _appliance_environment()
    for key in ("SMARTMETER_HOME", "SMARTMETER_RUNTIME_DIR", "SMARTMETER_LOG_DIR"):
        env[key] = str(tmp_path / key.lower())  # realize() checks that folders exist
        Path(env[key]).mkdir()
    python = "/opt/smartmeter/releases/1.0/venv/bin/python"  # sys.executable of a release
    env.update(SMARTMETER_PYTHON=python, SMARTMETER_SIMULATOR="true")
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        options = ServerOptions()
        options.realize(args=["-c", str(PROJECT / "supervisord.conf")])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    programs = {g.name: g for g in options.process_group_configs}
    assert {"simulator", "radio", "csv_rotator"} <= set(programs)
    for group in programs.values():
        for proc in group.process_configs:
            assert proc.command.startswith(f"{python} -m services.")
    assert options.directory == env["SMARTMETER_HOME"]


def test_udev_rule_names_the_dongle_for_known_usb_serial_bridges() -> None:
    rules = (APPLIANCE / "etc/udev/rules.d/70-smartmeter-dongle.rules").read_text()
    lines = [ln for ln in rules.splitlines() if ln.strip() and not ln.startswith("#")]
    for line in lines:
        for clause in line.split(", "):
            assert re.match(r'^(ACTION|SUBSYSTEM|KERNEL|ENV\{\w+\}|LABEL|GOTO|SYMLINK|GROUP|MODE)'
                            r'(==|!=|=|\+=)"[^"]*"$', clause), clause  # fmt: skip
    assert 'SYMLINK+="smartmeter-dongle"' in rules
    for vendor, model in (("0403", "6015"), ("0403", "6001"), ("10c4", "ea60")):
        assert f'ENV{{ID_VENDOR_ID}}=="{vendor}", ENV{{ID_MODEL_ID}}=="{model}"' in rules
    gotos = set(re.findall(r'GOTO="(\w+)"', rules))
    assert gotos <= set(re.findall(r'LABEL="(\w+)"', rules))


@pytest.mark.parametrize(
    "script",
    ["hooks/appliance.sh", "hooks/flavour-debian.sh", "hooks/flavour-raspios.sh",
     "overlay/appliance/usr/lib/smartmeter/growroot",
     "overlay/appliance/usr/local/bin/smartmeterctl"],
)  # fmt: skip
def test_shell_scripts_parse_and_are_executable(script: str) -> None:
    path = IMAGE / script
    assert os.access(path, os.X_OK)
    subprocess.run(["sh", "-n", str(path)], check=True)


# --- no secrets, the example, the settings ---------------------------------------------

SECRET_PATTERNS = [
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    r"(?m)^[ \t]*BROUTE_ID[ \t]*=[ \t]*\S",
    r"(?m)^[ \t]*BROUTE_PASSWORD[ \t]*=[ \t]*\S",
    r"(?m)^[ \t]*INFLUXDB_TOKEN[ \t]*=[ \t]*\S",
    r"(?m)^[ \t]*WIFI_PASSWORD[ \t]*=[ \t]*\S",
    r"(?m)^\s*psk=",
    r"\$[156y]\$[^:\s]+\$",  # a password hash
]


def test_no_secrets_anywhere_in_the_overlay() -> None:
    for path in sorted(p for p in OVERLAY.rglob("*") if p.is_file()):
        name = path.name
        assert not re.match(r"ssh_host_.*_key|shadow|gshadow|machine-id$", name), path
        text = path.read_text(errors="replace")
        for pattern in SECRET_PATTERNS:
            assert not re.search(pattern, text), f"{path}: matches {pattern}"


def test_env_example_offers_every_logger_key_and_the_dongle_link() -> None:
    example = EXAMPLE.read_text()
    keys = set(re.findall(r"(?m)^([A-Z_]+)=", example))
    dev_keys = set(re.findall(r"(?m)^([A-Z_]+)=", (PROJECT / ".env.example").read_text()))
    assert dev_keys <= keys
    assert re.search(r"(?m)^SERIAL_PORT=/dev/smartmeter-dongle$", example)
    importer = load_script(IMPORTER, "import_boot_config")
    assert set(importer.SYSTEM_KEYS) <= keys


def test_image_settings_open_health_to_the_lan_and_nothing_else() -> None:
    text = "unitid: x\nhealth:\n  # where\n  bind: 127.0.0.1\n  port: 8780\ncsv:\n  bind: 1\n"
    out = app.image_settings(text)
    assert "  bind: 0.0.0.0" in out and "  bind: 1" in out and "port: 8780" in out
    assert app.image_settings("unitid: x\n") == "unitid: x\n"


def test_wheels_are_downloaded_for_trixie_aarch64_only() -> None:
    args = app.platform_args()
    assert app.TARGET_PYTHON == "3.13"
    assert "manylinux_2_17_aarch64" in args and "manylinux2014_aarch64" in args
    assert all(a == "--platform" or a.endswith("_aarch64") for a in args)


def test_build_cli_explains_itself() -> None:
    result = subprocess.run(
        [sys.executable, str(IMAGE / "build"), "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "--flavour" in result.stdout and "--out" in result.stdout
    assert build.parse_args(["--flavour", "raspios"]).flavour == "raspios"


# --- the first-boot importer against a fake boot partition -----------------------------


@pytest.fixture
def importer(tmp_path: Path):
    module = load_script(IMPORTER, "import_boot_config")
    root = tmp_path / "root"
    (root / "etc/smartmeter").mkdir(parents=True)
    me = os.getuid(), os.getgid()
    (root / "etc/passwd").write_text(
        f"root:x:{me[0]}:{me[1]}::/root:/bin/sh\nsmartmeter:x:{me[0]}:{me[1]}::/:/bin/false\n"
    )
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\tsmartmeter\n")
    boot = tmp_path / "boot"
    boot.mkdir()
    enabled: list[str] = []

    def run() -> object:
        imp = module.Importer(root, boot, enabled.append, live=False)
        imp.run()
        return imp

    return module, root, boot, enabled, run


def test_env_is_imported_0600_and_removed_from_the_card(importer) -> None:
    _, root, boot, _, run = importer
    (boot / "smartmeter.env").write_bytes(
        b"\xef\xbb\xbfBROUTE_ID=00112233445566778899AABBCCDDEEFF\r\n"
        b"BROUTE_PASSWORD=0123456789AB\r\nSERIAL_PORT=simulator\r\nHOSTNAME=\r\n"
    )
    imp = run()
    target = root / "etc/smartmeter/smartmeter.env"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    text = target.read_text()
    assert text.startswith("BROUTE_ID=00112233445566778899AABBCCDDEEFF\nBROUTE_PASSWORD=")
    assert "\r" not in text and "HOSTNAME" not in text, "machine keys stay out of the logger's file"
    assert not (boot / "smartmeter.env").exists()
    report = (boot / "smartmeter-import.txt").read_text()
    assert "0123456789AB" not in report and "removed from the boot partition" in report
    assert not imp.problems


def test_a_later_file_replaces_the_first_and_settings_come_too(importer) -> None:
    _, root, boot, _, run = importer
    (boot / "smartmeter.env").write_text("BROUTE_ID=A\nBROUTE_PASSWORD=B\n")
    run()
    (boot / "smartmeter.env").write_text("BROUTE_ID=C\nBROUTE_PASSWORD=D\n")
    (boot / "settings.yml").write_text("acquisition:\n  interval_seconds: 60\n")
    run()
    env = root / "etc/smartmeter/smartmeter.env"
    assert env.read_text() == "BROUTE_ID=C\nBROUTE_PASSWORD=D\n"
    settings = root / "etc/smartmeter/settings.yml"
    assert "interval_seconds: 60" in settings.read_text()
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    assert not (boot / "settings.yml").exists()


def test_only_machine_keys_keep_the_loggers_credentials(importer) -> None:
    _, root, boot, enabled, run = importer
    (boot / "smartmeter.env").write_text("BROUTE_ID=A\nBROUTE_PASSWORD=B\n")
    run()
    (boot / "smartmeter.env").write_text(
        "WIFI_SSID=My Home \"5G\"\nWIFI_PASSWORD='correct horse'\nHOSTNAME=Kitchen-Pi\n"
        "NTP_SERVERS=192.168.1.1, ntp.nict.jp\n"
    )
    imp = run()
    assert not imp.problems
    env = root / "etc/smartmeter/smartmeter.env"
    assert env.read_text() == "BROUTE_ID=A\nBROUTE_PASSWORD=B\n"
    wifi_conf = root / "etc/wpa_supplicant/wpa_supplicant-wlan0.conf"
    wifi = wifi_conf.read_text()
    assert "correct horse" not in wifi, "only the PSK hash is stored"
    ssid = b'My Home "5G"'.hex()
    assert f"ssid={ssid}" in wifi and "country=JP" in wifi
    assert re.search(r"psk=[0-9a-f]{64}\n", wifi)
    assert stat.S_IMODE(wifi_conf.stat().st_mode) == 0o600
    assert enabled == ["wpa_supplicant@wlan0.service"]
    assert (root / "etc/hostname").read_text() == "kitchen-pi\n"
    assert "127.0.1.1\tkitchen-pi" in (root / "etc/hosts").read_text()
    ntp = (root / "etc/systemd/timesyncd.conf.d/smartmeter.conf").read_text()
    assert "NTP=192.168.1.1 ntp.nict.jp\n" in ntp


def test_bad_machine_keys_are_reported_on_the_card_not_applied(importer) -> None:
    _, root, boot, enabled, run = importer
    (boot / "smartmeter.env").write_text(
        "HOSTNAME=my_pi!\nWIFI_SSID=x\nWIFI_PASSWORD=short\nSSH_AUTHORIZED_KEY=hello\n"
    )
    imp = run()
    assert len(imp.problems) == 3
    report = (boot / "smartmeter-import.txt").read_text()
    assert report.count("NOT APPLIED") == 3 and "short" not in report
    assert not (boot / "smartmeter.env").exists()
    assert not enabled
    assert not (root / "etc/hostname").exists()


def test_nothing_on_the_card_changes_nothing(importer) -> None:
    _, root, boot, _, run = importer
    run()
    assert list(boot.iterdir()) == []
    assert list((root / "etc/smartmeter").iterdir()) == []


def test_a_reboot_window_lets_security_updates_reboot_only_then(importer) -> None:
    _, root, boot, _, run = importer
    window = root / "etc/apt/apt.conf.d/53smartmeter-reboot-window"
    (boot / "smartmeter.env").write_text("REBOOT_WINDOW=4:30\n")
    imp = run()
    assert imp.problems == ["REBOOT_WINDOW: '4:30' must be a time HH:MM (e.g. 04:30) or off"]
    assert not window.exists()
    (boot / "smartmeter.env").write_text("REBOOT_WINDOW=04:30\n")
    assert not run().problems
    conf = window.read_text()
    assert 'Automatic-Reboot "true";' in conf and 'Automatic-Reboot-Time "04:30";' in conf
    (boot / "smartmeter.env").write_text("REBOOT_WINDOW=off\n")
    run()
    assert not window.exists()


def test_unattended_upgrades_take_debian_security_only_and_never_reboot_by_default() -> None:
    apt = APPLIANCE / "etc/apt/apt.conf.d"
    ours = (apt / "52smartmeter-unattended-upgrades").read_text()
    origins = re.findall(r'^\s*"(origin=[^"]+)";', ours, re.M)
    assert origins and all("label=Debian-Security" in o for o in origins)
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in ours
    periodic = (apt / "20auto-upgrades").read_text()
    assert 'Unattended-Upgrade "1"' in periodic and 'Download-Upgradeable-Packages "0"' in periodic
    card = (apt / "02smartmeter-sd-card").read_text()
    assert 'Dir::Cache::pkgcache "";' in card and 'Keep-Downloaded-Packages "false";' in card
    for timer in ("apt-daily", "apt-daily-upgrade"):
        drop_in = _unit(APPLIANCE / f"etc/systemd/system/{timer}.timer.d/smartmeter.conf")
        assert re.fullmatch(r"\*-\*-\* 0[3-5]:\d\d", drop_in.get("Timer", "OnCalendar"))
