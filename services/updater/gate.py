"""The health gate: is the new release doing what the old one did?

Within a bounded time, and held for a settle period with no program restarting: /health
answers from the new version, every program is RUNNING, no service reports config-error,
and the radio is back where it was before the update (joined, or the same outside cause
such as no-dongle or auth-failed: an update is not blamed for a meter that was away).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from common.health_client import fetch_health, health_url_of
from common.paths import Paths
from common.supervisor_rpc import SupervisorUnavailable, process_info


@dataclass(frozen=True)
class Before:
    version: str | None
    radio: str | None  # the radio:link cause before the update (None: unknown)


def _health(paths: Paths) -> dict[str, Any] | None:
    try:
        return fetch_health(health_url_of(paths), timeout=5.0)
    except (OSError, ValueError):
        return None


def _radio(verdict: dict[str, Any] | None) -> str | None:
    if not verdict:
        return None
    link = verdict.get("checks", {}).get("radio:link")
    return str(link[0].get("cause")) if link else None


def snapshot(paths: Paths) -> Before:
    verdict = _health(paths)
    return Before(verdict.get("releaseId") if verdict else None, _radio(verdict))


def problem(paths: Paths, version: str, before: Before) -> tuple[str | None, dict[str, int]]:
    """What keeps the gate shut now (None: nothing), and the programs' pids."""
    try:
        procs = process_info(paths.runtime_dir / "supervisor.sock")
    except SupervisorUnavailable:
        return "supervisord is not running", {}
    pids = {p["name"]: p["pid"] for p in procs}
    for p in procs:
        if p["name"] == "simulator" and p["statename"] == "STOPPED":
            continue  # a real dongle is configured
        if p["statename"] != "RUNNING":
            return f"program {p['name']} is {p['statename']}", pids
    verdict = _health(paths)
    if verdict is None:
        return "the health service does not answer", pids
    if verdict.get("releaseId") != version:
        return f"/health reports version {verdict.get('releaseId')}, not {version}", pids
    for key, checks in verdict.get("checks", {}).items():
        if checks and checks[0].get("cause") == "config-error":
            return f"{key}: config-error: {checks[0].get('output', '')}", pids
    radio = _radio(verdict)
    if before.radio == "joined" and radio != "joined":
        return f"the radio is {radio or 'silent'}, it was joined before the update", pids
    if before.radio not in (None, "joined") and radio not in (before.radio, "joined"):
        return f"the radio is {radio or 'silent'}, it was {before.radio} before", pids
    return None, pids


def wait(paths: Paths, version: str, before: Before, timeout: float, settle: float) -> str | None:
    """None when the gate passed; else the reason it stayed shut at the deadline.

    A program that keeps exiting is named even when the last look caught it running."""
    deadline = time.monotonic() + timeout
    held_since: float | None = None
    held_pids: dict[str, int] = {}
    last_pid: dict[str, int] = {}
    exits: dict[str, int] = {}
    why: str | None = "not checked yet"
    while time.monotonic() < deadline:
        why, pids = problem(paths, version, before)
        for name, pid in pids.items():
            if pid and last_pid.get(name) not in (None, pid):
                exits[name] = exits.get(name, 0) + 1
            if pid:
                last_pid[name] = pid
        if why is not None and why.startswith("program "):
            name = why.split()[1]
            exits[name] = max(exits.get(name, 0), 1)
        if why is None:
            if held_since is None or pids != held_pids:
                held_since, held_pids = time.monotonic(), pids
            elif time.monotonic() - held_since >= settle:
                return None
        else:
            held_since = None
        time.sleep(1.0)
    if exits:
        worst = max(exits, key=exits.__getitem__)
        why = f"program {worst} exited or restarted {exits[worst]} time(s); last: {why}"
    elif why is None:
        why = "the checks did not hold for the settle period"
    return f"health gate not passed within {timeout:.0f} s: {why}"
