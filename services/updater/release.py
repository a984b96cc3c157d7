"""Making a release folder from a checked bundle, offline, and checking it before use."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from services.updater.manifest import MANIFEST, BundleError, Manifest

PROGRAM = re.compile(r"-m\s+(services\.[a-z_]+)")


def clean_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """No pip settings of the machine (find-links, indexes) and no PYTHON* may leak in."""
    env = {k: v for k, v in (base or os.environ).items()
           if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV", "UV_"))}  # fmt: skip
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(cmd: list[str], what: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env or clean_env(), capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise BundleError(f"{what} failed: {lines[-1] if lines else f'exit {result.returncode}'}")
    return result.stdout


def build(unpacked: Path, manifest: Manifest, releases: Path, python: str) -> Path:
    """releases/<version>/ with its own venv, installed from the bundle's wheels only.

    Built where it will run (a venv names its own folder); ``version`` is written last, so
    a folder without it is an unfinished build that the next update or boot removes.
    """
    final = releases / manifest.version
    shutil.rmtree(final, ignore_errors=True)
    final.mkdir(parents=True)
    wheels = unpacked / "wheels"
    project = sorted(wheels.glob("smartmeter_logger-*.whl"))
    if len(project) != 1:
        raise BundleError("the bundle holds no smartmeter_logger wheel")
    _run([python, "-m", "venv", str(final / "venv")], "making the release's venv", final)
    _run(
        [str(final / "venv/bin/python"), "-m", "pip", "install", "--quiet", "--no-index",
         "--no-cache-dir", "--find-links", str(wheels),
         "-r", str(unpacked / "requirements.txt"), str(project[0])],
        "installing the bundle's wheels", final,
    )  # fmt: skip
    for name in ("supervisord.conf", "requirements.txt", MANIFEST):
        shutil.copy2(unpacked / name, final / name)
    (final / "version").write_text(manifest.version + "\n")
    return final


def programs(release: Path) -> list[str]:
    """The modules supervisord.conf of a release runs (services.radio, ...)."""
    return sorted(set(PROGRAM.findall((release / "supervisord.conf").read_text())))


def offline_check(release: Path, running: Path | None, stack_env: dict[str, str]) -> None:
    """Before anything stops: every program imports, and the settings pass the new code
    (when they pass the running one: a machine not configured yet is no reason to refuse)."""
    env = clean_env(stack_env)
    modules = programs(release)
    if not modules:
        raise BundleError("the release's supervisord.conf runs no program")
    imports = "; ".join(f"import {m}.__main__" for m in modules)
    _run([str(release / "venv/bin/python"), "-c", imports], "the release's import check",
         release, env)  # fmt: skip
    new = _config_check(release, env)
    if new is None:
        return
    if running is not None and _config_check(running, env) is not None:
        return
    raise BundleError(f"the new release cannot read the current settings: {new}")


def _config_check(release: Path, env: dict[str, str]) -> str | None:
    """None when ``smartmeterctl config check`` of that release passes, else its first line."""
    ctl = release / "venv/bin/smartmeterctl"
    if not ctl.exists():
        return "no smartmeterctl"
    r = subprocess.run([str(ctl), "config", "check"], env=env, capture_output=True, text=True,
                       cwd=release)  # fmt: skip
    if r.returncode == 0:
        return None
    lines = (r.stderr or r.stdout).strip().splitlines()
    return lines[0] if lines else f"exit {r.returncode}"
