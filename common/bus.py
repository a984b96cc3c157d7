"""The readings bus, subscriber side: live readings on SUB, catch-up on DEALER.

ZeroMQ PUB/SUB drops whatever a subscriber is not there to receive (a restart, the slow
joiner, a full queue).  So every reading carries ``seq`` within the radio journal's
``epoch``; a subscriber keeps its own cursor, asks the radio's replay socket for everything
after it when it starts and whenever it sees a gap (a ``seq`` jump, or a heartbeat ahead of
it), and ignores what it already has.  Readers of this module get each reading exactly once,
in order, as long as the radio's journal still holds it; what it no longer holds is counted
in ``lost`` and logged.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from common.reading import WIRE_VERSION, MalformedMessage, Reading

log = logging.getLogger("bus")

TOPIC_READING = b"reading"
TOPIC_HEARTBEAT = b"heartbeat"
REPLAY_TIMEOUT_MS = 2000
PAGE = 1000


def heartbeat_body(status: dict[str, Any]) -> bytes:
    return json.dumps({"v": WIRE_VERSION, **status}, separators=(",", ":")).encode()


@dataclass
class Cursor:
    """The last reading a subscriber has handled: ``seq`` within ``epoch``."""

    epoch: str = ""
    seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "seq": self.seq}

    def save(self, path: Path) -> None:
        """Atomically (a crash leaves the old cursor or the new one), without fsync: a
        subscriber keeps its cursor in the runtime dir next to the journal it points into
        (tmpfs on the appliance), where only a process crash, never a power cut, can hit it."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.as_dict()))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Cursor | None:
        """The saved cursor, or None (none saved, or unreadable: start from the journal)."""
        try:
            data = json.loads(path.read_text())
            return cls(str(data["epoch"]), int(data["seq"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


@dataclass
class BusCounters:
    malformed: int = 0
    duplicates: int = 0
    catch_ups: int = 0
    lost: int = 0  # readings the journal no longer held when we asked
    epochs_seen: list[str] = field(default_factory=list)


class CatchUpSubscriber:
    def __init__(self, readings_endpoint: str, replay_endpoint: str, cursor: Cursor) -> None:
        self.ctx = zmq.Context.instance()
        self.cursor = cursor
        self.counters = BusCounters()
        self.last_heartbeat: dict[str, Any] | None = None
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        for topic in (TOPIC_READING, TOPIC_HEARTBEAT):
            self.sub.setsockopt(zmq.SUBSCRIBE, topic)
        self.sub.connect(readings_endpoint)
        self.replay_endpoint = replay_endpoint
        self.dealer: zmq.Socket | None = None
        self.need_catch_up = True  # always on start: subscribe first, then catch up
        self._poller: zmq.Poller | None = None
        self._wake: tuple[int, ...] | None = None

    def _dealer(self) -> zmq.Socket:
        if self.dealer is None:
            self.dealer = self.ctx.socket(zmq.DEALER)
            self.dealer.setsockopt(zmq.LINGER, 0)
            self.dealer.connect(self.replay_endpoint)
        return self.dealer

    def _reset_dealer(self) -> None:
        # A request that timed out may still be answered later; a fresh socket cannot
        # confuse that stale answer with the next one.
        if self.dealer is not None:
            self.dealer.close()
            self.dealer = None

    def poll(
        self, timeout_ms: int | None, wake: int | tuple[int, ...] | None = None
    ) -> list[Reading]:
        """New readings, in order, each once; waits up to ``timeout_ms`` for live ones.

        While catching up, each call returns at most one page (``PAGE`` readings) and does
        not wait: call again until :attr:`need_catch_up` is false.

        ``wake``: a file descriptor (:meth:`common.service.Stopper.fileno`), or several,
        whose readability ends the wait, so a service can wait long (``timeout_ms`` None:
        until a message) and still stop at once.
        """
        out: list[Reading] = []
        if self.need_catch_up:
            out += self._catch_up()
            if self.need_catch_up or out:
                timeout_ms = 0  # more backlog to fetch, or readings to hand: come straight back
        if self._wait(timeout_ms, wake):
            while True:
                try:
                    parts = self.sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                out += self._live(parts)
        if self.need_catch_up:
            out += self._catch_up()
        return out

    def _wait(self, timeout_ms: int | None, wake: int | tuple[int, ...] | None) -> bool:
        """True when a live message is waiting (after up to ``timeout_ms``)."""
        if wake is None:
            return bool(self.sub.poll(timeout_ms))
        wakes = wake if isinstance(wake, tuple) else (wake,)
        if self._poller is None or self._wake != wakes:
            self._poller = zmq.Poller()
            self._poller.register(self.sub, zmq.POLLIN)
            for fd in wakes:
                self._poller.register(fd, zmq.POLLIN)
            self._wake = wakes
        return self.sub in dict(self._poller.poll(timeout_ms))

    def _live(self, parts: list[bytes]) -> list[Reading]:
        if len(parts) != 2:
            self._malformed(f"{len(parts)} frames")
            return []
        topic, body = parts
        if topic == TOPIC_HEARTBEAT:
            try:
                beat = json.loads(body)
                epoch, seq = str(beat["epoch"]), int(beat["seq"])
            except (ValueError, KeyError, TypeError):
                self._malformed("bad heartbeat")
                return []
            self.last_heartbeat = beat
            if epoch != self.cursor.epoch or seq > self.cursor.seq:
                self.need_catch_up = True
            return []
        try:
            reading = Reading.decode(body)
        except MalformedMessage as exc:
            self._malformed(str(exc))
            return []
        return self._accept([reading])

    def _accept(self, readings: list[Reading], replayed: bool = False) -> list[Reading]:
        out = []
        for r in readings:
            if r.epoch != self.cursor.epoch:
                self.need_catch_up = True  # a new journal: let catch-up sort it out
                continue
            if r.seq <= self.cursor.seq:
                self.counters.duplicates += 1
                continue
            if r.seq != self.cursor.seq + 1:
                if not replayed:
                    self.need_catch_up = True  # a gap: everything from here comes by replay
                    continue
                # The journal itself lacks these (an unreadable row): nobody can send them.
                self.counters.lost += r.seq - self.cursor.seq - 1
            self.cursor.seq = r.seq
            out.append(r)
        return out

    def _malformed(self, why: str) -> None:
        self.counters.malformed += 1
        log.warning("skipping a malformed message (%d so far): %s", self.counters.malformed, why)

    def _request(self, since: int) -> dict[str, Any] | None:
        dealer = self._dealer()
        ask = {"epoch": self.cursor.epoch, "since": since, "max": PAGE}
        dealer.send_multipart([b"", json.dumps(ask).encode()])
        if not dealer.poll(REPLAY_TIMEOUT_MS):
            self._reset_dealer()
            return None
        frames = dealer.recv_multipart()
        try:
            reply = json.loads(frames[-1])
            str(reply["epoch"])
            return reply
        except (ValueError, KeyError, TypeError):
            self._malformed("bad replay answer")
            return None

    def _catch_up(self) -> list[Reading]:
        out: list[Reading] = []
        while True:
            reply = self._request(self.cursor.seq)
            if reply is None:
                return out  # the radio is not answering; try again on its next heartbeat
            epoch = reply["epoch"]
            if epoch != self.cursor.epoch:
                if self.cursor.epoch:
                    log.warning(
                        "the radio's journal changed (epoch %s → %s); readings after seq %d "
                        "of the old journal that were not received are lost",
                        self.cursor.epoch, epoch, self.cursor.seq,
                    )  # fmt: skip
                self.cursor.epoch, self.cursor.seq = epoch, 0
                continue
            gap = reply.get("gap")
            if gap:
                missed = int(gap[1]) - int(gap[0]) + 1
                self.counters.lost += missed
                log.error(
                    "readings %s..%s were dropped from the radio's journal before we got them",
                    gap[0], gap[1],
                )  # fmt: skip
                self.cursor.seq = int(gap[1])
            page = []
            for body in reply.get("readings", []):
                try:
                    page.append(Reading.decode(json.dumps(body).encode()))
                except MalformedMessage as exc:
                    self._malformed(str(exc))
            got = self._accept(page, replayed=True)
            out += got
            self.counters.catch_ups += 1
            # One page per poll: a long backlog (a week of journal) arrives in bounded pieces
            # that the caller can make durable before the next, instead of one huge list.
            self.need_catch_up = self.cursor.seq < int(reply.get("last", 0))
            return out

    def close(self) -> None:
        self.sub.close()
        self._reset_dealer()
