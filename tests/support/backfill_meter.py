"""The simulator's meter in-process, on a clock the test turns, behind the radio's meter layer.

For the backfill's unit tests: the radio's real ``Poller._publish`` (journal, slot ledger),
its ``MeterClient`` and ``Backfill`` talk ECHONET Lite to the simulator's ``SimulatedMeter``
(its own history arithmetic and served log), with no pty and no waiting: one fake monotonic
clock drives the meter's time (× ``scale``), the pacer and the ledger.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from common.config import load_config
from common.echonet import Frame
from common.paths import Paths
from common.reading import Reading
from common.service import Stopper
from services.radio.backfill.runner import Backfill
from services.radio.backfill.slot_ledger import FILE_NAME, SlotLedger, slot_of
from services.radio.bus.journal import Journal
from services.radio.meter.client import MeterClient
from services.radio.poller import Poller
from services.radio.timing import Timing
from services.simulator.faults import Faults
from services.simulator.meter import SimulatedMeter
from services.simulator.meter_model import JST, EnergyModel, MeterClock, PowerCurve, Register
from services.simulator.properties import MeterProperties
from services.simulator.served_log import ServedLog


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class SimLink:
    """A session that hands each request to the simulated meter; ``on_send`` may meddle."""

    held = False

    def __init__(self, meter: SimulatedMeter) -> None:
        self.meter = meter
        self.inbox: deque[bytes] = deque()
        self.sent: list[Frame] = []
        self.on_send: Callable[[Frame], None] = lambda frame: None

    def send(self, payload: bytes) -> None:
        frame = Frame.decode(payload)
        self.sent.append(frame)
        self.on_send(frame)
        self.inbox.extend(self.meter.handle(payload))

    def receive(self, timeout: float) -> bytes | None:
        return self.inbox.popleft() if self.inbox else None


class Bench:
    """A radio's publishing side and backfill against a simulated meter starting at ``start``."""

    def __init__(
        self,
        root: Path,
        start: datetime,
        settings: dict[str, Any] | None = None,
        scale: float = 1.0,
        faults: Faults | None = None,
        second_generation: bool = False,
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.paths = Paths(home=root, config_file=root / "settings.yml", env_file=root / ".env",
                           runtime_dir=root / "run", data_dir=root / "data",
                           log_dir=root / "log")  # fmt: skip
        self.paths.config_file.write_text(yaml.safe_dump(settings or {}))
        self.config = load_config(self.paths, {})
        self.fake = FakeClock()
        self.clock = MeterClock(start, scale, monotonic=self.fake)
        self.faults = faults or Faults()
        model = EnergyModel(PowerCurve(1, True), self.clock.start, 12345.6, 4321.0)
        props = MeterProperties(model, Register(Decimal("0.1"), 1, 6), self.clock, self.faults,
                                second_generation=second_generation)  # fmt: skip
        self.props = props
        self.served_log = root / "served.jsonl"
        self.sim = SimulatedMeter(props, ServedLog(self.served_log), self.clock)
        self.link = SimLink(self.sim)
        self.journal: Journal | None = None
        self.backfill: Backfill | None = None

    # --- the radio side ---------------------------------------------------------------------
    def ledger_covered_until(self, when: datetime) -> None:
        """A ledger saying every half-hour up to ``when`` has its EA and EB."""
        old_ledger(self.paths.data_dir, when)

    def radio(self, get_map: frozenset[int] | None = None) -> Backfill:
        """(Re)start the radio's side: journal, poller, a session with the meter."""
        if self.journal is not None:
            self.journal.close()
        self.journal = Journal(self.paths.runtime_dir / "journal.sqlite")
        self.poller = Poller(self.config, Stopper(), self.journal, timing=Timing())
        self.backfill = Backfill(self.config, Timing(), self.poller.condition, self.journal,
                                 clock=self.fake)  # fmt: skip
        self.poller.backfill = self.backfill
        self.meter = MeterClient(self.link, Timing(), JST, self.poller.condition)
        self.meter.read([0xD3, 0xE1, 0xD7])
        self.backfill.joined(get_map)
        return self.backfill

    def run(self, until: Callable[[], bool], limit: float = 7200.0, tick: float = 0.25) -> int:
        """Step the backfill (as the poller's idle loop does) until ``until()``; requests sent."""
        assert self.backfill is not None
        sent, end = 0, self.fake.t + limit
        while not until():
            assert self.fake.t < end, f"not done after {limit:g} s: {self.status()}"
            if self.backfill.step(self.meter, self.poller._publish):
                sent += 1
            self.fake.advance(tick)
        return sent

    def idle(self) -> bool:
        """Settled: it looked, found nothing missing, and waits for the next half-hour."""
        b = self.backfill
        assert b is not None
        return b.state == "idle" and b._next_check > self.fake.t and b._request is None

    def status(self) -> dict[str, Any]:
        assert self.backfill is not None
        return {"state": self.backfill.state, "missing": self.backfill.missing,
                "done": self.backfill.done, "nodata": self.backfill.ledger.nodata(),
                "unrecoverable": self.backfill.ledger.unrecoverable}  # fmt: skip

    # --- what came out ----------------------------------------------------------------------
    def readings(self) -> list[Reading]:
        assert self.journal is not None
        rows = self.journal.db.execute("SELECT body FROM readings ORDER BY seq").fetchall()
        return [Reading.decode(body.encode()) for (body,) in rows]

    def served(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.served_log.read_text().splitlines()]


def old_ledger(data_dir: Path, covered: datetime) -> None:
    """The ledger of a logger that had EA and EB up to ``covered``, written long ago."""
    ledger = SlotLedger(data_dir / FILE_NAME, JST)
    slot = slot_of(covered)
    ledger.start(slot)
    for epc in ("EA", "EB"):
        ledger.mark(epc, slot)
    ledger.save(("", 0))
    data = json.loads((data_dir / FILE_NAME).read_text())
    for epc in ("EA", "EB"):
        data[epc]["recent"] = data[epc]["last"] = ""  # long ago: nothing in doubt
    (data_dir / FILE_NAME).write_text(json.dumps(data))


def truth(served: list[dict[str, Any]]) -> dict[tuple[str, datetime], float | None]:
    """(EA/EB, half-hour) → kWh, from every history and fixed-time value the meter served."""
    out: dict[tuple[str, datetime], float | None] = {}
    for entry in served:
        decoded = entry.get("decoded") or {}
        if entry["epc"] in ("E2", "E4"):
            name = "EA" if entry["epc"] == "E2" else "EB"
            for when, kwh in decoded.items():
                out[(name, datetime.fromisoformat(when))] = kwh
        elif entry["epc"] == "EC":
            for key, kwh in decoded.items():
                when, kind = key.split("/")
                out[("EA" if kind == "normal" else "EB", datetime.fromisoformat(when))] = kwh
        elif entry["epc"] in ("EA", "EB"):
            out[(entry["epc"], datetime.fromisoformat(entry["value_time"]))] = decoded[""]
    return out


def half_hours(first: datetime, last: datetime) -> list[datetime]:
    out = []
    while first <= last:
        out.append(first)
        first += timedelta(minutes=30)
    return out
