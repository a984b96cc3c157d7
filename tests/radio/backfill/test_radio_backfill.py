"""Backfill end to end: the real radio against the real simulator, meter time running fast.

The simulator's meter keeps 99 days of E2/E4 (E5) and EC/ED; its served log is the truth.
The radio is started with a slot ledger saying when it last had EA/EB (as after an outage
of that length), and every half-hour since must come out once, with the meter's own value,
while E7 keeps its period.  The backfill's "minute" is scaled like every radio wait
(``SMARTMETER_RADIO_TIME_SCALE`` 0.05: 6 requests per 3 s).
"""

from __future__ import annotations

import itertools
import signal
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from common.reading import Reading
from services.simulator.meter_model import JST
from tests.support.backfill_meter import half_hours, old_ledger, truth
from tests.support.radio_harness import RadioRig, wait_for

pytestmark = pytest.mark.e2e

NOON = datetime(2025, 3, 10, 12, 0, tzinfo=JST)
E7_EVERY = 0.3


def rig_for(tmp_path, start: datetime, scale: int, covered: datetime, **acq: Any) -> RadioRig:
    settings = {"acquisition": {"interval_seconds": E7_EVERY, "properties": ["E7"], **acq}}
    rig = RadioRig(tmp_path / "rig", sim_args=("--time-scale", str(scale), "--start",
                                               start.isoformat()), settings=settings)  # fmt: skip
    old_ledger(rig.paths.data_dir, covered)
    return rig


def meter_now(rig: RadioRig) -> datetime:
    return datetime.fromisoformat(rig.control.status()["meter_time"])


def backfill_status(rig: RadioRig) -> dict[str, Any]:
    return dict(rig.seen.last_status().get("details", {}).get("backfill") or {})


def energy(rig: RadioRig) -> list[Reading]:
    return [r for r in rig.seen.since(0) if r.epc in ("EA", "EB")]


def check_filled(rig: RadioRig, first: datetime, last: datetime) -> list[Reading]:
    """Each half-hour from ``first`` to ``last`` has EA and EB once, the meter's own value."""
    readings = energy(rig)
    seen = Counter((r.epc, r.time) for r in readings)
    twice = [k for k, n in seen.items() if n > 1]
    assert not twice, f"published twice: {twice[:4]}"
    for when in half_hours(first, last):
        for epc in ("EA", "EB"):
            assert seen[(epc, when)] == 1, f"{epc} {when.isoformat()} missing"
    served = truth(rig.served())
    for r in readings:
        assert r.value == served[(r.epc, r.time)], f"{r} is not what the meter keeps"
    return [r for r in readings if r.source == "backfill"]


def wait_idle(rig: RadioRig, timeout: float) -> dict[str, Any]:
    def idle() -> dict[str, Any] | None:
        b = backfill_status(rig)
        return b if b.get("state") == "idle" and b.get("done", 0) > 0 else None

    return wait_for(idle, timeout, "the backfill to finish")


def test_a_three_day_outage_is_filled_while_e7_keeps_its_period(tmp_path):
    # 720×: a meter day every 2 minutes; the outage began three days before the radio starts.
    rig = rig_for(tmp_path, NOON, 720, covered=NOON - timedelta(days=3))
    try:
        rig.start()
        joined = meter_now(rig)
        wait_idle(rig, 40)
        status = backfill_status(rig)
        assert rig.stop_radio() == 0
        gap = NOON - timedelta(days=3, minutes=-30)  # the first half-hour without a reading
        late = check_filled(rig, gap, joined - timedelta(minutes=30))
        assert len(late) >= 2 * 3 * 48 and {r.source for r in late} == {"backfill"}
        assert status["missing"] == 0 and status["unrecoverable"] == 0 and status["nodata"] == 0
        # E7 went on at its period while the history was read: no gap beyond one history
        # answer on top of the period (answers from the simulator take milliseconds).
        first, last = min(r.seq for r in late), max(r.seq for r in late)
        e7 = [r.time.timestamp() for r in rig.seen.since(0)
              if r.epc == "E7" and first - 50 <= r.seq <= last + 50]  # fmt: skip
        assert len(e7) > 10
        gaps = [b - a for a, b in itertools.pairwise(e7)]
        assert max(gaps) < E7_EVERY + 0.5, max(gaps)
    finally:
        rig.stop()


def test_an_outage_longer_than_the_meters_history_is_filled_as_far_as_it_goes(tmp_path):
    rig = rig_for(tmp_path, NOON, 720, covered=NOON - timedelta(days=105),
                  backfill_requests_per_minute=200)  # fmt: skip
    try:
        rig.start()
        joined = meter_now(rig)
        status = wait_idle(rig, 60)
        assert rig.stop_radio() == 0
        oldest = datetime(2024, 12, 1, tzinfo=JST)  # day 99 before 2025-03-10
        gap = NOON - timedelta(days=105, minutes=-30)
        lost = len(half_hours(gap, oldest - timedelta(minutes=30)))
        assert status["unrecoverable"] == lost
        assert "older than the meter's 99 days of history" in rig.log()
        check_filled(rig, oldest, joined - timedelta(minutes=30))
        assert not [r for r in energy(rig) if r.time < oldest]
    finally:
        rig.stop()


def test_a_radio_killed_during_backfill_resumes_without_asking_twice(tmp_path):
    rig = rig_for(tmp_path, NOON, 720, covered=NOON - timedelta(days=8))
    try:
        rig.start()
        joined = meter_now(rig)
        wait_for(lambda: sum(r.source == "backfill" for r in energy(rig)) >= 2 * 96, 30,
                 "two days read back")  # fmt: skip
        assert rig.radio is not None
        rig.radio.send_signal(signal.SIGKILL)
        rig.radio.wait()
        before = len(rig.served())
        rig.start_radio()
        wait_for(lambda: "backfill done" in rig.log(), 40, "the backfill to finish")
        time.sleep(0.5)
        assert rig.stop_radio() == 0
        check_filled(rig, NOON - timedelta(days=8, minutes=-30), joined - timedelta(minutes=30))
        served = rig.served()
        days = Counter(e["value_time"] for e in served if e["epc"] == "E2")
        assert all(n <= 2 for n in days.values()) and sum(n == 2 for n in days.values()) <= 1
        windows = Counter(e["value_time"] for e in served if e["epc"] == "EC")
        assert all(n <= 2 for n in windows.values()), windows
        assert len(served) > before
    finally:
        rig.stop()


def test_history_is_not_read_around_the_meters_midnight(tmp_path):
    # 60×: the ten minutes around midnight take ten seconds.  The first day is read before
    # them, the rest after, with E5's day numbers shifted by one.
    late = datetime(2025, 3, 10, 23, 50, tzinfo=JST)
    rig = rig_for(tmp_path, late, 60, covered=late - timedelta(days=2))
    try:
        rig.start()
        wait_idle(rig, 45)
        assert rig.stop_radio() == 0
        states = [s.body.get("details", {}).get("backfill", {}).get("state")
                  for s in rig.seen.statuses]  # fmt: skip
        assert "paused-midnight" in states
        midnight = datetime(2025, 3, 11, tzinfo=JST)
        history = [datetime.fromisoformat(e["meter_time"]) for e in rig.served()
                   if e["epc"] in ("E2", "E4", "EC")]  # fmt: skip
        assert min(history) < midnight < max(history)
        for t in history:
            assert abs(t - midnight) >= timedelta(minutes=5), t
        check_filled(rig, datetime(2025, 3, 9, tzinfo=JST), midnight - timedelta(minutes=30))
    finally:
        rig.stop()
