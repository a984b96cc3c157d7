"""The backfill against the simulator's meter, in-process, on a clock the test turns.

The radio's real publish path (journal, slot ledger) and meter client ask the simulator's
meter (its own history arithmetic, its served log as the truth); one fake clock drives the
meter's time, the pacer and the ledger, so hours of meter time take milliseconds.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, time, timedelta

import pytest

from services.csv_rotator.daily_csv import HEADER, file_for, row
from services.radio.backfill.slot_ledger import FILE_NAME
from services.simulator.faults import Faults
from services.simulator.meter_model import JST
from tests.support.backfill_meter import Bench, half_hours, truth

NOON = datetime(2025, 3, 10, 12, 0, tzinfo=JST)
HISTORY = {0xE2, 0xE4, 0xE5, 0xEC, 0xED}


def backfilled(bench: Bench) -> list:
    return [r for r in bench.readings() if r.source == "backfill"]


def assert_filled(bench: Bench, first: datetime, last: datetime) -> None:
    """Every half-hour from ``first`` to ``last``: EA and EB once, the meter's own values."""
    got = Counter((r.epc, r.time) for r in bench.readings())
    assert max(got.values()) == 1, [k for k, n in got.items() if n > 1][:5]
    served = truth(bench.served())
    for when in half_hours(first, last):
        for epc in ("EA", "EB"):
            assert got[(epc, when)] == 1, f"{epc} {when} missing"
    for r in backfilled(bench):
        assert r.value == served[(r.epc, r.time)], r
        assert r.ts.endswith("+09:00") and r.time.minute in (0, 30) and r.dataid == ""


def test_a_three_day_outage_is_filled_with_the_meters_values(tmp_path):
    bench = Bench(tmp_path, NOON)
    bench.ledger_covered_until(NOON - timedelta(days=3))
    bench.radio()
    requests = bench.run(bench.idle)
    # 12:30 three days ago … 11:30 today (12:00 is within the grace: its INF may still come)
    assert_filled(bench, NOON - timedelta(days=3, minutes=-30), NOON - timedelta(minutes=30))
    assert len(backfilled(bench)) == 2 * 143
    # Four days, each the clock, E5, E2, E4 (+ the date): fewer than EC windows would take.
    assert requests == 16, requests
    assert bench.status()["missing"] == 0 and bench.status()["done"] == 143


def test_at_most_n_history_requests_in_any_minute_while_joined(tmp_path):
    bench = Bench(tmp_path, NOON, {"acquisition": {"backfill_requests_per_minute": 4}})
    bench.ledger_covered_until(NOON - timedelta(days=5))
    bench.radio()
    times = []
    bench.link.on_send = lambda frame: times.append(bench.fake.t)
    start = bench.fake.t
    bench.run(bench.idle)
    assert len(times) > 20
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u - t < 60) <= 4
    # ...and no slower than that either: 4 a minute, give or take the last minute.
    assert bench.fake.t - start < 60 * (len(times) / 4 + 1)


def test_nothing_is_asked_near_the_meters_midnight(tmp_path):
    late = datetime(2025, 3, 10, 23, 53, tzinfo=JST)
    bench = Bench(tmp_path, late, {"acquisition": {"backfill_requests_per_minute": 2}})
    bench.ledger_covered_until(late - timedelta(days=2))
    bench.radio()
    history = []  # meter time of every history request: SetC E5/ED, Get E2/E4/EC
    bench.link.on_send = lambda frame: history.extend(
        bench.clock.now_dt() for p in frame.properties if p.epc in (0xE2, 0xE4, 0xE5, 0xEC, 0xED)
    )
    states = []
    bench.run(lambda: states.append(bench.backfill.state) or bench.idle(), limit=4 * 3600)
    assert "paused-midnight" in states
    assert history and any(t.day == 11 for t in history)
    for t in history:
        assert time(0, 5) <= t.time() < time(23, 55), t
    # E5 day numbers shifted at midnight: the values still belong to the right half-hours.
    assert_filled(bench, late - timedelta(days=2, minutes=-7), late.replace(hour=23, minute=0))


def test_a_day_read_that_straddles_midnight_is_thrown_away_and_read_again(tmp_path):
    early = datetime(2025, 3, 10, 23, 50, tzinfo=JST)
    bench = Bench(tmp_path, early)
    bench.ledger_covered_until(early - timedelta(days=2))
    bench.radio()
    jumped = []

    def jump(frame):  # the meter's clock runs on while the day is being read
        if any(p.epc == 0xE4 for p in frame.properties) and not jumped:
            jumped.append(True)
            bench.fake.advance(8 * 60)

    bench.link.on_send = jump
    bench.run(bench.idle, limit=4 * 3600)
    assert jumped
    assert_filled(bench, early - timedelta(days=2, minutes=-10), early.replace(hour=23, minute=0))


