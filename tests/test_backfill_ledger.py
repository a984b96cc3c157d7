"""The slot ledger ($DATA/radio-slots.json): what survives a power cut, and what it costs.

A mark for a published reading reaches the file only after the writers have had their
flush interval to make the reading durable too; what the meter has no value for, the
window's start and the unrecoverable count are written with the next write.  The file is
small, written atomically, and only when something changed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from services.radio.slot_ledger import FILE_NAME, SLOT_SECONDS, SlotLedger, slot_of, slot_time
from services.simulator.meter_model import JST
from tests.backfill_meter import FakeClock

NOON = datetime(2025, 3, 10, 12, 0, tzinfo=JST)
S = slot_of(NOON)


def ledger(path: Path, clock: FakeClock, durable_after: float = 65.0) -> SlotLedger:
    return SlotLedger(path / FILE_NAME, JST, durable_after, min_gap=30.0, clock=clock).load()


def test_slots_are_half_hours_of_meter_time():
    assert slot_time(S, JST) == NOON
    assert slot_of(NOON + timedelta(minutes=29, seconds=59)) == S
    assert slot_of(NOON + timedelta(minutes=30)) == S + 1
    assert SLOT_SECONDS == 1800


def test_a_first_start_owes_nothing_and_missing_is_what_lacks_ea_or_eb(tmp_path):
    led = ledger(tmp_path, FakeClock())
    assert not led.loaded and led.missing(S - 10, S + 10) == {}
    led.start(S)
    led.mark("EA", S, 1)
    led.mark("EB", S, 2)
    led.mark("EA", S + 1, 3)
    led.mark_empty("EB", S + 2)
    assert led.missing(S - 10, S + 3) == {S + 1: ("EB",), S + 2: ("EA",), S + 3: ("EA", "EB")}


def test_a_reading_is_durable_only_after_the_writers_flush_interval(tmp_path):
    clock = FakeClock()
    led = ledger(tmp_path, clock)
    led.start(S)
    led.mark("EA", S, 7)
    led.mark("EB", S, 8)
    assert led.flush(("epoch1", 8))  # the start is written, the marks are not yet
    saved = ledger(tmp_path, clock)
    assert saved.missing(S, S) == {S: ("EA", "EB")}
    assert saved.journal_epoch == "epoch1" and saved.journal_seq == 6  # replay from after 6
    clock.advance(70)
    assert led.flush(("epoch1", 8))
    saved = ledger(tmp_path, clock)
    assert saved.missing(S, S) == {} and saved.journal_seq == 8
    assert saved.newest == S


def test_a_clean_stop_writes_every_mark(tmp_path):
    clock = FakeClock()
    led = ledger(tmp_path, clock)
    led.start(S)
    led.flush(("e", 0))
    led.mark("EA", S, 1)
    led.mark("EB", S, 2)
    assert led.flush(("e", 2), force=True)
    assert ledger(tmp_path, clock).missing(S, S) == {}


def test_the_file_is_written_only_when_something_changed_and_not_too_often(tmp_path):
    clock = FakeClock()
    led = ledger(tmp_path, clock, durable_after=5)
    led.start(S)
    assert led.flush(("e", 0)) and led.writes == 1
    clock.advance(100)
    assert not led.flush(("e", 0)) and led.writes == 1  # nothing new
    led.mark("EA", S, 1)
    clock.advance(10)
    led.mark("EB", S, 2)
    clock.advance(10)
    assert led.flush(("e", 2)) and led.writes == 2  # both marks in one write
    led.mark_empty("EA", S + 1)
    assert not led.flush(("e", 2))  # 30 s since the last write have not passed
    clock.advance(30)
    assert led.flush(("e", 2)) and led.writes == 3
    assert not list(tmp_path.glob("*.tmp"))


def test_a_day_of_live_readings_costs_48_small_writes(tmp_path):
    """The SD-card cost of the ledger: one write per half-hour (EA and EB come together)."""
    clock = FakeClock()
    led = ledger(tmp_path, clock)
    led.start(S)
    led.flush(("e", 0))
    seq, sizes = 0, []
    for second in range(86400):  # the radio's loop looks at least once a second
        if second % 1800 == 240:  # the INF four minutes after :00/:30
            slot = S + second // 1800
            led.mark("EA", slot, seq := seq + 1)
            led.mark("EB", slot, seq := seq + 1)
        if led.flush(("e", seq)):
            sizes.append((tmp_path / FILE_NAME).stat().st_size)
        clock.advance(1)
    assert led.writes - 1 == len(sizes) == 48
    assert max(sizes) < 600, max(sizes)


def test_a_full_window_of_99_days_stays_small(tmp_path):
    led = ledger(tmp_path, FakeClock())
    first = S - 100 * 48
    led.start(first)
    for slot in range(first, S):
        for epc in ("EA", "EB"):
            led.mark(epc, slot, 0)
    for slot in range(first, S, 97):
        led.have["EB"].discard(slot)
        led.mark_empty("EB", slot)
    led.flush(("e", 0), force=True)
    assert (tmp_path / FILE_NAME).stat().st_size < 2000
    back = ledger(tmp_path, FakeClock())
    assert back.have["EA"] == set(range(first, S))
    assert back.empty["EB"] == set(range(first, S, 97))
    assert back.missing(first, S - 1) == {}


def test_older_than_the_window_is_counted_once_as_unrecoverable(tmp_path):
    led = ledger(tmp_path, FakeClock())
    led.start(S - 10)
    led.mark("EA", S - 9, 1)
    led.mark("EB", S - 9, 2)
    assert led.prune(S - 5) == 4  # S-10 and S-8..S-6 lacked a reading; S-9 had both
    assert led.since == S - 5 and led.unrecoverable == 4
    assert led.lost == (S - 10, S - 6)
    assert led.prune(S - 5) == 0
    led.flush(("e", 2), force=True)
    back = ledger(tmp_path, FakeClock())
    assert back.unrecoverable == 4 and back.since == S - 5
    assert back.lost == (S - 10, S - 6)


def test_a_request_reaches_further_back_and_asks_again_for_no_value(tmp_path):
    led = ledger(tmp_path, FakeClock())
    led.start(S)
    led.mark_empty("EA", S + 1)
    led.extend(S - 48)
    assert led.since == S - 48
    assert led.reopen(S - 48, S + 5) == 1
    assert S + 1 in led.missing(S, S + 1)


def test_the_journal_tells_what_a_killed_radio_had_not_written_yet(tmp_path):
    led = ledger(tmp_path, FakeClock())
    led.start(S)
    assert led.recover([(5, "EA", S), (6, "EB", S), (7, "E7", S + 1), (8, "EA", S - 3)]) == 2
    assert led.missing(S, S) == {}


def test_an_unreadable_file_is_set_aside_and_the_ledger_starts_afresh(tmp_path):
    (tmp_path / FILE_NAME).write_text('{"v": 1, "since": "not a time"')
    led = ledger(tmp_path, FakeClock())
    assert not led.loaded and led.since is None
    assert list(tmp_path.glob(f"{FILE_NAME}.corrupt-*"))


def test_the_file_says_what_it_holds_in_words_a_person_can_read(tmp_path):
    led = ledger(tmp_path, FakeClock())
    led.start(S)
    led.mark("EA", S, 1)
    led.mark("EB", S, 2)
    led.flush(("e", 2), force=True)
    data = json.loads((tmp_path / FILE_NAME).read_text())
    assert data["since"] == NOON.isoformat() and data["newest"] == NOON.isoformat()
    assert data["v"] == 1 and data["unrecoverable"] == 0 and data["lost"] is None
