"""The release folder's bookkeeping without a stack: links, the boot check, the card."""

from __future__ import annotations

import json
from pathlib import Path

from common.paths import Paths
from services.updater.card import REPORT, import_from_card
from services.updater.layout import Layout
from services.updater.sequence import Settings, Updater


def updater(tmp_path: Path, *releases: str) -> Updater:
    layout = Layout(tmp_path / "opt")
    for v in releases:
        (layout.release(v) / "venv").mkdir(parents=True)
        (layout.release(v) / "version").write_text(v + "\n")
    paths = Paths.from_environ({"SMARTMETER_HOME": str(tmp_path / "home")})
    said: list[str] = []
    return Updater(Settings(layout, paths, pubkey=tmp_path / "none.pub", say=said.append))


def test_an_unconfirmed_switched_release_is_rolled_back_at_boot(tmp_path):
    u = updater(tmp_path, "1.0", "1.1")
    lay = u.layout
    lay.point("current", "1.0")
    lay.point("good", "1.0")
    (lay.pending_file).write_text(json.dumps({"version": "1.1", "from": "1.0"}))
    lay.point("current", "1.1")  # the power went out after the switch

    said = u.recover()

    assert said is not None and said.startswith("update rolled back: 1.1 was not confirmed")
    assert (lay.target("current"), lay.target("good")) == ("1.0", "1.0")
    assert lay.pending() is None
    assert lay.installed() == ["1.0"]  # the unconfirmed one is gone
    assert lay.outcome()["result"] == "rolled-back"


def test_an_update_cut_before_the_switch_keeps_the_running_release(tmp_path):
    u = updater(tmp_path, "1.0", "1.1")
    lay = u.layout
    lay.point("current", "1.0")
    lay.point("good", "1.0")
    (lay.pending_file).write_text(json.dumps({"version": "1.1", "from": "1.0"}))
    (lay.releases / "1.2").mkdir()  # a build cut short: no version file, no link

    said = u.recover()

    assert said == "update to 1.1 interrupted before the switch; 1.0 kept"
    assert lay.target("current") == "1.0" and lay.installed() == ["1.0"]


def test_nothing_pending_is_nothing_to_do_and_links_survive(tmp_path):
    u = updater(tmp_path, "1.0", "1.1", "0.9")
    lay = u.layout
    lay.point("current", "1.1")
    lay.point("good", "1.1")
    lay.point("previous", "1.0")
    assert u.recover() is None
    assert lay.installed() == ["1.0", "1.1"]  # 0.9: no link points at it any more
    lay.point("current", "1.0")  # replaced in one rename, never absent
    assert (lay.root / "current").is_symlink() and lay.target("current") == "1.0"


def test_a_bundle_on_the_card_that_fails_verification_is_renamed_and_explained(tmp_path):
    u = updater(tmp_path, "1.0")
    u.layout.point("current", "1.0")
    u.layout.point("good", "1.0")
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "smartmeter-update-1.1-aarch64.bundle").write_bytes(b"not a bundle")
    (boot / "smartmeter-update-1.0.5-aarch64.bundle.applying").write_bytes(b"")

    assert import_from_card(u, boot) == 2

    names = sorted(p.name for p in boot.iterdir())
    assert names == [
        "smartmeter-update-1.0.5-aarch64.bundle.failed",
        "smartmeter-update-1.1-aarch64.bundle.refused",
        REPORT,
    ]
    report = (boot / REPORT).read_text()
    assert "smartmeter-update-1.1-aarch64.bundle: refused: " in report
    assert "1.0.5-aarch64.bundle.applying: interrupted" in report
    assert u.layout.target("current") == "1.0"
    assert not list((u.layout.root / "incoming").iterdir())
