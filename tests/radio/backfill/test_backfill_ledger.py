"""The slot ledger ($DATA/radio-slots.json): what it keeps across a power cut, and what it costs.

It is written when an EA/EB half-hour is about to be journaled (so it knows every one a writer
can have) or when something else changed, never otherwise; the marks of the last minutes are
kept as "recent" (checked against the CSV after a power cut), the marks of the last write as
"last" (checked against the journal after a kill).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from services.radio.backfill.ledger_check import csv_holds
from services.radio.backfill.slot_ledger import (
    FILE_NAME,
    SLOT_SECONDS,
    SlotLedger,
    slot_of,
    slot_time,
)
from services.simulator.meter_model import JST
from tests.support.backfill_meter import FakeClock

NOON = datetime(2025, 3, 10, 12, 0, tzinfo=JST)
S = slot_of(NOON)


def ledger(path: Path, clock: FakeClock | None = None, keep: float = 130.0) -> SlotLedger:
    return SlotLedger(path / FILE_NAME, JST, keep, clock=clock or FakeClock()).load()


def test_slots_are_half_hours_of_meter_time():
    assert slot_time(S, JST) == NOON
    assert slot_of(NOON + timedelta(minutes=29, seconds=59)) == S
    assert slot_of(NOON + timedelta(minutes=30)) == S + 1
    assert SLOT_SECONDS == 1800


def test_a_first_start_owes_nothing_and_missing_is_what_lacks_ea_or_eb(tmp_path):
    led = ledger(tmp_path)
    assert not led.loaded and led.missing(S - 10, S + 10) == {}
    led.start(S)
    led.mark("EA", S)
    led.mark("EB", S)
    led.mark("EA", S + 1)
    led.mark_empty("EB", S + 2)
    assert led.missing(S - 10, S + 3) == {S + 1: ("EB",), S + 2: ("EA",), S + 3: ("EA", "EB")}


def test_what_is_written_is_read_back(tmp_path):
    led = ledger(tmp_path)
    led.start(S)
    led.mark("EA", S)
    led.mark("EB", S)
    led.mark_empty("EA", S + 1)
    assert led.save(("epoch1", 8), {("EA", S), ("EB", S)})
    back = ledger(tmp_path)
    assert back.loaded and back.since == S and back.newest == S
    assert back.missing(S, S + 1) == {S + 1: ("EB",)}
    assert back.journal_epoch == "epoch1" and back.journal_seq == 8
    assert back.last_publish == {("EA", S), ("EB", S)}
    assert back.recent() == {("EA", S), ("EB", S)}
    assert not list(tmp_path.glob("*.tmp"))


def test_the_file_is_written_only_when_something_changed(tmp_path):
    led = ledger(tmp_path)
    led.start(S)
    assert led.save(("e", 0)) and led.writes == 1
    assert not led.save(("e", 0)) and led.writes == 1
    led.mark("EA", S)
    assert not led.mark("EA", S)  # already had it
    assert led.save(("e", 1), {("EA", S)}) and led.writes == 2
    assert not led.save(("e", 1))


def test_recent_marks_age_out_after_two_generations(tmp_path):
    clock = FakeClock()
    led = ledger(tmp_path, clock, keep=100)
    led.start(S)
    led.mark("EA", S)
    led.save(("e", 1))
    clock.advance(60)
    led.mark("EA", S + 1)
    led.save(("e", 2))
    assert led.recent() == {("EA", S), ("EA", S + 1)}
    clock.advance(60)  # 120 s: the first generation moves back, still kept
    led.mark("EA", S + 2)
    led.save(("e", 3))
    assert led.recent() == {("EA", S), ("EA", S + 1), ("EA", S + 2)}
    clock.advance(110)  # the first generation goes
    led.mark("EA", S + 3)
    led.save(("e", 4))
    assert led.recent() == {("EA", S + 2), ("EA", S + 3)}
    assert ledger(tmp_path).recent() == led.recent()


def test_a_day_of_live_readings_costs_48_small_writes(tmp_path):
    """The SD-card cost of the ledger: one write per half-hour (EA and EB come together)."""
    clock = FakeClock()
    led = ledger(tmp_path, clock)
    led.start(S)
    led.save(("e", 0))
    writes, sizes, seq = led.writes, [], 0
    for second in range(86400):
        if second % 1800 == 240:  # the INF four minutes after :00/:30
            slot = S + second // 1800
            marks = {("EA", slot), ("EB", slot)}
            for m in marks:
                led.mark(*m)
            seq += 2
            assert led.save(("e", seq), marks)
            sizes.append((tmp_path / FILE_NAME).stat().st_size)
        elif second % 60 == 0:
            assert not led.save(("e", seq))  # the radio's loop asks; nothing to write
        clock.advance(1)
    assert led.writes - writes == len(sizes) == 48
    assert max(sizes) < 600, max(sizes)


def test_a_full_window_of_99_days_stays_small(tmp_path):
    led = ledger(tmp_path)
    first = S - 100 * 48
    led.start(first)
    for slot in range(first, S):
        for epc in ("EA", "EB"):
            led.mark(epc, slot)
    for slot in range(first, S, 97):
        led.have["EB"].discard(slot)
        led.mark_empty("EB", slot)
    led.save(("e", 0))
    assert (tmp_path / FILE_NAME).stat().st_size < 2000
    back = ledger(tmp_path)
    assert back.have["EA"] == set(range(first, S))
    assert back.empty["EB"] == set(range(first, S, 97))
    assert back.missing(first, S - 1) == {}


def test_older_than_the_window_is_counted_once_as_unrecoverable(tmp_path):
    led = ledger(tmp_path)
    led.start(S - 10)
    led.mark("EA", S - 9)
    led.mark("EB", S - 9)
    assert led.prune(S - 5) == 4  # S-10 and S-8..S-6 lacked a reading; S-9 had both
    assert led.since == S - 5 and led.unrecoverable == 4
    assert led.lost == (S - 10, S - 6)
    assert led.prune(S - 5) == 0
    led.save(("e", 2))
    back = ledger(tmp_path)
    assert back.unrecoverable == 4 and back.since == S - 5
    assert back.lost == (S - 10, S - 6)


def test_a_request_reaches_further_back_and_asks_again_for_no_value(tmp_path):
    led = ledger(tmp_path)
    led.start(S)
    led.mark_empty("EA", S + 1)
    led.extend(S - 48)
    assert led.since == S - 48
    assert led.reopen(S - 48, S + 5) == 1
    assert S + 1 in led.missing(S, S + 1)


def test_unmarked_half_hours_are_missing_again(tmp_path):
    led = ledger(tmp_path)
    led.start(S)
    led.mark("EA", S)
    led.mark("EB", S)
    led.save(("e", 2), {("EA", S), ("EB", S)})
    led.unmark({("EB", S)})
    assert led.missing(S, S) == {S: ("EB",)}
    assert led.recent() == {("EA", S)} and led.last_publish == {("EA", S)}
    assert led.save(("e", 2))


def test_an_unreadable_file_is_set_aside_and_the_ledger_starts_afresh(tmp_path):
    (tmp_path / FILE_NAME).write_text('{"v": 1, "since": "not a time"')
    led = ledger(tmp_path)
    assert not led.loaded and led.since is None
    assert list(tmp_path.glob(f"{FILE_NAME}.corrupt-*"))


def test_a_card_that_cannot_be_written_is_logged_not_fatal(tmp_path, caplog):
    led = SlotLedger(tmp_path / "no-such-dir" / "x" / FILE_NAME, JST)
    (tmp_path / "no-such-dir").write_text("a file where the folder should be")
    led.start(S)
    assert not led.save(("e", 0))
    assert not led.save(("e", 0))
    assert caplog.text.count("cannot write") == 1


def test_the_file_says_what_it_holds_in_words_a_person_can_read(tmp_path):
    led = ledger(tmp_path)
    led.start(S)
    led.mark("EA", S)
    led.mark("EB", S)
    led.save(("e", 2))
    data = json.loads((tmp_path / FILE_NAME).read_text())
    assert data["since"] == NOON.isoformat() and data["newest"] == NOON.isoformat()
    assert data["v"] == 1 and data["unrecoverable"] == 0 and data["lost"] is None


def test_the_csv_says_which_half_hours_survived(tmp_path):
    (tmp_path / "20250310-smartmeter.csv").write_text(
        "timestamp,unitid,epc,dataid,value\n"
        "2025-03-10T12:00:00+09:00,home,EA,,12345.6\n"
        "2025-03-10T12:00:00+09:00,other,EB,,4321\n"  # another logger's row
        "2025-03-10T12:30:00+09:00,home,E7,,523\n"
        "2025-03-10T12:30:00+09:00,home,EB,,4321"  # the last line, without its end
    )
    (tmp_path / "20250309-smartmeter.csv").write_text("2025-03-09T23:3")  # torn
    wanted = {("EA", S), ("EB", S), ("EA", S + 1), ("EB", S + 1), ("EA", S - 2)}
    assert csv_holds(tmp_path, JST, "home", wanted) == {("EA", S), ("EB", S + 1)}
