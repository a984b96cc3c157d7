"""A release that fails its health gate is rolled back by itself, and says why."""

from __future__ import annotations

import pytest

from tests.support.stack import wait_for
from tests.support.update_host import checkout_version, joined, version

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("which", "reason"),
    [
        ("radio_exits", "program radio exited"),
        ("never_joins", "it was joined before the update"),
    ],
)
def test_a_release_failing_its_health_gate_is_rolled_back(appliance, bundles, which, reason):
    stack = appliance
    stack.gate_seconds = 40
    bad = getattr(bundles, which)
    rows_before = len(stack.csv_rows())

    out = stack.smartmeterctl("update", str(bad))

    assert out.returncode == 1, out.stdout + out.stderr
    a = checkout_version()
    assert stack.running() == a
    info = version(stack)
    assert info["last_update"]["result"] == "rolled-back"
    assert info["last_update"]["reason"].startswith("update rolled back: health gate not passed")
    assert reason in info["last_update"]["reason"]
    assert (info["running"], info["pending"]) == (a, None)
    assert sorted(p.name for p in (stack.opt / "releases").iterdir()) == [a]
    # the old release is back at work: joined, and new readings reach the CSV
    wait_for(lambda: joined(stack), 60, "the radio joined again on the old release")
    wait_for(lambda: len(stack.csv_rows()) > rows_before, 60, "new readings after the rollback")
    code, verdict = stack.health()
    assert code == 200 and verdict["releaseId"] == a
    assert verdict["checks"]["update:last"][0]["status"] == "warn"
    assert reason in verdict["checks"]["update:last"][0]["output"]
    status = stack.smartmeterctl("status")
    assert "update rolled back: health gate not passed" in status.stdout
    page = stack.get("/")[1].decode()
    assert "update rolled back" in page


def test_a_release_that_cannot_read_the_settings_is_refused_before_anything_stops(
    appliance, bundles
):
    stack = appliance
    supervisord = stack.supervisord_pid()

    out = stack.smartmeterctl("update", str(bundles.bad_config))

    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "update refused: the new release cannot read the current settings: "
        "config error: settings_version: 2 is required (this file is version 1)"
    ]
    assert stack.running() == checkout_version()
    assert stack.supervisord_pid() == supervisord  # never stopped
    assert [p.name for p in (stack.opt / "releases").iterdir()] == [checkout_version()]
