"""The radio's side of the bus without the radio: a journal and its broadcaster, in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from common.bus import CatchUpSubscriber, Cursor
from common.reading import Reading
from services.radio.bus.broadcaster import Broadcaster
from services.radio.bus.journal import Journal


class RadioBus:
    """The radio's side of the bus without the radio: a journal and its broadcaster."""

    def __init__(self, root: Path, max_readings: int = 150_000) -> None:
        self.root = root
        self.journal = Journal(root / "journal.sqlite", max_readings=max_readings)
        self.pub = f"ipc://{root}/readings.sock"
        self.replay = f"ipc://{root}/replay.sock"
        self.broadcaster = Broadcaster(
            self.pub, self.replay, self.journal.path,
            lambda: {"epoch": self.journal.epoch, "seq": self.journal.last_seq},
        ).start()  # fmt: skip

    def readings(self, n: int) -> list[Reading]:
        return [
            Reading(
                self.journal.next_seq(),
                self.journal.epoch,
                "2026-11-26T12:00:00.000+09:00",
                "m",
                "E7",
                "",
                float(i),
            )
            for i in range(n)
        ]

    def publish(self, n: int, broadcast: bool = True) -> None:
        self._send(self.readings(n), broadcast)

    def publish_made(
        self, n: int, make: Callable[[int, str], Reading], broadcast: bool = True
    ) -> list[Reading]:
        """Journal and publish ``n`` readings built by ``make(seq, epoch)``."""
        batch = [make(self.journal.next_seq(), self.journal.epoch) for _ in range(n)]
        self._send(batch, broadcast)
        return batch

    def _send(self, batch: list[Reading], broadcast: bool) -> None:
        self.journal.append(batch)
        if broadcast:
            self.broadcaster.publish([r.encode() for r in batch])

    def subscriber(self, cursor: Cursor | None = None) -> CatchUpSubscriber:
        return CatchUpSubscriber(self.pub, self.replay, cursor or Cursor())

    def close(self) -> None:
        self.broadcaster.close()
        self.journal.close()
