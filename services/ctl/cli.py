"""smartmeterctl: see what the logger is doing, check its configuration, run the stack."""

from __future__ import annotations

import json
import subprocess
import sys

import click

from common.config import (
    DEFAULTS,
    SIMULATOR,
    Config,
    ConfigError,
    epc_label,
    read_settings_env,
    serial_port,
)
from common.health_client import fetch_health, health_url
from common.paths import Paths
from common.supervisor_rpc import SupervisorUnavailable, supervisor
from common.version import package_version
from services.ctl import backfill as backfill_mod
from services.ctl import logs as logs_mod
from services.ctl import readings as readings_mod
from services.ctl import running, stack
from services.ctl.running import Target
from services.ctl.status_report import (
    CRITICAL,
    UNKNOWN,
    Report,
    gather,
    render,
    render_config,
)

SERVICES = ("radio", "csv_rotator", "influx_writer", "mqtt_publisher", "health", "simulator")


def _config_or_exit(target: Target, need_broute: bool = False) -> Config:
    try:
        return running.load(target, need_broute=need_broute)
    except ConfigError as exc:
        for line in exc.problems:
            click.echo(f"config error: {line}", err=True)
        sys.exit(2)


def _health_url(target: Target) -> str:
    try:
        cfg = running.load(target)
        return health_url(cfg.health.bind, cfg.health.port)
    except ConfigError:
        default = DEFAULTS["health"]  # when the config itself is broken
        return health_url(default["bind"], default["port"])


def _meter(target: Target) -> str:
    port = serial_port(read_settings_env(target.paths, target.environ))
    return "the built-in simulator" if port == SIMULATOR else port


def _config_problems(report: Report, target: Target) -> None:
    """Name a configuration the services cannot start with here too: with a broken
    settings.yml the health service itself waits for the fix, so /health cannot say it."""
    report.config = {
        "source": target.source,
        "running": target.running,
        "settings": str(target.paths.config_file),
        "secrets": str(target.paths.env_file),
        "meter": _meter(target),
        "not_visible_here": list(target.hidden),
    }
    if report.code == UNKNOWN and not report.processes:
        return
    try:
        running.load(target, need_broute=True)
    except ConfigError as exc:
        known = " ".join(report.problems)
        report.problems[:0] = [f"config-error: {p}" for p in exc.problems if p not in known]
        report.code = max(report.code, CRITICAL) if report.code != UNKNOWN else UNKNOWN


@click.group()
@click.version_option(package_version(), prog_name="smartmeterctl")
def main() -> None:
    """B-route smart-meter logger: status, readings, logs, configuration and the stack."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(as_json: bool) -> None:
    """Processes, radio link, last readings, CSV, InfluxDB, disk and the verdict.

    Exit code as monitoring plugins expect: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    """
    target = running.find()
    report = gather(target.paths, _health_url(target))
    _config_problems(report, target)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    elif report.code == UNKNOWN and not report.processes:
        click.echo(f"UNKNOWN: {report.problems[0]}")
        click.echo(render_config(report.config))
    else:
        click.echo(render(report))
    sys.exit(report.code)


@main.command()
@click.option("--follow", "-f", is_flag=True, help="keep printing new readings")
@click.option("--epc", multiple=True, help="only this property (E7, E0, ...); repeatable")
@click.option("--last", "count", default=20, show_default=True, help="how many recent readings")
def readings(follow: bool, epc: tuple[str, ...], count: int) -> None:
    """The latest readings from the radio's journal (and new ones with --follow)."""
    target = running.find()
    cfg = _config_or_exit(target)
    sys.exit(readings_mod.show(target.paths, cfg.timezone, {e.upper() for e in epc}, count, follow))


@main.group()
def config() -> None:
    """Configuration commands."""


@config.command("check")
def config_check() -> None:
    """Validate settings.yml and .env without starting anything.

    While a stack is running, its configuration (the files it started with)."""
    target = running.find()
    cfg = _config_or_exit(target, need_broute=True)
    meter = "the built-in simulator" if cfg.uses_simulator else cfg.serial_port
    click.echo(f"config:   {target.source}")
    click.echo(f"settings: {target.paths.config_file}")
    click.echo(f"secrets:  {target.paths.env_file}")
    if target.hidden:
        click.echo(f"          ({', '.join(target.hidden)}: from the stack's own environment, "
                   "checked when it started)")  # fmt: skip
    click.echo(f"meter:    {meter}, dongle model {cfg.dongle_model}")
    props = ", ".join(epc_label(e) for e in cfg.properties)
    click.echo(f"polling:  every {cfg.interval_seconds:g} s: {props}")
    click.echo(f"csv:      {'to ' + str(cfg.csv.directory) if cfg.csv.enabled else 'disabled'}")
    influx = (
        f"to {cfg.influx.url}, bucket {cfg.influx.bucket}" if cfg.influx.enabled else "disabled"
    )
    click.echo(f"influxdb: {influx}")
    mqtt = (
        f"to {cfg.mqtt.where}, under {cfg.mqtt.topic_prefix}/" if cfg.mqtt.enabled else "disabled"
    )
    click.echo(f"mqtt:     {mqtt}")
    click.echo(f"health:   {health_url(cfg.health.bind, cfg.health.port)}")
    click.echo("config OK")


