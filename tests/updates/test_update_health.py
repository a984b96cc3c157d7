"""What /health (and so the page and `smartmeterctl status`) says about updates and the OS."""

from __future__ import annotations

import json
import time

from services.health.updates import checks
from services.health.verdict import check


def _last(tmp_path, monkeypatch, **outcome):
    monkeypatch.setenv("SMARTMETER_RELEASE_ROOT", str(tmp_path))
    monkeypatch.setenv("SMARTMETER_REBOOT_FLAG", str(tmp_path / "reboot-required"))
    (tmp_path / "last-update.json").write_text(json.dumps(outcome))


def test_a_recent_rollback_is_a_warning_with_its_reason(tmp_path, monkeypatch):
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    _last(tmp_path, monkeypatch, result="rolled-back", version="1.1", running="1.0", time=now,
          reason="update rolled back: health gate not passed within 300 s: radio")  # fmt: skip
    c = checks(check)["update:last"][0]
    assert c["status"] == "warn" and c["cause"] == "rolled-back"
    assert c["output"].startswith("update rolled back: health gate not passed")
    assert "running 1.0" in c["output"]


def test_an_old_rollback_is_history_and_a_confirmed_update_passes(tmp_path, monkeypatch):
    _last(tmp_path, monkeypatch, result="rolled-back", version="1.1", running="1.0",
          time="2020-01-01T00:00:00+0900", reason="update rolled back: x")  # fmt: skip
    assert checks(check)["update:last"][0]["status"] == "pass"
    _last(tmp_path, monkeypatch, result="confirmed", version="1.1", running="1.1",
          time="2020-01-01T00:00:00+0900")  # fmt: skip
    c = checks(check)["update:last"][0]
    assert (c["status"], c["cause"], c["observedValue"]) == ("pass", "confirmed", "1.1")


def test_a_pending_os_reboot_is_shown_with_its_packages(tmp_path, monkeypatch):
    _last(tmp_path, monkeypatch, result="confirmed", version="1", running="1", time="")
    assert "os:reboot" not in checks(check)
    (tmp_path / "reboot-required").write_text("*** System restart required ***\n")
    (tmp_path / "reboot-required.pkgs").write_text("linux-image-6.12.0-1-arm64\nlibc6\n")
    c = checks(check)["os:reboot"][0]
    assert c["status"] == "warn" and c["cause"] == "reboot-pending"
    assert "linux-image-6.12.0-1-arm64, libc6" in c["output"]


def test_a_checkout_without_releases_says_nothing_about_updates(monkeypatch):
    monkeypatch.delenv("SMARTMETER_RELEASE_ROOT", raising=False)
    assert "update:last" not in checks(check)
