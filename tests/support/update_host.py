"""Releases and an appliance-like stack on the host, for tests/updates.

:func:`make_bundle` builds a real update bundle (image/bundle) from a copy of this checkout
with a new version and, optionally, a change (a radio that exits, one that never joins, a
config it cannot read, a state-format change), signed with a throwaway minisign key.  The
dependency wheels are cached under /var/tmp by image/bundle itself.

:class:`ApplianceStack` is the fault suite's stack run the way the appliance runs it: the
programs come from ``<root>/opt/current`` (a release the updater built), stopped and
started through tests/support/servicectl.py (the stand-in for systemctl).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.fault_stack import FaultStack
from tests.support.stack import DEMO_PASSWORD, PROJECT, Stack

BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)
SERVICECTL = Path(__file__).with_name("servicectl.py")
COPIED = ("common", "services", "pyproject.toml", "uv.lock", "README.md", "supervisord.conf")

# What a variant changes in the copied tree: (file, text appended or (old, new) replaced).
RADIO_EXITS = ("services/radio/__main__.py", (
    "def main(config: Config, stopper: Stopper) -> int:\n",
    "def main(config: Config, stopper: Stopper) -> int:\n"
    "    import time\n\n    time.sleep(4)  # a release whose radio dies\n    return 7\n",
))  # fmt: skip
RADIO_NEVER_JOINS = ("services/radio/__main__.py", (
    "def main(config: Config, stopper: Stopper) -> int:\n",
    "def main(config: Config, stopper: Stopper) -> int:\n"
    "    import dataclasses\n\n    from common.config import Secret\n\n"
    "    config = dataclasses.replace(config, broute_password=Secret('ZZZZZZZZZZZZ'))\n",
))  # fmt: skip
CONFIG_UNREADABLE = ("common/config/load.py", (
    "def load_config(",
    "def load_config(*a, **k):  # a release that wants another settings format\n"
    "    raise ConfigError(['settings_version: 2 is required (this file is version 1)'])\n\n\n"
    "def _old_load_config(",
))  # fmt: skip
LEDGER_FORMAT_2 = (
    "common/state_formats.py",
    (
        "\n",
        "\n",  # appended below
    ),
)
LEDGER_FORMAT_2_TEXT = (
    '\n\nFORMATS["ledger"] = 2\n'
    'MIGRATIONS[("ledger", 2)] = lambda d: (d / "ledger-v2-migrated").write_text("yes\\n")\n'
)


def checkout_version() -> str:
    text = (PROJECT / "pyproject.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.M).group(1)  # type: ignore[union-attr]


def bumped(version: str, step: int) -> str:
    parts = [int(p) for p in version.split(".")[:3]]
    parts[2] += step
    return ".".join(map(str, parts))


@dataclass(frozen=True)
class Keys:
    public: Path
    secret: Path

    @classmethod
    def make(cls, folder: Path) -> Keys:
        folder.mkdir(parents=True, exist_ok=True)
        keys = cls(folder / "update.pub", folder / "update.key")
        subprocess.run(["minisign", "-G", "-W", "-f", "-p", keys.public, "-s", keys.secret],
                       check=True, capture_output=True)  # fmt: skip
        return keys


def make_bundle(out: Path, keys: Keys, version: str | None = None,
                change: tuple | None = None, aarch64: bool = False) -> Path:  # fmt: skip
    """A signed bundle of this checkout (as it is, or copied with a new version + change)."""
    repo = PROJECT
    if version is not None:
        repo = out / f"src-{version}"
        shutil.rmtree(repo, ignore_errors=True)
        repo.mkdir(parents=True)
        for name in COPIED:
            src = PROJECT / name
            if src.is_dir():
                shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, repo / name)
        py = repo / "pyproject.toml"
        py.write_text(re.sub(r'^version = "[^"]+"', f'version = "{version}"', py.read_text(),
                             count=1, flags=re.M))  # fmt: skip
        if change is not None:
            path, (old, new) = repo / change[0], change[1]
            text = path.read_text()
            if change is LEDGER_FORMAT_2:
                text += LEDGER_FORMAT_2_TEXT
            else:
                assert old in text, f"{change[0]} no longer has {old!r}: update the variant"
                text = text.replace(old, new, 1)
            path.write_text(text)
    target = [] if aarch64 else ["--python", BASE_PYTHON]
    result = subprocess.run(
        [sys.executable, str(PROJECT / "image/bundle"), "--out", str(out),
         "--key", str(keys.secret), "--repo", str(repo), *target],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.split()[0])


class ApplianceStack(FaultStack):
    """The stack as smartmeter.service runs it, from the release the updater switched to."""

    def __init__(self, root: Path, keys: Keys, gate_seconds: float = 90, **kw) -> None:
        super().__init__(root, **kw)
        self.keys = keys
        self.gate_seconds = gate_seconds
        # the simulated meter checks the password, so a release sending another never joins
        self.extra_env["SIMULATOR_BROUTE_PASSWORD"] = DEMO_PASSWORD

    @property
    def opt(self) -> Path:
        return self.root / "opt"

    def write_config(self) -> None:
        Stack.write_config(self)  # the release's own supervisord.conf, as on the appliance

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in super().environ().items()
               if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}  # fmt: skip
        return env | {
            "SMARTMETER_SUPERVISORD_CONF": str(self.opt / "current/supervisord.conf"),
            "SMARTMETER_RELEASE_ROOT": str(self.opt),
            "SMARTMETER_UPDATE_PUBKEY": str(self.keys.public),
            "SMARTMETER_BASE_PYTHON": BASE_PYTHON,
            "SMARTMETER_STACK_CTL": f"{sys.executable} {SERVICECTL} {{action}}",
            "SMARTMETER_TEST_SERVICE_DIR": str(self.root / "service"),
            "SMARTMETER_UPDATE_GATE_SECONDS": str(self.gate_seconds),
            "SMARTMETER_UPDATE_SETTLE_SECONDS": "5",
        }

    def service(self, action: str) -> None:
        subprocess.run([sys.executable, str(SERVICECTL), action], env=self.environ(),
                       check=True, timeout=90)  # fmt: skip

    def start(self) -> ApplianceStack:
        self.write_config()
        self.service("start")
        return self

    def stop(self) -> None:
        self.service("stop")

    def install(self, bundle: Path) -> subprocess.CompletedProcess[str]:
        """The first release, as image/build installs it: by this checkout's updater."""
        self.write_config()
        return self.updater("apply", str(bundle), python=sys.executable, cwd=PROJECT)

    def updater(self, *args: str, python: str | None = None, cwd: Path | None = None,
                **env: str) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """``python -m services.updater`` of the running release (as smartmeterctl runs it)."""
        python = python or str(self.opt / "current/venv/bin/python")
        return subprocess.run([python, "-m", "services.updater", *args],
                              env=self.environ() | env, cwd=cwd or self.root,
                              capture_output=True, text=True, timeout=600)  # fmt: skip

    def smartmeterctl(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.opt / "current/venv/bin/smartmeterctl"), *args],
                              env=self.environ() | env, cwd=self.root,
                              capture_output=True, text=True, timeout=600)  # fmt: skip

    def reboot(self) -> str:
        """What a power cut and the next boot do: the stack dies, the boot check runs with
        the last good release's code, smartmeter.service starts."""
        self.stop()
        good = self.opt / "good/venv/bin/python"
        out = self.updater("recover", python=str(good))
        assert out.returncode == 0, out.stderr
        self.start()
        return out.stdout.strip()

    def running(self) -> str | None:
        try:
            return Path(os.readlink(self.opt / "current")).name
        except OSError:
            return None


# --- shared by tests/updates ---------------------------------------------------------------
def joined(stack: ApplianceStack) -> bool:
    return stack.check("radio:link").get("cause") == "joined"


def version(stack: ApplianceStack) -> dict:
    out = stack.smartmeterctl("version", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
