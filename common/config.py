"""Settings (config/settings.yml) and secrets (.env / environment), validated up front.

Every problem becomes one line that names the key and says how to fix it; callers print the
lines and exit non-zero instead of showing a traceback.
"""

from __future__ import annotations

import difflib
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from dotenv import dotenv_values

from common import config_mqtt
from common.config_mqtt import MqttSettings
from common.echonet import EPC_NAMES, MEASURABLE_EPCS, parse_epc
from common.paths import Paths

INTERVAL_FLOOR_SECONDS = 10.0
# The floor protects a real meter; the built-in simulator may be polled fast (tests, benchmarks).
SIMULATOR_INTERVAL_FLOOR_SECONDS = 0.2
SIMULATOR = "simulator"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# The shape of settings.yml: section -> key -> default.  Unknown keys are errors (typos).
DEFAULTS: dict[str, Any] = {
    "unitid": "smartmeter",
    "timezone": "Asia/Tokyo",
    "acquisition": {
        "interval_seconds": 30,
        "properties": ["D3", "D7", "E1", "E7", "E0", "E3"],
        # Groups with their own period, e.g. [{properties: [E7], every_seconds: 30}, ...];
        # empty: the flat form above (properties every interval_seconds).
        "schedule": [],
        # Read half-hours of EA/EB missed during an outage back from the meter's history,
        # at most backfill_requests_per_minute history requests a minute.
        "backfill": True,
        "backfill_requests_per_minute": 6,
    },
    "logging": {"level": "INFO"},
    "csv": {"enabled": True, "directory": "logs", "gzip_after_days": 0, "retention_days": 0},
    "influxdb": {
        "enabled": False,
        "batch_size": 5000,  # InfluxDB's advice; a backlog drains faster (docs/benchmarks.md)
        "timeout_seconds": 10,
        "verify_tls": True,
        "gzip": True,
        "queue_max_mb": 64,
        "queue_max_days": 30,
    },
    "storage": {
        "flush_interval_seconds": 60,
        "journal_path": "",
        "journal_max_readings": 150_000,
        "journal_max_days": 7,
    },
    "health": {"bind": "127.0.0.1", "port": 8780},
    "dongle": {"model": "auto", "driver": "builtin", "keilog_path": "keilog"},
    "mqtt": config_mqtt.DEFAULTS,
}
DONGLE_DRIVERS = ("builtin", "keilog")
DONGLE_MODELS = ("auto", "rl7023-ips", "bp35a1", "rl7023-dss", "bp35c2", "rs-wsuha-p")


