"""The radio's loop: connect, read the meter on schedule, publish; on any failure, recover.

States (docs/radio.md has the diagram): waiting for the device → configuring the dongle →
scanning (unless a PAN is cached) → joining → joined, where identification, the schedule and
notifications run, with the send gate closed during re-authentication (EVENT 29) and the
transmission-time limit (EVENT 32).  Every way out of "joined" leads back up:

- a lost session (EVENT 26, a failed re-authentication) or a meter that stopped answering:
  SKTERM, a pause, join again (rescan when sessions keep bearing nothing);
- a port that failed (USB unplugged, EIO): close it, wait for the device path, reopen;
- a dongle that does not answer: close, back off, reopen.

Backoff is exponential with a cap and jitter, and starts over once readings flow.
:meth:`Poller._publish` is the one place readings are made.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from common.config import Config
from common.reading import Reading
from common.service import Stopper
from common.status import StatusReporter
from services.radio.backfill.runner import IDLE_LISTEN, Backfill
from services.radio.bus.broadcaster import Broadcaster
from services.radio.bus.journal import Journal
from services.radio.condition import RadioCondition, RadioFault, Stopping
from services.radio.link.port_lock import AlreadyRunning, take_lock
from services.radio.link.session import SessionLost
from services.radio.link.transport import PortLost, TransportError
from services.radio.meter.client import SCALING_EPCS, Answer, MeterClient, MeterLink, MeterTimeout
from services.radio.meter.notifications import Notifications, SeenHalfHours
from services.radio.meter.schedule import Schedule
from services.radio.timing import Backoff, Timing, timing_for

__all__ = ["AlreadyRunning", "Poller", "take_lock"]

log = logging.getLogger("radio")


class Poller:
    def __init__(
        self,
        config: Config,
        stopper: Stopper,
        journal: Journal,
        reporter: StatusReporter | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.config = config
        self.stopper = stopper
        self.journal = journal
        self.timing = timing or timing_for(config)
        self.broadcaster: Broadcaster | None = None
        self.condition = RadioCondition(reporter, on_change=self._cause_changed)
        self.schedule = Schedule(
            ((g.properties, g.every_seconds) for g in config.schedule), config.interval_floor
        )
        self.seen = SeenHalfHours()
        self.seen_minutes = SeenHalfHours(size=120)  # D0: an hour of both directions
        self.meter_key: str | None = None  # which meter this is (C0, else 8A + 8D)
        self.unsupported: set[int] = set()
        self._warned: set[int] = set()
        self._meter: MeterClient | None = None
        self.backfill = (
            Backfill(config, self.timing, self.condition, journal) if config.backfill else None
        )

    @property
    def cause(self) -> str:
        return self.condition.cause

    @property
    def published(self) -> int:
        return self.condition.counters.published

    def status(self) -> dict[str, object]:
        """What the heartbeat carries (read from the broadcaster's thread)."""
        return {
            "service": "radio",
            "epoch": self.journal.epoch,
            "seq": self.journal.last_seq,
            "cause": self.cause,
            "published": self.published,
            "journal_dropped": self.journal.dropped,
        }

    def _cause_changed(self) -> None:
        if self.broadcaster is not None:
            self.broadcaster.heartbeat_now()

    # --- the loop -----------------------------------------------------------------------------
    def run(self) -> None:
        connection = self._connection()
        backoff = Backoff(self.timing.backoff_first, self.timing.backoff_cap)
        sessions = 0
        lost_ports = 0  # PortLost in a row: a device that opens but fails at once must not spin
        try:
            while not self.stopper.stopped:
                delay = 0.0
                try:
                    link = connection.connect()
                    lost_ports = 0
                    if sessions:
                        self.condition.count(rejoins=1)
                    sessions += 1
                    self._serve(link, backoff)
                except Stopping:
                    break
                except SessionLost as exc:
                    log.warning("session lost: %s; joining again", exc)
                    delay = self._session_over(connection, backoff)
                except MeterTimeout as exc:
                    self.condition.set("meter-not-answering", str(exc))
                    delay = self._session_over(connection, backoff)
                except PortLost as exc:
                    self.condition.set("dongle-missing", str(exc))
                    connection.drop_port()
                    lost_ports += 1
                    delay = self.timing.device_poll if lost_ports == 1 else backoff.next()
                except RadioFault as exc:
                    self.condition.set(exc.cause, str(exc))
                    if exc.cause == "dongle-not-responding":
                        connection.drop_port()
                    delay = backoff.next()
                except TransportError as exc:  # a command that timed out or failed
                    self.condition.set("dongle-not-responding", str(exc))
                    connection.drop_port()
                    delay = backoff.next()
                if delay and not self.stopper.stopped:
                    log.info("trying again in %.1f s", delay)
                    self.stopper.wait(delay)
        finally:
            connection.close()
            if self.backfill is not None:
                self.backfill.close()
            self.condition.set("stopped")

    def _connection(self) -> Any:
        stopped = lambda: self.stopper.stopped  # noqa: E731 - read at every wait
        if self.config.dongle_driver == "keilog":
            from services.radio.link.keilog_driver import KeilogConnection

            return KeilogConnection(self.config, self.timing, self.condition, stopped)
        from services.radio.link.connection import Connection

        return Connection(self.config, self.timing, self.condition, stopped,
                          wake_fd=self.stopper.fileno())  # fmt: skip

    def _session_over(self, connection: Any, backoff: Backoff) -> float:
        answered = self._meter is not None and self._meter.answered > 0
        connection.session_ended(answered)
        self._meter = None
        # Straight back after a session that worked; back off when sessions bear nothing.
        return 0.0 if answered else backoff.next()

    # --- joined -------------------------------------------------------------------------------
    def _serve(self, link: MeterLink, backoff: Backoff) -> None:
        notifications = Notifications(link.send, self._notified)
        meter = MeterClient(
            link,
            self.timing,
            self.config.timezone,
            self.condition,
            unsolicited=lambda frame: notifications.handle(frame, meter.scaling),
        )
        self._meter = meter
        get_map = self._identify(meter)
        scaling = [e for e in SCALING_EPCS if e not in self.unsupported]
        answers, refused = meter.read(scaling) if scaling else ([], set())
        self._refused(refused)
        self._publish([a for a in answers if a.epc in self.schedule.epcs])
        self.schedule.start(time.monotonic(), fresh={a.epc for a in answers})
        self._joined(link)
        if self.backfill is not None:
            self.backfill.joined(get_map)
        backoff.reset()
        failures = 0
        while not self.stopper.stopped:
            now = time.monotonic()
            due = self.schedule.due(now)
            if not due:
                # Between the schedule's polls, one history request at a time (backfill.py).
                if self.backfill is not None and self.backfill.step(meter, self._publish):
                    continue
                next_at = self.schedule.next_at()
                cap = (self.backfill.listen_cap() if self.backfill is not None
                       else IDLE_LISTEN * self.timing.scale)  # fmt: skip
                meter.listen(max(0.01, min(cap, (next_at or now + cap) - now)))
                continue
            try:
                answers, refused = meter.read(due)
            except MeterTimeout as exc:
                failures += 1
                log.warning("%s (%d in a row)", exc, failures)
                if failures >= 2:  # one lost answer is radio life; two in a row are a problem
                    self.condition.set("meter-not-answering", f"{exc} ({failures} in a row)")
                if failures >= self.timing.failures_before_rejoin:
                    raise
            else:
                if failures:
                    self._joined(link)
                failures = 0
                self._refused(refused)
                self._publish(answers)
                self._link_details(link)
            self.schedule.asked(now, due, meter.last_sent_at)
        raise Stopping()

    def _identify(self, meter: MeterClient) -> frozenset[int] | None:
        ident = meter.identify()
        self.condition.detail(meter_maker=ident.maker, meter_serial=ident.serial,
                              meter_release=ident.release)  # fmt: skip
        log.info("meter: maker %s, serial %s, release %s", ident.maker, ident.serial,
                 ident.release)  # fmt: skip
        self.unsupported = set()
        self.schedule.unskip()
        if ident.get_map is not None:
            wanted = set(self.schedule.epcs) | set(SCALING_EPCS)
            self._refused({e for e in wanted if e not in ident.get_map}, "is not in its Get map")
        # C0 only from a meter that lists it (Release R): nothing is asked of one that does not.
        route_b = meter.route_b_id() if ident.get_map and 0xC0 in ident.get_map else None
        key = route_b.key() if route_b else ident.key()
        if self.meter_key is not None and key != self.meter_key:
            log.warning("this is another meter than before (%s, was %s)", key, self.meter_key)
        self.meter_key = key
        self.condition.detail(meter_id=route_b.masked() if route_b else None, meter_key=key)
        return ident.get_map

    def _refused(self, epcs: set[int], why: str = "refused it (Get_SNA)") -> None:
        if not epcs:
            return
        self.unsupported |= epcs
        self.schedule.skip(epcs)
        for epc in sorted(epcs - self._warned):
            log.warning("the meter %s: %02X; it will not be asked for", why, epc)
        self._warned |= epcs
        self.condition.detail(unsupported=[f"{e:02X}" for e in sorted(self.unsupported)])

    def _joined(self, link: MeterLink) -> None:
        self.condition.set("tx-limited" if link.held else "joined")
        self._link_details(link)

    def _link_details(self, link: MeterLink) -> None:
        lqi, rssi = getattr(link, "lqi", None), getattr(link, "rssi_dbm", None)
        if lqi is not None or rssi is not None:
            self.condition.detail(lqi=lqi, rssi_dbm=rssi)

    def _notified(self, found: list[tuple[int, list]]) -> None:
        now = datetime.now(self.config.timezone)
        self.condition.count(notifications=1)
        self._publish([Answer(epc, ms, now) for epc, ms in found], source="notify")

    # --- the one place readings are made ---------------------------------------------------------
    def _publish(self, answers: list[Answer], source: str = "poll") -> None:
        """Number the readings, journal them, then hand them to the broadcaster."""
        readings = []
        for answer in answers:
            for m in answer.measurements:
                if m.value is None:
                    continue
                seen = self.seen_minutes if answer.epc == 0xD0 else self.seen
                if m.ts is not None and not seen.first_time(answer.epc, m.ts, m.dataid):
                    continue  # this half-hour (minute) was published already (INF and poll…)
                when = m.ts.replace(tzinfo=self.config.timezone) if m.ts else answer.at
                if m.ts is not None and self.backfill and not self.backfill.fresh(answer.epc, when):
                    continue  # the slot ledger has it (before a restart, or read back)
                readings.append(
                    Reading(
                        seq=self.journal.next_seq(),
                        epoch=self.journal.epoch,
                        ts=_iso(when),
                        unitid=self.config.unitid,
                        epc=f"{answer.epc:02X}",
                        dataid=m.dataid,
                        value=m.value,
                        source=source,
                    )
                )
        if not readings:
            return
        if self.backfill is not None:
            self.backfill.recording(readings)  # the slot ledger first (see slot_ledger.py)
        self.journal.append(readings)
        if self.broadcaster is not None:
            self.broadcaster.publish([r.encode() for r in readings])
        self.condition.count(published=len(readings))
        self.condition.detail(last_reading_at=readings[-1].ts)
        log.debug("published seq %d..%d", readings[-1].seq - len(readings) + 1, readings[-1].seq)


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")
