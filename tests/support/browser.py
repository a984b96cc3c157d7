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

    def dom(self, url: str, size: str = "900,1100") -> str:
        """The DOM after the page's scripts ran, laid out in a window of ``size``."""
        done = subprocess.run([*self.args, f"--window-size={size}", "--dump-dom", url],
                              capture_output=True, text=True, timeout=60, env=self.env)  # fmt: skip
        return done.stdout

    def screenshot(self, url: str, path: Path, size: str = "900,1100") -> Path:
        subprocess.run([*self.args, f"--screenshot={path}", f"--window-size={size}", url],
                       capture_output=True, timeout=60, env=self.env)  # fmt: skip
        if not path.exists():
            raise AssertionError(f"chromium wrote no screenshot of {url}")
        return path
