"""scripts/packages/*.txt: the one list of Debian packages scripts/test and .ci/run install."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.stack import PROJECT

LISTS = PROJECT / "scripts" / "packages"


def names(list_name: str) -> list[str]:
    text = (LISTS / f"{list_name}.txt").read_text()
    return [line.split("#", 1)[0].split()[0] for line in text.splitlines()
            if line.split("#", 1)[0].strip()]  # fmt: skip


def test_every_line_is_one_debian_package_name():
    for list_name in ("bootstrap", "suite", "image"):
        for name in names(list_name):
            assert re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", name), (list_name, name)


def test_the_suite_list_has_what_the_tests_run():
    assert {"victoria-metrics", "chromium", "fonts-noto-cjk"} <= set(names("suite"))


def test_ci_installs_through_the_lists_and_names_no_package_twice():
    ci = (PROJECT / ".ci" / "run").read_text()
    assert "scripts/packages/install bootstrap suite image" in ci
    apt_lines = [line for line in ci.splitlines() if "apt-get install" in line]
    listed = set(names("bootstrap")) | set(names("suite")) | set(names("image"))
    for line in apt_lines:
        assert not listed & set(line.split()), line


def test_nothing_missing_means_nothing_done_and_nothing_said():
    """This machine has the suite's packages (the suite could not run otherwise)."""
    done = subprocess.run([LISTS / "install", "suite"], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_an_unknown_list_is_named():
    done = subprocess.run([LISTS / "install", "nope"], capture_output=True, text=True)
    assert done.returncode == 2 and "nope.txt" in done.stderr


def test_without_root_or_sudo_one_line_names_the_command():
    """A user who is not root and has no password-less sudo: nothing is installed, and the
    line says exactly what to type."""
    with tempfile.TemporaryDirectory() as tmp:  # outside pytest's root-only tmp tree
        _as_an_ordinary_user(Path(tmp))


def _as_an_ordinary_user(tmp_path: Path) -> None:
    lists = tmp_path / "packages"
    lists.mkdir()
    shutil.copy(LISTS / "install", lists / "install")
    (lists / "extra.txt").write_text("no-such-package-xyz  # what this machine lacks\n")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "sudo").write_text("#!/bin/sh\nexit 1\n")  # sudo that wants a password
    (stubs / "sudo").chmod(0o755)
    tmp_path.chmod(0o755)
    as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    command = [*(as_user if os.geteuid() == 0 else []), str(lists / "install"), "extra"]
    env = {**os.environ, "PATH": f"{stubs}:/usr/bin:/bin"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert done.stderr == (
        "Missing Debian packages (no-such-package-xyz); install them with: sudo apt-get update"
        " && sudo apt-get install -y --no-install-recommends no-such-package-xyz\n"
    )
