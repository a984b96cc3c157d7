"""Programs from Debian packages the tests use (scripts/packages/suite.txt)."""

from __future__ import annotations

import shutil

import pytest


def need(program: str, package: str, *alternatives: str) -> str:
    """The program's path; without it, the test fails naming the Debian package to install."""
    for name in (program, *alternatives):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        f"{program} is not installed; scripts/test installs it when it runs as root or with "
        f"sudo, or: sudo apt-get install -y --no-install-recommends {package}",
        pytrace=False,
    )
