"""The faults a test can switch on and off, from the command line or the control socket.

A fault is a name with parameters.  ``count`` (any fault) limits it to the next N times it
applies, after which it switches itself off; without it a fault stays on until switched off.
Switching can have side effects (EVENT 32 when ``tx-limit`` goes on, the pty vanishing on
``unplug``); whoever owns them subscribes with :meth:`Faults.watch`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("simulator.faults")

# name -> (what it does, default parameters)
FAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "auth-fail": ("every SKJOIN/SKREJOIN ends in EVENT 24, as with a wrong password", {}),
    "no-pan": ("active scans find no PAN (EVENT 22 only)", {}),
    "extra-pans": (
        "neighbours' meters answer the scan too: other PairIDs, one with a better LQI; "
        "joining them ends in EVENT 24",
        {},
    ),
    "tx-fail": ("SKSENDTO ends in EVENT 21 param 01; nothing reaches the meter", {}),
    "no-tx-event": ("SKSENDTO prints no EVENT 21 (the meter still answers)", {}),
    "ns-on-send": ("SKSENDTO prints EVENT 21 02 and EVENT 02 before EVENT 21 00", {}),
    "drop-responses": ("the meter does not answer ECHONET Lite requests", {}),
    "garbage": ("a line of random bytes before every output of the dongle", {}),
    "slow": ("meter answers come `seconds` late (default 15; ≤ 20 s on hardware)", {"seconds": 15}),
    "late-epandesc": ("scan result: EVENT 20, EVENT 22, then the EPANDESC block", {}),
    "refuse-d3": ("D3 answered with Get_SNA", {}),
    "no-energy": ("E0/E3/EA/EB and history answer FFFFFFFE (no measurement)", {}),
    "reauth-fail": ("re-authentication (EVENT 29) ends in EVENT 24 instead of EVENT 25", {}),
    "term-race": ("SKJOIN within `seconds` after SKTERM ends in EVENT 24", {"seconds": 10}),
    "term-timeout": ("SKTERM ends in EVENT 28 instead of EVENT 27", {}),
    "tx-limit": (
        "EVENT 32 now, EVENT 33 when switched off or after `seconds`; sends in between "
        "end in EVENT 21 01",
        {"seconds": None},
    ),
    "hang": ("the dongle reads nothing and answers nothing", {}),
    "unplug": (
        "USB unplug: the pty closes (EIO) and the link disappears; it comes back when "
        "switched off or after `seconds`",
        {"seconds": None},
    ),
}

# One-shot actions: name -> (what it does, default parameters)
ACTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "reauth": (
        "EVENT 29 now, then EVENT 25 (result=ok) or EVENT 24 (result=fail)",
        {"result": "ok"},
    ),
    "peer-term": ("EVENT 26: the meter ends the PANA session", {}),
    "replace-meter": ("a new meter: new MAC, PAN ID and channel; the session ends", {}),
    "notify": ("send the EA/EB notification now (INF or INFC, see `notify`)", {}),
}


class FaultError(ValueError):
    pass


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"slow:seconds=5,count=2"`` → ("slow", {"seconds": 5, "count": 2})."""
    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise FaultError(f"{spec!r}: parameter {item!r} is not key=value")
        params[key.strip()] = _typed(value.strip())
    return name.strip(), params


def _typed(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


class Faults:
    def __init__(self) -> None:
        self._active: dict[str, dict[str, Any]] = {}
        self._watchers: dict[str, list[Callable[[bool, dict[str, Any]], None]]] = {}

    def watch(self, name: str, fn: Callable[[bool, dict[str, Any]], None]) -> None:
        self._watchers.setdefault(name, []).append(fn)

    def set(self, name: str, on: bool = True, **params: Any) -> None:
        if name not in FAULTS:
            raise FaultError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
        unknown = set(params) - set(FAULTS[name][1]) - {"count"}
        if unknown:
            raise FaultError(f"fault {name!r} takes no parameter {', '.join(sorted(unknown))}")
        was = name in self._active
        if on:
            self._active[name] = {**FAULTS[name][1], **params}
        else:
            self._active.pop(name, None)
        log.info("fault %s %s %s", name, "on" if on else "off", params or "")
        if on != was:
            for fn in self._watchers.get(name, []):
                fn(on, self._active.get(name, params))

    def active(self, name: str) -> bool:
        return name in self._active

    def params(self, name: str) -> dict[str, Any]:
        return self._active.get(name, {})

    def fire(self, name: str) -> dict[str, Any] | None:
        """The fault's parameters if it applies this time (consuming one of ``count``)."""
        params = self._active.get(name)
        if params is None:
            return None
        count = params.get("count")
        if count is not None:
            if count <= 1:
                self.set(name, False)
            else:
                params["count"] = count - 1
        return params

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self._active.items()}
