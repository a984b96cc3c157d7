"""`smartmeterctl status`: processes and the health verdict, for a person or a monitor."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common.health_client import fetch_health
from common.paths import Paths
from common.supervisor_rpc import SupervisorUnavailable, process_info

# Exit codes as monitoring plugins (Nagios, Icinga, ...) expect them.
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
VERDICT_CODE = {"pass": OK, "warn": WARNING, "fail": CRITICAL}
WORD = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
UNITS = {"E7": "W", "E0": "kWh", "E3": "kWh", "E8": "A", "EA": "kWh", "EB": "kWh", "E1": "kWh"}


@dataclass
class Report:
    code: int
    processes: list[dict[str, Any]] = field(default_factory=list)
    health: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    restarts: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # whose configuration, which files

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": WORD[self.code].lower(),
            "exit_code": self.code,
            "config": self.config,
            "problems": self.problems,
            "processes": self.processes,
            "health": self.health,
        }


def gather(paths: Paths, url: str) -> Report:
    sock = paths.runtime_dir / "supervisor.sock"
    try:
        raw = process_info(sock)
    except SupervisorUnavailable as exc:
        return Report(UNKNOWN, problems=[f"{exc}; start it with scripts/demo or "
                                          "`systemctl start smartmeter`"])  # fmt: skip
    try:
        restarts = json.loads((paths.runtime_dir / "restarts.json").read_text())
    except (OSError, ValueError):
        restarts = {}
    now = time.time()
    procs = []
    for p in raw:
        if p["name"] == "simulator" and p["statename"] == "STOPPED":
            continue
        up = now - p["start"] if p["statename"] == "RUNNING" and p.get("start") else None
        procs.append({
            "name": p["name"], "state": p["statename"], "uptime_s": up,
            "restarts": int(restarts.get(p["name"], {}).get("exits", 0)),
            "pid": p.get("pid"), "exit_status": p.get("exitstatus"),
            "spawn_error": p.get("spawnerr", ""),
        })  # fmt: skip
    report = Report(OK, procs, restarts=restarts)
    try:
        report.health = fetch_health(url)
    except (OSError, ValueError) as exc:
        report.code = CRITICAL
        report.problems.append(f"the health service does not answer at {url} ({exc})")
    else:
        report.code = VERDICT_CODE.get(report.health.get("status", ""), UNKNOWN)
        report.problems += report.health.get("notes", [])
    # health may not know yet (it polls supervisord every few seconds): supervisord's own
    # answer is fresher.  Starting is a warning, anything else not running is critical.
    for p in procs:
        level = {"RUNNING": OK, "STARTING": WARNING, "BACKOFF": WARNING}.get(p["state"], CRITICAL)
        if level > OK and f"process:{p['name']}" not in " ".join(report.problems):
            report.problems.append(f"process {p['name']} is {p['state']}")
        report.code = max(report.code, level) if report.code != UNKNOWN else report.code
    return report


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d"


def _check(report: Report, key: str) -> dict[str, Any] | None:
    checks = (report.health or {}).get("checks", {})
    return checks[key][0] if key in checks else None


def _backfill_line(b: Any) -> str:
    """The radio reading missed half-hours back from the meter (shown while it does)."""
    if not isinstance(b, dict):
        return ""
    state = b.get("state")
    text = ""
    if state in ("running", "paused-midnight"):
        text = f"{state}: {b.get('missing', 0)} half-hours to read back, {b.get('done', 0)} done"
    if b.get("unrecoverable"):
        lost = f"{b['unrecoverable']} half-hours older than the meter's history were lost"
        text = f"{text}; {lost}" if text else lost
    minutes = b.get("minutes")
    if isinstance(minutes, dict) and minutes.get("state") == "running":
        more = f"{minutes.get('missing', 0)} minutes of D0 to read back"
        text = f"{text}; {more}" if text else more
    return text


def render_config(config: dict[str, Any]) -> str:
    """Which configuration the report is about (the running stack's, or the demo's)."""
    if not config:
        return ""
    out = [f"  config         {config['source']}",
           f"                 settings {config['settings']}",
           f"                 secrets  {config['secrets']}"]  # fmt: skip
    if config.get("not_visible_here"):
        out.append(f"                 ({', '.join(config['not_visible_here'])} from the "
                   "stack's own environment, checked when it started)")  # fmt: skip
    out.append(f"  meter          {config['meter']}")
    return "\n".join(out)


def render(report: Report) -> str:
    out = [f"Smart-meter logger: {WORD[report.code]}"]
    if report.config:
        out.append(render_config(report.config))
    if report.processes:
        out.append("")
        out.append(f"  {'process':<14} {'state':<9} {'up':>12} {'restarts':>9}")
        for p in report.processes:
            out.append(f"  {p['name']:<14} {p['state']:<9} {_age(p['uptime_s']):>12} "
                       f"{p['restarts']:>9}")  # fmt: skip
    radio = _check(report, "radio:link")
    if radio:
        d = radio.get("details", {})
        link = [radio.get("cause", "")]
        if d.get("lqi") is not None:
            link.append(f"LQI {d['lqi']}")
        if d.get("rssi_dbm") is not None:
            link.append(f"RSSI {d['rssi_dbm']} dBm")
        out.append("")
        out.append(f"  radio          {', '.join(str(x) for x in link)}")
        if radio.get("output"):
            out.append(f"                 {radio['output']}")
        meter = [f"maker {d['meter_maker']}"] if d.get("meter_maker") else []
        if d.get("meter_id"):  # C0, masked by the radio
            meter.append(f"B-route ID {d['meter_id']}")
        if meter:
            out.append(f"  meter          {', '.join(meter)}")
        backfill = _backfill_line(d.get("backfill"))
        if backfill:
            out.append(f"  backfill       {backfill}")
    latest = (report.health or {}).get("latest", {})
    if latest:
        now = time.time()
        items = []
        for key, v in latest.items():
            age = now - datetime.fromisoformat(v["time"]).timestamp()
            unit = UNITS.get(key[:2], "")
            items.append(f"{key} {v['value']:g} {unit} ({_age(age)} ago)")
        out.append(f"  latest         {items[0]}")
        out += [f"                 {item}" for item in items[1:]]
    fresh = _check(report, "readings:freshness")
    if fresh:
        out.append(f"  readings       {fresh.get('output', '')}")
    for key, label in (("csv:write", "csv"), ("influxdb:delivery", "influxdb"),
                       ("mqtt:delivery", "mqtt")):  # fmt: skip
        c = _check(report, key)
        if not c:
            continue
        counters, details = c.get("counters", {}), c.get("details", {})
        text = c.get("output") or c.get("cause", "")
        if key == "influxdb:delivery" and "queue_depth" in counters:
            text += (
                f" (queue {counters['queue_depth']}, dead letters {counters.get('deadletter', 0)})"
            )
        if key == "mqtt:delivery" and c.get("status") != "pass":
            text = f"{c.get('cause', '')}: {text}"  # the cause to look up in docs/home-assistant.md
        if key == "csv:write" and details.get("last_write"):
            text += f" (last write {details['last_write']})"
        out.append(f"  {label:<14} {text}")
    for key in ("disk:data", "disk:csv", "clock:ntp"):
        c = _check(report, key)
        if c:
            out.append(f"  {key:<14} {c.get('output', '')}")
    if report.problems:
        out.append("")
        out.append("Problems:")
        out += [f"  - {p}" for p in report.problems]
    out.append("")
    out.append(f"({datetime.now().astimezone().isoformat(timespec='seconds')})")
    return "\n".join(out)
