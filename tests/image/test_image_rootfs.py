"""Tier 2, the root file system image/build made: packages, units, permissions, the venv.

Commands for the image run in it under qemu-user (an overlay keeps the tree unchanged).
Needs a build: SMARTMETER_IMAGE_DIR=<image/build --out>, run by `scripts/test --image`.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.image_fixtures import Built, built_image, recipe
from tests.support.image_rootfs import RootfsSandbox

pytestmark = pytest.mark.image

DEMO_ENV = (
    "BROUTE_ID=00112233445566778899AABBCCDDEEFF\nBROUTE_PASSWORD=0123456789AB\n"
    "SERIAL_PORT=simulator\n"
)
FAKE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummyKeyForTheImageTestOnly0000000000000 t@test"


@pytest.fixture(scope="module")
def built() -> Built:
    return built_image()


@pytest.fixture
def sandbox(built: Built, tmp_path: Path) -> RootfsSandbox:
    return RootfsSandbox(built.rootfs, tmp_path / "sandbox")


def _owner(built: Built, path: str) -> tuple[str, str, int]:
    st = (built.rootfs / path.lstrip("/")).stat()
    names = {}
    for f in ("passwd", "group"):
        for line in (built.rootfs / "etc" / f).read_text().splitlines():
            parts = line.split(":")
            names[(f, int(parts[2]))] = parts[0]
    return names[("passwd", st.st_uid)], names[("group", st.st_gid)], stat.S_IMODE(st.st_mode)


def test_every_listed_package_is_installed(built: Built) -> None:
    out = subprocess.run(
        ["dpkg-query", f"--admindir={built.rootfs}/var/lib/dpkg", "-W",
         "-f", "${Package} ${db:Status-Abbrev}\n"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    installed = {ln.split()[0].split(":")[0] for ln in out.splitlines() if ln.split()[1] == "ii"}
    wanted = recipe.all_packages(recipe.read_flavour(built.info["flavour"]))
    assert not set(wanted) - installed


def test_units_enabled_and_ssh_off_until_a_key_comes(built: Built) -> None:
    def state(unit: str) -> str:
        return subprocess.run(
            ["systemctl", f"--root={built.rootfs}", "is-enabled", unit],
            capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip

    for unit in ("smartmeter.service", "smartmeter-import.service", "smartmeter-growroot.service",
                 "smartmeter-sshkeys.service", "systemd-networkd.service",
                 "systemd-timesyncd.service", "avahi-daemon.service",
                 "smartmeter-update-recover.service", "smartmeter-update-card.service",
                 "apt-daily.timer", "apt-daily-upgrade.timer"):  # fmt: skip
        assert state(unit) == "enabled", unit
    assert state("ssh.service") == "disabled"


def test_the_logger_is_a_release_the_updater_can_replace(built: Built) -> None:
    r = built.rootfs
    opt = r / "opt/smartmeter"
    version = built.info["version"]
    assert os.readlink(opt / "current") == f"releases/{version}"
    assert os.readlink(opt / "good") == f"releases/{version}"
    assert (opt / "releases" / version / "version").read_text().strip() == version
    assert (opt / "venv/bin/python").exists()  # the documented path, through current
    pub = (r / "usr/share/smartmeter/update.pub").read_text()
    assert pub.startswith("untrusted comment: minisign public key")
    key = Path(built.info["update_key"])
    assert pub == key.with_suffix(".pub").read_text()
    assert not list((r / "opt").rglob("*.key")) and not list((r / "etc").rglob("*update.key"))
    assert (r / "usr/bin/minisign").exists() and (r / "usr/bin/unattended-upgrade").exists()


def test_users_paths_and_permissions(built: Built) -> None:
    r = built.rootfs
    passwd = {ln.split(":")[0]: ln.split(":") for ln in (r / "etc/passwd").read_text().splitlines()}
    assert passwd["smartmeter"][6] == "/usr/sbin/nologin"
    groups = {
        ln.split(":")[0]: ln.split(":")[3] for ln in (r / "etc/group").read_text().splitlines()
    }
    assert "smartmeter" in groups["dialout"].split(",")
    assert _owner(built, "/etc/smartmeter") == ("root", "smartmeter", 0o750)
    assert _owner(built, "/etc/smartmeter/settings.yml") == ("smartmeter", "smartmeter", 0o600)
    assert _owner(built, "/var/lib/smartmeter") == ("smartmeter", "smartmeter", 0o750)
    assert _owner(built, "/var/log/smartmeter")[:2] == ("smartmeter", "smartmeter")
    settings = (r / "etc/smartmeter/settings.yml").read_text()
    assert re.search(r"(?m)^  bind: 0\.0\.0\.0", settings)
    assert (r / "opt/smartmeter/supervisord.conf").is_file()
    assert (r / "etc/localtime").resolve().name == "Tokyo"


def test_no_secret_or_identity_of_the_build_machine(built: Built) -> None:
    r = built.rootfs
    assert (r / "etc/machine-id").read_text() == ""
    assert not list((r / "etc/ssh").glob("ssh_host_*"))
    for line in (r / "etc/shadow").read_text().splitlines():
        name, password = line.split(":")[:2]
        assert password.startswith(("!", "*")), f"{name} can log in with a password"
    assert not (r / "etc/smartmeter/smartmeter.env").exists()
    assert not (r / "boot/firmware/smartmeter.env").exists()
    assert (r / "boot/firmware/smartmeter.env.example").is_file()


def test_journal_volatile_and_tmp_on_tmpfs(built: Built) -> None:
    conf = (built.rootfs / "etc/systemd/journald.conf.d/smartmeter.conf").read_text()
    assert "Storage=volatile" in conf
    assert not (built.rootfs / "var/log/journal").exists()


def test_the_venv_holds_exactly_the_locked_versions(built: Built, sandbox: RootfsSandbox) -> None:
    result = sandbox.run("/opt/smartmeter/venv/bin/python", "-m", "pip", "list", "--format=json")
    assert result.returncode == 0, result.stderr
    have = {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(result.stdout)}
    requirements = built.rootfs / "opt/smartmeter/requirements.txt"
    for line in requirements.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)( ; .*)?$", line)
        if m and "pypy" not in (m.group(3) or ""):
            assert have.get(m.group(1).lower().replace("_", "-")) == m.group(2), line
    assert have["smartmeter-logger"] == built.info["version"]


def test_smartmeterctl_version_and_config_check_under_qemu(
    built: Built, sandbox: RootfsSandbox
) -> None:
    version = sandbox.run("/usr/local/bin/smartmeterctl", "--version")
    assert version.returncode == 0, version.stderr
    assert built.info["version"] in version.stdout
    unset = sandbox.run("/usr/local/bin/smartmeterctl", "config", "check")
    assert unset.returncode == 2
    assert "BROUTE_ID is not set" in unset.stderr
    assert "/etc/smartmeter/smartmeter.env" in unset.stderr
    sandbox.put("/etc/smartmeter/smartmeter.env", DEMO_ENV, 0o600)
    ok = sandbox.run("/bin/sh", "-c", "chown smartmeter: /etc/smartmeter/smartmeter.env && "
                     "/usr/local/bin/smartmeterctl config check")  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "config OK" in ok.stdout and "simulator" in ok.stdout


def test_first_boot_import_from_a_fake_boot_partition(sandbox: RootfsSandbox) -> None:
    sandbox.put(
        "/boot/firmware/smartmeter.env",
        DEMO_ENV + f"HOSTNAME=kitchen-pi\nSSH_USER=pi\nSSH_AUTHORIZED_KEY={FAKE_KEY}\n"
        "WIFI_SSID=home\nWIFI_PASSWORD=password123\n",
    )
    result = sandbox.run("/usr/lib/smartmeter/import-boot-config")
    assert result.returncode == 0, result.stdout + result.stderr
    up = sandbox.upper
    env = up / "etc/smartmeter/smartmeter.env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert env.read_text() == DEMO_ENV
    assert not (up / "boot/firmware/smartmeter.env").is_file(), "removed from the card"
    assert "removed" in (up / "boot/firmware/smartmeter-import.txt").read_text()
    assert "pi:" in (up / "etc/passwd").read_text()
    keys = up / "home/pi/.ssh/authorized_keys"
    assert keys.read_text() == FAKE_KEY + "\n" and stat.S_IMODE(keys.stat().st_mode) == 0o600
    wants = up / "etc/systemd/system/multi-user.target.wants"
    assert (wants / "ssh.service").is_symlink()
    assert (wants / "wpa_supplicant@wlan0.service").is_symlink()
    assert (up / "etc/hostname").read_text() == "kitchen-pi\n"
    owner = sandbox.run("stat", "-c", "%U %a", "/etc/smartmeter/smartmeter.env")
    assert owner.stdout.split() == ["smartmeter", "600"]
    again = sandbox.run("/usr/lib/smartmeter/import-boot-config")
    assert again.returncode == 0 and again.stdout == "", "nothing new on the card: no change"
