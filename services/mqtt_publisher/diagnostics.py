"""What the logger knows about itself, for Home Assistant's diagnostic entities.

Two sources, each the cheapest that is already there: the radio's heartbeat on the readings
bus (every 5 s, with its cause: is the meter readable now) and the health service's verdict
(GET /health, the same one smartmeterctl reads: the overall status, the radio's LQI/RSSI and
the meter's identification).  The status socket is the health service's alone (it binds it),
and health already folds every service's status into one verdict, so the publisher asks it
rather than listening to the services itself.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from common.health_client import fetch_health
from services.mqtt_publisher.ha_discovery import MeterIdentity

log = logging.getLogger("mqtt_publisher.diagnostics")

METER_READABLE = frozenset({"joined", "reauthenticating", "tx-limited"})
HEARTBEAT_STALE = 30.0  # the radio beats every 5 s: past this it is gone
OWN_CHECKS = ("mqtt:delivery", "process:mqtt_publisher")  # not a problem HA can be told of


class Diagnostics:
    def __init__(self, health_url: str, unitid: str, identity_file: Path) -> None:
        self.url = health_url
        self.unitid = unitid
        self.identity_file = identity_file
        self.radio_cause: str | None = None
        self._beat_at = 0.0
        self.verdict: dict[str, Any] | None = None
        self.identity = self._load_identity()
        self.previous: MeterIdentity | None = None  # the device before a meter change

    # --- the radio's heartbeat ---------------------------------------------------------------
    def beat(self, heartbeat: dict[str, Any]) -> None:
        self.radio_cause = str(heartbeat.get("cause", "unknown"))
        self._beat_at = time.monotonic()

    def stale_at(self) -> float:
        """When (time.monotonic()) the last heartbeat is too old to count."""
        return self._beat_at + HEARTBEAT_STALE

    def meter_readable(self) -> bool:
        fresh = time.monotonic() - self._beat_at < HEARTBEAT_STALE
        return fresh and self.radio_cause in METER_READABLE

    def radio_state(self) -> str:
        if time.monotonic() - self._beat_at >= HEARTBEAT_STALE:
            return "no-heartbeat" if self._beat_at else "unknown"
        return self.radio_cause or "unknown"

    # --- the health verdict -------------------------------------------------------------------
    def refresh(self) -> bool:
        """Ask /health; True when it answered.  Learns the meter's identity on the way."""
        try:
            self.verdict = fetch_health(self.url, timeout=3.0)
        except (OSError, ValueError) as exc:
            log.debug("no answer from %s: %s", self.url, exc)
            self.verdict = None
            return False
        self._learn_identity()
        return True

    def _radio_details(self) -> dict[str, Any]:
        checks = (self.verdict or {}).get("checks", {})
        radio = checks.get("radio:link") or [{}]
        details = radio[0].get("details") if isinstance(radio[0], dict) else None
        return details if isinstance(details, dict) else {}

    def signal(self) -> dict[str, float]:
        """LQI and RSSI when the radio reports them (not every dongle does)."""
        d = self._radio_details()
        out = {}
        for key, name in (("lqi", "lqi"), ("rssi_dbm", "rssi")):
            if isinstance(d.get(key), int | float) and not isinstance(d.get(key), bool):
                out[name] = float(d[key])
        return out

    def problem(self) -> tuple[str, dict[str, Any]] | None:
        """("ON"/"OFF", attributes): ON when /health shows anything not passing, apart from
        the publisher's own connection (which HA could not be told about anyway)."""
        if self.verdict is None:
            return None
        checks = self.verdict.get("checks", {})
        bad = {}
        for key, items in checks.items():
            if key in OWN_CHECKS or not items or not isinstance(items[0], dict):
                continue
            if items[0].get("status") != "pass":
                bad[key] = f"{items[0].get('status')}: {items[0].get('cause', '')}"
        attributes = {"status": self.verdict.get("status"), "problems": bad}
        return ("ON" if bad else "OFF"), attributes

    # --- the meter's identity -----------------------------------------------------------------
    def _learn_identity(self) -> None:
        d = self._radio_details()
        if "meter_key" not in d:
            return  # the radio has not identified the meter yet
        found = MeterIdentity.of(
            self.unitid, *(_text(d.get(k)) for k in ("meter_key", "meter_maker", "meter_id",
                                                      "meter_release"))
        )  # fmt: skip
        if found == self.identity:
            return
        if self.identity is not None and found.device_id != self.identity.device_id:
            log.warning("the meter is now %s (was %s): a new device for Home Assistant",
                        found.device_id, self.identity.device_id)  # fmt: skip
        self.previous = self.identity
        self.identity = found
        try:
            self.identity_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.identity_file.with_name(self.identity_file.name + ".tmp")
            tmp.write_text(json.dumps(found.__dict__))
            tmp.replace(self.identity_file)
        except OSError as exc:
            log.warning("cannot keep the meter's identity in %s: %s", self.identity_file, exc)

    def _load_identity(self) -> MeterIdentity | None:
        """Kept on disk, so discovery goes out at once after a reboot, under the same id."""
        try:
            data = json.loads(self.identity_file.read_text())
            return MeterIdentity(**{k: data.get(k) for k in ("device_id", "maker", "shown_id",
                                                              "release")})  # fmt: skip
        except (OSError, ValueError, TypeError):
            return None


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None
