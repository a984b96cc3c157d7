"""The application bundle: the project's wheel and every locked dependency, for aarch64.

Everything is built or downloaded on the build machine; the image only installs it offline,
so nothing is compiled under emulation and the image gets exactly the versions in uv.lock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from imagebuild.host import run

# Trixie's Python and C library: the wheels must fit both.
TARGET_PYTHON = "3.13"
TARGET_GLIBC_MINOR = 41
BUNDLE_FILES = ("requirements.txt", "supervisord.conf", "settings.yml", "version")


def project_version(repo: Path) -> str:
    with (repo / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def platform_args() -> list[str]:
    """Every manylinux tag an aarch64 trixie accepts (pip does not widen them by itself)."""
    args = ["--platform", "manylinux2014_aarch64"]
    for minor in range(17, TARGET_GLIBC_MINOR + 1):
        args += ["--platform", f"manylinux_2_{minor}_aarch64"]
    return args


def _pip() -> list[str]:
    probe = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "pip"]
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("neither pip nor uv is available to download the aarch64 wheels")
    return [uv, "tool", "run", "pip"]


def _host_env() -> dict[str, str]:
    # A machine's pip settings (find-links, extra indexes, constraints) would mix other
    # wheels or versions into the download: only uv.lock decides.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def image_settings(text: str) -> str:
    """The image's settings.yml: the repository's, with the health endpoint on the LAN.

    A tree without a health endpoint (no 'health:' section) gets its settings unchanged.
    """
    out, in_health, done = [], False, False
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            in_health = line.split(":", 1)[0].strip() == "health"
        if in_health and line.strip().startswith("bind:"):
            indent = line[: len(line) - len(line.lstrip())]
            line = f"{indent}bind: 0.0.0.0  # the appliance: a monitor on the LAN polls /health"
            done = True
        out.append(line)
    if not done:
        print("[image] warning: config/settings.yml has no 'health: bind:'; left as it is")
    return "\n".join(out) + "\n"


def find_uv() -> str:
    """uv as scripts/_bootstrap.sh finds (or installs) it: $UV, PATH, ~/.local/bin."""
    for candidate in (os.environ.get("UV"), shutil.which("uv"), Path.home() / ".local/bin/uv"):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    raise RuntimeError("uv is not installed; run scripts/test once, or: pip install uv")


def build_bundle(repo: Path, bundle: Path) -> str:
    """Fill ``bundle`` with wheels/, requirements.txt, supervisord.conf, settings.yml."""
    uv = find_uv()
    if bundle.exists():
        shutil.rmtree(bundle)
    wheels = bundle / "wheels"
    wheels.mkdir(parents=True)
    env = _host_env()
    run([uv, "build", "--wheel", "--out-dir", wheels, repo], env=env, stdout=subprocess.DEVNULL)
    requirements = bundle / "requirements.txt"
    run(
        [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project",
         "--format", "requirements-txt", "--output-file", requirements],
        env=env, cwd=repo, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    run(
        [*_pip(), "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--python-version", TARGET_PYTHON, "--implementation", "cp", *platform_args(),
         "--dest", wheels, "-r", requirements],
        env=env,
    )  # fmt: skip
    shutil.copy2(repo / "supervisord.conf", bundle / "supervisord.conf")
    settings = (repo / "config" / "settings.yml").read_text()
    (bundle / "settings.yml").write_text(image_settings(settings))
    version = project_version(repo)
    (bundle / "version").write_text(version + "\n")
    return version
