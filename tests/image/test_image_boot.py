"""Tier 4, the image boots and logs: QEMU's arm64 "virt" machine, then an emulated Pi 3B.

A copy of the built image gets a smartmeter.env on its FAT boot partition selecting the
built-in simulator, exactly as a user would drop theirs. The test waits until GET /health
(forwarded from the guest's port 8780) says pass with readings arriving, then checks that
the card's copy of smartmeter.env is gone and that first boot grew the root file system.
Needs a build: SMARTMETER_IMAGE_DIR=<image/build --out>, run by `scripts/test --image`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.image_fixtures import PROJECT, Built, built_image
from tests.support.image_qemu import (
    GUEST_HOST,
    USB_DONGLE,
    Guest,
    SntpServer,
    boot_raspi3b,
    boot_virt,
    fat_get,
    fat_names,
    prepare,
)

pytestmark = [pytest.mark.image, pytest.mark.timeout(900)]

ENV = (
    "# the boot test's smartmeter.env: the built-in simulated meter\r\n"
    "BROUTE_ID=00112233445566778899AABBCCDDEEFF\r\n"
    "BROUTE_PASSWORD=0123456789AB\r\n"
    "SERIAL_PORT=simulator\r\n"
)
BOOT_TIMEOUT = 600.0


@pytest.fixture(scope="module")
def built() -> Built:
    return built_image()


@pytest.fixture(scope="module")
def ntp() -> Iterator[SntpServer | None]:
    """Network time for the guest, from this machine's loopback (None if port 123 is taken)."""
    try:
        server = SntpServer()
    except OSError:
        yield None
        return
    yield server
    server.close()


def _wait_for_pass(guest: Guest, need_clock: bool) -> dict:
    deadline = time.monotonic() + BOOT_TIMEOUT
    last = None
    while time.monotonic() < deadline:
        assert guest.alive(), "QEMU exited:\n" + guest.serial()[-3000:]
        verdict = guest.health()
        if verdict:
            last = verdict
            checks = {k: v[0]["status"] for k, v in verdict["checks"].items()}
            if not need_clock and checks.get("clock:ntp") == "warn":
                checks["clock:ntp"] = "pass"  # no NTP server could be offered (port 123 taken)
            if all(s == "pass" for s in checks.values()) and "E7" in verdict.get("latest", {}):
                return verdict
        time.sleep(5)
    pytest.fail(f"/health never passed in {BOOT_TIMEOUT:g} s; last verdict {last}\n"
                + guest.serial()[-3000:])  # fmt: skip


def _boot_and_check(
    built: Built, tmp_path: Path, ntp: SntpServer | None, boot: Callable[..., Guest]
) -> None:
    offset = built.offset(1)
    env = ENV + (f"NTP_SERVERS={GUEST_HOST}\r\n" if ntp else "")
    disk, boot_files = prepare(built.image, tmp_path, offset, env)
    started = time.monotonic()
    guest = boot(disk, boot_files, tmp_path)
    try:
        verdict = _wait_for_pass(guest, need_clock=ntp is not None)
        passed_after = time.monotonic() - started
        # Readings keep flowing: a newer instantaneous power reading arrives.
        first = verdict["latest"]["E7"]["time"]
        deadline = time.monotonic() + 180
        while guest.health()["latest"]["E7"]["time"] == first:  # type: ignore[index]
            assert time.monotonic() < deadline, "no new E7 reading within 180 s"
            time.sleep(5)
        code, metrics = guest.http("/metrics")
        assert code == 200 and b"smartmeter" in metrics
        code, _ = guest.http("/")
        assert code == 200
    finally:
        guest.stop()
    print(f"{boot.__name__}: /health passed {passed_after:.0f} s after QEMU started")
    # First boot took smartmeter.env off the card and left a note without secrets.
    names = fat_names(disk, offset)
    assert "smartmeter.env" not in names
    note = fat_get(disk, offset, "smartmeter-import.txt", tmp_path / "note.txt").read_text()
    assert "removed from the boot partition" in note and "0123456789AB" not in note
    # ...and grew the root file system into the padding (the image's root is 1536 MiB).
    disk_check = verdict["checks"]["disk:data"][0]["output"]
    total = int(re.search(r"of (\d+) MiB", disk_check).group(1))  # type: ignore[union-attr]
    assert total > 1600, disk_check


def test_boots_on_qemu_virt_and_logs(built: Built, tmp_path: Path, ntp: SntpServer | None) -> None:
    _boot_and_check(built, tmp_path, ntp, boot_virt)


def test_boots_on_emulated_pi3b_from_the_sd_card(
    built: Built, tmp_path: Path, ntp: SntpServer | None
) -> None:
    _boot_and_check(built, tmp_path, ntp, boot_raspi3b)


def _radio(guest: Guest) -> tuple[str, str | None]:
    verdict = guest.health() or {"checks": {}}
    link = verdict["checks"].get("radio:link", [{}])[0]
    e7 = verdict.get("latest", {}).get("E7", {}).get("time")
    return f"{link.get('status')}:{link.get('cause')}", e7


def _until(what: str, timeout: float, probe, guest: Guest):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        assert guest.alive(), "QEMU exited:\n" + guest.serial()[-3000:]
        time.sleep(5)
    pytest.fail(f"{what}: not within {timeout:g} s; radio {_radio(guest)}\n"
                + guest.serial()[-2000:])  # fmt: skip


def test_usb_dongle_found_without_settings_and_survives_replug(
    built: Built, tmp_path: Path, ntp: SntpServer | None
) -> None:
    """smartmeter.env.example's SERIAL_PORT=/dev/smartmeter-dongle, an FTDI adapter on USB.

    The adapter is QEMU's emulated FTDI, wired to the simulated meter running on this
    machine: the guest's radio goes through ftdi_sio and the udev link like a real dongle.
    """
    env = ENV.replace("SERIAL_PORT=simulator", "SERIAL_PORT=/dev/smartmeter-dongle")
    env += f"NTP_SERVERS={GUEST_HOST}\r\n" if ntp else ""
    disk, boot_files = prepare(built.image, tmp_path, built.offset(1), env)
    link = tmp_path / "dongle"
    with (tmp_path / "simulator.log").open("wb") as log:
        meter = subprocess.Popen(
            [sys.executable, "-m", "services.simulator", "--link", str(link),
             "--rbid", "00112233445566778899AABBCCDDEEFF", "--password", "0123456789AB"],
            cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not link.exists():
            assert time.monotonic() < deadline and meter.poll() is None, "simulator did not start"
            time.sleep(0.2)
        guest = boot_virt(disk, boot_files, tmp_path, dongle=link)
        try:
            joined = lambda: _radio(guest)[0] == "pass:joined" and _radio(guest)[1]  # noqa: E731
            _until("joined over the USB dongle", BOOT_TIMEOUT, joined, guest)
            assert "ttyUSB0" in guest.serial()
            _, before = _radio(guest)
            assert "return" in guest.qmp("device_del", id="dongle")
            _until("unplug seen", 120, lambda: _radio(guest)[0] != "pass:joined", guest)
            assert "return" in guest.qmp("device_add", **USB_DONGLE)
            _until("readings again after replug", 240,
                   lambda: _radio(guest)[0] == "pass:joined" and _radio(guest)[1] != before,
                   guest)  # fmt: skip
        finally:
            guest.stop()
    finally:
        meter.terminate()
        meter.wait(timeout=10)
