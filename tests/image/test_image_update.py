"""Tier 4, updates on the booted image (QEMU virt): a bundle dropped on the boot partition.

1. Boot the image with the simulator until /health passes; power off.
2. Drop a bundle of the next version (built from this checkout, signed with the key the
   image was built with) on the FAT partition and boot: the card unit applies it; /health
   passes on the new version; the card's file is renamed .applied.
3. Reboot: /health passes on the new version; the CSV rows of before are still there and
   settings.yml is unchanged.
4. Drop a broken bundle (a radio that exits) and boot: it rolls back by itself; /health
   reports the old version and `update rolled back: ...`.

Needs a build made by this checkout's image/build (its build-info.json names the update
key), run by `scripts/test --image`.  The E7 gap of the update is printed (docs/benchmarks.md).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.image_fixtures import SECTOR, Built, built_image
from tests.support.image_qemu import Guest, boot_virt, fat_get, fat_names, prepare
from tests.support.update_host import RADIO_EXITS, Keys, bumped, make_bundle

pytestmark = [pytest.mark.image, pytest.mark.timeout(3600)]

ENV = (
    "BROUTE_ID=00112233445566778899AABBCCDDEEFF\r\n"
    "BROUTE_PASSWORD=0123456789AB\r\n"
    "SERIAL_PORT=simulator\r\n"
)
BOOT_TIMEOUT = 900.0
UPDATER_SAYS = ("verified:", "built:", "checked:", "stopped:", "started:", "confirmed:",
                "rolling back:", "update rolled back", "update refused")  # fmt: skip


@pytest.fixture(scope="module")
def built() -> Built:
    b = built_image()
    if "update_key" not in b.info:
        pytest.fail("the image was built before image/build signed bundles; rebuild it",
                    pytrace=False)  # fmt: skip
    return b


def _keys(built: Built) -> Keys:
    secret = Path(built.info["update_key"])
    return Keys(secret.with_suffix(".pub"), secret)


def _boot_until(disk: Path, boot: Path, work: Path, want: str, confirmed: bool = False,
                timeout: float = BOOT_TIMEOUT):  # fmt: skip
    guest = boot_virt(disk, boot, work)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        assert guest.alive(), "QEMU exited:\n" + guest.serial()[-3000:]
        verdict = guest.health()
        if verdict:
            last = verdict
            ok = all(c[0]["status"] == "pass" for k, c in verdict["checks"].items()
                     if k not in ("clock:ntp", "update:last"))  # fmt: skip
            last_update = verdict["checks"].get("update:last", [{}])[0].get("cause")
            if confirmed and last_update != "confirmed":
                ok = False
            if verdict.get("releaseId") == want and ok and "E7" in verdict.get("latest", {}):
                return guest, verdict
        time.sleep(5)
    guest.stop()
    pytest.fail(f"/health never passed on {want} in {timeout:g} s; last {last}\n"
                + guest.serial()[-3000:])  # fmt: skip


def _power_off(guest: Guest, phase: str) -> None:
    """Pull the plug once what was read is on the card: the CSV writer syncs at least every
    storage.flush_interval_seconds (60 s, the documented loss bound), ext4 every 5 s.
    The boot's serial log is kept as serial-<phase>.log; the updater's lines are printed."""
    time.sleep(75)
    guest.stop()
    for log in guest.serial_logs:
        kept = log.with_name(f"serial-{phase}.log")
        log.rename(kept)
        for line in kept.read_text(errors="replace").splitlines():
            if any(f"]: {says}" in line for says in UPDATER_SAYS):  # python[pid]: ...
                print(f"[{phase}] {line.strip()}")


def _root_fs(disk: Path, work: Path) -> Path:
    """The (grown) root partition cut out of the card, for debugfs."""
    table = subprocess.run(["sfdisk", "--json", str(disk)], capture_output=True, text=True,
                           check=True).stdout  # fmt: skip
    part = json.loads(table)["partitiontable"]["partitions"][1]
    fs = work / "root.ext4"
    subprocess.run(["dd", f"if={disk}", f"of={fs}", f"bs={SECTOR}", f"skip={part['start']}",
                    f"count={part['size']}", "conv=sparse", "status=none"], check=True)  # fmt: skip
    return fs


def _debugfs(fs: Path, request: str) -> str:
    return subprocess.run(["debugfs", "-R", request, str(fs)], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


def _root_file(disk: Path, path: str, work: Path) -> str:
    fs = _root_fs(disk, work)
    try:
        return _debugfs(fs, f"cat {path}")
    finally:
        fs.unlink()


def _csv(disk: Path, work: Path) -> list[str]:
    fs = _root_fs(disk, work)
    rows: list[str] = []
    try:
        for line in _debugfs(fs, "ls -p /var/lib/smartmeter/logs").splitlines():
            fields = line.strip("/").split("/")
            if len(fields) >= 5 and fields[4].endswith(".csv"):
                text = _debugfs(fs, f"cat /var/lib/smartmeter/logs/{fields[4]}")
                rows += text.splitlines()[1:]
    finally:
        fs.unlink()
    return rows


def _e7_gap(rows: list[str]) -> float:
    """The largest interval between E7 rows (timestamp,unitid,epc,dataid,value)."""
    times = sorted(datetime.fromisoformat(r.split(",")[0]).timestamp() for r in rows
                   if r.split(",")[2] == "E7")  # fmt: skip
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def test_a_bundle_on_the_boot_partition_updates_and_a_broken_one_rolls_back(
    built: Built, tmp_path: Path
) -> None:
    keys = _keys(built)
    old = built.info["version"]
    new = bumped(old, 1)
    good = make_bundle(tmp_path / "bundles", keys, new, aarch64=True)
    broken = make_bundle(tmp_path / "bundles", keys, bumped(old, 2), RADIO_EXITS, aarch64=True)
    offset = built.offset(1)
    disk, boot = prepare(built.image, tmp_path, offset, ENV)

    guest, _ = _boot_until(disk, boot, tmp_path, old)
    _power_off(guest, "1-first-boot")
    rows_before = _csv(disk, tmp_path)
    settings_before = _root_file(disk, "/etc/smartmeter/settings.yml", tmp_path)
    assert rows_before, "no CSV rows before the update"

    subprocess.run(["mcopy", "-i", f"{disk}@@{offset}", str(good), f"::{good.name}"], check=True)
    guest, _ = _boot_until(disk, boot, tmp_path, new, confirmed=True)
    _power_off(guest, "2-update")
    during = sorted(set(_csv(disk, tmp_path)) - set(rows_before))  # this boot's rows only
    print(
        f"image update: largest E7 interval during the boot that updated "
        f"{_e7_gap(during):.0f} s (E7 is polled every 30 s by the image's settings.yml)"
    )
    assert any(n.endswith(".applied") for n in fat_names(disk, offset)), fat_names(disk, offset)
    note = fat_get(disk, offset, "smartmeter-update.txt", tmp_path / "note.txt").read_text()
    assert f"applied, running {new}" in note

    guest, _ = _boot_until(disk, boot, tmp_path, new)  # the reboot: still the new version
    _power_off(guest, "3-reboot")
    rows_after = _csv(disk, tmp_path)
    assert set(rows_before) <= set(rows_after), "CSV rows of before the update are gone"
    assert _root_file(disk, "/etc/smartmeter/settings.yml", tmp_path) == settings_before

    subprocess.run(["mcopy", "-i", f"{disk}@@{offset}", str(broken), f"::{broken.name}"],
                   check=True)  # fmt: skip
    guest = boot_virt(disk, boot, tmp_path)
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            v = guest.health() or {}
            last = v.get("checks", {}).get("update:last", [{}])[0]
            if last.get("cause") == "rolled-back" and v.get("releaseId") == new:
                assert "update rolled back: health gate not passed" in last["output"]
                break
            assert guest.alive(), guest.serial()[-3000:]
            time.sleep(5)
        else:
            pytest.fail("the broken bundle was not rolled back:\n" + guest.serial()[-3000:])
    finally:
        _power_off(guest, "4-broken")
    assert any(n.endswith(".rolled-back") for n in fat_names(disk, offset))
