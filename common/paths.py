"""Where things live: a dev checkout (everything under the project) or the appliance.

Every path can be moved with an environment variable; supervisord passes them to each
service, and the tests point them at temporary directories.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Paths:
    home: Path  # relative paths in settings.yml are taken from here
    config_file: Path  # settings.yml
    env_file: Path  # .env with the secrets
    runtime_dir: Path  # sockets, pid-like state: tmpfs on the appliance
    data_dir: Path  # durable state (cursors, queue)
    log_dir: Path  # service logs

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Paths:
        env = os.environ if environ is None else environ
        home = Path(env.get("SMARTMETER_HOME") or PROJECT_ROOT)

        def pick(var: str, default: Path) -> Path:
            value = env.get(var)
            return Path(value) if value else default

        return cls(
            home=home,
            config_file=pick("SMARTMETER_CONFIG", home / "config" / "settings.yml"),
            env_file=pick("SMARTMETER_ENV_FILE", home / ".env"),
            runtime_dir=pick("SMARTMETER_RUNTIME_DIR", home / "var" / "run"),
            data_dir=pick("SMARTMETER_DATA_DIR", home / "var" / "lib"),
            log_dir=pick("SMARTMETER_LOG_DIR", home / "var" / "log"),
        )

    def resolve(self, value: str | Path) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.home / p

    @property
    def simulator_link(self) -> Path:
        """The stable path the built-in simulator exposes its pseudo-terminal at."""
        return self.runtime_dir / "simulator-tty"

    @property
    def readings_endpoint(self) -> str:
        """The radio's PUB socket: live readings and heartbeats."""
        return f"ipc://{self.runtime_dir / 'readings.sock'}"

    @property
    def replay_endpoint(self) -> str:
        """The radio's ROUTER socket: "everything after seq N" from its journal."""
        return f"ipc://{self.runtime_dir / 'replay.sock'}"

    @property
    def backfill_request(self) -> Path:
        """``smartmeterctl backfill`` leaves its request here; the radio takes it."""
        return self.runtime_dir / "backfill-request.json"
