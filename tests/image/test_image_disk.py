"""Tier 3, the SD-card image itself, inspected without mounting it (sfdisk, e2fsprogs, mtools).

Needs a build: SMARTMETER_IMAGE_DIR=<image/build --out>, run by `scripts/test --image`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.image_fixtures import SECTOR, Built, built_image
from tests.support.image_qemu import fat_get, fat_names, mtools

pytestmark = pytest.mark.image

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def built() -> Built:
    return built_image()


@pytest.fixture(scope="module")
def root_fs(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Partition 2 cut out of the image (sparse), for e2fsck and debugfs."""
    part = built.partitions()[1]
    out = tmp_path_factory.mktemp("disk") / "rootfs.ext4"
    subprocess.run(
        ["dd", f"if={built.image}", f"of={out}", f"bs={SECTOR}", f"skip={part['start']}",
         f"count={part['size']}", "conv=sparse", "status=none"],
        check=True,
    )  # fmt: skip
    return out


def debugfs(fs: Path, request: str) -> str:
    return subprocess.run(
        ["debugfs", "-R", request, str(fs)], capture_output=True, text=True, check=True
    ).stdout


def test_mbr_with_a_bootable_fat_and_a_linux_partition(built: Built) -> None:
    boot, root = built.partitions()
    assert boot["type"] == "c" and boot.get("bootable") is True
    assert int(boot["start"]) * SECTOR == 4 * MIB
    assert root["type"] == "83"
    assert int(root["start"]) >= int(boot["start"]) + int(boot["size"])
    size = built.image.stat().st_size
    assert size < 2 * 1024 * MIB, "fits the 2 GiB the raspi3b boot pads it to (and any card)"


def test_root_file_system_is_clean_and_labelled(root_fs: Path) -> None:
    check = subprocess.run(["e2fsck", "-fn", str(root_fs)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    header = subprocess.run(["dumpe2fs", "-h", str(root_fs)], capture_output=True, text=True)
    assert re.search(r"Filesystem volume name:\s+rootfs\n", header.stdout)


def test_our_files_and_enable_links_are_in_the_image(root_fs: Path) -> None:
    wants = debugfs(root_fs, "ls -l /etc/systemd/system/multi-user.target.wants")
    assert "smartmeter.service" in wants
    sysinit = debugfs(root_fs, "ls /etc/systemd/system/sysinit.target.wants")
    assert "smartmeter-import.service" in sysinit and "smartmeter-growroot.service" in sysinit
    fstab = debugfs(root_fs, "cat /etc/fstab")
    assert "LABEL=rootfs" in fstab and "LABEL=bootfs" in fstab
    settings = debugfs(root_fs, "stat /etc/smartmeter/settings.yml")
    assert re.search(r"Mode:\s+0600", settings)
    assert "python" in debugfs(root_fs, "ls /opt/smartmeter/venv/bin")
    assert debugfs(root_fs, "cat /etc/machine-id") == ""
    assert "ssh_host" not in debugfs(root_fs, "ls /etc/ssh")
    rules = debugfs(root_fs, "cat /etc/udev/rules.d/70-smartmeter-dongle.rules")
    assert "smartmeter-dongle" in rules


def test_boot_partition_has_firmware_kernel_and_the_example(built: Built) -> None:
    offset = built.offset(1)
    label = mtools(built.image, offset, "mlabel", "-s", "::")
    assert "bootfs" in label
    names = set(fat_names(built.image, offset))
    kver = built.info["kernel"]
    assert {f"vmlinuz-{kver}", f"initrd.img-{kver}", "config.txt", "cmdline.txt"} <= names
    assert {"bootcode.bin", "start.elf", "start4.elf", "fixup.dat", "fixup4.dat"} <= names
    for board in ("bcm2837-rpi-3-b", "bcm2837-rpi-3-b-plus", "bcm2837-rpi-zero-2-w",
                  "bcm2711-rpi-4-b", "bcm2711-rpi-400"):  # fmt: skip
        assert f"{board}.dtb" in names
    assert "smartmeter.env.example" in names
    assert "smartmeter.env" not in names


def test_config_and_cmdline_point_at_what_is_there(built: Built, tmp_path: Path) -> None:
    offset = built.offset(1)
    config = fat_get(built.image, offset, "config.txt", tmp_path / "config.txt").read_text()
    cmdline = fat_get(built.image, offset, "cmdline.txt", tmp_path / "cmdline.txt").read_text()
    names = set(fat_names(built.image, offset))
    kernel = re.search(r"(?m)^kernel=(\S+)$", config)
    initramfs = re.search(r"(?m)^initramfs (\S+)", config)
    assert kernel and kernel.group(1) in names
    assert initramfs and initramfs.group(1) in names
    assert "arm_64bit=1" in config
    assert len(cmdline.strip().splitlines()) == 1
    assert "root=LABEL=rootfs" in cmdline.split()
    assert "cma=" not in cmdline, "a cma= setting can keep a Pi 4 from booting"


def test_compressed_image_and_its_checksum(built: Built) -> None:
    artefact = Path(built.info["artefact"])
    if artefact == built.image:
        pytest.skip("built with --compress none")
    sums = artefact.with_name(artefact.name + ".sha256")
    check = subprocess.run(["sha256sum", "-c", sums.name], cwd=artefact.parent,
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert artefact.stat().st_size < built.image.stat().st_size / 3