def test_no_value_at_the_meter_is_not_published_and_not_asked_forever(tmp_path):
    faults = Faults()
    bench = Bench(tmp_path, NOON, faults=faults)
    bench.ledger_covered_until(NOON - timedelta(days=1))
    faults.set("no-energy", True)
    bench.radio()
    bench.run(bench.idle)
    assert backfilled(bench) == []
    assert bench.status()["nodata"] == 47 and bench.status()["missing"] == 0
    asked = len(bench.link.sent)
    later = bench.fake.t + 600  # ten minutes on: before the next half-hour is due
    bench.run(lambda: bench.fake.t >= later)
    assert len(bench.link.sent) == asked


def test_a_meter_without_ec_is_read_by_days(tmp_path):
    bench = Bench(tmp_path, NOON)
    bench.ledger_covered_until(NOON - timedelta(hours=3))
    get_map = frozenset({0x97, 0x98, 0xE2, 0xE4, 0xE5})
    bench.radio(get_map)
    bench.run(bench.idle)
    asked = {p.epc for f in bench.link.sent for p in f.properties}
    assert 0xEC not in asked and 0xED not in asked and 0xE2 in asked
    assert_filled(bench, NOON - timedelta(hours=2, minutes=30), NOON - timedelta(minutes=30))


def test_a_short_gap_on_a_meter_with_ec_is_one_window(tmp_path):
    bench = Bench(tmp_path, NOON)
    bench.ledger_covered_until(NOON - timedelta(hours=3))
    bench.radio()
    bench.run(bench.idle)
    asked = [p.epc for f in bench.link.sent[1:] for p in f.properties]  # after D3, E1, D7
    assert asked == [0x98, 0x97, 0xED, 0xEC]
    assert_filled(bench, NOON - timedelta(hours=2, minutes=30), NOON - timedelta(minutes=30))


def test_a_meter_without_history_says_so_and_asks_nothing(tmp_path):
    bench = Bench(tmp_path, NOON)
    bench.ledger_covered_until(NOON - timedelta(days=1))
    bench.radio(frozenset({0xE7, 0xE0, 0x97, 0x98}))
    sent = len(bench.link.sent)
    bench.run(lambda: bench.backfill.state == "unsupported", limit=60)
    assert len(bench.link.sent) == sent


def test_older_than_the_meters_99_days_is_counted_unrecoverable(tmp_path):
    bench = Bench(tmp_path, NOON, {"acquisition": {"backfill_requests_per_minute": 60}})
    bench.ledger_covered_until(NOON - timedelta(days=101))
    bench.radio()
    bench.run(bench.idle, limit=4 * 3600)
    oldest = datetime(2025, 3, 10 - 9, tzinfo=JST) - timedelta(days=90)  # 99 days before today
    assert oldest == datetime(2024, 12, 1, tzinfo=JST)
    lost = half_hours(NOON - timedelta(days=101, minutes=-30), oldest - timedelta(minutes=30))
    assert bench.status()["unrecoverable"] == len(lost)
    assert_filled(bench, oldest, NOON - timedelta(minutes=30))
    saved = json.loads((bench.paths.data_dir / FILE_NAME).read_text())
    assert saved["unrecoverable"] == len(lost)
    assert datetime.fromisoformat(saved["since"]) == oldest


def test_a_killed_radio_resumes_from_the_ledger_and_the_journal(tmp_path):
    bench = Bench(tmp_path, NOON)
    bench.ledger_covered_until(NOON - timedelta(days=6))
    bench.radio()
    bench.run(lambda: len(backfilled(bench)) >= 3 * 96)
    first = len(bench.link.sent)
    bench.radio()  # kill -9: no close(), the ledger file was not written since
    bench.run(bench.idle)
    assert_filled(bench, NOON - timedelta(days=6, minutes=-30), NOON - timedelta(minutes=30))
    days = Counter(f.properties[0].edt for f in bench.link.sent if f.properties[0].epc == 0xE5)
    assert max(days.values()) == 1, "a day read twice"
    assert len(bench.link.sent) - first < 20


def test_a_forced_read_goes_back_further_on_a_fresh_install(tmp_path):
    bench = Bench(tmp_path, NOON)
    bench.radio()  # no ledger: a first start owes nothing before now
    later = bench.fake.t + 600
    assert bench.run(lambda: bench.fake.t >= later) == 0  # not even the meter's clock
    bench.paths.backfill_request.write_text(json.dumps({"id": "abc", "days": 2}))
    bench.run(lambda: bench.backfill.request_id == "abc" and bench.idle())
    assert not bench.paths.backfill_request.exists()
    assert_filled(bench, datetime(2025, 3, 8, tzinfo=JST), NOON - timedelta(minutes=30))
    assert bench.status()["done"] == 2 * 48 + 24



