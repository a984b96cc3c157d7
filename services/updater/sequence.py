"""The update sequence, the rollback, and the check at boot.

verify -> unpack and build the release -> offline check -> stop the stack -> switch ->
start -> health gate -> confirm (or roll back).  ``pending.json`` is written before the
stack stops and removed only once the outcome is recorded, so whatever kills the updater
(power cut, SIGKILL) the next ``recover`` (at boot, or the next update) finds it and puts
the last good release back.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common.paths import Paths
from common.state_formats import readable_by
from services.updater import gate, release, verify
from services.updater.layout import Layout, write_json
from services.updater.manifest import BundleError, Manifest

STEPS = ("verified", "built", "checked", "stopped", "switched", "started", "gated")
DEFAULT_STACK_CTL = "systemctl {action} smartmeter.service"


@dataclass
class Settings:
    layout: Layout
    paths: Paths
    pubkey: Path = verify.DEFAULT_PUBKEY
    python: str = "/usr/bin/python3"
    stack_ctl: str = DEFAULT_STACK_CTL
    gate_seconds: float = 300.0
    settle_seconds: float = 10.0
    say: Callable[[str], None] = print
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def from_environ(cls, say: Callable[[str], None] = print) -> Settings:
        env = os.environ
        return cls(
            layout=Layout.from_environ(),
            paths=Paths.from_environ(),
            pubkey=Path(env.get("SMARTMETER_UPDATE_PUBKEY") or verify.DEFAULT_PUBKEY),
            python=env.get("SMARTMETER_BASE_PYTHON") or "/usr/bin/python3",
            stack_ctl=env.get("SMARTMETER_STACK_CTL") or DEFAULT_STACK_CTL,
            gate_seconds=float(env.get("SMARTMETER_UPDATE_GATE_SECONDS") or 300),
            settle_seconds=float(env.get("SMARTMETER_UPDATE_SETTLE_SECONDS") or 10),
            say=say,
        )


def _test_hook(step: str) -> None:
    """tests/updates kill the updater at a named step (SIGKILL, as a power cut would)."""
    if os.environ.get("SMARTMETER_UPDATE_KILL_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


class Updater:
    def __init__(self, s: Settings) -> None:
        self.s = s
        self.layout = s.layout

    # --- the stack ------------------------------------------------------------------------
    def stack(self, action: str) -> None:
        cmd = shlex.split(self.s.stack_ctl.format(action=action))
        result = subprocess.run(cmd, env=self.s.env, capture_output=True, text=True)
        if result.returncode != 0:
            err = (result.stderr or result.stdout).strip().splitlines()
            raise BundleError(f"could not {action} the logger: {err[-1] if err else cmd}")

    # --- what runs ------------------------------------------------------------------------
    def running(self) -> str | None:
        return self.layout.target("current")

    # --- check ----------------------------------------------------------------------------
    def check(self, bundle: Path, allow_downgrade: bool = False) -> Manifest:
        """Verify a bundle and say what applying it would do; nothing changes."""
        with tempfile.TemporaryDirectory(prefix="smartmeter-check-") as tmp:
            manifest = verify.open_bundle(bundle, self.s.pubkey, Path(tmp))  # every member
        self._check_target(manifest, allow_downgrade)
        return manifest

    def _check_target(self, manifest: Manifest, allow_downgrade: bool) -> None:
        running = self.running()
        verify.check_target(manifest, self.s.python, running, allow_downgrade)
        if running == manifest.version and self.layout.pending() is None:
            raise BundleError(f"{manifest.version} is already running")
        unreadable = readable_by(manifest.state_formats, self.s.paths.data_dir)
        if unreadable:
            raise BundleError(f"{manifest.version} cannot read the state on this machine: "
                              f"{unreadable[0]}")  # fmt: skip

    # --- apply ----------------------------------------------------------------------------
    def apply(self, bundle: Path, allow_downgrade: bool = False) -> bool:
        """True: the new release runs and is confirmed; False: rolled back (reason recorded).
        BundleError: refused before anything was stopped."""
        self.recover()
        say = self.s.say
        self.layout.releases.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".unpack-", dir=self.layout.root) as tmp:
            manifest = verify.open_bundle(bundle, self.s.pubkey, Path(tmp))
            self._check_target(manifest, allow_downgrade)
            old = self.running()
            say(f"verified: {manifest.version} ({manifest.python} {manifest.arch}), "
                f"running {old or 'nothing'}")  # fmt: skip
            _test_hook("verified")
            t0 = time.monotonic()
            try:
                new_dir = release.build(Path(tmp), manifest, self.layout.releases, self.s.python)
            except BundleError:
                shutil.rmtree(self.layout.release(manifest.version), ignore_errors=True)
                raise
        say(f"built: {new_dir} in {time.monotonic() - t0:.1f} s")
        _test_hook("built")
        try:
            old_dir = self.layout.root / "current" if old else None
            release.offline_check(new_dir, old_dir, self.s.env)
        except BundleError:
            shutil.rmtree(new_dir, ignore_errors=True)
            raise
        say("checked: the programs import and the settings pass the new code")
        _test_hook("checked")
        return self._switch_and_gate(manifest.version, old)

    def _switch_and_gate(self, version: str, old: str | None) -> bool:
        say = self.s.say
        before = gate.snapshot(self.s.paths)
        write_json(self.layout.pending_file, {
            "version": version, "from": old, "radio_before": before.radio,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })  # fmt: skip
        t_stop = time.monotonic()
        self.stack("stop")
        say(f"stopped: the logger (radio was {before.radio or 'unknown'})")
        _test_hook("stopped")
        if old is not None and self.layout.target("good") is None:
            self.layout.point("good", old)
        self.layout.point("current", version)
        _test_hook("switched")
        self.stack("start")
        say(f"started: {version} after {time.monotonic() - t_stop:.1f} s stopped")
        _test_hook("started")
        why = gate.wait(self.s.paths, version, before, self.s.gate_seconds,
                        self.s.settle_seconds)  # fmt: skip
        _test_hook("gated")
        if why is None:
            self.confirm(version, old)
            say(f"confirmed: {version} is running and healthy")
            return True
        self.rollback(version, why)
        return False

    def confirm(self, version: str, old: str | None) -> None:
        good = self.layout.target("good")
        if good not in (None, version):
            self.layout.point("previous", good)
        elif old not in (None, version):
            self.layout.point("previous", old)
        self.layout.point("good", version)
        self.layout.record("confirmed", version, version)
        self.layout.pending_file.unlink(missing_ok=True)
        self.layout.prune()
        self._migrate(version)

    def _migrate(self, version: str) -> None:
        """Only now may state move to formats the previous release could not read."""
        python = self.layout.release(version) / "venv/bin/python"
        data = self.s.paths.data_dir
        owner = {}
        if os.geteuid() == 0 and data.exists():  # state stays the logger's user's
            owner = {"user": data.stat().st_uid, "group": data.stat().st_gid}
        r = subprocess.run([str(python), "-m", "services.updater", "migrate"],
                           env=release.clean_env(self.s.env), capture_output=True, text=True,
                           cwd=data if data.exists() else "/", **owner)  # fmt: skip
        if r.returncode != 0:
            self.s.say(f"warning: state migration of {version} failed: "
                       f"{(r.stderr or r.stdout).strip()[-200:]}")  # fmt: skip

    def rollback(self, failed: str, why: str) -> None:
        """Put the last good release back, start it, and say why."""
        say = self.s.say
        good = self.layout.target("good")
        say(f"rolling back: {why}")
        try:
            self.stack("stop")
        except BundleError as exc:
            say(f"warning: {exc}")
        if good is not None:
            self.layout.point("current", good)
        self.layout.record("rolled-back", failed, good, f"update rolled back: {why}")
        self.layout.pending_file.unlink(missing_ok=True)
        self.layout.prune()
        self.stack("start")
        say(f"update rolled back: {why}; running {good}")

    def recover(self) -> str | None:
        """At boot (or before the next update): an unconfirmed release is rolled back.

        Returns what was done, None when there was nothing to do."""
        for leftover in self.layout.root.glob(".unpack-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        pending = self.layout.pending()
        if pending is None:
            self.layout.prune()
            return None
        version, good = str(pending.get("version")), self.layout.target("good")
        good = good or pending.get("from")
        current = self.running()
        if current == version and good and good != version:
            self.layout.point("current", good)
            why = (f"update rolled back: {version} was not confirmed (the machine restarted "
                   "or the updater was stopped during the update)")  # fmt: skip
        else:
            why = f"update to {version} interrupted before the switch; {current} kept"
        self.layout.record("rolled-back", version, self.running(), why)
        self.layout.pending_file.unlink(missing_ok=True)
        self.layout.prune()
        return why

    def restore_previous(self) -> bool:
        """By hand: go back to the previous good release (through the same gate)."""
        self.recover()
        previous, running = self.layout.target("previous"), self.running()
        if previous is None or not (self.layout.release(previous) / "version").exists():
            raise BundleError("there is no previous release to go back to")
        manifest_file = self.layout.release(previous) / "manifest.json"
        formats: dict[str, int] = {}
        if manifest_file.exists():
            formats = Manifest.from_json(json.loads(manifest_file.read_text())).state_formats
        unreadable = readable_by(formats, self.s.paths.data_dir)
        if unreadable:
            raise BundleError(f"{previous} cannot read the state on this machine: {unreadable[0]}")
        return self._switch_and_gate(previous, running)
