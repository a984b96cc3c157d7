"""smartmeterctl: see what the logger is doing, check its configuration, run the stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click

from common.config import ConfigError, epc_label, load_config, read_settings_env
from common.paths import PROJECT_ROOT, Paths
from common.supervisor_rpc import SupervisorUnavailable, process_info

# Exit codes as monitoring plugins expect them.
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3


def _version() -> str:
    try:
        return version("smartmeter-logger")
    except PackageNotFoundError:
        return "unknown"


@click.group()
@click.version_option(_version(), prog_name="smartmeterctl")
def main() -> None:
    """B-route smart-meter logger: status, configuration check and the supervised stack."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(as_json: bool) -> None:
    """Show each process's state; exit 0 OK, 2 CRITICAL, 3 UNKNOWN."""
    paths = Paths.from_environ()
    try:
        procs = process_info(paths.runtime_dir / "supervisor.sock")
    except SupervisorUnavailable as exc:
        if as_json:
            click.echo(json.dumps({"verdict": "unknown", "error": str(exc)}))
        else:
            click.echo(f"UNKNOWN: {exc}; start it with scripts/demo or systemctl start smartmeter")
        sys.exit(UNKNOWN)
    # A simulator that was never started (real dongle configured) is not a problem.
    relevant = [p for p in procs if not (p["name"] == "simulator" and p["statename"] == "STOPPED")]
    bad = [p for p in relevant if p["statename"] != "RUNNING"]
    verdict = "critical" if bad else "ok"
    if as_json:
        keys = ("name", "statename", "description", "pid", "exitstatus", "spawnerr")
        rows = [{k: p.get(k) for k in keys} for p in procs]
        click.echo(json.dumps({"verdict": verdict, "processes": rows}, indent=2))
    else:
        for p in procs:
            click.echo(f"{p['name']:<14} {p['statename']:<9} {p['description']}")
        click.echo(f"verdict: {verdict.upper()}")
    sys.exit(CRITICAL if bad else OK)


@main.group()
def config() -> None:
    """Configuration commands."""


@config.command("check")
def config_check() -> None:
    """Validate settings.yml and .env without starting anything."""
    paths = Paths.from_environ()
    try:
        cfg = load_config(paths, need_broute=True)
    except ConfigError as exc:
        for line in exc.problems:
            click.echo(f"config error: {line}", err=True)
        sys.exit(2)
    meter = "the built-in simulator" if cfg.uses_simulator else cfg.serial_port
    click.echo(f"settings: {paths.config_file}")
    click.echo(f"secrets:  {paths.env_file}")
    click.echo(f"meter:    {meter}, dongle model {cfg.dongle_model}")
    click.echo(f"polling:  every {cfg.interval_seconds:g} s: "
               + ", ".join(epc_label(e) for e in cfg.properties))  # fmt: skip
    click.echo(f"csv:      {'to ' + str(cfg.csv.directory) if cfg.csv.enabled else 'disabled'}")
    click.echo(f"influxdb: {'enabled' if cfg.influx.enabled else 'disabled'}")
    click.echo("config OK")


def stack_environment(paths: Paths) -> dict[str, str]:
    """The variables supervisord.conf expands, with every directory created."""
    for d in (paths.runtime_dir, paths.data_dir, paths.log_dir):
        d.mkdir(parents=True, exist_ok=True)
    paths.runtime_dir.chmod(0o750)
    serial_port = read_settings_env(paths).get("SERIAL_PORT", "simulator") or "simulator"
    env = dict(os.environ)
    env.update(
        SMARTMETER_HOME=str(paths.home),
        SMARTMETER_CONFIG=str(paths.config_file),
        SMARTMETER_ENV_FILE=str(paths.env_file),
        SMARTMETER_RUNTIME_DIR=str(paths.runtime_dir),
        SMARTMETER_DATA_DIR=str(paths.data_dir),
        SMARTMETER_LOG_DIR=str(paths.log_dir),
        SMARTMETER_PYTHON=sys.executable,
        SMARTMETER_SIMULATOR="true" if serial_port.strip() == "simulator" else "false",
    )
    return env


@main.command()
@click.option("--for", "seconds", type=float, help="stop after this many seconds")
def supervise(seconds: float | None) -> None:
    """Run the whole stack under supervisord in the foreground (Ctrl-C stops it)."""
    paths = Paths.from_environ()
    conf = Path(os.environ.get("SMARTMETER_SUPERVISORD_CONF") or PROJECT_ROOT / "supervisord.conf")
    env = stack_environment(paths)
    cmd = [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(conf)]
    proc = subprocess.Popen(cmd, env=env)

    def stop(*_: object) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        while proc.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                stop()
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        stop()
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    sys.exit(0 if code in (0, -signal.SIGTERM) else code)
