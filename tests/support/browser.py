"""Headless chromium as the tests drive it: a page's DOM after its scripts, or a screenshot."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.installed import need


class Chromium:
    def __init__(self, profile: Path, env: dict[str, str] | None = None) -> None:
        self.binary = need("chromium", "chromium", "chromium-browser")
        self.env = env
        self.args = [self.binary, "--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                     "--force-device-scale-factor=1", f"--user-data-dir={profile}"]  # fmt: skip

    @staticmethod
    def _budget(budget_ms: int | None) -> list[str]:
        # Virtual time: the page's fetches, drawing and timers run (fast) before the DOM or
        # the picture is taken; without it chromium takes them at the load event.
        return [] if budget_ms is None else [f"--virtual-time-budget={budget_ms}"]

    def dom(self, url: str, size: str = "900,1100", budget_ms: int | None = None) -> str:
        """The DOM after the page's scripts ran, laid out in a window of ``size``."""
        done = subprocess.run([*self.args, *self._budget(budget_ms), f"--window-size={size}",
                               "--dump-dom", url],
                              capture_output=True, text=True, timeout=90, env=self.env)  # fmt: skip
        return done.stdout

    def screenshot(self, url: str, path: Path, size: str = "900,1100",
                   budget_ms: int | None = None) -> Path:  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([*self.args, *self._budget(budget_ms), f"--screenshot={path}",
                        f"--window-size={size}", url],
                       capture_output=True, timeout=90, env=self.env)  # fmt: skip
        if not path.exists():
            raise AssertionError(f"chromium wrote no screenshot of {url}")
        return path
