"""Headless chromium as a person's browser: the page's DOM after its script ran, screenshots."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed; scripts/packages/suite.txt lists it")
    return found


def _args(profile: Path, width: int, height: int, budget_ms: int = 8000) -> list[str]:
    return [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", f"--window-size={width},{height}",
            f"--user-data-dir={profile}",
            # let the page's fetches and drawing finish before the DOM or picture is taken
            f"--virtual-time-budget={budget_ms}"]  # fmt: skip


def dump_dom(url: str, profile: Path, width: int = 1280, height: int = 800,
             budget_ms: int = 8000) -> str:  # fmt: skip
    """The DOM after ``budget_ms`` of the page's (virtual) time: its timers run too."""
    done = subprocess.run([*_args(profile, width, height, budget_ms), "--dump-dom", url],
                          capture_output=True, text=True, timeout=90)  # fmt: skip
    return done.stdout


def screenshot(url: str, profile: Path, target: Path, width: int, height: int,
               full_page: bool = False) -> Path:  # fmt: skip
    target.parent.mkdir(parents=True, exist_ok=True)
    # A tall window gives the whole page in one picture (chromium's --screenshot is the
    # viewport); the phone one stays the phone's first screen unless asked.
    size_h = 2600 if full_page else height
    subprocess.run([*_args(profile, width, size_h), f"--screenshot={target}", url],
                   capture_output=True, timeout=90, check=False)  # fmt: skip
    if not target.exists():
        raise AssertionError(f"chromium wrote no screenshot to {target}")
    return target
