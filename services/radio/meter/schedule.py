"""When to ask the meter for what: one period per group of properties (keilog's ``requests``).

Groups that fall due together are asked in one Get.  A property is never asked again sooner
than the floor (10 s for a real meter), even when it sits in two groups.  After an outage the
schedule does not burst to catch up: each group is asked once and keeps its period from then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class _Group:
    epcs: tuple[int, ...]
    every: float
    next_at: float = 0.0


class Schedule:
    def __init__(self, groups: Iterable[tuple[Iterable[int], float]], floor: float) -> None:
        self.floor = floor
        self.groups = [_Group(tuple(epcs), max(float(every), floor)) for epcs, every in groups]
        self.skipped: set[int] = set()
        self._last: dict[int, float] = {}

    @property
    def epcs(self) -> list[int]:
        """Every property the schedule asks for, in the order the settings list them."""
        out: list[int] = []
        for g in self.groups:
            out += [e for e in g.epcs if e not in out]
        return out

    def start(self, now: float, fresh: Iterable[int] = ()) -> None:
        """A new session: everything is due now, except what was read just now."""
        fresh = set(fresh)
        for epc in fresh:
            self._last[epc] = now
        for g in self.groups:
            g.next_at = now + g.every if set(g.epcs) <= fresh else now

    def skip(self, epcs: Iterable[int]) -> None:
        """Properties the meter does not have: never asked for again (until :meth:`unskip`)."""
        self.skipped |= set(epcs)

    def unskip(self) -> None:
        self.skipped.clear()

    def due(self, now: float) -> list[int]:
        """What to ask for now (possibly nothing)."""
        out: list[int] = []
        for g in self.groups:
            if g.next_at > now:
                continue
            for epc in g.epcs:
                recent = now - self._last.get(epc, -1e18) < self.floor
                if epc not in self.skipped and epc not in out and not recent:
                    out.append(epc)
        return out

    def asked(self, now: float, epcs: Iterable[int], sent_at: float | None = None) -> None:
        """The groups due at ``now`` were asked (answered or not): each moves on by its period.

        ``sent_at`` is when the request really left (later than ``now`` when sends were held);
        the floor counts from there.
        """
        for epc in epcs:
            self._last[epc] = max(now, sent_at or now)
        for g in self.groups:
            if g.next_at <= now:
                g.next_at += g.every
                if g.next_at <= now:  # fell behind (an outage): no burst, one period from now
                    g.next_at = now + g.every

    def next_at(self) -> float | None:
        """When something can next be asked for; None when nothing is left to ask for."""
        times = []
        for g in self.groups:
            live = [e for e in g.epcs if e not in self.skipped]
            if live:
                allowed = min(self._last.get(e, -1e18) + self.floor for e in live)
                times.append(max(g.next_at, allowed))
        return min(times) if times else None