class ConfigError(Exception):
    """One or more problems with the configuration, each a line a person can act on."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Secret(str):
    """A string that never shows itself in repr(), logs or tracebacks."""

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"

    def reveal(self) -> str:
        return str.__str__(self)

    def __str__(self) -> str:
        return "***" if self else ""

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


@dataclass(frozen=True)
class InfluxSettings:
    enabled: bool
    url: str = ""
    token: Secret = field(default_factory=lambda: Secret(""))
    org: str = ""
    bucket: str = ""
    batch_size: int = 5000
    timeout_seconds: float = 10.0
    verify_tls: bool = True
    gzip: bool = True
    queue_max_mb: float = 64.0  # the disk queue never grows past this: oldest dropped, counted
    queue_max_days: float = 30.0


@dataclass(frozen=True)
class CsvSettings:
    enabled: bool
    directory: Path
    gzip_after_days: int  # 0: never compress past days
    retention_days: int  # 0: keep every day


@dataclass(frozen=True)
class StorageSettings:
    flush_interval_seconds: float  # the most a power cut may lose
    journal_path: Path
    journal_max_readings: int
    journal_max_days: float


@dataclass(frozen=True)
class HealthSettings:
    bind: str
    port: int


@dataclass(frozen=True)
class ScheduleGroup:
    """Properties read together every ``every_seconds`` (acquisition.schedule)."""

    properties: tuple[int, ...]
    every_seconds: float


SCHEDULE_ENTRY_KEYS = ("properties", "every_seconds")


@dataclass(frozen=True)
class Config:
    paths: Paths
    unitid: str
    timezone: ZoneInfo
    interval_seconds: float
    properties: tuple[int, ...]
    log_level: str
    csv: CsvSettings
    storage: StorageSettings
    dongle_model: str
    dongle_driver: str  # builtin, or keilog (the seed's library, optional)
    keilog_path: Path  # a checkout of https://github.com/kjmat/keilog (for driver keilog)
    serial_port: str
    broute_id: Secret
    broute_password: Secret
    influx: InfluxSettings
    health: HealthSettings
    # What to read when: the flat form is one group (properties every interval_seconds).
    schedule: tuple[ScheduleGroup, ...] = ()
    backfill: bool = True  # read missed EA/EB half-hours back from the meter's history
    backfill_requests_per_minute: float = 6.0
    mqtt: MqttSettings = field(default_factory=MqttSettings)

    @property
    def uses_simulator(self) -> bool:
        return self.serial_port == SIMULATOR

    @property
    def interval_floor(self) -> float:
        """No property is read more often than this (the simulator may be read faster)."""
        return SIMULATOR_INTERVAL_FLOOR_SECONDS if self.uses_simulator else INTERVAL_FLOOR_SECONDS

    @property
    def serial_device(self) -> Path:
        return self.paths.simulator_link if self.uses_simulator else Path(self.serial_port)

    def secrets(self) -> list[str]:
        """Every secret value, for tests and log scrubbing."""
        held = (self.broute_id, self.broute_password, self.influx.token, self.mqtt.password)
        return [s.reveal() for s in held if s]


class _Loader(yaml.SafeLoader):
    """SafeLoader whose value errors carry the line they come from.

    PyYAML's constructors raise plain ValueError/KeyError/... for values that look like a
    type but are not one (``2024-13-01``, ``!!float abc``, ``!!bool maybe``); turn those into
    a YAMLError with the node's position like every other syntax problem.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value ({exc})", node.start_mark
            ) from exc


