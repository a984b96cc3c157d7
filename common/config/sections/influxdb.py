"""influxdb: writing to InfluxDB v2, its disk queue's bounds, and INFLUXDB_* from .env."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.config.inputs import Checked, Inputs
from common.config.secret import Secret
from common.config.values import boolean, number

DEFAULTS: dict[str, Any] = {
    "influxdb": {
        "enabled": False,
        "batch_size": 5000,  # InfluxDB's advice; a backlog drains faster (docs/benchmarks.md)
        "timeout_seconds": 10,
        "verify_tls": True,
        "gzip": True,
        "queue_max_mb": 64,
        "queue_max_days": 30,
    },
}


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


def check(inputs: Inputs) -> Checked:
    ix = inputs.settings["influxdb"]
    env = inputs.env
    problems: list[str] = []
    # a wrong value is reported by influxdb_enabled (its place among the problems)
    enabled = boolean(ix.get("enabled", False), "influxdb.enabled", [])
    influx = InfluxSettings(
        enabled=enabled,
        batch_size=int(number(ix["batch_size"], "influxdb.batch_size", 1, problems, whole=True)),
        timeout_seconds=number(ix["timeout_seconds"], "influxdb.timeout_seconds", 1, problems),
        verify_tls=boolean(ix["verify_tls"], "influxdb.verify_tls", problems),
        gzip=boolean(ix["gzip"], "influxdb.gzip", problems),
        queue_max_mb=number(ix["queue_max_mb"], "influxdb.queue_max_mb", 1, problems),
        queue_max_days=number(ix["queue_max_days"], "influxdb.queue_max_days", 0.01, problems),
        url=env.get("INFLUXDB_URL", "").strip(),
        token=Secret(env.get("INFLUXDB_TOKEN", "").strip()),
        org=env.get("INFLUXDB_ORG", "").strip(),
        bucket=env.get("INFLUXDB_BUCKET", "").strip(),
    )
    if inputs.need_influx or enabled:
        problems += _connection_problems(influx, inputs.paths.env_file)
    return {"influx": influx}, problems


def _connection_problems(influx: InfluxSettings, env_file: Path) -> list[str]:
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
