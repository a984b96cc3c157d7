"""What the backfill asks for next, how often, and when not (services/radio/backfill/plan.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from services.radio.backfill.plan import (
    DayRead,
    Pacer,
    WindowRead,
    near_midnight,
    plan,
    steps,
)
from services.radio.backfill.slot_ledger import slot_of, slot_time
from services.simulator.meter_model import JST
from tests.support.backfill_meter import FakeClock

TODAY = date(2025, 3, 10)
BOTH = ("EA", "EB")


def slot(d: date, hour: int, minute: int = 0) -> int:
    return slot_of(datetime(d.year, d.month, d.day, hour, minute, tzinfo=JST))


def naive(s: int) -> datetime:
    return slot_time(s, JST).replace(tzinfo=None)


def run(d: date, first: tuple[int, int], n: int, lacking=BOTH) -> dict[int, tuple[str, ...]]:
    s = slot(d, *first)
    return {s + i: lacking for i in range(n)}


def test_a_whole_missing_day_is_one_day_read_oldest_first():
    two_days_ago, yesterday = TODAY - timedelta(days=2), TODAY - timedelta(days=1)
    missing = run(two_days_ago, (0, 0), 48) | run(yesterday, (0, 0), 48)
    batch = plan(missing, TODAY, naive, True, True)
    assert isinstance(batch, DayRead)
    assert batch.day == 2 and batch.on == TODAY - timedelta(days=2) and len(batch.slots) == 48
    assert steps(batch) == [("set", 0xE5, b"\x02"), ("get", 0xE2), ("get", 0xE4, 0x98)]


def test_a_short_run_on_a_meter_with_ec_is_one_window():
    missing = run(TODAY, (9, 0), 5)
    batch = plan(missing, TODAY, naive, True, True)
    assert isinstance(batch, WindowRead)
    assert batch.newest == datetime(2025, 3, 10, 11, 0) and batch.count == 5
    assert steps(batch) == [("set", 0xED, bytes.fromhex("07E9030A0B0005")), ("get", 0xEC)]


def test_a_window_holds_at_most_12_half_hours():
    batch = plan(run(TODAY, (0, 0), 12), TODAY, naive, True, True)
    assert isinstance(batch, WindowRead) and batch.count == 12
    batch = plan(run(TODAY, (0, 0), 13), TODAY, naive, True, True)
    assert isinstance(batch, DayRead)  # two windows (6 requests) cost more than a day (4)
    batch = plan(run(TODAY, (0, 0), 13), TODAY, naive, False, True)
    assert isinstance(batch, WindowRead) and batch.count == 12  # no E2/E4: windows it is


def test_a_meter_without_ec_is_read_by_days():
    batch = plan(run(TODAY, (9, 0), 1), TODAY, naive, True, False)
    assert isinstance(batch, DayRead) and batch.day == 0


def test_only_what_is_lacking_is_asked_for():
    batch = plan(run(TODAY - timedelta(days=1), (0, 0), 48, ("EB",)), TODAY, naive, True, False)
    assert isinstance(batch, DayRead) and batch.epcs == ("EB",)
    assert steps(batch) == [("set", 0xE5, b"\x01"), ("get", 0xE4, 0x98)]
    assert steps(batch, with_date=False) == [("set", 0xE5, b"\x01"), ("get", 0xE4)]


def test_what_ec_had_no_value_for_is_asked_by_day():
    missing = run(TODAY, (9, 0), 2)
    batch = plan(missing, TODAY, naive, True, True, not_by_window=set(missing))
    assert isinstance(batch, DayRead)


def test_nothing_beyond_the_meters_99_days_and_nothing_without_history():
    old = run(TODAY - timedelta(days=100), (0, 0), 48)
    assert plan(old, TODAY, naive, True, False) is None
    assert plan(run(TODAY, (9, 0), 1), TODAY, naive, False, False) is None
    assert plan({}, TODAY, naive, True, True) is None


def test_no_read_begins_near_the_meters_midnight():
    at = lambda h, m: datetime(2025, 3, 10, h, m)  # noqa: E731
    assert near_midnight(at(12, 0)) is None
    assert near_midnight(at(23, 52)) is None
    assert near_midnight(at(23, 53)) == timedelta(minutes=12)  # a read might run into 23:55
    assert near_midnight(at(23, 59)) == timedelta(minutes=6)
    assert near_midnight(at(0, 0)) == timedelta(minutes=5)
    assert near_midnight(at(0, 4)) == timedelta(minutes=1)
    assert near_midnight(at(0, 5)) is None


def test_at_most_n_requests_in_any_minute():
    clock = FakeClock()
    pacer = Pacer(6, 60.0, clock)
    sent = []
    for _ in range(600):
        if pacer.wait() == 0:
            pacer.sent()
            sent.append(clock.t)
        clock.advance(1)
    assert len(sent) == 60
    assert all(sum(1 for u in sent if t <= u < t + 60) <= 6 for t in sent)


def test_a_read_begins_only_when_the_minute_has_room_for_all_of_it():
    clock = FakeClock()
    pacer = Pacer(6, 60.0, clock)
    for _ in range(3):
        pacer.sent()
        clock.advance(1)
    assert pacer.wait(1) == 0
    assert pacer.wait(4) == 57  # until the first of the three is a minute old
    assert Pacer(2, 60.0, clock).wait(4) == 0  # fewer a minute than a read: one at a time


def test_fewer_than_one_a_minute():
    clock = FakeClock()
    pacer = Pacer(0.5, 60.0, clock)
    pacer.sent()
    assert pacer.wait() == 120