def _read_yaml(path: Path) -> tuple[dict[str, Any], list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, []  # every key has a default
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return {}, [f"{path}: cannot read it ({reason}); check the file's permissions"]
    except UnicodeDecodeError as exc:
        return {}, [
            f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 with a text editor"
        ]
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return {}, [f"{path}: not valid YAML{where}; fix the indentation or quoting there"]
    except RecursionError:
        return {}, [f"{path}: not valid YAML (nested too deeply); fix the brackets"]
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        return {}, [f"{path}: must be a mapping of sections (acquisition:, csv:, ...)"]
    return data, []


def _read_env(paths: Paths, environ: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    values: dict[str, str] = {}
    problems: list[str] = []
    # Read it here rather than in dotenv: dotenv silently returns nothing for a directory
    # (what docker creates when the bind-mounted .env is missing on the host).
    text: str | None = None
    try:
        text = paths.env_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        pass  # everything may come from the environment
    except OSError as exc:
        reason = exc.strerror or str(exc)
        problems.append(f"{paths.env_file}: cannot read it ({reason}); check its permissions")
    except UnicodeDecodeError as exc:
        problems.append(f"{paths.env_file}: not UTF-8 text (byte {exc.start}); save it as UTF-8")
    if text is not None:
        loaded = dotenv_values(stream=io.StringIO(text))
        values.update({k: v for k, v in loaded.items() if v is not None})
    # The real environment wins over the file, as with docker's env_file.
    prefixes = ("BROUTE_", "INFLUXDB_", config_mqtt.ENV_PREFIX)
    values.update({k: v for k, v in environ.items() if k.startswith(prefixes)})
    if "SERIAL_PORT" in environ:
        values["SERIAL_PORT"] = environ["SERIAL_PORT"]
    return values, problems


def read_settings_env(paths: Paths, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The .env values merged with the environment, unvalidated (for the launcher)."""
    return _read_env(paths, dict(os.environ if environ is None else environ))[0]


# Keys of the previous logger's settings.yml (docs/migration.md), each with where its value
# goes now: a migrating user is told exactly what to change, not "did you mean".
SEED_KEYS = {
    "unit_id": "rename it to 'unitid'",
    "broute": "put the B-route ID and password in .env as BROUTE_ID and BROUTE_PASSWORD "
    "(not in settings.yml), and remove this section",
    "serial": "put the dongle's port in .env as SERIAL_PORT (speed and timeouts are "
    "built in), and remove this section",
    "csv.output_dir": "rename it to 'csv.directory'",
    "csv.filename_format": "remove it (files are always named YYYYMMDD-smartmeter.csv)",
    "influxdb.url": "put it in .env as INFLUXDB_URL, and remove it here",
    "influxdb.token": "put it in .env as INFLUXDB_TOKEN (a file only you can read), and "
    "remove it here",
    "influxdb.org": "put it in .env as INFLUXDB_ORG, and remove it here",
    "influxdb.bucket": "put it in .env as INFLUXDB_BUCKET, and remove it here",
    "influxdb.measurement": "remove it (the measurement is always smartmeter_power)",
    "influxdb.tags": "remove it (the tags are unitid, epc and dataid)",
    "logging.file": "remove it (each service's log is kept and rotated for you: "
    "smartmeterctl logs)",
    "logging.max_bytes": "remove it (logs are rotated for you)",
    "logging.backup_count": "remove it (logs are rotated for you)",
}


def _unknown_keys(data: dict[str, Any], shape: dict[str, Any], prefix: str = "") -> list[str]:
    problems = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if value is None and isinstance(shape.get(key), dict):
            continue  # "csv:" with every key commented out: all defaults
        if key not in shape and name in SEED_KEYS:
            problems.append(
                f"settings.yml: '{name}' is the previous logger's setting; {SEED_KEYS[name]} "
                "(docs/migration.md)"
            )
        elif key not in shape:
            close = difflib.get_close_matches(str(key), list(shape), n=1)
            hint = f"did you mean '{prefix}{close[0]}'?" if close else "remove it"
            problems.append(f"settings.yml: unknown setting '{name}'; {hint}")
        elif isinstance(shape[key], dict):
            if not isinstance(value, dict):
                problems.append(f"settings.yml: '{name}' must be a section (key: value lines)")
            else:
                problems += _unknown_keys(value, shape[key], f"{name}.")
    return problems


def _merged(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        given = data.get(key, default)
        if isinstance(default, dict):
            given = {**default, **(given if isinstance(given, dict) else {})}
        out[key] = given
    return out


def load_config(
    paths: Paths | None = None,
    environ: dict[str, str] | None = None,
    *,
    need_broute: bool = False,
    need_influx: bool = False,
) -> Config:
    """Load and check everything; raise ConfigError listing every problem found."""
    env = dict(os.environ if environ is None else environ)
    paths = paths or Paths.from_environ(env)
    data, problems = _read_yaml(paths.config_file)
    problems += _unknown_keys(data, DEFAULTS)
    s = _merged(data)
    secrets, env_problems = _read_env(paths, env)
    problems += env_problems

    unitid = s["unitid"]
    if not isinstance(unitid, str) or not unitid or "," in unitid or "\n" in unitid:
        problems.append("settings.yml: 'unitid' must be a non-empty name without commas")
        unitid = "smartmeter"

    try:
        tz = ZoneInfo(str(s["timezone"]))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        problems.append(
            f"settings.yml: 'timezone' {s['timezone']!r} is not a known time zone; "
            "use a name like Asia/Tokyo"
        )
        tz = ZoneInfo("Asia/Tokyo")

    acq = s["acquisition"]
    interval = acq["interval_seconds"]
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        problems.append(
            f"settings.yml: 'acquisition.interval_seconds' must be a number of seconds, "
            f"not {interval!r}"
        )
        interval = 30
    elif not _finite(interval):
        problems.append(
            f"settings.yml: 'acquisition.interval_seconds' must be a finite number of seconds, "
            f"not {interval!r}"
        )
        interval = 30
    elif interval < _interval_floor(secrets):
        problems.append(
            f"settings.yml: 'acquisition.interval_seconds' is {interval}, below the "
            f"{INTERVAL_FLOOR_SECONDS:g} s floor that keeps the meter answering; "
            f"set {INTERVAL_FLOOR_SECONDS:g} or more"
        )

    properties: list[int] = []
    raw_props = acq["properties"]
    if not isinstance(raw_props, list) or not raw_props:
        problems.append(
            "settings.yml: 'acquisition.properties' must be a list of EPCs, e.g. [E7, E0, E3]"
        )
        raw_props = []
    properties = _epc_list(raw_props, "acquisition.properties", problems)

    floor = _interval_floor(secrets)
    given_acq = data.get("acquisition") if isinstance(data.get("acquisition"), dict) else {}
    schedule = _schedule(acq.get("schedule"), "properties" in given_acq, interval, floor, problems)
    if schedule:
        properties = list(dict.fromkeys(e for g in schedule for e in g.properties))
    else:
        schedule = [ScheduleGroup(tuple(properties), float(interval))]

    backfill = _bool(acq["backfill"], "acquisition.backfill", problems)
    backfill_pace = _backfill_pace(acq["backfill_requests_per_minute"], secrets, problems)

    level = str(s["logging"]["level"]).upper()
    if level not in LOG_LEVELS:
        problems.append(
            f"settings.yml: 'logging.level' {s['logging']['level']!r} is not one of "
            + ", ".join(LOG_LEVELS)
        )
        level = "INFO"

    csv = CsvSettings(
        enabled=_bool(s["csv"]["enabled"], "csv.enabled", problems),
        directory=_directory(s["csv"]["directory"], "csv.directory", paths, problems),
        gzip_after_days=int(
            _number(s["csv"]["gzip_after_days"], "csv.gzip_after_days", 0, problems, whole=True)
        ),
        retention_days=int(
            _number(s["csv"]["retention_days"], "csv.retention_days", 0, problems, whole=True)
        ),
    )
    st = s["storage"]
    journal = st["journal_path"]
    storage = StorageSettings(
        flush_interval_seconds=_number(
            st["flush_interval_seconds"], "storage.flush_interval_seconds", 0.2, problems
        ),
        journal_path=(
            _directory(journal, "storage.journal_path", paths, problems)
            if journal
            else paths.runtime_dir / "journal.sqlite"
        ),
        journal_max_readings=int(
            _number(
                st["journal_max_readings"],
                "storage.journal_max_readings",
                100,
                problems,
                whole=True,
            )
        ),
        journal_max_days=_number(
            st["journal_max_days"], "storage.journal_max_days", 0.01, problems
        ),
    )
    influx_enabled = _bool(s["influxdb"].get("enabled", False), "influxdb.enabled", problems)

    health = HealthSettings(
        bind=str(s["health"]["bind"]),
        port=int(_number(s["health"]["port"], "health.port", 1, problems, whole=True)),
    )
    if health.port > 65535:
        problems.append(f"settings.yml: 'health.port' {health.port} is not a TCP port (1-65535)")
    driver = str(s["dongle"]["driver"]).lower()
    if driver not in DONGLE_DRIVERS:
        problems.append(
            f"settings.yml: 'dongle.driver' {driver!r} is not one of {', '.join(DONGLE_DRIVERS)}"
        )
    keilog_path = _directory(s["dongle"]["keilog_path"], "dongle.keilog_path", paths, problems)
    if driver == "keilog" and not (keilog_path / "keilib" / "broute.py").is_file():
        problems.append(
            f"settings.yml: 'dongle.driver' is keilog but there is no keilog checkout at "
            f"'dongle.keilog_path' ({keilog_path}); run scripts/get-keilog (it does "
            f"git clone https://github.com/kjmat/keilog {keilog_path}), "
            "or set dongle.driver: builtin"
        )
    model = str(s["dongle"]["model"]).lower()
    if model not in DONGLE_MODELS:
        problems.append(
            f"settings.yml: 'dongle.model' {model!r} is not one of {', '.join(DONGLE_MODELS)}"
        )

    serial_port = (secrets.get("SERIAL_PORT") or SIMULATOR).strip()
    broute_id = Secret(secrets.get("BROUTE_ID", "").strip())
    broute_password = Secret(secrets.get("BROUTE_PASSWORD", "").strip())
    if need_broute:
        problems += _check_broute(broute_id.reveal(), broute_password.reveal(), paths.env_file)

    ix = s["influxdb"]
    influx = InfluxSettings(
        enabled=influx_enabled,
        batch_size=int(_number(ix["batch_size"], "influxdb.batch_size", 1, problems, whole=True)),
        timeout_seconds=_number(ix["timeout_seconds"], "influxdb.timeout_seconds", 1, problems),
        verify_tls=_bool(ix["verify_tls"], "influxdb.verify_tls", problems),
        gzip=_bool(ix["gzip"], "influxdb.gzip", problems),
        queue_max_mb=_number(ix["queue_max_mb"], "influxdb.queue_max_mb", 1, problems),
        queue_max_days=_number(ix["queue_max_days"], "influxdb.queue_max_days", 0.01, problems),
        url=secrets.get("INFLUXDB_URL", "").strip(),
        token=Secret(secrets.get("INFLUXDB_TOKEN", "").strip()),
        org=secrets.get("INFLUXDB_ORG", "").strip(),
        bucket=secrets.get("INFLUXDB_BUCKET", "").strip(),
    )
    if need_influx or influx_enabled:
        problems += _check_influx(influx, paths.env_file)

    mqtt = config_mqtt.mqtt_settings(
        s["mqtt"], secrets, paths.env_file, paths.home, problems, secret=Secret
    )

    if problems:
        raise ConfigError(problems)
    return Config(
        paths=paths,
        unitid=unitid,
        timezone=tz,
        interval_seconds=float(interval),
        properties=tuple(properties),
        log_level=level,
        csv=csv,
        storage=storage,
        dongle_model=model,
        dongle_driver=driver,
        keilog_path=keilog_path,
        serial_port=serial_port,
        broute_id=broute_id,
        broute_password=broute_password,
        influx=influx,
        health=health,
        schedule=tuple(schedule),
        backfill=backfill,
        backfill_requests_per_minute=backfill_pace,
        mqtt=mqtt,
    )


def _epc_list(raw: list[Any], key: str, problems: list[str]) -> list[int]:
    allowed = ", ".join(f"{e:02X}" for e in sorted(MEASURABLE_EPCS))
    out: list[int] = []
    for item in raw:
        if isinstance(item, int) and not isinstance(item, bool):
            epc = item  # YAML reads a bare 0xE7 as the integer 231
        else:
            try:
                epc = parse_epc(str(item))
            except ValueError:
                epc = -1
        if epc not in MEASURABLE_EPCS:
            problems.append(
                f"settings.yml: '{key}' has {item!r}, which is not a "
                f"property this logger can record; use some of {allowed}"
            )
        elif epc not in out:
            out.append(epc)
    return out


def _schedule(
    raw: Any, flat_given: bool, interval: Any, floor: float, problems: list[str]
) -> list[ScheduleGroup]:
    """acquisition.schedule: groups of properties, each with its own period."""
    key = "acquisition.schedule"
    example = "e.g. [{properties: [E7], every_seconds: 30}, {properties: [E0], every_seconds: 300}]"
    if raw is None or raw == []:
        return []
    if not isinstance(raw, list):
        problems.append(f"settings.yml: '{key}' must be a list of groups, {example}")
        return []
    if flat_given:
        problems.append(
            f"settings.yml: both 'acquisition.properties' and '{key}' are set; keep one "
            "(the schedule lists its own properties)"
        )
    default_every = interval if isinstance(interval, int | float) else 30
    groups: list[ScheduleGroup] = []
    for i, entry in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"settings.yml: '{where}' must be a group: properties:, every_seconds:")
            continue
        for name in entry:
            if name not in SCHEDULE_ENTRY_KEYS:
                close = difflib.get_close_matches(str(name), SCHEDULE_ENTRY_KEYS, n=1)
                hint = f"did you mean '{close[0]}'?" if close else "remove it"
                problems.append(f"settings.yml: unknown setting '{where}.{name}'; {hint}")
        props = entry.get("properties")
        if not isinstance(props, list) or not props:
            problems.append(f"settings.yml: '{where}.properties' must be a list of EPCs, e.g. [E7]")
            continue
        epcs = _epc_list(props, f"{where}.properties", problems)
        every = entry.get("every_seconds", default_every)
        if isinstance(every, bool) or not isinstance(every, int | float) or not _finite(every):
            problems.append(
                f"settings.yml: '{where}.every_seconds' must be a number of seconds, not {every!r}"
            )
            continue
        if every < floor:
            problems.append(
                f"settings.yml: '{where}.every_seconds' is {every}, below the {floor:g} s "
                f"floor that keeps the meter answering; set {floor:g} or more"
            )
            continue
        if epcs:
            groups.append(ScheduleGroup(tuple(epcs), float(every)))
    return groups


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _directory(value: Any, key: str, paths: Paths, problems: list[str]) -> Path:
    fallback = paths.home / "logs"
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        problems.append(f"settings.yml: '{key}' must be a folder name, not {value!r}")
        return fallback
    try:
        return paths.resolve(value.strip())
    except RuntimeError:  # ~name of a user that does not exist
        problems.append(f"settings.yml: '{key}' {value!r}: no such user's home folder")
        return fallback


def _number(
    value: Any, key: str, minimum: float, problems: list[str], whole: bool = False
) -> float:
    kind = "a whole number" if whole else "a number"
    ok = isinstance(value, int | float) and not isinstance(value, bool) and _finite(value)
    if not ok or (whole and value != int(value)):
        problems.append(f"settings.yml: '{key}' must be {kind}, not {value!r}")
        return minimum
    if value < minimum:
        problems.append(f"settings.yml: '{key}' is {value}; it must be at least {minimum:g}")
        return minimum
    return float(value)


BACKFILL_MAX_PER_MINUTE = 60  # one history request a second is already a lot for a meter
SIMULATOR_BACKFILL_MAX_PER_MINUTE = 60000  # the simulator may be read fast (tests)


def _backfill_pace(value: Any, secrets: dict[str, str], problems: list[str]) -> float:
    key = "acquisition.backfill_requests_per_minute"
    simulator = _interval_floor(secrets) == SIMULATOR_INTERVAL_FLOOR_SECONDS
    top = SIMULATOR_BACKFILL_MAX_PER_MINUTE if simulator else BACKFILL_MAX_PER_MINUTE
    ok = isinstance(value, int | float) and not isinstance(value, bool) and _finite(value)
    if not ok or not 1 <= value <= top:
        problems.append(
            f"settings.yml: '{key}' must be a number of history requests from 1 to {top}, "
            f"not {value!r}; 6 (the default) reads back a day in about a minute"
        )
        return 6.0
    return float(value)


def _interval_floor(secrets: dict[str, str]) -> float:
    port = (secrets.get("SERIAL_PORT") or SIMULATOR).strip()
    return SIMULATOR_INTERVAL_FLOOR_SECONDS if port == SIMULATOR else INTERVAL_FLOOR_SECONDS


def _bool(value: Any, key: str, problems: list[str]) -> bool:
    if isinstance(value, bool):
        return value
    problems.append(f"settings.yml: '{key}' must be true or false, not {value!r}")
    return False


def _check_broute(rbid: str, pwd: str, env_file: Path) -> list[str]:
    problems = []
    where = f"in {env_file} (or the environment)"
    if not rbid:
        problems.append(f"BROUTE_ID is not set; put the 32-character B-route ID {where}")
    elif len(rbid) != 32 or not rbid.isascii() or not rbid.isalnum():
        problems.append(
            f"BROUTE_ID must be 32 letters and digits (it has {len(rbid)} characters); "
            f"copy the 認証ID from the power company's letter exactly {where}"
        )
    if not pwd:
        problems.append(f"BROUTE_PASSWORD is not set; put the 12-character password {where}")
    elif len(pwd) != 12 or not pwd.isascii() or not pwd.isalnum():
        problems.append(
            f"BROUTE_PASSWORD must be 12 letters and digits (it has {len(pwd)} characters); "
            f"copy the パスワード from the power company's letter exactly {where}"
        )
    return problems


def _check_influx(influx: InfluxSettings, env_file: Path) -> list[str]:
    problems = []
    if not influx.url.startswith(("http://", "https://")):
        problems.append(
            f"INFLUXDB_URL must start with http:// or https:// (e.g. http://192.168.1.10:8086); "
            f"set it in {env_file}"
        )
    for key, value in (
        ("INFLUXDB_TOKEN", influx.token),
        ("INFLUXDB_ORG", influx.org),
        ("INFLUXDB_BUCKET", influx.bucket),
    ):
        if not value:
            problems.append(f"{key} is not set; set it in {env_file} or disable influxdb.enabled")
    return problems


def epc_label(epc: int) -> str:
    return f"{epc:02X} ({EPC_NAMES.get(epc, 'unknown')})"
