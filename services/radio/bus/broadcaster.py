"""The radio's side of the bus: publish, answer replay requests, send heartbeats.

ZeroMQ sockets belong to one thread, and the poll loop blocks on the serial port, so one
thread owns the PUB and ROUTER sockets (the Clone pattern of the ZeroMQ Guide: updates on
PUB, catch-up on ROUTER).  The poll loop hands it journaled readings over an inproc pipe.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from common.bus import TOPIC_HEARTBEAT, TOPIC_READING, heartbeat_body
from services.radio.bus.journal import JournalReader

log = logging.getLogger("radio.broadcaster")

HEARTBEAT_SECONDS = 5.0
MAX_PAGE = 1000


class Broadcaster:
    def __init__(
        self,
        pub_endpoint: str,
        replay_endpoint: str,
        journal_path: Path,
        status: Callable[[], dict[str, Any]],
    ) -> None:
        self.ctx = zmq.Context.instance()
        self.status = status
        self._pipe_addr = f"inproc://broadcaster-{id(self)}"
        self._in = self.ctx.socket(zmq.PAIR)
        self._in.bind(self._pipe_addr)
        self._out = self.ctx.socket(zmq.PAIR)
        self._out.connect(self._pipe_addr)
        self._out_lock = threading.Lock()
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 1000)
        self.pub.bind(pub_endpoint)
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind(replay_endpoint)
        self.reader = JournalReader(journal_path)
        self.replays = 0
        self.gaps_reported = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broadcaster", daemon=True)

    def start(self) -> Broadcaster:
        self._thread.start()
        return self

    # --- called from the poll loop --------------------------------------------------------
    def publish(self, bodies: list[bytes]) -> None:
        """Hand over readings that are already in the journal."""
        with self._out_lock:
            self._out.send_multipart(bodies)

    def heartbeat_now(self) -> None:
        with self._out_lock:
            self._out.send_multipart([b""])

    # --- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._in, zmq.POLLIN)
        poller.register(self.router, zmq.POLLIN)
        next_beat = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_beat:
                self._beat()
                next_beat = now + HEARTBEAT_SECONDS
            events = dict(poller.poll(timeout=max(0, int((next_beat - now) * 1000))))
            if self._in in events:
                bodies = self._in.recv_multipart()
                if bodies == [b""]:
                    self._beat()
                    continue
                for body in bodies:
                    self.pub.send_multipart([TOPIC_READING, body])
            if self.router in events:
                self._answer(self.router.recv_multipart())

    def _beat(self) -> None:
        self.pub.send_multipart([TOPIC_HEARTBEAT, heartbeat_body(self.status())])

    def _answer(self, frames: list[bytes]) -> None:
        identity, request = frames[0], frames[-1]
        try:
            ask = json.loads(request)
            since = int(ask.get("since", 0))
            limit = max(1, min(int(ask.get("max", MAX_PAGE)), MAX_PAGE))
            if ask.get("epoch") not in (None, ""):
                # Someone else's epoch: their seq numbers mean nothing in this journal.
                current = self.reader.page(0, 0).epoch
                if ask["epoch"] != current:
                    since = -1
        except (ValueError, TypeError, AttributeError):
            self.router.send_multipart([identity, b"", b'{"error":"bad request"}'])
            return
        if since < 0:
            page = self.reader.page(0, 0)
            reply = {"epoch": page.epoch, "first": page.first, "last": page.last, "readings": []}
            self.router.send_multipart([identity, b"", json.dumps(reply).encode()])
            return
        page = self.reader.page(since, limit)
        self.replays += 1
        if page.gap:
            self.gaps_reported += 1
        head = json.dumps(
            {"epoch": page.epoch, "first": page.first, "last": page.last, "gap": page.gap}
        )
        reply = head[:-1] + ',"readings":[' + ",".join(page.bodies) + "]}"
        self.router.send_multipart([identity, b"", reply.encode()])

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self.heartbeat_now()  # wake the poll
            self._thread.join(timeout=5)
        for sock in (self._in, self._out, self.pub, self.router):
            sock.close()
        self.reader.close()
