"""The publisher's loop: readings off the bus → the stream and Home Assistant's state.

One thread reads the bus and decides what to publish; the link's thread (link.py) talks to
the broker.  While the broker is away nothing is taken off the bus: the readings wait in
the radio's journal, and the subscriber catches up from the stream's cursor when it is back.
"""

from __future__ import annotations

import json
import logging
import os
import random
import select
import time
import uuid
from typing import Any

from common.bus import CatchUpSubscriber
from common.config import Config
from common.health_client import health_url
from common.service import Stopper
from common.status import STATUS_INTERVAL, StatusReporter
from common.version import package_version
from services.mqtt_publisher.diagnostics import Diagnostics
from services.mqtt_publisher.ha_discovery import (
    LAST_READING,
    PROBLEM,
    RADIO,
    discovery_payload,
    entities_for,
)
from services.mqtt_publisher.latest import LatestState
from services.mqtt_publisher.link import OFFLINE, ONLINE, BrokerLink
from services.mqtt_publisher.stream import Stream
from services.mqtt_publisher.topics import Topics, slug

log = logging.getLogger("mqtt_publisher")

CURSOR_FILE = "mqtt_publisher.cursor.json"  # runtime dir, next to the journal
IDENTITY_FILE = "mqtt_meter.json"  # data dir: the device id survives reboots
# How often /health is asked (LQI/RSSI, the problem sensor), and at once when the radio's
# cause changes.  Each answer costs the health service a verdict and supervisord an XML-RPC
# call: every 30 s was a third of the CPU the whole logger may use (docs/benchmarks.md).
# The test suite sets less.
DIAGNOSTICS_EVERY = float(os.environ.get("SMARTMETER_MQTT_DIAGNOSTICS_INTERVAL") or 300.0)
IDENTITY_EVERY = min(15.0, DIAGNOSTICS_EVERY)
ANNOUNCE_DELAY = (1.0, 5.0)  # after HA's birth message: spread the re-announcements
LAST_READING_EVERY = 60.0  # the "last reading" diagnostic: each is a row in HA's history
LOG_EVERY = 60.0


