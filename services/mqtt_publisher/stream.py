"""The reading stream: every reading on ``<prefix>/<unit>/readings`` at QoS 1, at least once.

A reading counts as handled only once the broker has answered its PUBLISH with a PUBACK; the
cursor saved in the runtime dir (next to the journal it points into, like the other
subscribers') never passes one that is not.  Within a process paho sends what was not
acknowledged again after a reconnect; after a kill, the bus replays from the saved cursor.
Either way a reading may arrive twice, never not at all, while the journal still holds it.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from pathlib import Path

from paho.mqtt.client import MQTTMessageInfo

from common.bus import Cursor
from common.reading import Reading

log = logging.getLogger("mqtt_publisher.stream")

UNITS = {"E7": "W", "E8": "A", "E0": "kWh", "E3": "kWh", "EA": "kWh", "EB": "kWh"}
MAX_IN_FLIGHT = 500  # past this the bus is not read: the rest waits in the radio's journal
SAVE_EVERY = 1.0  # seconds between cursor saves (tmpfs; a kill only means resending)


def stream_message(r: Reading) -> bytes:
    """One reading as JSON: when, what, the value in its unit, and where it came from."""
    body = {"ts": r.ts, "epc": r.epc, "dataid": r.dataid, "value": r.value,
            "unit": UNITS.get(r.epc, ""), "seq": r.seq, "source": r.source}  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode()


class Stream:
    def __init__(self, topic: str, cursor_file: Path) -> None:
        self.topic = topic
        self.cursor_file = cursor_file
        self.acked = Cursor.load(cursor_file) or Cursor()
        self.in_flight: deque[tuple[Reading, MQTTMessageInfo]] = deque()
        self.sent = 0
        self.acknowledged = 0
        self.last_ack: float | None = None
        self._saved = Cursor(self.acked.epoch, self.acked.seq)
        self._save_due = 0.0

    @property
    def full(self) -> bool:
        return len(self.in_flight) >= MAX_IN_FLIGHT

    def send(self, reading: Reading, publish: object) -> None:
        """``publish(topic, payload, qos)`` is the link's; paho queues while disconnected."""
        info = publish(self.topic, stream_message(reading), 1)  # type: ignore[operator]
        self.in_flight.append((reading, info))
        self.sent += 1

    def settle(self) -> bool:
        """Move the cursor past every reading acknowledged in order; True if it moved.

        False with a reading paho gave up on (it never does for QoS 1 while the client
        lives; a sign of a bug): the caller rewinds the bus to the cursor."""
        ok = True
        while self.in_flight:
            reading, info = self.in_flight[0]
            try:
                if not info.is_published():
                    break
            except (ValueError, RuntimeError) as exc:
                log.error("paho dropped reading seq %d (%s); resending from the journal",
                          reading.seq, exc)  # fmt: skip
                ok = False
                break
            self.in_flight.popleft()
            self.acked = Cursor(reading.epoch, reading.seq)
            self.acknowledged += 1
            self.last_ack = time.time()
        return ok

    def rewind(self) -> Cursor:
        """Forget what is in flight; the bus starts again after the acknowledged cursor."""
        self.in_flight.clear()
        return Cursor(self.acked.epoch, self.acked.seq)

    def save(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.acked == self._saved or (not force and now < self._save_due):
            return
        try:
            self.acked.save(self.cursor_file)
        except OSError as exc:
            log.warning("cannot keep the stream's cursor in %s: %s", self.cursor_file, exc)
            return
        self._saved = Cursor(self.acked.epoch, self.acked.seq)
        self._save_due = now + SAVE_EVERY
