"""Keys of the keilog + Telegraf logger's settings.yml (docs/migration.md), each with where
its value goes now: a migrating user is told exactly what to change, not "did you mean".
"""

from __future__ import annotations

PREVIOUS_LOGGER_KEYS = {
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


def previous_logger_problem(name: str) -> str | None:
    """The line for a key the previous logger had, or None for any other key."""
    if name not in PREVIOUS_LOGGER_KEYS:
        return None
    return (
        f"settings.yml: '{name}' is the previous logger's setting; {PREVIOUS_LOGGER_KEYS[name]} "
        "(docs/migration.md)"
    )
