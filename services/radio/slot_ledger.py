"""Which half-hours of EA/EB have a reading: the backfill's memory, ``$DATA/radio-slots.json``.

A slot is a half-hour boundary of the meter's clock (the time EA/EB and the history carry),
numbered ``POSIX seconds // 1800``.  For EA and EB apart the ledger knows the slots that have
a reading (*have*) and those the meter said it has no value for (*empty*, FFFFFFFE: examined,
not asked again).  It answers for the slots from ``since`` (installation, or the oldest the
meter still keeps) to now; what lies between ``since`` and now and is neither is *missing*.

It must survive a power cut (the journal, on tmpfs, does not) yet spare the SD card: the file
is small (a zlib-packed bitmap per EPC and kind over the meter's 100 days), rewritten
atomically (temp file, fsync, rename, fsync of the folder) only when it changed, and no more
often than every ``min_gap`` seconds.

A *have* mark is written only once the writers have had time to make that reading durable
themselves (``storage.flush_interval_seconds`` + a margin, ``durable_after``): were the
file to say "have" for a reading the CSV lost in the same power cut, that hole would never be
filled.  Until then the mark lives in memory.  If only the radio dies (kill -9), the journal
still holds those readings, and :meth:`SlotLedger.recover` marks them again from the seq the
file was written at.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

log = logging.getLogger("radio.backfill")

SLOT_SECONDS = 1800
EPCS = ("EA", "EB")
FILE_NAME = "radio-slots.json"
VERSION = 1


def slot_of(when: datetime) -> int:
    """The half-hour slot ``when`` (aware) falls in."""
    return int(when.timestamp()) // SLOT_SECONDS


def slot_time(slot: int, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(slot * SLOT_SECONDS, tz)


@dataclass(frozen=True)
class _Pending:
    at: float  # monotonic time it was marked
    epc: str
    slot: int
    seq: int  # the journal seq of the reading


class SlotLedger:
    def __init__(
        self,
        path: Path,
        tz: tzinfo,
        durable_after: float = 65.0,
        min_gap: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.tz = tz
        self.durable_after = durable_after
        self.min_gap = min_gap
        self.clock = clock
        self.since: int | None = None  # None: nothing tracked yet (a first start)
        self.have: dict[str, set[int]] = {e: set() for e in EPCS}  # in memory, pending included
        self.empty: dict[str, set[int]] = {e: set() for e in EPCS}
        self.unrecoverable = 0  # slots lost for good (older than the meter's history)
        self.lost: tuple[int, int] | None = None  # the last such range (first, last slot)
        self.journal_epoch = ""
        self.journal_seq = 0  # every "have" of a reading up to this seq is in the file
        self.writes = 0
        self._durable: dict[str, set[int]] = {e: set() for e in EPCS}
        self._pending: deque[_Pending] = deque()
        self._dirty = False
        self._last_write = -1e18
        self.loaded = False  # a file was there (False on a first start)

    # --- what is covered ----------------------------------------------------------------------
    def examined(self, epc: str, slot: int) -> bool:
        return slot in self.have[epc] or slot in self.empty[epc]

    def missing(self, first: int, last: int) -> dict[int, tuple[str, ...]]:
        """Slots from ``first`` (raised to ``since``) to ``last`` lacking EA or EB: which."""
        if self.since is None:
            return {}
        out: dict[int, tuple[str, ...]] = {}
        for slot in range(max(first, self.since), last + 1):
            lacking = tuple(e for e in EPCS if not self.examined(e, slot))
            if lacking:
                out[slot] = lacking
        return out

    @property
    def newest(self) -> int | None:
        slots = self.have["EA"] | self.have["EB"]
        return max(slots) if slots else None

    def nodata(self) -> int:
        return len(self.empty["EA"] | self.empty["EB"])

    # --- marking ------------------------------------------------------------------------------
    def start(self, slot: int) -> None:
        """A first start: the ledger answers for the slots from ``slot`` on."""
        if self.since is None:
            self.since = slot
            self._dirty = True
            log.info("slot ledger starts at %s", slot_time(slot, self.tz).isoformat())

    def mark(self, epc: str, slot: int, seq: int) -> bool:
        """A reading for ``slot`` was journaled (durable in the file after ``durable_after``)."""
        if slot in self.have[epc]:
            return False
        if self.since is None:
            self.start(slot)
        self.have[epc].add(slot)
        self.empty[epc].discard(slot)
        self._pending.append(_Pending(self.clock(), epc, slot, seq))
        return True

    def mark_empty(self, epc: str, slot: int) -> None:
        """The meter has no value for ``slot``: nothing for a writer to lose, durable at once."""
        if slot not in self.have[epc] and slot not in self.empty[epc]:
            self.empty[epc].add(slot)
            self._dirty = True

    def reopen(self, first: int, last: int) -> int:
        """Ask again for what the meter had no value for between ``first`` and ``last``."""
        n = 0
        for e in EPCS:
            again = {s for s in self.empty[e] if first <= s <= last}
            self.empty[e] -= again
            n += len(again)
        self._dirty = self._dirty or n > 0
        return n

    def extend(self, first: int) -> None:
        """Answer for the slots from ``first`` too (``smartmeterctl backfill --days``)."""
        if self.since is None or first < self.since:
            self.since = first
            self._dirty = True

    def prune(self, oldest: int) -> int:
        """Slots before ``oldest`` are out of the meter's reach: count what they lacked."""
        if self.since is None:
            return 0
        lost = [s for s in range(self.since, oldest) if not all(self.examined(e, s) for e in EPCS)]
        if lost:
            self.unrecoverable += len(lost)
            self.lost = (lost[0], lost[-1])
        if oldest > self.since:
            self.since = oldest
            self._dirty = True
        for sets in (self.have, self.empty, self._durable):
            for e in EPCS:
                old = {s for s in sets[e] if s < oldest}
                sets[e] -= old
        return len(lost)

    # --- durability ---------------------------------------------------------------------------
    def flush(self, journal: tuple[str, int], force: bool = False) -> bool:
        """Write the file if something became durable or changed; True if it was written.

        ``journal`` is the journal's (epoch, last seq) now.  ``force`` (a clean stop) takes
        every mark as durable: the writers are stopped after the radio and flush as they go.
        """
        now = self.clock()
        if not force and now - self._last_write < self.min_gap:
            return False
        promoted = False
        while self._pending and (force or now - self._pending[0].at >= self.durable_after):
            p = self._pending.popleft()
            if p.slot in self.have[p.epc]:  # not pruned meanwhile
                self._durable[p.epc].add(p.slot)
            promoted = True
        if not (promoted or self._dirty):
            return False
        epoch, last_seq = journal
        self.journal_epoch = epoch
        self.journal_seq = min(p.seq for p in self._pending) - 1 if self._pending else last_seq
        self._write()
        self._dirty = False
        self._last_write = now
        return True

    def _write(self) -> None:
        assert self.since is not None
        base = self.since
        body = {
            "v": VERSION,
            "since": slot_time(base, self.tz).isoformat(),
            "newest": _iso(self.newest, self.tz),
            "slots": SLOT_SECONDS,
            **{
                e: {"have": _pack(self._durable[e], base), "empty": _pack(self.empty[e], base)}
                for e in EPCS
            },
            "unrecoverable": self.unrecoverable,
            "lost": [_iso(s, self.tz) for s in self.lost] if self.lost else None,
            "journal": {"epoch": self.journal_epoch, "seq": self.journal_seq},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(body, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.writes += 1

    def load(self) -> SlotLedger:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("v") != VERSION:
                raise ValueError(f"version {data.get('v')!r}")
            since = slot_of(datetime.fromisoformat(data["since"]))
            for e in EPCS:
                self._durable[e] = _unpack(data[e]["have"], since)
                self.have[e] = set(self._durable[e])
                self.empty[e] = _unpack(data[e]["empty"], since)
            self.unrecoverable = int(data.get("unrecoverable", 0))
            lost = data.get("lost")
            if lost:
                self.lost = (slot_of(datetime.fromisoformat(lost[0])),
                             slot_of(datetime.fromisoformat(lost[1])))  # fmt: skip
            self.journal_epoch = str(data.get("journal", {}).get("epoch", ""))
            self.journal_seq = int(data.get("journal", {}).get("seq", 0))
            self.since = since
            self.loaded = True
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, AttributeError, zlib.error) as exc:
            # Never crash-loop on a bad file: set it aside and start afresh (like a new install).
            stamp = time.strftime("%Y%m%dT%H%M%S")
            log.error("%s is unreadable (%s); moved aside, starting afresh", self.path, exc)
            with contextlib.suppress(OSError):
                self.path.rename(self.path.with_name(f"{self.path.name}.corrupt-{stamp}"))
        return self

    def recover(self, readings: Iterable[tuple[int, str, int]]) -> int:
        """Mark again (seq, epc, slot) of EA/EB readings the journal holds past the file."""
        n = 0
        for seq, epc, slot in readings:
            if epc in EPCS and (self.since is None or slot >= self.since):
                n += self.mark(epc, slot, seq)
        return n


def _pack(slots: set[int], base: int) -> str:
    if not slots:
        return ""
    top = max(slots) - base
    bits = bytearray(top // 8 + 1)
    for s in slots:
        if s >= base:
            i = s - base
            bits[i // 8] |= 1 << (i % 8)
    return base64.b64encode(zlib.compress(bytes(bits), 9)).decode("ascii")


def _unpack(text: str, base: int) -> set[int]:
    if not text:
        return set()
    bits = zlib.decompress(base64.b64decode(text, validate=True))
    return {base + i * 8 + b for i, byte in enumerate(bits) for b in range(8) if byte & (1 << b)}


def _iso(slot: int | None, tz: tzinfo) -> str | None:
    return None if slot is None else slot_time(slot, tz).isoformat()
