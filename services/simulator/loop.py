"""One thread, one ``select``: the pty, the control socket and every delayed output.

Everything the simulator does happens on this loop, so the dongle, the meter and the fault
switches never need a lock.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import select
import time
from collections.abc import Callable

log = logging.getLogger("simulator.loop")


class Timer:
    __slots__ = ("cancelled", "fn", "when")

    def __init__(self, when: float, fn: Callable[[], None]) -> None:
        self.when = when
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    def __init__(self, tick_interval: float = 0.05) -> None:
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._readers: dict[int, Callable[[], None]] = {}
        self._writers: dict[int, Callable[[], None]] = {}
        self._tickers: list[Callable[[], None]] = []
        self._tick_interval = tick_interval
        self._next_tick = 0.0

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        timer = Timer(time.monotonic() + max(0.0, delay), fn)
        heapq.heappush(self._timers, (timer.when, next(self._order), timer))
        return timer

    def every_tick(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` about every ``tick_interval`` seconds (meter-time checks)."""
        self._tickers.append(fn)

    def add_reader(self, fd: int, fn: Callable[[], None]) -> None:
        self._readers[fd] = fn

    def remove_reader(self, fd: int) -> None:
        self._readers.pop(fd, None)

    def add_writer(self, fd: int, fn: Callable[[], None]) -> None:
        self._writers[fd] = fn

    def remove_writer(self, fd: int) -> None:
        self._writers.pop(fd, None)

    def run(self, stop: Callable[[], bool]) -> None:
        while not stop():
            self._run_due()
            now = time.monotonic()
            if now >= self._next_tick:
                self._next_tick = now + self._tick_interval
                for fn in list(self._tickers):
                    self._guarded(fn)
            timeout = max(0.0, min(0.2, self._next_tick - time.monotonic()))
            if self._timers:
                timeout = min(timeout, max(0.0, self._timers[0][0] - time.monotonic()))
            try:
                readable, writable, _ = select.select(
                    list(self._readers), list(self._writers), [], timeout
                )
            except (OSError, ValueError):
                # An fd closed under us (unplug); the next round has the new set.
                continue
            for fd in writable:
                fn = self._writers.get(fd)
                if fn:
                    self._guarded(fn)
            for fd in readable:
                fn = self._readers.get(fd)
                if fn:
                    self._guarded(fn)

    def _run_due(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self._guarded(timer.fn)

    @staticmethod
    def _guarded(fn: Callable[[], None]) -> None:
        # A bug in one handler must not take the whole simulated dongle down mid-test.
        try:
            fn()
        except Exception:
            log.exception("handler failed")
