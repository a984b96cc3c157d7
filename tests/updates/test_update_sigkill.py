"""Killed at any step (SIGKILL, as a power cut), the appliance comes back on a good release.

The boot check (`python -m services.updater recover`, run by the last good release before
the logger starts) finds the unconfirmed update and puts the old release back; the state
migration of the new release never ran, so the old one reads everything.
"""

from __future__ import annotations

import pytest

from common.state_formats import recorded
from services.updater.sequence import STEPS
from tests.support.stack import wait_for
from tests.support.update_host import checkout_version, joined, version

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("step", STEPS)
def test_killed_at_any_step_the_next_boot_runs_the_old_release(appliance, bundles, step):
    stack = appliance
    a = checkout_version()
    rows = len(stack.csv_rows())

    out = stack.smartmeterctl("update", str(bundles.formats), SMARTMETER_UPDATE_KILL_AT=step)
    assert out.returncode == 128 + 9, out.stdout + out.stderr
    said = stack.reboot()

    assert stack.running() == a
    info = version(stack)
    assert info["pending"] is None
    if step in ("stopped", "verified", "built", "checked"):
        assert stack.running() == a
    if step in ("switched", "started", "gated"):
        assert said.startswith("update rolled back: ") and "not confirmed" in said
        assert info["last_update"]["result"] == "rolled-back"
    assert not (stack.data_dir / "ledger-v2-migrated").exists()
    assert recorded(stack.data_dir)["ledger"] == 1
    assert sorted(p.name for p in (stack.opt / "releases").iterdir()) == [a]
    wait_for(lambda: joined(stack), 60, "the radio joined after the reboot")
    wait_for(lambda: len(stack.csv_rows()) > rows, 60, "readings after the reboot")

    if step != "gated":
        return
    # the same bundle applies cleanly afterwards, migrating the state only once confirmed
    out = stack.smartmeterctl("update", str(bundles.formats))
    assert out.returncode == 0, out.stdout + out.stderr
    assert (stack.data_dir / "ledger-v2-migrated").exists()
    assert recorded(stack.data_dir)["ledger"] == 2
