"""One verdict from everything health knows, in the health-check response format.

Format: draft-inadarei-api-health-check (``status`` pass/warn/fail, ``checks`` keyed
``component:measurement``, each with ``status``, ``observedValue``, ``observedUnit``,
``time`` and ``output``); we add ``cause`` (the named cause) to each check.  Worst wins.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from common.config import Config
from common.version import package_version
from services.health.state import HealthState
from services.health.system import clock_plausible, clock_synchronized, disk_space
from services.health.updates import checks as update_checks

RANK = {"pass": 0, "warn": 1, "fail": 2}
STATUS_STALE = 45.0  # seconds without a status from a running service (3 intervals)
DISK_WARN = 200 * 1024 * 1024
DISK_FAIL = 20 * 1024 * 1024
SERVICES = ("radio", "csv_rotator", "influx_writer", "mqtt_publisher")
# A writer whose trouble never fails the logger: the readings are safe elsewhere.
AT_MOST_WARN = ("mqtt_publisher",)


def _iso(t: float | None = None) -> str:
    return datetime.fromtimestamp(t if t is not None else time.time(), UTC).isoformat(
        timespec="seconds"
    )


def check(
    status: str,
    cause: str,
    output: str,
    value: Any = None,
    unit: str | None = None,
    at: float | None = None,
    ctype: str = "component",
) -> dict[str, Any]:
    c: dict[str, Any] = {
        "componentType": ctype,
        "status": status,
        "cause": cause,
        "time": _iso(at),
        "output": output,
    }
    if value is not None:
        c["observedValue"] = value
    if unit:
        c["observedUnit"] = unit
    return c


def _processes(state: HealthState) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    if state.supervisor_error:
        out["supervisord:processes"] = [
            check("fail", "supervisor-down", state.supervisor_error, ctype="system")
        ]
        return out
    for p in state.processes:
        name, st = p["name"], p["statename"]
        if name == "simulator" and st == "STOPPED":
            continue  # not used: a real dongle is configured
        restarts = state.restarts.get(name, {})
        if st == "RUNNING":
            level, cause, text = "pass", "running", p.get("description", "")
        elif st in ("STARTING", "BACKOFF"):
            level, cause, text = "warn", "starting", f"{name} is starting ({st.lower()})"
        else:
            level, cause = "fail", st.lower()
            text = f"{name} is {st}: {p.get('spawnerr') or 'see smartmeterctl logs ' + name}"
            if restarts.get("next_restart_at"):
                wait = max(0.0, restarts["next_restart_at"] - time.time())
                text += f"; it is started again automatically in {wait:.0f} s"
        c = check(level, cause, text, st, ctype="process")
        c["restarts"] = int(restarts.get("exits", 0))
        out[f"process:{name}"] = [c]
    return out


def _service_statuses(
    state: HealthState, running: set[str], config: Config
) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for name in SERVICES:
        if (
            (name == "influx_writer" and not config.influx.enabled)
            or (name == "csv_rotator" and not config.csv.enabled)
            or (name == "mqtt_publisher" and not config.mqtt.enabled)
        ):
            continue
        status = state.statuses.get(name)
        age = state.age_of_status(name)
        if status and status.get("cause") == "stopped" and name in running:
            status = None  # the last word of a previous run; the new one has not spoken yet
        stale = age is not None and age > STATUS_STALE
        if name == "radio" and state.radio_beat and (status is None or stale):
            status = _radio_from_heartbeat(state)
            age = time.monotonic() - state.radio_beat_seen
        key = {
            "radio": "radio:link",
            "csv_rotator": "csv:write",
            "influx_writer": "influxdb:delivery",
            "mqtt_publisher": "mqtt:delivery",
        }[name]
        if status is None:
            if name in running:
                out[key] = [check("warn", "no-status", f"no status from {name} yet")]
            continue
        level, cause, message = (
            status.get("level", "warn"),
            status.get("cause", ""),
            status.get("message", ""),
        )
        if age is not None and age > STATUS_STALE and cause != "stopped":
            level, cause = "fail", "not-reporting"
            message = f"{name} has sent no status for {age:.0f} s; it may be hung"
        if name in AT_MOST_WARN and level == "fail":
            level = "warn"
        c = check(level, cause, message, cause, at=status.get("time"))
        c["counters"] = status.get("counters", {})
        c["details"] = status.get("details", {})
        out[key] = [c]
    return out


RADIO_LEVELS = {"joined": "pass", "starting": "warn", "scanning": "warn", "joining": "warn",
                "reauthenticating": "warn", "tx-limited": "warn"}  # fmt: skip


def _radio_from_heartbeat(state: HealthState) -> dict[str, Any]:
    """The radio's readings heartbeat carries its cause too: enough when no status came."""
    cause = str(state.radio_beat.get("cause", "unknown"))
    return {"level": RADIO_LEVELS.get(cause, "fail"), "cause": cause, "message": "",
            "time": time.time(), "counters": {}, "details": {}}  # fmt: skip


