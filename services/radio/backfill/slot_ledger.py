"""Which half-hours of EA/EB have a reading: the backfill's memory, ``$DATA/radio-slots.json``.

A slot is a half-hour boundary of the meter's clock (the time EA/EB and the history carry),
numbered ``POSIX seconds // 1800``.  For EA and EB apart the ledger knows the slots that have
a reading (*have*) and those the meter said it has no value for (*empty*, FFFFFFFE: examined,
not asked again).  It answers for the slots from ``since`` (installation, or the oldest the
meter still keeps) to now; what lies between ``since`` and now and is neither is *missing*.

It must survive a power cut (the journal, on tmpfs, does not) yet spare the SD card: the file
is small (a zlib-packed bitmap per EPC and kind over the meter's 100 days), rewritten
atomically (temp file, fsync, rename, fsync of the folder), and only when a reading of EA/EB
is about to be journaled (once a half-hour live, once a read while backfilling) or something
else changed.

Written *before* the journal, the file knows every half-hour a writer can have; the marks of
the last few minutes (*recent*: each kept at least ``keep_recent`` seconds) are
what may not have reached them.  After a restart of the radio alone the journal says
whether the last publish got in (``journal_seq``); after a power cut (a new journal) the
caller checks the recent marks against the CSV, the only record of what survived, and
:meth:`unmark` s the ones it lacks, so they are read back: no hole, and no half-hour twice.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import time
import zlib
from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from pathlib import Path

log = logging.getLogger("radio.backfill")

SLOT_SECONDS = 1800
EPCS = ("EA", "EB")
FILE_NAME = "radio-slots.json"
VERSION = 1
Mark = tuple[str, int]  # (EPC, slot)


def slot_of(when: datetime, seconds: int = SLOT_SECONDS) -> int:
    """The half-hour (or ``seconds``-long) slot ``when`` (aware) falls in."""
    return int(when.timestamp()) // seconds


def slot_time(slot: int, tz: tzinfo, seconds: int = SLOT_SECONDS) -> datetime:
    return datetime.fromtimestamp(slot * seconds, tz)


class SlotLedger:
    def __init__(
        self,
        path: Path,
        tz: tzinfo,
        keep_recent: float = 130.0,
        clock: Callable[[], float] = time.time,
        kinds: tuple[str, ...] = EPCS,
        slot_seconds: int = SLOT_SECONDS,
    ) -> None:
        self.path = path
        self.tz = tz
        self.kinds = kinds  # EA and EB; the minute ledger's D0 (minute_ledger.py)
        self.slot_seconds = slot_seconds
        self.keep_recent = keep_recent
        self.clock = clock
        self.since: int | None = None  # None: nothing tracked yet (a first start)
        self.have: dict[str, set[int]] = {e: set() for e in kinds}
        self.empty: dict[str, set[int]] = {e: set() for e in kinds}
        self.unrecoverable = 0  # slots lost for good (older than the meter's history)
        self.lost: tuple[int, int] | None = None  # the last such range (first, last slot)
        self.journal_epoch = ""
        self.journal_seq = 0  # the last seq of the readings the file was written for
        self.last_publish: set[Mark] = set()  # the marks of the write just before journaling
        self.writes = 0
        self.loaded = False  # a file was there (False on a first start)
        self._recent: set[Mark] = set()  # marks since _recent_at
        self._older: set[Mark] = set()  # the generation before
        self._recent_at = clock()
        self._dirty = False
        self._warned = False

    # --- what is covered ----------------------------------------------------------------------
    def slot_of(self, when: datetime) -> int:
        return slot_of(when, self.slot_seconds)

    def slot_time(self, slot: int) -> datetime:
        return slot_time(slot, self.tz, self.slot_seconds)

    def examined(self, epc: str, slot: int) -> bool:
        return slot in self.have[epc] or slot in self.empty[epc]

    def missing(self, first: int, last: int) -> dict[int, tuple[str, ...]]:
        """Slots from ``first`` (raised to ``since``) to ``last`` lacking EA or EB: which."""
        if self.since is None:
            return {}
        out: dict[int, tuple[str, ...]] = {}
        for slot in range(max(first, self.since), last + 1):
            lacking = tuple(e for e in self.kinds if not self.examined(e, slot))
            if lacking:
                out[slot] = lacking
        return out

    @property
    def newest(self) -> int | None:
        slots = set().union(*self.have.values())
        return max(slots) if slots else None

    def nodata(self) -> int:
        return len(set().union(*self.empty.values()))

    def recent(self) -> set[Mark]:
        """Marks written lately: perhaps not yet durable in the CSV and InfluxDB."""
        return self._recent | self._older

    # --- changing it --------------------------------------------------------------------------
    def start(self, slot: int) -> None:
        """A first start: the ledger answers for the slots from ``slot`` on."""
        if self.since is None:
            self.since = slot
            self._dirty = True
            log.info("%s starts at %s", self.path.name, self.slot_time(slot).isoformat())

    def mark(self, epc: str, slot: int) -> bool:
        """A reading for ``slot`` is being published."""
        if slot in self.have[epc]:
            return False
        if self.since is None:
            self.start(slot)
        self.have[epc].add(slot)
        self.empty[epc].discard(slot)
        now = self.clock()
        if now - self._recent_at >= self.keep_recent:  # a generation is old enough: rotate
            self._older, self._recent, self._recent_at = self._recent, set(), now
        self._recent.add((epc, slot))
        self._dirty = True
        return True

    def unmark(self, marks: set[Mark]) -> None:
        """These never reached the writers after all: missing again."""
        for epc, slot in marks:
            self.have[epc].discard(slot)
        self._recent -= marks
        self._older -= marks
        self.last_publish -= marks
        self._dirty = self._dirty or bool(marks)

    def mark_empty(self, epc: str, slot: int) -> None:
        """The meter has no value for ``slot``."""
        if slot not in self.have[epc] and slot not in self.empty[epc]:
            self.empty[epc].add(slot)
            self._dirty = True

    def reopen(self, first: int, last: int) -> int:
        """Ask again for what the meter had no value for between ``first`` and ``last``."""
        n = 0
        for e in self.kinds:
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
        lost = [s for s in range(self.since, oldest)
                if not all(self.examined(e, s) for e in self.kinds)]  # fmt: skip
        if lost:
            self.unrecoverable += len(lost)
            self.lost = (lost[0], lost[-1])
        if oldest > self.since:
            self.since = oldest
            self._dirty = True
        for sets in (self.have, self.empty):
            for e in self.kinds:
                sets[e] -= {s for s in sets[e] if s < oldest}
        return len(lost)

    # --- the file -----------------------------------------------------------------------------
    def save(self, journal: tuple[str, int], publishing: Iterable[Mark] = ()) -> bool:
        """Write the file if something changed; True if written.

        ``journal`` is the journal's epoch and the last seq the readings about to be
        journaled have (``publishing`` their marks).  A file that cannot be written (a full
        or read-only card) is logged once; the journal still tells on the next start.
        """
        if not self._dirty or self.since is None:
            return False
        self.journal_epoch, self.journal_seq = journal
        self.last_publish = set(publishing)
        try:
            self._write()
        except OSError as exc:
            if not self._warned:
                log.warning("cannot write %s (%s); the journal stands in for it", self.path, exc)
                self._warned = True
            return False
        self._dirty = False
        return True

    def _write(self) -> None:
        assert self.since is not None
        base = self.since
        body = {
            "v": VERSION,
            "since": self.slot_time(base).isoformat(),
            "newest": self._iso(self.newest),
            "slots": self.slot_seconds,
            **{e: self._bitmaps(e, base) for e in self.kinds},
            "unrecoverable": self.unrecoverable,
            "lost": [self._iso(s) for s in self.lost] if self.lost else None,
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

    def _bitmaps(self, epc: str, base: int) -> dict[str, str]:
        return {
            "have": _pack(self.have[epc], base),
            "empty": _pack(self.empty[epc], base),
            "recent": _pack({s for e, s in self.recent() if e == epc}, base),
            "last": _pack({s for e, s in self.last_publish if e == epc}, base),
        }

    def _iso(self, slot: int | None) -> str | None:
        return None if slot is None else self.slot_time(slot).isoformat()

    def load(self) -> SlotLedger:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("v") != VERSION:
                raise ValueError(f"version {data.get('v')!r}")
            if data.get("slots", SLOT_SECONDS) != self.slot_seconds:
                raise ValueError(f"slots of {data.get('slots')!r} s")
            since = self.slot_of(datetime.fromisoformat(data["since"]))
            for e in self.kinds:
                self.have[e] = _unpack(data[e]["have"], since)
                self.empty[e] = _unpack(data[e]["empty"], since)
                self._older |= {(e, s) for s in _unpack(data[e].get("recent", ""), since)}
                self.last_publish |= {(e, s) for s in _unpack(data[e].get("last", ""), since)}
            self.unrecoverable = int(data.get("unrecoverable", 0))
            lost = data.get("lost")
            if lost:
                self.lost = (self.slot_of(datetime.fromisoformat(lost[0])),
                             self.slot_of(datetime.fromisoformat(lost[1])))  # fmt: skip
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


def _pack(slots: set[int], base: int) -> str:
    slots = {s for s in slots if s >= base}
    if not slots:
        return ""
    bits = bytearray((max(slots) - base) // 8 + 1)
    for s in slots:
        i = s - base
        bits[i // 8] |= 1 << (i % 8)
    return base64.b64encode(zlib.compress(bytes(bits), 9)).decode("ascii")


def _unpack(text: str, base: int) -> set[int]:
    if not text:
        return set()
    bits = zlib.decompress(base64.b64decode(text, validate=True))
    return {base + i * 8 + b for i, byte in enumerate(bits) for b in range(8) if byte & (1 << b)}
