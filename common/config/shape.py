"""The shape of the settings: every key of settings.yml with its default, and the Config the
services read.  Each section's keys, defaults and settings class live in its own module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from common.config.secret import Secret
from common.config.sections import SECTIONS
from common.config.sections.acquisition import interval_floor
from common.config.sections.csv_files import CsvSettings
from common.config.sections.dongle import SIMULATOR
from common.config.sections.health import HealthSettings
from common.config.sections.influxdb import InfluxSettings
from common.config.sections.mqtt import MqttSettings
from common.config.sections.schedule import ScheduleGroup
from common.config.sections.storage import StorageSettings
from common.paths import Paths

# The shape of settings.yml: section -> key -> default.  Unknown keys are errors (typos).
DEFAULTS: dict[str, Any] = {key: value for s in SECTIONS for key, value in s.DEFAULTS.items()}


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
    dongle_driver: str  # builtin, or keilog (the previous logger's library, optional)
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
        return interval_floor(self.serial_port)

    @property
    def serial_device(self) -> Path:
        return self.paths.simulator_link if self.uses_simulator else Path(self.serial_port)

    def secrets(self) -> list[str]:
        """Every secret value, for tests and log scrubbing."""
        held = (self.broute_id, self.broute_password, self.influx.token, self.mqtt.password)
        return [s.reveal() for s in held if s]
