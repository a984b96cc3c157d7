"""A pseudo-terminal that looks like the dongle's serial port, with a stable path to it.

One thread: ``select`` on the pty master, with the dongle's delayed outputs kept in a
time-ordered queue so nothing needs a lock.
"""

from __future__ import annotations

import heapq
import itertools
import os
import pty
import select
import time
import tty
from collections.abc import Callable
from pathlib import Path


class PtyLink:
    def __init__(self, link: Path) -> None:
        self.link = link
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)  # no echo, no CR/LF translation: bytes pass as on a UART
        self.slave_name = os.ttyname(self.slave)
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(link.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.slave_name)
        tmp.replace(link)  # atomic: a reader never sees a missing or half-made link
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._pending = bytearray()

    def schedule(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), fn))

    def write(self, data: bytes) -> None:
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        while self._pending:
            try:
                n = os.write(self.master, self._pending)
            except BlockingIOError:
                return
            del self._pending[:n]

    def serve(self, on_input: Callable[[bytes], None], stop: Callable[[], bool]) -> None:
        os.set_blocking(self.master, False)
        while not stop():
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn = heapq.heappop(self._timers)
                fn()
            timeout = 0.2
            if self._timers:
                timeout = min(timeout, max(0.0, self._timers[0][0] - time.monotonic()))
            wlist = [self.master] if self._pending else []
            readable, writable, _ = select.select([self.master], wlist, [], timeout)
            if writable:
                self._flush()
            if readable:
                try:
                    data = os.read(self.master, 4096)
                except BlockingIOError:
                    continue
                if data:
                    on_input(data)

    def close(self) -> None:
        if self.link.is_symlink() and os.readlink(self.link) == self.slave_name:
            self.link.unlink(missing_ok=True)
        os.close(self.master)
        os.close(self.slave)
