"""Open the port, join, poll on schedule, publish; on any failure close and start over."""

from __future__ import annotations

import fcntl
import logging
import os
import random
import time
from datetime import datetime
from pathlib import Path

import serial

from common.config import Config
from common.reading import Reading
from common.service import Stopper
from services.radio.broadcaster import Broadcaster
from services.radio.dialect import DIALECTS
from services.radio.journal import Journal
from services.radio.meter import Answer, MeterClient, MeterTimeout
from services.radio.session import Session, SessionError
from services.radio.transport import SkStackTransport, TransportError

log = logging.getLogger("radio")


class AlreadyRunning(Exception):
    pass


def take_lock(runtime_dir: Path) -> int:
    """An exclusive lock: a second radio would silently take over the ipc endpoint."""
    runtime_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(runtime_dir / "radio.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(f"another radio holds {runtime_dir / 'radio.lock'}") from None
    return fd


class Backoff:
    """Exponential delay with jitter between reconnection attempts."""

    def __init__(self, first: float = 5.0, cap: float = 300.0) -> None:
        self.first, self.cap, self.attempt = first, cap, 0

    def next(self) -> float:
        delay = min(self.cap, self.first * 2**self.attempt)
        self.attempt += 1
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.attempt = 0


class Poller:
    def __init__(self, config: Config, stopper: Stopper, journal: Journal) -> None:
        self.config = config
        self.stopper = stopper
        self.journal = journal
        self.broadcaster: Broadcaster | None = None
        self.cause = "starting"
        self.published = 0

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

    def run(self) -> None:
        backoff = Backoff()
        while not self.stopper.stopped:
            try:
                self._one_session(backoff)
            except SessionError as exc:
                self._set_cause(exc.cause, str(exc))
            except (TransportError, MeterTimeout) as exc:
                self._set_cause("dongle-not-responding", str(exc))
            if self.stopper.stopped:
                break
            delay = backoff.next()
            log.info("starting over in %.0f s", delay)
            self.stopper.wait(delay)

    def _set_cause(self, cause: str, message: str) -> None:
        self.cause = cause
        log.error("%s: %s", cause, message)

    def _wait_for_device(self) -> Path:
        device = self.config.serial_device
        reported = False
        while not device.exists():
            if not reported:
                self._set_cause(
                    "dongle-missing",
                    f"no dongle at {device}; plug it in or fix SERIAL_PORT in the .env file",
                )
                reported = True
            if self.stopper.wait(1.0):
                raise SessionError("stopping", "stopping")
        return device

    def _one_session(self, backoff: Backoff) -> None:
        device = self._wait_for_device()
        try:
            port = serial.Serial(str(device), 115200, timeout=0.5, exclusive=True)
        except (serial.SerialException, OSError) as exc:
            raise SessionError("dongle-missing", f"cannot open {device}: {exc}") from exc
        with port:
            port.reset_input_buffer()
            model = self.config.dongle_model
            transport = SkStackTransport(port, DIALECTS.get(model, DIALECTS["rl7023-ips"]))
            session = Session(transport, self.config)
            session.configure()
            self.cause = "scanning"
            pan = session.scan()
            ip = session.join(pan)
            self.cause = "joined"
            backoff.reset()
            try:
                self._poll(MeterClient(transport, ip, self.config.timezone))
            finally:
                session.terminate()

    def _poll(self, meter: MeterClient) -> None:
        wanted = list(self.config.properties)
        scaling = [a for a in meter.read_scaling() if a.epc in wanted]
        self._publish(scaling)
        fresh = {a.epc for a in scaling}  # the first poll need not ask for these again
        interval = self.config.interval_seconds
        next_at = time.monotonic()
        failures = 0
        while not self.stopper.stopped:
            epcs = [e for e in wanted if e not in meter.refused and e not in fresh]
            fresh = set()
            if epcs:
                try:
                    self._publish(meter.poll(epcs))
                    failures = 0
                except MeterTimeout as exc:
                    failures += 1
                    log.warning("%s (%d in a row)", exc, failures)
                    if failures >= 3:
                        raise SessionError("meter-not-answering", str(exc)) from exc
            next_at += interval
            if next_at < time.monotonic():  # fell behind (slow answers): do not burst
                next_at = time.monotonic() + interval
            self.stopper.wait(max(0.0, next_at - time.monotonic()))

    def _publish(self, answers: list[Answer]) -> None:
        """Number the readings, journal them, then hand them to the broadcaster."""
        readings = []
        for answer in answers:
            for m in answer.measurements:
                if m.value is None:
                    continue
                when = m.ts.replace(tzinfo=self.config.timezone) if m.ts else answer.at
                readings.append(
                    Reading(
                        seq=self.journal.next_seq(),
                        epoch=self.journal.epoch,
                        ts=_iso(when),
                        unitid=self.config.unitid,
                        epc=f"{answer.epc:02X}",
                        dataid=m.dataid,
                        value=m.value,
                    )
                )
        if not readings:
            return
        self.journal.append(readings)
        if self.broadcaster is not None:
            self.broadcaster.publish([r.encode() for r in readings])
        self.published += len(readings)
        log.debug("published seq %d..%d", readings[0].seq, readings[-1].seq)


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")