@main.command()
@click.argument("service", required=False, type=click.Choice(SERVICES))
def restart(service: str | None) -> None:
    """Restart one service, or all of them."""
    paths = running.find().paths
    try:
        rpc = supervisor(paths.runtime_dir / "supervisor.sock").supervisor
        if service is None:
            rpc.stopAllProcesses(True)
            rpc.startAllProcesses(True)
            click.echo("restarted all services")
            return
        info = rpc.getProcessInfo(service)
        if info["statename"] in ("RUNNING", "STARTING", "BACKOFF"):
            rpc.stopProcess(service, True)
        rpc.startProcess(service, True)
        click.echo(f"restarted {service}")
    except (OSError, SupervisorUnavailable) as exc:
        click.echo(f"supervisord is not running ({exc})", err=True)
        sys.exit(UNKNOWN)
    except Exception as exc:  # xmlrpc Fault: say it in one line
        click.echo(f"could not restart {service or 'the services'}: {exc}", err=True)
        sys.exit(1)


@main.command()
@click.argument("service", required=False)
@click.option("--follow", "-f", is_flag=True, help="keep printing new lines")
@click.option("--lines", "-n", default=40, show_default=True, help="lines to show from the end")
def logs(service: str | None, follow: bool, lines: int) -> None:
    """Show the service logs (all of them, or one)."""
    paths = running.find().paths
    sys.exit(logs_mod.show(paths.log_dir, service, lines, follow))


@main.command()
@click.option("--for", "seconds", type=float, help="stop after this many seconds")
def supervise(seconds: float | None) -> None:
    """Run the whole stack under supervisord in the foreground (Ctrl-C stops it)."""
    paths = Paths.from_environ()
    rec = running.running_record(paths)
    if rec is not None:
        click.echo(f"a stack is already running in {paths.runtime_dir} (supervisord pid "
                   f"{rec['pid']}, started {rec['started']}); stop it first", err=True)  # fmt: skip
        sys.exit(1)
    stack.supervise(paths, seconds)


@main.command()
@click.option("--days", type=click.IntRange(0, 99), metavar="N",
              help="from midnight N days ago (0: today; the meter keeps 99); "
                   "default: every day the logger keeps track of")  # fmt: skip
@click.option("--no-wait", is_flag=True, help="leave the request and return at once")
def backfill(days: int | None, no_wait: bool) -> None:
    """Read half-hours of EA/EB the logger has no reading for back from the meter.

    The radio does this by itself after any outage; this asks it to look again now, also
    further back (--days) and for half-hours the meter had no value for before.  Half-hours
    that already have a reading are not published again.
    """
    target = running.find()
    paths = target.paths
    cfg = _config_or_exit(target)
    if not cfg.backfill:
        click.echo("acquisition.backfill is false in settings.yml; set it to true (and "
                   "restart the radio) to read history back", err=True)  # fmt: skip
        sys.exit(2)
    ident = backfill_mod.request(paths, days)
    span = "every day it keeps track of" if days is None else f"the last {days} days"
    click.echo(f"asked the radio to read back {span} (request {ident})")
    if no_wait:
        return
    url = health_url(cfg.health.bind, cfg.health.port)
    try:
        code = backfill_mod.follow(ident, lambda: fetch_health(url))
    except KeyboardInterrupt:
        click.echo("\nstopped watching; the radio goes on (see `smartmeterctl status`)")
        code = 0
    sys.exit(code)


def _updater(*args: str) -> None:
    """The updater is its own program (it outlives the stack it stops and starts)."""
    cmd = [sys.executable, "-m", "services.updater", *args]
    code = subprocess.run(cmd).returncode
    sys.exit(128 - code if code < 0 else code)  # killed by a signal: as a shell says it


@main.command()
@click.argument("bundle", required=False, type=click.Path(dir_okay=False))
@click.option("--check", is_flag=True, help="verify the bundle and say what it would do")
@click.option("--allow-downgrade", is_flag=True, help="accept a version older than the running")
@click.option("--rollback", is_flag=True, help="go back to the previous release")
def update(bundle: str | None, check: bool, allow_downgrade: bool, rollback: bool) -> None:
    """Apply an update bundle (smartmeter-update-*.bundle): verify, install beside the
    running release, switch, and keep it only if the health gate passes; else roll back.

    Exit code: 0 updated (or checked), 1 rolled back, 2 refused.
    """
    if rollback:
        _updater("rollback")
    if bundle is None:
        click.echo("give the bundle file (or --rollback)", err=True)
        sys.exit(2)
    extra = ["--allow-downgrade"] if allow_downgrade else []
    _updater("check" if check else "apply", bundle, *extra)


@main.command("version")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def version_cmd(as_json: bool) -> None:
    """Running, previous and pending release, and the last update's outcome."""
    _updater("version", *(["--json"] if as_json else []))