def _freshness(state: HealthState, config: Config) -> dict[str, list[dict[str, Any]]]:
    interval = config.interval_seconds
    last = state.last_reading_received
    if not last:
        since_start = time.time() - state.started
        level = "warn" if since_start < max(120.0, 10 * interval) else "fail"
        return {
            "readings:freshness": [
                check(level, "no-readings", "no reading received yet", None, "s")
            ]
        }
    age = time.time() - last
    if age <= 3 * interval + 30:
        level, cause, text = "pass", "fresh", f"last reading {age:.0f} s ago"
    elif age <= 10 * interval + 120:
        level, cause, text = (
            "warn",
            "late",
            f"last reading {age:.0f} s ago (expected every {interval:g} s)",
        )
    else:
        level, cause, text = "fail", "stale", f"no reading for {age:.0f} s; see the radio check"
    return {"readings:freshness": [check(level, cause, text, round(age, 1), "s", at=last)]}


def _system(config: Config) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for label, path in (("data", config.paths.data_dir), ("csv", config.csv.directory)):
        d = disk_space(path)
        if d.free_bytes < DISK_FAIL:
            level, cause = "fail", "disk-full"
        elif d.free_bytes < DISK_WARN:
            level, cause = "warn", "disk-low"
        else:
            level, cause = "pass", "ok"
        text = f"{d.free_bytes / 2**20:.0f} MiB free of {d.total_bytes / 2**20:.0f} MiB at {path}"
        out[f"disk:{label}"] = [check(level, cause, text, d.free_bytes, "bytes", ctype="system")]
    synced = clock_synchronized()
    if not clock_plausible():
        clock = check(
            "fail",
            "clock-implausible",
            "the system clock is before the build year; it has not been set (no network time yet?)",
            False,
            ctype="system",
        )
    elif synced is False:
        clock = check(
            "warn",
            "clock-unsynchronized",
            "NTP has not synchronised the clock yet; timestamps may be off",
            False,
            ctype="system",
        )
    else:
        text = "synchronised by NTP" if synced else "NTP state not known on this machine"
        clock = check("pass", "ok", text, synced, ctype="system")
    out["clock:ntp"] = [clock]
    out.update(update_checks(check))
    return out


def build(state: HealthState, config: Config) -> dict[str, Any]:
    with state.lock:
        checks: dict[str, list[dict[str, Any]]] = {}
        checks.update(_processes(state))
        running = {p["name"] for p in state.processes if p["statename"] == "RUNNING"}
        if state.supervisor_error:
            running = set(SERVICES)
        checks.update(_service_statuses(state, running, config))
        checks.update(_freshness(state, config))
        latest = {
            f"{epc}{'/' + dataid if dataid else ''}": {"value": v.value, "time": v.ts}
            for (epc, dataid), v in sorted(state.latest.items())
        }
    checks.update(_system(config))
    worst = max((c[0]["status"] for c in checks.values()), key=RANK.__getitem__, default="pass")
    problems = [f"{key}: {c[0]['output']}" for key, c in checks.items() if c[0]["status"] != "pass"]
    return {
        "status": worst,
        "version": "1",
        "releaseId": package_version(),
        "serviceId": config.unitid,
        "description": "B-route smart-meter logger",
        "output": "; ".join(problems[:3]),
        "notes": problems,
        "checks": checks,
        "latest": latest,
    }


def http_code(verdict: dict[str, Any]) -> int:
    return 503 if verdict["status"] == "fail" else 200