def test_no_gap_costs_the_meter_no_request(tmp_path):
    # The host's clock is the estimate until something is missing by it: here (a meter
    # whose clock agrees with the host's) nothing is, so not even the meter's clock is read.
    now = datetime.now(JST).replace(second=0, microsecond=0)
    bench = Bench(tmp_path, now)
    bench.ledger_covered_until(now)
    bench.radio()
    later = bench.fake.t + 300
    assert bench.run(lambda: bench.fake.t >= later) == 0
    assert bench.status()["state"] == "idle"


def test_a_meter_that_never_announces_gets_its_half_hours_read_back(tmp_path):
    bench = Bench(tmp_path, NOON)
    bench.radio()  # a first start, and no INF ever comes, and EA is not polled
    bench.run(lambda: bench.backfill.ledger.since is not None, limit=3600)
    begin = bench.clock.now_dt()
    assert begin - NOON >= timedelta(minutes=45)
    bench.run(lambda: bench.clock.now_dt() > begin + timedelta(hours=2), limit=3 * 3600)
    first = begin.replace(minute=30 if begin.minute >= 30 else 0, second=0, microsecond=0)
    first += timedelta(minutes=30)
    assert_filled(bench, first, first + timedelta(minutes=30))


def write_csv(bench: Bench, readings: list) -> None:
    """What csv_rotator had flushed: these readings in their day files."""
    directory = bench.config.csv.directory
    directory.mkdir(parents=True, exist_ok=True)
    for r in readings:
        path = file_for(directory, r.time.astimezone(JST).date())
        if not path.exists():
            path.write_text(HEADER)
        with path.open("a") as fh:
            fh.write(row(r, JST))


def power_cut(bench: Bench) -> list:
    """The journal (tmpfs) is gone; what it held is returned."""
    readings = bench.readings()
    assert bench.journal is not None
    bench.journal.close()
    bench.journal = None
    for f in bench.paths.runtime_dir.glob("journal.sqlite*"):
        f.unlink()
    return readings


@pytest.mark.parametrize("flushed", ["all", "all but the last read", "csv off"])
def test_after_a_power_cut_what_the_csv_lacks_is_read_again_and_nothing_else(tmp_path, flushed):
    settings = {"csv": {"enabled": flushed != "csv off"}}
    bench = Bench(tmp_path, NOON, settings)
    bench.ledger_covered_until(NOON - timedelta(days=4))
    bench.radio()
    bench.run(lambda: len(backfilled(bench)) >= 2 * 96)
    before = power_cut(bench)
    last = max(before, key=lambda r: r.seq)
    last_read = [r for r in before if r.source == "backfill" and r.time.date() == last.time.date()]
    kept = before if flushed == "all" else [r for r in before if r not in last_read]
    if flushed != "csv off":
        write_csv(bench, kept)
    bench.radio()
    bench.run(bench.idle)
    again = {(r.epc, r.time) for r in bench.readings()}
    earlier = {(r.epc, r.time) for r in before}
    if flushed == "all":
        assert not again & earlier, "read again though the CSV has it"
    elif flushed == "all but the last read":
        assert again & earlier == {(r.epc, r.time) for r in last_read}
    else:  # InfluxDB alone overwrites: everything lately written is read again, to be sure
        assert {(r.epc, r.time) for r in last_read} <= again
    total = Counter([(r.epc, r.time) for r in kept] + [(r.epc, r.time) for r in bench.readings()])
    gap = half_hours(NOON - timedelta(days=4, minutes=-30), NOON - timedelta(minutes=30))
    for when in gap:
        for epc in ("EA", "EB"):
            assert total[(epc, when)] >= 1, f"{epc} {when} missing"
            if flushed != "csv off":  # (InfluxDB takes a repeat as the same point)
                assert total[(epc, when)] == 1, f"{epc} {when} twice in the CSV"


def test_a_radio_killed_between_the_ledger_and_the_journal_reads_that_half_hour_again(tmp_path):
    bench = Bench(tmp_path, NOON)
    bench.ledger_covered_until(NOON - timedelta(days=2))
    bench.radio()
    assert bench.journal is not None
    real_append, calls = bench.journal.append, []

    def append(readings):
        calls.append(len(readings))
        if len(calls) == 2:
            raise KeyboardInterrupt("kill -9")  # after the ledger was written, before the journal
        real_append(readings)

    bench.journal.append = append
    with pytest.raises(KeyboardInterrupt):
        bench.run(bench.idle)
    lost_marks = bench.backfill.ledger.last_publish
    assert len(lost_marks) == calls[1]
    bench.radio()
    assert not lost_marks & {(e, s) for e in ("EA", "EB") for s in bench.backfill.ledger.have[e]}
    bench.run(bench.idle)
    assert_filled(bench, NOON - timedelta(days=2, minutes=-30), NOON - timedelta(minutes=30))
