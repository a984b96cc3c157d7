"""After a restart or a power cut: make the slot ledger agree with what the writers can have.

The ledger is written before each EA/EB goes to the journal (slot_ledger.py), so it may claim
a half-hour that never got further:

- the radio alone restarted or was killed (the journal is the one the file was written for):
  if the journal ends before the readings of the file's last write, their half-hours are
  missing again; EA/EB the journal holds past the file (a write that failed) are marked;
- a power cut or a reboot took the journal (tmpfs) and whatever csv_rotator had not flushed:
  the recent marks are looked up in the CSV day files, the one record of what survived, and
  those it lacks are missing again, so they are read back (no hole), and no others (no
  half-hour twice).  Without the CSV, InfluxDB alone: all recent marks are read back, as
  InfluxDB takes a repeat for the same point.

The minute ledger (minute_ledger.py) is written now and then, not before each D0: after a
power cut the minutes since its last write are looked up in the CSV too (``lazy``).

The CSV is read in its public format (the keilog + Telegraf logger's, the one Telegraf reads):
``YYYYMMDD-smartmeter.csv`` per local day, rows ``timestamp,unitid,epc,dataid,value``.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, tzinfo
from pathlib import Path

from common.day_files import file_name
from common.reading import MalformedMessage, Reading
from services.radio.backfill.slot_ledger import (
    SLOT_SECONDS,
    Mark,
    SlotLedger,
    slot_of,
    slot_time,
)
from services.radio.bus.journal import Journal, JournalReader

log = logging.getLogger("radio.backfill")


def check(ledger: SlotLedger, journal: Journal, csv_dir: Path | None, tz: tzinfo,
          unitid: str, lazy: bool = False) -> None:  # fmt: skip
    """``lazy``: the ledger is not written before each reading is journaled, so after a lost
    journal the slots since its last write may be in the CSV without being in the file."""
    what = "/".join(ledger.kinds)
    if ledger.loaded and ledger.journal_epoch == journal.epoch:
        if journal.last_seq < ledger.journal_seq and ledger.last_publish:
            log.info("the last %d %s marked never reached the journal: read again",
                     len(ledger.last_publish), what)  # fmt: skip
            ledger.unmark(set(ledger.last_publish))
        since = ledger.journal_seq
    else:
        recent = ledger.recent()
        after = _since_saved(ledger) if lazy and ledger.loaded else set()
        kept = csv_holds(csv_dir, tz, unitid, recent | after, ledger) if csv_dir else set()
        if recent - kept:
            log.info("%d %s slots written just before the journal was lost are not in "
                     "the CSV: read again", len(recent - kept), what)  # fmt: skip
            ledger.unmark(recent - kept)
        found = [m for m in sorted(kept & after) if ledger.mark(*m)]
        if found:
            log.info("%d %s slots after the ledger's last write found in the CSV", len(found),
                     what)  # fmt: skip
        since = 0
    found = [m for m in journaled(journal, since, ledger) if ledger.mark(*m)]
    if found:
        log.info("%d %s slots marked again from the journal", len(found), what)
    ledger.save((journal.epoch, journal.last_seq))


def _since_saved(ledger: SlotLedger) -> set[Mark]:
    """The slots from the ledger's newest mark (less the recent margin) for two days on: what
    the CSV may hold that the file, written before them, does not.  Counted from the marks
    (meter time), not from this host's clock, which may be off."""
    newest = ledger.newest if ledger.newest is not None else ledger.since
    if newest is None:
        return set()
    first = newest - int(ledger.keep_recent // ledger.slot_seconds) - 1
    last = newest + 2 * 86400 // ledger.slot_seconds
    return {(k, s) for k in ledger.kinds for s in range(first, last + 1)}


def journaled(journal: Journal, since: int, ledger: SlotLedger) -> list[Mark]:
    """The ledger's slots (EA/EB half-hours, D0 minutes) of the journal's readings after
    ``since``."""
    needles = [f'"epc":"{k}"' for k in ledger.kinds]
    found: list[Mark] = []
    reader = JournalReader(journal.path)
    try:
        while bodies := reader.page(since, 2000).bodies:
            for body in bodies:
                if any(n in body for n in needles):
                    try:
                        r = Reading.decode(body.encode())
                    except MalformedMessage:
                        continue
                    if r.epc in ledger.kinds:
                        found.append((r.epc, ledger.slot_of(r.time)))
            since = json.loads(bodies[-1])["seq"]
    finally:
        reader.close()
    return found


def csv_holds(directory: Path, tz: tzinfo, unitid: str, marks: set[Mark],
              ledger: SlotLedger | None = None) -> set[Mark]:  # fmt: skip
    """The ``marks`` (EPC, slot) that have a row in the CSV file of their day (half-hours,
    or the slots of ``ledger``)."""
    seconds = ledger.slot_seconds if ledger is not None else SLOT_SECONDS
    by_day: dict[date, set[Mark]] = defaultdict(set)
    for epc, slot in marks:
        by_day[slot_time(slot, tz, seconds).date()].add((epc, slot))
    found: set[Mark] = set()
    for day, wanted in by_day.items():
        name = file_name(day)
        for path in (directory / name, directory / f"{name}.gz"):
            try:
                if path.suffix == ".gz":
                    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
                        found |= _rows(fh, unitid, wanted, seconds)
                else:
                    with path.open(encoding="utf-8", errors="replace") as fh:
                        found |= _rows(fh, unitid, wanted, seconds)
            except FileNotFoundError:
                continue
            except (OSError, EOFError) as exc:  # a torn gzip: what could be read counts
                log.warning("%s: %s", path, exc)
    return found


def _rows(lines: Iterable[str], unitid: str, wanted: set[Mark], seconds: int) -> set[Mark]:
    kinds = {epc for epc, _ in wanted}
    found: set[Mark] = set()
    for line in lines:
        fields = line.rstrip("\n").split(",")
        if len(fields) != 5 or fields[1] != unitid or fields[2] not in kinds:
            continue
        try:
            mark = (fields[2], slot_of(datetime.fromisoformat(fields[0]), seconds))
        except ValueError:
            continue  # a torn last line
        if mark in wanted:
            found.add(mark)
    return found
