"""The sections of the configuration, each a module with its keys' defaults and its check.

The order of SECTIONS is the order of settings.yml's keys and of the problems reported.
"""

from __future__ import annotations

from common.config.inputs import Section
from common.config.sections import (
    acquisition,
    broute,
    csv_files,
    dongle,
    health,
    influxdb,
    influxdb_enabled,
    log_level,
    mqtt,
    storage,
    unit,
)

SECTIONS: tuple[Section, ...] = (
    unit,
    acquisition,
    log_level,
    csv_files,
    storage,
    influxdb_enabled,
    health,
    dongle,
    broute,
    influxdb,
    mqtt,
)
