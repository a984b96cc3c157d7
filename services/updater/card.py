"""A bundle dropped on the boot partition (smartmeter-update-*.bundle), applied at boot.

The newest bundle is copied off the FAT partition and applied like `smartmeterctl update`.
Its name on the card tells the user what happened: ``.applying`` while it runs (a name
found at boot means it was interrupted: ``.failed``, never retried in a loop), then
``.applied``, ``.rolled-back`` or ``.refused``; ``smartmeter-update.txt`` says why.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from services.updater import gate
from services.updater.layout import fsync_dir
from services.updater.manifest import BUNDLE_GLOB, BundleError, version_key
from services.updater.sequence import Updater

REPORT = "smartmeter-update.txt"


def _rename(path: Path, suffix: str) -> Path:
    target = path.with_name(path.name.split(".bundle")[0] + ".bundle" + suffix)
    os.replace(path, target)
    fsync_dir(path.parent)
    return target


def _report(boot: Path, lines: list[str]) -> None:
    when = time.strftime("%Y-%m-%d %H:%M:%S %z")
    (boot / REPORT).write_text("\r\n".join([f"smartmeter update at {when}", *lines]) + "\r\n")
    os.sync()


def _version_of(name: str) -> tuple[int, ...]:
    try:
        return version_key(name.removeprefix("smartmeter-update-"))
    except BundleError:
        return ()


SETTLED_WAIT = 300.0
PASSING = ("starting", "scanning", "joining", "no-status", None)


def _wait_until_settled(u: Updater) -> None:
    """At boot the logger has only just started: let the radio reach its usual state first,
    so the health gate compares with where it really was (joined, or an outside cause)."""
    deadline = time.monotonic() + SETTLED_WAIT
    while time.monotonic() < deadline and (u.s.paths.runtime_dir / "supervisor.sock").exists():
        if gate.snapshot(u.s.paths).radio not in PASSING:
            return
        time.sleep(5)


def import_from_card(u: Updater, boot: Path) -> int:
    notes: list[str] = []
    for stale in boot.glob(BUNDLE_GLOB + ".applying"):
        _rename(stale, ".failed")
        notes.append(f"{stale.name}: interrupted (power cut?); the last good release runs")
    bundles = sorted(boot.glob(BUNDLE_GLOB), key=lambda p: _version_of(p.name))
    if not bundles:
        if notes:
            _report(boot, notes)
        return 0
    newest = bundles[-1]
    incoming = u.layout.root / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    local = incoming / newest.name
    shutil.copyfile(newest, local)
    on_card = _rename(newest, ".applying")
    _wait_until_settled(u)
    try:
        ok = u.apply(local)
    except BundleError as exc:
        _rename(on_card, ".refused")
        _report(boot, [*notes, f"{newest.name}: refused: {exc}"])
        print(f"update refused: {exc}", flush=True)
        return 2
    finally:
        local.unlink(missing_ok=True)
    last = u.layout.outcome() or {}
    _rename(on_card, ".applied" if ok else ".rolled-back")
    what = f"applied, running {last.get('version')}" if ok else last.get("reason", "rolled back")
    _report(boot, [*notes, f"{newest.name}: {what}"])
    return 0 if ok else 1
