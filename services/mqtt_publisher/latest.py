"""Home Assistant's state: the newest value of each entity, and only that.

HA stamps a state with the time it receives it, so an old value published late would be
recorded as "now".  Hence: readings read back from the meter's history (``source``
backfill) never become state; a reading older than the state already held is ignored; and
while the bus is catching up (after an outage) nothing is published until the backlog is
through, then only the newest value of each entity.
"""

from __future__ import annotations

from common.reading import Reading, format_value
from services.mqtt_publisher.ha_discovery import BY_READING


class LatestState:
    def __init__(self) -> None:
        self.held: dict[str, Reading] = {}  # entity key → the newest reading seen
        self.pending: set[str] = set()  # keys whose newest reading is not published yet
        self.newest: Reading | None = None  # for the "last reading" diagnostic

    def offer(self, reading: Reading) -> None:
        entity = BY_READING.get((reading.epc, reading.dataid))
        if entity is None or reading.source == "backfill":
            return
        held = self.held.get(entity.key)
        if held is not None and held.time >= reading.time:
            return
        self.held[entity.key] = reading
        self.pending.add(entity.key)
        if self.newest is None or reading.time > self.newest.time:
            self.newest = reading

    def take(self) -> list[tuple[str, str]]:
        """(entity key, state payload) of what changed since the last take."""
        out = [(key, format_value(self.held[key].value)) for key in sorted(self.pending)]
        self.pending.clear()
        return out

    def everything(self) -> list[tuple[str, str]]:
        """Every state held (after a reconnect: the broker may have lost its retained ones)."""
        self.pending.clear()
        return [(key, format_value(r.value)) for key, r in sorted(self.held.items())]
