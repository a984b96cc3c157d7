"""dongle: which model and which driver, and the serial port (SERIAL_PORT in .env)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.config.inputs import Checked, Inputs
from common.config.values import directory

DEFAULTS: dict[str, Any] = {
    "dongle": {"model": "auto", "driver": "builtin", "keilog_path": "keilog"},
}
DONGLE_DRIVERS = ("builtin", "keilog")
DONGLE_MODELS = ("auto", "rl7023-ips", "bp35a1", "rl7023-dss", "bp35c2", "rs-wsuha-p")
SIMULATOR = "simulator"  # SERIAL_PORT's value (and its default) for the built-in simulator


def serial_port(env: dict[str, str]) -> str:
    """SERIAL_PORT from .env or the environment; the simulator when it is unset or empty."""
    return (env.get("SERIAL_PORT") or SIMULATOR).strip()


def check(inputs: Inputs) -> Checked:
    section = inputs.settings["dongle"]
    problems: list[str] = []
    driver = str(section["driver"]).lower()
    if driver not in DONGLE_DRIVERS:
        problems.append(
            f"settings.yml: 'dongle.driver' {driver!r} is not one of {', '.join(DONGLE_DRIVERS)}"
        )
    keilog_path: Path = directory(
        section["keilog_path"], "dongle.keilog_path", inputs.paths, problems
    )
    if driver == "keilog" and not (keilog_path / "keilib" / "broute.py").is_file():
        problems.append(
            f"settings.yml: 'dongle.driver' is keilog but there is no keilog checkout at "
            f"'dongle.keilog_path' ({keilog_path}); run scripts/get-keilog (it does "
            f"git clone https://github.com/kjmat/keilog {keilog_path}), "
            "or set dongle.driver: builtin"
        )
    model = str(section["model"]).lower()
    if model not in DONGLE_MODELS:
        problems.append(
            f"settings.yml: 'dongle.model' {model!r} is not one of {', '.join(DONGLE_MODELS)}"
        )
    fields = {
        "dongle_model": model,
        "dongle_driver": driver,
        "keilog_path": keilog_path,
        "serial_port": serial_port(inputs.env),
    }
    return fields, problems
