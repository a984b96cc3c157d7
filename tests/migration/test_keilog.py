"""scripts/get-keilog: the previous logger's keilog next to the project (dongle.driver: keilog).

GitHub is not reachable here, so the network step is checked with --dry-run, and the rest
runs for real against a local stand-in repository (--url): the checkout it makes is one the
radio's keilog driver loads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stack import PROJECT

SCRIPT = PROJECT / "scripts" / "get-keilog"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
    # git refuses local paths as submodule URLs unless told (CVE-2022-39253)
    "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.file.allow",
    "GIT_CONFIG_VALUE_0": "always",
}  # fmt: skip
BROUTE = "class WiSunRL7023:\n    IPS = 0\n    DSS = 1\n"


def run(*args: str, script: Path = SCRIPT, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd, env={**os.environ, **GIT_ENV})  # fmt: skip


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}, check=True)  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def upstream(tmp_path) -> tuple[Path, str]:
    """A repository shaped like kjmat/keilog (keilib/broute.py with WiSunRL7023)."""
    repo = tmp_path / "upstream"
    (repo / "keilib").mkdir(parents=True)
    (repo / "keilib" / "__init__.py").write_text("")
    (repo / "keilib" / "broute.py").write_text(BROUTE)
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "keilog", cwd=repo)
    return repo, git("rev-parse", "HEAD", cwd=repo)


@pytest.fixture
def fresh(tmp_path) -> Path:
    """The script in a project folder of its own (this checkout may have a keilog already)."""
    (tmp_path / "fresh" / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, tmp_path / "fresh" / "scripts" / "get-keilog")
    return tmp_path / "fresh" / "scripts" / "get-keilog"


def printed_commands(out: str) -> list[str]:
    return [line[2:] for line in out.splitlines() if line.startswith("+ ")]


def test_dry_run_clones_the_previous_loggers_keilog_at_the_tested_commit(fresh):
    done = run("--dry-run", script=fresh)
    assert done.returncode == 0, done.stderr
    clone, checkout = printed_commands(done.stdout)
    assert clone == "git clone --quiet https://github.com/kjmat/keilog keilog"
    ref = checkout.split()[-1]
    assert checkout == f"git -C keilog checkout --quiet {ref}"
    # the commit the keilog driver was read against (its docstring names it)
    driver = PROJECT / "services/radio/link/keilog_driver.py"
    named = re.search(r"at commit ([0-9a-f]{7,})", driver.read_text()).group(1)
    assert re.fullmatch(r"[0-9a-f]{40}", ref) and ref.startswith(named)
    # and says how to switch the driver on, with the path the settings default to
    assert "driver: keilog" in done.stdout and "keilog_path: keilog" in done.stdout
    assert not (fresh.parent.parent / "keilog").exists()


def test_dry_run_submodule_adds_it_as_the_previous_logger_did(fresh):
    git("init", "-q", cwd=fresh.parent.parent)
    done = run("--dry-run", "--submodule", script=fresh)
    assert done.returncode == 0, done.stderr
    add, _ = printed_commands(done.stdout)
    assert add == "git submodule add --force https://github.com/kjmat/keilog keilog"
    assert not (fresh.parent.parent / ".gitmodules").exists()


@pytest.mark.parametrize("args", [["--bogus"], ["--ref"], ["--path", ""], ["--url"]])
def test_bad_arguments_exit_2_with_the_usage(args):
    done = run(*args)
    assert done.returncode == 2
    assert "usage: scripts/get-keilog" in done.stderr
    assert printed_commands(done.stdout) == []


def test_a_clone_is_a_checkout_the_keilog_driver_loads(upstream, tmp_path):
    repo, head = upstream
    dest = tmp_path / "project" / "keilog"
    dest.parent.mkdir()
    done = run("--url", str(repo), "--ref", head, "--path", str(dest))
    assert done.returncode == 0, done.stdout + done.stderr
    assert git("rev-parse", "HEAD", cwd=dest) == head
    probe = ("import sys; from pathlib import Path; from services.radio.link.keilog_driver import "
             "load_keilib; print(load_keilib(Path(sys.argv[1])).WiSunRL7023.DSS)")  # fmt: skip
    loaded = subprocess.run([sys.executable, "-c", probe, str(dest)], cwd=PROJECT,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "1"
    # a second run finds it and changes nothing
    again = run("--url", str(repo), "--ref", head, "--path", str(dest))
    assert again.returncode == 0 and "already" in again.stdout
    assert printed_commands(again.stdout) == []


def test_a_folder_in_the_way_is_left_alone(tmp_path):
    dest = tmp_path / "keilog"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    done = run("--dry-run", "--path", str(dest))
    assert done.returncode == 1
    assert "not a keilog checkout" in done.stderr
    assert (dest / "notes.txt").read_text() == "mine"


def test_a_ref_without_keilib_fails(tmp_path):
    repo = tmp_path / "other"
    repo.mkdir()
    (repo / "README").write_text("not keilog")
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "x", cwd=repo)
    done = run("--url", str(repo), "--ref", "HEAD", "--path", str(tmp_path / "k"))
    assert done.returncode == 1
    assert "no keilib/broute.py" in done.stderr


def test_submodule_mode_records_it_in_the_checkout(upstream, tmp_path):
    repo, head = upstream
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, project / "scripts" / "get-keilog")
    git("init", "-q", cwd=project)
    done = run("--submodule", "--url", str(repo), "--ref", head,
               script=project / "scripts" / "get-keilog")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "path = keilog" in (project / ".gitmodules").read_text()
    assert git("rev-parse", "HEAD", cwd=project / "keilog") == head


def test_submodule_mode_needs_a_git_checkout(upstream, tmp_path):
    repo, _ = upstream
    project = tmp_path / "plain"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, project / "scripts" / "get-keilog")
    done = run("--submodule", "--url", str(repo), script=project / "scripts" / "get-keilog")
    assert done.returncode == 1
    assert "not a git checkout" in done.stderr
    assert not (project / "keilog").exists()
