"""health: where the health service listens (GET /health, /metrics, the status page)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.config.inputs import Checked, Inputs
from common.config.values import number

DEFAULTS: dict[str, Any] = {"health": {"bind": "127.0.0.1", "port": 8780}}


@dataclass(frozen=True)
class HealthSettings:
    bind: str
    port: int


def check(inputs: Inputs) -> Checked:
    section = inputs.settings["health"]
    problems: list[str] = []
    health = HealthSettings(
        bind=str(section["bind"]),
        port=int(number(section["port"], "health.port", 1, problems, whole=True)),
    )
    if health.port > 65535:
        problems.append(f"settings.yml: 'health.port' {health.port} is not a TCP port (1-65535)")
    return {"health": health}, problems
