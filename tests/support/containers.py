"""A real container engine for the container tier (tests/containers): Debian's podman.

No registry is reachable from CI, so the images the tier needs are made here from Debian
packages with mmdebstrap and imported into podman (``podman import``):

- the base image the Dockerfile names (``FROM python:3.11-slim``): Debian bookworm, whose
  Python is 3.11, with ``python``, ``pip`` and no PEP 668 marker, as the official image has;
- a bare Debian 12 with only python3 and git, as a newcomer's machine.

Each is cached under ``/var/tmp/smartmeter-containers`` keyed by its recipe (the
mmdebstrap arguments and the host's CA bundle), so a warm run imports nothing.

podman runs with its own storage and settings under that directory (``CONTAINERS_CONF``,
``CONTAINERS_STORAGE_CONF``); the machine's own podman configuration is not touched:

- ``runtime = "runc"``: Debian's crun refuses this kernel's hybrid cgroup v1/v2 layout;
- ``cgroup_manager = "cgroupfs"`` and ``events_logger = "file"``: no systemd here;
- ``default_ulimits`` at or below the hard limits podman's processes have (nofile: the test
  process's; nproc: at most 32768): podman's defaults are above them, and runc then fails
  with "error setting rlimits for ready process ... operation not permitted";
- the CNI network configs in our own directory (podman-compose creates one per project);
- ``BUILDAH_FORMAT=docker``: the OCI image format drops the Dockerfile's HEALTHCHECK.

The host's trusted CA bundle goes into both images (and ``SSL_CERT_FILE`` is passed on when
the host sets it): CI may reach PyPI through a TLS-inspecting proxy the host trusts.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("SMARTMETER_CONTAINERS_DIR", "/var/tmp/smartmeter-containers"))
HOST_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
IN_IMAGE_CA = "/usr/local/share/ca-certificates/smartmeter-host-bundle.crt"
PROMISED = os.environ.get("SMARTMETER_CONTAINERS") == "1"  # scripts/test --containers
PACKAGES = PROJECT / "scripts" / "packages" / "containers.txt"


REPORTER: list = []  # pytest's terminal reporter and capture manager (tests/containers/conftest.py)


def say(message: str) -> None:
    """A line in the test output even when pytest captures (what was made, and how long)."""
    line = f"[containers] {message}"
    if REPORTER:
        reporter, capture = REPORTER
        with capture.global_and_fixture_disabled():
            if reporter._tw.width_of_current_line:  # after the progress dots of -q
                reporter.write("\n")
            reporter._tw.line(line)
    else:
        print(line, file=sys.__stderr__, flush=True)


def unavailable(reason: str) -> None:
    """Skip when the developer has no engine; fail when CI promised one."""
    hint = f"; scripts/test --containers installs {PACKAGES.relative_to(PROJECT)} (as root)"
    if PROMISED:
        pytest.fail(reason + hint, pytrace=False)
    pytest.skip(reason + hint)


def host_bundle() -> Path:
    return Path(os.environ.get("SSL_CERT_FILE") or HOST_BUNDLE)


@dataclass(frozen=True)
class Recipe:
    """A Debian root file system made by mmdebstrap and imported as ``name``."""

    name: str
    suite: str
    include: tuple[str, ...]
    hooks: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    variant: str = "minbase"

    def mmdebstrap_args(self, bundle: Path, out: Path) -> list[str]:
        trust = (
            f'mkdir -p "$1{Path(IN_IMAGE_CA).parent}"',
            f'cp {bundle} "$1{IN_IMAGE_CA}"',
            'chroot "$1" update-ca-certificates >/dev/null 2>&1',
        )
        hooks = [f"--customize-hook={h}" for h in (*self.hooks, *trust)]
        return ["mmdebstrap", "--quiet", f"--variant={self.variant}",
                f"--include={','.join(self.include)}", *hooks, self.suite, str(out)]  # fmt: skip

    def import_changes(self) -> list[str]:
        env = ["ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"] if cert_env() else []
        return [*self.changes, *env]

    def key(self) -> str:
        bundle = host_bundle()
        text = json.dumps([self.mmdebstrap_args(Path("B"), Path("OUT")),
                           self.import_changes()])  # fmt: skip
        digest = hashlib.sha256(text.encode())
        digest.update(bundle.read_bytes() if bundle.is_file() else b"")
        return digest.hexdigest()[:16]


# What the Dockerfile's FROM names, made from Debian packages: bookworm's Python is 3.11.
PYTHON_SLIM = Recipe(
    name="docker.io/library/python:3.11-slim",
    suite="bookworm",
    include=("python3", "python3-pip", "python-is-python3", "ca-certificates"),
    # The official image's pip installs into its Python; Debian's refuses (PEP 668).
    hooks=('rm -f "$1"/usr/lib/python3.*/EXTERNALLY-MANAGED',),
    changes=('CMD ["python3"]',),
)

# A newcomer's Debian 12: python3 and git as Debian installs them (no pip, no venv module).
BARE_DEBIAN = Recipe(
    name="localhost/smartmeter-bare-debian:12",
    suite="bookworm",
    include=("python3", "git", "ca-certificates"),
    changes=('CMD ["bash"]',),
)


def cert_env() -> dict[str, str]:
    """SSL_CERT_FILE for the container when the host sets one (uv and pip honour it)."""
    return {"SSL_CERT_FILE": HOST_BUNDLE} if os.environ.get("SSL_CERT_FILE") else {}


def _limit(which: int, cap: int) -> int:
    _soft, hard = resource.getrlimit(which)
    return cap if hard == resource.RLIM_INFINITY else min(hard, cap)


@dataclass
class Podman:
    """podman with the tier's own storage and settings (see the module docstring)."""

    root: Path = ROOT
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for tool in ("podman", "runc", "mmdebstrap"):
            if shutil.which(tool) is None:
                unavailable(f"{tool} is not installed")
        if os.geteuid() != 0:
            unavailable("the container tier runs podman as root (as Docker's daemon runs)")
        conf = self.root / "conf"
        for d in (conf, self.root / "images", self.root / "net.d"):
            d.mkdir(parents=True, exist_ok=True)
        nofile = _limit(resource.RLIMIT_NOFILE, 65536)
        # podman's own processes (conmon, runc) run with a hard nproc of 32768 whatever the
        # shell's is (seen in /proc/<conmon>/limits); runc cannot raise it for the container.
        nproc = _limit(resource.RLIMIT_NPROC, 32768)
        (conf / "containers.conf").write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'tmp_dir = "/run/smartmeter-containers/libpod"\n'
            "[network]\n"
            f'network_config_dir = "{self.root / "net.d"}"\n'
        )
        (conf / "storage.conf").write_text(
            "[storage]\n"
            'driver = "overlay"\n'
            f'graphroot = "{self.root / "storage"}"\n'
            'runroot = "/run/smartmeter-containers/storage"\n'
        )
        self.env = {**os.environ,
                    "CONTAINERS_CONF": str(conf / "containers.conf"),
                    "CONTAINERS_STORAGE_CONF": str(conf / "storage.conf"),
                    "BUILDAH_FORMAT": "docker"}  # fmt: skip
        done = self.run("info", "--format", "{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}",
                        check=False, timeout=120)  # fmt: skip
        if done.returncode != 0:
            unavailable(f"podman does not work here: {done.stderr.strip()[-300:]}")

    def run(self, *args: str, check: bool = True, timeout: float = 600,
            input: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        done = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, input=input)  # fmt: skip
        if check and done.returncode != 0:
            pytest.fail(f"podman {' '.join(args[:3])} failed ({done.returncode}):\n"
                        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}", pytrace=False)  # fmt: skip
        return done

    def image(self, recipe: Recipe) -> str:
        """``recipe.name``, imported from the cached tarball or made now; returns the name."""
        key = recipe.key()
        label = "{{ index .Config.Labels \"smartmeter.recipe\" }}"
        have = self.run("image", "inspect", "--format", label, recipe.name, check=False)
        if have.returncode == 0 and have.stdout.strip() == key:
            say(f"{recipe.name}: no registry here; the one made earlier from Debian "
                f"{recipe.suite} packages (recipe {key})")
            return recipe.name
        stem = recipe.name.rsplit("/", 1)[-1].replace(":", "-")
        tar = self.root / "images" / f"{stem}-{key}.tar"
        if not tar.is_file():
            for old in tar.parent.glob(f"{stem}-*.tar"):  # an earlier recipe's
                old.unlink()
            why = "" if recipe.name.startswith("localhost/") else " cannot be pulled (no registry);"
            say(f"{recipe.name}{why} making it from Debian {recipe.suite} packages with "
                f"mmdebstrap: {', '.join(recipe.include)}")
            partial = tar.with_name(f"{tar.stem}.partial.tar")  # mmdebstrap: format by suffix
            done = subprocess.run(recipe.mmdebstrap_args(host_bundle(), partial),
                                  capture_output=True, text=True, timeout=1200)  # fmt: skip
            if done.returncode != 0:
                pytest.fail(f"mmdebstrap for {recipe.name} failed:\n{done.stderr[-3000:]}",
                            pytrace=False)  # fmt: skip
            partial.rename(tar)
        changes = [*recipe.import_changes(), f"LABEL smartmeter.recipe={key}"]
        self.run("import", "--quiet", *(a for c in changes for a in ("--change", c)),
                 str(tar), recipe.name)  # fmt: skip
        say(f"{recipe.name}: imported from {tar} (made from Debian {recipe.suite} packages)")
        return recipe.name