class Publisher:
    def __init__(self, config: Config, stopper: Stopper, reporter: StatusReporter) -> None:
        m = config.mqtt
        self.config, self.stopper, self.reporter = config, stopper, reporter
        self.topics = Topics.of(m.topic_prefix, config.unitid, m.discovery_prefix)
        self.stream = Stream(self.topics.readings, config.paths.runtime_dir / CURSOR_FILE)
        paths = config.paths
        self.sub = CatchUpSubscriber(
            paths.readings_endpoint, paths.replay_endpoint, self.stream.rewind()
        )
        self.latest = LatestState()
        self.diag = Diagnostics(health_url(config.health.bind, config.health.port),
                                config.unitid, config.paths.data_dir / IDENTITY_FILE)  # fmt: skip
        self._secret = m.password.reveal() if m.password else ""
        self._cause = ("", 0.0)
        self.link = BrokerLink(
            m, f"smartmeter-{slug(config.unitid)}-{uuid.uuid4().hex[:6]}",
            self.topics.availability,
            (self.topics.ha_status,) if m.discovery else (), self._report,
        )  # fmt: skip
        self.session = 0
        self.announce_at: float | None = None
        self.announced: tuple[str, tuple[str, ...]] | None = None
        self.announcements = 0
        self.shown: dict[str, str] = {}  # topic → the retained payload last published
        self.next_diagnostics = 0.0
        self.next_count = 0.0
        self.last_reading_due: float | None = None  # the "last reading" state is to be sent
        self.last_reading_next = 0.0  # ... not before this
        self._beat: dict[str, Any] | None = None
        self.version = package_version()  # the origin block

    # --- condition ----------------------------------------------------------------------------
    def _report(self, cause: str, message: str) -> None:
        """The link's news (from its thread): never fail, the logger goes on without MQTT."""
        if self._secret:
            message = message.replace(self._secret, "***")
        self.reporter.set("pass" if cause == "ok" else "warn", cause, message)
        self.reporter.detail(connected=cause == "ok")
        last, at = self._cause
        now = time.monotonic()
        if cause != last or now - at >= LOG_EVERY:
            self._cause = (cause, now)
            (log.info if cause == "ok" else log.warning)("%s: %s", cause, message)

    def _count(self) -> None:
        c, s = self.sub.counters, self.stream
        self.reporter.count(
            published=s.sent, acknowledged=s.acknowledged, in_flight=len(s.in_flight),
            seq=s.acked.seq, announcements=self.announcements, reconnects=self.link.reconnects,
            catch_ups=c.catch_ups, lost=c.lost, malformed=c.malformed,
        )  # fmt: skip
        identity = self.diag.identity
        self.reporter.detail(
            broker=self.config.mqtt.where, connected=self.link.connected.is_set(),
            topic=self.topics.base, device_id=identity.device_id if identity else None,
            last_ack=None if s.last_ack is None else time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(s.last_ack)),
        )  # fmt: skip

    # --- the loop -----------------------------------------------------------------------------
    def run(self) -> None:
        self.reporter.set("warn", "connecting", f"connecting to {self.config.mqtt.where}")
        self.link.start()
        wakes = (self.stopper.fileno(), self.link.waker.fileno())
        try:
            while not self.stopper.stopped:
                self.link.waker.drain()
                self._link_news()
                timeout = self._timeout()
                room = not self.stream.full
                # PUBACKs wake this loop only while it waits for room; otherwise they are
                # settled at the next wake (a heartbeat comes every 5 s).
                self.link.wake_on_ack = not room
                if self.link.connected.is_set() and room:
                    readings = self.sub.poll(int(timeout * 1000), wake=wakes)
                    self._take(readings)
                else:
                    select.select(wakes, [], [], timeout)
                if not self.stream.settle():
                    self.sub.cursor = self.stream.rewind()
                    self.sub.need_catch_up = True
                self.stream.save()
                self._housekeeping()
        finally:
            self.stream.settle()
            self.stream.save(force=True)
            self._count()
            self.link.stop()
            self.sub.close()

    def _timeout(self) -> float:
        now = time.monotonic()
        due = [self.next_diagnostics]
        if self.announce_at is not None:
            due.append(self.announce_at)
        if self.shown.get(self.topics.meter) == ONLINE:
            due.append(self.diag.stale_at())  # a radio gone silent: the meter goes offline
        if self.last_reading_due is not None:
            due.append(self.last_reading_due)
        return max(0.0, min(due) - now)

    def _take(self, readings: list[Any]) -> None:
        beat = self.sub.last_heartbeat
        if beat is not None and beat is not self._beat:
            self._beat = beat
            before = self.diag.radio_cause
            self.diag.beat(beat)
            if self.diag.radio_cause != before:
                self.next_diagnostics = 0.0  # the verdict changes with it: ask now
        for reading in readings:
            self.stream.send(reading, self.link.publish)
            self.latest.offer(reading)
        # After an outage the backlog comes in pages: state only once it is through, and
        # then only the newest value of each entity (latest.py).
        if not self.sub.need_catch_up and self.latest.pending:
            for key, payload in self.latest.take():
                self._show(self.topics.state(key), payload)
            if self.last_reading_due is None:
                self.last_reading_due = max(time.monotonic(), self.last_reading_next)
        self._show_meter()

    def _link_news(self) -> None:
        if self.link.sessions != self.session:
            self.session = self.link.sessions
            self.shown.clear()  # a new session: the broker may have lost what it retained
            self.announced = None
            self.next_diagnostics = 0.0
            for key, payload in self.latest.everything():
                self._show(self.topics.state(key), payload)
            if self.latest.newest is not None:
                self.last_reading_due = time.monotonic()
        for topic, payload in self.link.take_messages():
            if topic == self.topics.ha_status and payload.strip().lower() == b"online":
                # HA restarted: announce again, after a short random delay so that a house
                # of devices does not answer all at once.
                self.announce_at = time.monotonic() + random.uniform(*ANNOUNCE_DELAY)
                log.info("Home Assistant came online; announcing the meter again")

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now >= self.next_count:
            self.next_count = now + STATUS_INTERVAL
            self._count()
        connected = self.link.connected.is_set()
        if now >= self.next_diagnostics:
            # Until the meter's identity is known (once per install: it is kept on disk),
            # ask more often: the radio reports it a status interval after it joined.
            known = self.diag.identity is not None or not self.config.mqtt.discovery
            self.next_diagnostics = now + (DIAGNOSTICS_EVERY if known else IDENTITY_EVERY)
            if connected:
                self.diag.refresh()
                self._show_diagnostics()
            if connected:
                self._announce()  # the identity or the LQI/RSSI may be new
        if connected:
            self._show_meter()
            if self.announce_at is not None and now >= self.announce_at:
                self.announce_at = None
                self.announced = None
                self._announce()

    # --- what HA sees -------------------------------------------------------------------------
    def _show(self, topic: str, payload: str) -> None:
        """Publish a retained state if it changed (and only while connected).  QoS 0: only
        the latest matters, and a new session publishes every state again anyway."""
        if not self.link.connected.is_set() or self.shown.get(topic) == payload:
            return
        self.link.publish(topic, payload, 0, True)
        self.shown[topic] = payload

    def _show_meter(self) -> None:
        if not self.link.connected.is_set():
            return
        readable = self.diag.meter_readable()
        due = self.last_reading_due
        if due is not None and (time.monotonic() >= due or not readable):
            # The time of the last reading, at most once a minute (each is a row in HA's
            # history), and at once when the meter stops answering.
            newest = self.latest.newest
            if newest is not None:
                self._show(self.topics.state(LAST_READING.key), newest.ts)
            self.last_reading_due = None
            self.last_reading_next = time.monotonic() + LAST_READING_EVERY
        self._show(self.topics.meter, ONLINE if readable else OFFLINE)
        self._show(self.topics.state(RADIO.key), self.diag.radio_state())

    def _show_diagnostics(self) -> None:
        for key, value in self.diag.signal().items():
            self._show(self.topics.state(key), f"{value:g}")
        problem = self.diag.problem()
        if problem is not None:
            state, attributes = problem
            self._show(self.topics.attributes(PROBLEM.key), json.dumps(attributes))
            self._show(self.topics.state(PROBLEM.key), state)

    def _announce(self) -> None:
        m, identity = self.config.mqtt, self.diag.identity
        if not m.discovery or identity is None or not self.link.connected.is_set():
            return
        diagnostics = {RADIO.key, LAST_READING.key, PROBLEM.key} | set(self.diag.signal())
        entities = entities_for(self.config.properties, diagnostics)
        what = (identity.device_id, tuple(e.key for e in entities))
        if what == self.announced:
            return
        previous = self.diag.previous
        if previous is not None and previous.device_id != identity.device_id:
            # Another meter: its old device goes (an empty retained config removes it).
            self.link.publish(self.topics.discovery(previous.device_id), "", 1, True)
            self.diag.previous = None
        payload = discovery_payload(self.topics, identity, entities, self.config.unitid,
                                    self.version)  # fmt: skip
        self.link.publish(self.topics.discovery(identity.device_id),
                          json.dumps(payload, separators=(",", ":")), 1, True)  # fmt: skip
        self.announced = what
        self.announcements += 1
        log.info("announced %s to Home Assistant (%d entities)", identity.device_id,
                 len(entities))  # fmt: skip
