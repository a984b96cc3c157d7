"""GET /metrics: the Prometheus text exposition format, written by hand.

Hand-written because it is a few dozen lines and the health process stays small (the
benchmark issue measures memory); tests parse the output with prometheus-client's parser.
"""

from __future__ import annotations

from typing import Any

from services.health.state import HealthState

ENERGY = {"E0": "import", "E3": "export", "EA": "import", "EB": "export"}


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_esc(str(v))}"' for k, v in labels.items()) + "}"


class Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._seen: set[str] = set()

    def metric(
        self, name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]
    ) -> None:
        if name not in self._seen:
            self.lines.append(f"# HELP {name} {help_text}")
            self.lines.append(f"# TYPE {name} {kind}")
            self._seen.add(name)
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(**labels)} {float(value)!r}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(state: HealthState, verdict: dict[str, Any], unitid: str) -> str:
    x = Exposition()
    u = {"unitid": unitid}
    with state.lock:
        latest = dict(state.latest)
        totals = dict(state.readings_total)
        statuses = {k: dict(v) for k, v in state.statuses.items()}
        procs = list(state.processes)
        restarts = dict(state.restarts)
        last = state.last_reading_received
    if ("E7", "") in latest:
        x.metric(
            "smartmeter_power_watts",
            "gauge",
            "Instantaneous power (E7); negative = export",
            [(u, latest["E7", ""].value)],
        )
    energy = [
        ({**u, "direction": ENERGY[epc]}, v.value)
        for (epc, d), v in latest.items()
        if epc in ("E0", "E3")
    ]
    if energy:
        x.metric(
            "smartmeter_energy_kwh_total",
            "counter",
            "Cumulative energy (E0 import, E3 export), kWh",
            energy,
        )
    current = [({**u, "phase": d}, v.value) for (epc, d), v in latest.items() if epc == "E8"]
    if current:
        x.metric("smartmeter_current_amperes", "gauge", "Instantaneous current (E8)", current)
    x.metric(
        "smartmeter_readings_total",
        "counter",
        "Readings received since health started",
        [({**u, "epc": e, "dataid": d}, n) for (e, d), n in sorted(totals.items())],
    )
    if last:
        x.metric(
            "smartmeter_last_reading_timestamp_seconds",
            "gauge",
            "When the last reading arrived (Unix time)",
            [(u, last)],
        )
    radio = statuses.get("radio", {}).get("details", {})
    if isinstance(radio.get("rssi_dbm"), int | float):
        x.metric(
            "smartmeter_radio_rssi_dbm",
            "gauge",
            "Received signal strength of the meter",
            [(u, radio["rssi_dbm"])],
        )
    if isinstance(radio.get("lqi"), int | float):
        x.metric(
            "smartmeter_radio_lqi",
            "gauge",
            "Link quality indicator of the meter (0-255)",
            [(u, radio["lqi"])],
        )
    influx = statuses.get("influx_writer", {}).get("counters", {})
    for key, name, kind, text in (
        ("queue_depth", "smartmeter_queue_depth", "gauge", "Readings waiting for InfluxDB"),
        ("dropped", "smartmeter_queue_dropped_total", "counter", "Readings dropped, queue full"),
        (
            "deadletter",
            "smartmeter_queue_deadletter_total",
            "counter",
            "Readings InfluxDB rejected for good",
        ),
        (
            "delivered",
            "smartmeter_influxdb_delivered_total",
            "counter",
            "Readings written to InfluxDB",
        ),
    ):
        if isinstance(influx.get(key), int | float):
            x.metric(name, kind, text, [(u, influx[key])])
    mqtt = statuses.get("mqtt_publisher", {})
    if isinstance(mqtt.get("details", {}).get("connected"), bool):
        x.metric(
            "smartmeter_mqtt_connected",
            "gauge",
            "1 while the MQTT publisher is connected to its broker",
            [(u, 1.0 if mqtt["details"]["connected"] else 0.0)],
        )
        for key, name, text in (
            ("published", "smartmeter_mqtt_published_total", "Readings sent on the MQTT stream"),
            (
                "acknowledged",
                "smartmeter_mqtt_acknowledged_total",
                "Stream readings the broker acknowledged",
            ),
        ):
            if isinstance(mqtt.get("counters", {}).get(key), int | float):
                x.metric(name, "counter", text, [(u, mqtt["counters"][key])])
    for service, status in sorted(statuses.items()):
        for key, value in sorted(status.get("counters", {}).items()):
            if isinstance(value, int | float) and not isinstance(value, bool):
                x.metric(
                    "smartmeter_service_counter",
                    "gauge",
                    "Counters each service reports",
                    [({"service": service, "counter": key}, value)],
                )
    up = [({"process": p["name"]}, 1.0 if p["statename"] == "RUNNING" else 0.0) for p in procs]
    if up:
        x.metric("smartmeter_process_up", "gauge", "1 when the process is RUNNING", up)
    x.metric(
        "smartmeter_process_restarts_total",
        "counter",
        "Exits seen by the restarter",
        [({"process": n}, float(r.get("exits", 0))) for n, r in sorted(restarts.items())],
    )
    rank = {"pass": 0, "warn": 1, "fail": 2}
    x.metric(
        "smartmeter_health_status",
        "gauge",
        "Overall verdict: 0 pass, 1 warn, 2 fail",
        [(u, rank[verdict["status"]])],
    )
    for key, checks in sorted(verdict["checks"].items()):
        x.metric(
            "smartmeter_check_status",
            "gauge",
            "Each check: 0 pass, 1 warn, 2 fail",
            [({"check": key}, rank[checks[0]["status"]])],
        )
    return x.text()
