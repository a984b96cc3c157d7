"""Which configuration smartmeterctl talks about: the running stack's, or the demo's.

A stack started by ``scripts/demo`` may use ``config/demo.env`` while a second terminal has
no SMARTMETER_* variables at all; judging that terminal's environment would report a
config error about a stack that is working.  So ``smartmeterctl supervise`` leaves a record
in the runtime dir (``stack.json``, 0600): the settings file, env file and directories it
started with, and the *names* of the secret variables its environment set (never their
values).  Every other command reads it while that stack is running.  With no stack
running, the commands use what ``scripts/demo`` would: ``.env``, or ``config/demo.env`` (the
built-in simulated meter) when there is none.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from common.config import Config, ConfigError, load_config, read_settings_env
from common.paths import Paths

RECORD = "stack.json"
PATH_VARIABLES = {
    "SMARTMETER_HOME": "home",
    "SMARTMETER_CONFIG": "config_file",
    "SMARTMETER_ENV_FILE": "env_file",
    "SMARTMETER_RUNTIME_DIR": "runtime_dir",
    "SMARTMETER_DATA_DIR": "data_dir",
    "SMARTMETER_LOG_DIR": "log_dir",
}


@dataclass(frozen=True)
class Target:
    """The configuration the commands use, and how to say which one it is."""

    paths: Paths
    environ: dict[str, str]  # what load_config reads SERIAL_PORT and the secrets from
    running: bool
    source: str  # for a person: whose configuration this is
    # Secrets the running stack took from its own environment, which this shell lacks: the
    # stack checked them when it started; they cannot be checked again from here.
    hidden: tuple[str, ...] = field(default=())


def from_environment(paths: Paths, environ: dict[str, str]) -> set[str]:
    """The .env keys (BROUTE_*, INFLUXDB_*, SERIAL_PORT ...) ``environ`` sets: what the
    configuration would read with no .env file at all."""
    return set(read_settings_env(replace(paths, env_file=Path(os.devnull)), environ))


def record(paths: Paths, pid: int, environ: dict[str, str]) -> None:
    """Leave the record of a stack starting with ``paths`` as supervisord ``pid``."""
    body = {
        "pid": pid,
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        **{attr: str(getattr(paths, attr)) for attr in PATH_VARIABLES.values()},
        # The dongle's path is not a secret, and says which meter the stack talks to.
        "serial_port": environ.get("SERIAL_PORT"),
        "secrets_from_environment": sorted(from_environment(paths, environ) - {"SERIAL_PORT"}),
    }
    path = paths.runtime_dir / RECORD
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(body, f, indent=2)
    os.chmod(tmp, 0o600)  # O_CREAT's mode only applies to a new file
    os.replace(tmp, path)


def forget(paths: Paths) -> None:
    (paths.runtime_dir / RECORD).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    try:  # a pid reused by something else after a crash is not our stack
        return b"supervisord" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def running_record(paths: Paths) -> dict | None:
    """The record of the stack running in ``paths.runtime_dir``, or None."""
    try:
        rec = json.loads((paths.runtime_dir / RECORD).read_text(encoding="utf-8"))
        return rec if _alive(int(rec["pid"])) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find(environ: dict[str, str] | None = None) -> Target:
    """The configuration the commands of this shell should use."""
    env = dict(os.environ if environ is None else environ)
    paths = Paths.from_environ(env)
    rec = running_record(paths)
    if rec is not None:
        paths = Paths(**{attr: Path(rec[attr]) for attr in PATH_VARIABLES.values()})
        from_env = rec.get("secrets_from_environment") or []
        # This shell's .env variables are not the stack's: keep only those the stack had too.
        mine = from_environment(paths, env) - set(from_env)
        stack_env = {k: v for k, v in env.items() if k not in mine}
        stack_env.update({var: rec[attr] for var, attr in PATH_VARIABLES.items()})
        if rec.get("serial_port") is not None:
            stack_env["SERIAL_PORT"] = rec["serial_port"]
        return Target(
            paths,
            stack_env,
            running=True,
            source=f"the running stack's (supervisord pid {rec['pid']}, started {rec['started']})",
            hidden=tuple(k for k in from_env if k not in env),
        )
    if (paths.runtime_dir / "supervisor.sock").exists():
        # supervisord runs, but not started by this smartmeterctl (or its record is gone).
        nobody = "a stack runs without a record of its configuration; this shell's"
    else:
        nobody = "no stack is running; this shell's"
    demo_env = paths.home / "config" / "demo.env"
    if (
        not env.get("SMARTMETER_ENV_FILE")
        and not paths.env_file.exists()
        and env.get("SERIAL_PORT", "simulator").strip() in ("", "simulator")
        and demo_env.is_file()
    ):
        return Target(
            replace(paths, env_file=demo_env),
            env,
            running=False,
            source=(
                f"{nobody.rsplit(';', 1)[0]}; what scripts/demo would use: no "
                f"{paths.env_file.name}, so config/demo.env and the built-in simulated meter"
            ),
        )
    return Target(paths, env, running=False, source=nobody)


def load(target: Target, *, need_broute: bool = False) -> Config:
    """load_config for ``target``; what only the stack's own environment holds is left out."""
    try:
        return load_config(target.paths, target.environ, need_broute=need_broute)
    except ConfigError as exc:
        problems = visible_problems(target, exc.problems)
        if problems or not need_broute:
            raise ConfigError(problems or exc.problems) from None
    return load_config(target.paths, target.environ)


def visible_problems(target: Target, problems: list[str]) -> list[str]:
    """``problems`` without those about secrets this shell cannot see (``Target.hidden``)."""
    return [p for p in problems if not p.startswith(tuple(f"{k} " for k in target.hidden))]
