"""The readings bus: the radio PUBlishes, every subscriber SUBscribes (ZeroMQ over ipc://)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import zmq

from common.reading import MalformedMessage, Reading

log = logging.getLogger("bus")

TOPIC_READING = b"reading"


class Publisher:
    def __init__(self, endpoint: str) -> None:
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 1000)
        self.sock.bind(endpoint)

    def publish(self, reading: Reading) -> None:
        self.sock.send_multipart([TOPIC_READING, reading.encode()])

    def close(self) -> None:
        self.sock.close()


class Subscriber:
    """Receives readings; malformed messages are counted and skipped, never fatal."""

    def __init__(self, endpoint: str) -> None:
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, TOPIC_READING)
        self.sock.connect(endpoint)
        self.malformed = 0

    def receive(self, timeout_ms: int) -> Iterator[Reading]:
        """Yield what arrives within ``timeout_ms`` (then whatever is already queued)."""
        if not self.sock.poll(timeout_ms):
            return
        while True:
            try:
                parts = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(parts) != 2 or parts[0] != TOPIC_READING:
                self.malformed += 1
                continue
            try:
                yield Reading.decode(parts[1])
            except MalformedMessage as exc:
                self.malformed += 1
                log.warning("skipping a malformed message (%d so far): %s", self.malformed, exc)

    def close(self) -> None:
        self.sock.close()
