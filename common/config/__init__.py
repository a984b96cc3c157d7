"""Settings (config/settings.yml) and secrets (.env / environment), validated up front.

Every problem becomes one line that names the key and says how to fix it; callers print the
lines and exit non-zero instead of showing a traceback.  ``load_config`` finds every problem
in one pass and raises ``ConfigError`` with all of them.

The parts:

- ``files.py``: reading settings.yml (YAML errors with their line) and .env (overridden by
  the environment); nothing there judges a value.
- ``keys.py``: keys settings.yml may not have (a typo gets "did you mean"), defaults filled in;
  ``previous_logger.py``: the keilog + Telegraf logger's keys, each with where it went.
- ``sections/``: one module a section (``unit``: unitid and timezone, ``acquisition`` with
  ``schedule``, ``log_level``, ``csv_files``, ``storage``, ``health``, ``dongle`` with
  SERIAL_PORT, ``broute``: the B-route ID and password, ``influxdb``).  Each holds its keys'
  ``DEFAULTS``, its settings class, and ``check(inputs)`` returning the Config fields it fills
  and its problems.  ``values.py``: the checks of one value the sections share.
- ``shape.py``: ``DEFAULTS`` (every section's, in order) and ``Config``, what services read;
  ``load.py``: ``load_config`` and ``ConfigError``; ``secret.py``: ``Secret``.

Adding a section (say ``mqtt:``):

1. Write ``sections/mqtt.py`` with ``DEFAULTS = {"mqtt": {...}}``, a frozen ``MqttSettings``
   dataclass, and ``check(inputs: Inputs) -> Checked`` returning ``({"mqtt": settings},
   problems)``; build the messages with ``values.py`` (``number``, ``boolean``, ...) so they
   read like the others, and read secrets from ``inputs.env`` (``files.read_env`` lets the
   environment override the prefixes it knows; add yours there).
2. Add ``mqtt`` to ``SECTIONS`` in ``sections/__init__.py``: its keys become known to
   settings.yml and its check runs.
3. Give ``Config`` in ``shape.py`` the field it fills (``mqtt: MqttSettings``) so services
   read ``cfg.mqtt`` typed, and re-export ``MqttSettings`` below if a service needs the name.
"""

from __future__ import annotations

from common.config.files import read_settings_env
from common.config.load import ConfigError, load_config
from common.config.previous_logger import PREVIOUS_LOGGER_KEYS
from common.config.secret import Secret
from common.config.sections.acquisition import (
    BACKFILL_MAX_PER_MINUTE,
    INTERVAL_FLOOR_SECONDS,
    SIMULATOR_BACKFILL_MAX_PER_MINUTE,
    SIMULATOR_INTERVAL_FLOOR_SECONDS,
)
from common.config.sections.csv_files import CsvSettings
from common.config.sections.dongle import DONGLE_DRIVERS, DONGLE_MODELS, SIMULATOR, serial_port
from common.config.sections.health import HealthSettings
from common.config.sections.influxdb import InfluxSettings
from common.config.sections.log_level import LOG_LEVELS
from common.config.sections.schedule import SCHEDULE_ENTRY_KEYS, ScheduleGroup
from common.config.sections.storage import StorageSettings
from common.config.shape import DEFAULTS, Config
from common.config.values import epc_label

__all__ = [
    "BACKFILL_MAX_PER_MINUTE",
    "DEFAULTS",
    "DONGLE_DRIVERS",
    "DONGLE_MODELS",
    "INTERVAL_FLOOR_SECONDS",
    "LOG_LEVELS",
    "PREVIOUS_LOGGER_KEYS",
    "SCHEDULE_ENTRY_KEYS",
    "SIMULATOR",
    "SIMULATOR_BACKFILL_MAX_PER_MINUTE",
    "SIMULATOR_INTERVAL_FLOOR_SECONDS",
    "Config",
    "ConfigError",
    "CsvSettings",
    "HealthSettings",
    "InfluxSettings",
    "ScheduleGroup",
    "Secret",
    "StorageSettings",
    "epc_label",
    "load_config",
    "read_settings_env",
    "serial_port",
]
