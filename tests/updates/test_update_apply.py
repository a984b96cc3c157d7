"""An update on the real stack: confirmed when healthy, rolled back when not, no reading lost.

Each test installs this checkout's release (A) the way the image does, lets the radio join
the simulated meter, then applies a bundle with ``smartmeterctl update`` as a user would.
"""

from __future__ import annotations

import pytest

from tests.support.fault_stack import assert_clean_csv, assert_csv_is, assert_db_is
from tests.support.stack import wait_for
from tests.support.update_host import checkout_version, version

pytestmark = pytest.mark.e2e


def test_an_update_is_confirmed_and_loses_no_reading(appliance, bundles, victoria):
    stack = appliance
    unitid = stack.settings["unitid"]
    wait_for(lambda: stack.csv_rows(), 60, "readings before the update")
    a = checkout_version()

    out = stack.smartmeterctl("update", str(bundles.b))
    assert out.returncode == 0, out.stdout + out.stderr
    b = bundles.b.name.split("-")[2]
    assert stack.running() == b
    assert "confirmed" in out.stdout
    code, verdict = stack.health()
    assert code == 200
    assert verdict["releaseId"] == b and verdict["checks"]["radio:link"][0]["cause"] == "joined"
    info = version(stack)
    assert (info["running"], info["previous"], info["pending"]) == (b, a, None)
    assert info["last_update"]["result"] == "confirmed"

    # every reading the radio journaled, before, across and after the switch, is delivered
    journal = stack.journal()
    wait_for(lambda: len(stack.csv_rows()) >= len(journal), 60, "the CSV catching up")
    stack.stop()
    journal = stack.journal()
    assert_clean_csv(stack)
    assert_csv_is(stack, journal)
    assert_db_is(victoria, unitid, journal)


def test_a_bundle_on_the_boot_partition_is_applied_and_renamed(appliance, bundles, tmp_path):
    stack = appliance
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / bundles.b.name).write_bytes(bundles.b.read_bytes())

    out = stack.updater("card", str(boot))  # what smartmeter-update-card.service runs

    assert out.returncode == 0, out.stdout + out.stderr
    b = bundles.b.name.split("-")[2]
    assert stack.running() == b
    assert sorted(p.name for p in boot.iterdir()) == [
        bundles.b.name + ".applied",
        "smartmeter-update.txt",
    ]
    assert f"applied, running {b}" in (boot / "smartmeter-update.txt").read_text()
