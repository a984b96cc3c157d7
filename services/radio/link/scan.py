"""Active scan for our meter: durations 6 → 7 → 8, PairID filter, best LQI first.

A beacon is announced by ``EVENT 20`` and described by an ``EPANDESC`` block; ``EVENT 22``
ends the scan.  Some firmware prints the blocks after ``EVENT 22`` (hsakoh reads on for
500 ms), so the scan waits a little longer while fewer blocks than beacons have come.
The meter we may join is the one whose ``PairID`` is the last 8 characters of the B-route ID
(the neighbours' meters answer a scan too).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from services.radio.condition import RadioFault, Stopping
from services.radio.link.dialect import Dialect
from services.radio.link.sk_reader import Event
from services.radio.link.transport import CommandFailed, DongleTimeout, SkTransport
from services.radio.timing import Timing

log = logging.getLogger("radio.scan")

EVENT_BEACON = 0x20
EVENT_SCAN_DONE = 0x22
SCAN_DURATIONS = (6, 7, 8)


@dataclass(frozen=True)
class PanDescriptor:
    channel: int
    pan_id: int
    mac: str
    lqi: int
    pair_id: str | None

    @classmethod
    def parse(cls, fields: dict[str, str]) -> PanDescriptor:
        return cls(
            channel=int(fields["Channel"], 16),
            pan_id=int(fields["Pan ID"], 16),
            mac=fields["Addr"].upper(),
            lqi=int(fields.get("LQI", "0"), 16),
            pair_id=fields.get("PairID"),
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def __str__(self) -> str:
        return f"channel {self.channel:02X}, PAN {self.pan_id:04X}, LQI {self.lqi}"


def choose(found: list[PanDescriptor], pair_id: str) -> PanDescriptor | None:
    """Ours by PairID, best LQI first; a PAN without PairID only when none matches."""
    ours = [p for p in found if p.pair_id and p.pair_id.upper() == pair_id.upper()]
    if not ours:
        ours = [p for p in found if not p.pair_id]
    return max(ours, key=lambda p: p.lqi) if ours else None


def active_scan(
    t: SkTransport,
    dialect: Dialect,
    pair_id: str,
    timing: Timing,
    stopped: Callable[[], bool] = lambda: False,
) -> PanDescriptor:
    """Raises :class:`RadioFault` ``no-meter-found`` after the longest duration found nothing."""
    seen: list[PanDescriptor] = []
    for duration in SCAN_DURATIONS:
        if stopped():
            raise Stopping()
        found = _scan_once(t, dialect, duration, timing, stopped)
        best = choose(found, pair_id)
        if best is not None:
            log.info("found the meter: %s (%d PAN(s) heard)", best, len(found))
            return best
        seen += found
        log.info(
            "scan with duration %d heard %d PAN(s), none with PairID %s",
            duration, len(found), pair_id,
        )  # fmt: skip
    others = f"; {len(seen)} other meter(s) heard, none ours" if seen else ""
    raise RadioFault("no-meter-found", f"no PAN with PairID {pair_id} answered{others}")


def _scan_once(
    t: SkTransport,
    dialect: Dialect,
    duration: int,
    timing: Timing,
    stopped: Callable[[], bool],
) -> list[PanDescriptor]:
    try:
        t.command(dialect.scan_command(duration), timing.command)
    except CommandFailed as exc:
        raise RadioFault(
            "dongle-not-responding",
            f"the dongle refused SKSCAN ({exc.code}); if dongle.model is set, try auto",
        ) from exc
    deadline = time.monotonic() + timing.scan_wait(duration)
    found: list[PanDescriptor] = []
    beacons = 0
    block: dict[str, str] | None = None
    done_at: float | None = None
    while not stopped():
        now = time.monotonic()
        if done_at is not None and ((block is None and beacons <= len(found)) or now > done_at):
            break
        if done_at is None and now > deadline:
            raise DongleTimeout(f"the scan did not finish within {timing.scan_wait(duration):g} s")
        item = t.read_item(max(0.01, min(0.2, (done_at or deadline) - now)))
        if isinstance(item, Event):
            block = _close(block, found)
            if item.code == EVENT_BEACON:
                beacons += 1
            elif item.code == EVENT_SCAN_DONE:
                done_at = time.monotonic() + timing.late_epandesc
            else:
                t.pending.append(item)
        elif isinstance(item, str):
            if item.startswith("EPANDESC"):
                block = _close(block, found) or {}
            elif block is not None and item.startswith(" ") and ":" in item:
                key, _, value = item.strip().partition(":")
                block[key.strip()] = value.strip()
                if key.strip() == "PairID":  # the last line of a mode-2 block
                    block = _close(block, found)
            elif block is not None and not item.startswith(" "):
                block = _close(block, found)
        elif item is not None:
            t.pending.append(item)
    _close(block, found)
    return found


def _close(block: dict[str, str] | None, found: list[PanDescriptor]) -> None:
    """Finish a block (it ends at the next non-indented line or event)."""
    if block:
        try:
            found.append(PanDescriptor.parse(block))
        except (KeyError, ValueError):
            log.warning("incomplete EPANDESC block %r; ignored", block)
    return None
