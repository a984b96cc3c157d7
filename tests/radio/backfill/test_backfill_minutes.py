"""The minute ledger ($DATA/radio-minutes.json): what a day of D0 costs the SD card, and how
it stays true across a kill and a power cut although it is written only every 30 minutes.

After a kill (the same journal) the journal names the minutes published since the last write;
after a power cut (a new journal) the CSV does, and the minutes written just before the cut
that the CSV lacks are read back: neither a hole nor a minute twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from common.reading import Reading
from services.radio.backfill.minutes import FILE_NAME, SAVE_EVERY, MinuteBackfill
from services.radio.bus.journal import Journal
from services.simulator.meter_model import JST
from tests.support.backfill_meter import FakeClock

NOON = datetime(2025, 11, 26, 12, 0, tzinfo=JST)
KEEP = 130.0  # 2 × flush_interval + 10 s


def minutes_backfill(data: Path, wall: FakeClock) -> MinuteBackfill:
    return MinuteBackfill(data, JST, KEEP, 1.0, wall, wall)


def d0(journal: Journal, when: datetime, source: str = "poll") -> list[Reading]:
    return [Reading(seq=journal.next_seq(), epoch=journal.epoch, ts=when.isoformat(),
                    unitid="home", epc="D0", dataid=d, value=1.5, source=source)
            for d in ("forward", "reverse")]  # fmt: skip


def publish(mb: MinuteBackfill, journal: Journal, when: datetime) -> None:
    readings = d0(journal, when)
    mb.recording(readings)  # as Backfill.recording, before the journal
    journal.append(readings)
    mb.save((journal.epoch, journal.last_seq))  # as Backfill._save, at every step


def minute(i: int) -> datetime:
    return NOON + timedelta(minutes=i)


def csv_rows(directory: Path, whens: list[datetime]) -> None:
    lines = [f"{w.isoformat()},home,D0,{d},1.5" for w in whens for d in ("forward", "reverse")]
    (directory / f"{NOON:%Y%m%d}-smartmeter.csv").write_text(
        "timestamp,unitid,epc,dataid,value\n" + "\n".join(lines) + "\n"
    )


def test_a_day_of_d0_writes_the_ledger_48_times_in_a_few_hundred_bytes(tmp_path):
    wall = FakeClock()
    journal = Journal(tmp_path / "run" / "journal.sqlite")
    mb = minutes_backfill(tmp_path, wall)
    for i in range(1440):
        publish(mb, journal, minute(i))
        wall.advance(60)
    assert mb.ledger.writes <= 1440 * 60 / SAVE_EVERY + 1 == 49
    size = (tmp_path / FILE_NAME).stat().st_size
    assert size < 1000, size  # a day of minutes, packed


def test_after_a_kill_the_journal_names_the_minutes_since_the_last_write(tmp_path):
    wall = FakeClock()
    journal = Journal(tmp_path / "run" / "journal.sqlite")
    mb = minutes_backfill(tmp_path, wall)
    for i in range(40):  # the first write 30 minutes after the start
        publish(mb, journal, minute(i))
        wall.advance(60)
    assert mb.ledger.writes == 1
    # Killed: nothing more written.  The same journal holds minutes 31..39.
    again = minutes_backfill(tmp_path, wall)
    again.check(journal, None, "home")
    assert again.ledger.missing(mb.ledger.slot_of(minute(0)), mb.ledger.slot_of(minute(39))) == {}


def test_after_a_power_cut_the_csv_names_what_survived(tmp_path):
    wall = FakeClock()
    journal = Journal(tmp_path / "run" / "journal.sqlite")
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    mb = minutes_backfill(tmp_path, wall)
    for i in range(31):
        publish(mb, journal, minute(i))
        wall.advance(60)
    assert mb.ledger.writes == 1  # at minute 30, which the CSV had not flushed
    for i in range(31, 36):
        publish(mb, journal, minute(i))
        wall.advance(60)
    # The cut: the CSV has everything up to minute 28 and minutes 31..33, not 29, 30, 34, 35.
    csv_rows(csv_dir, [minute(i) for i in (*range(29), 31, 32, 33)])
    journal.close()
    (tmp_path / "run" / "journal.sqlite").unlink()
    fresh = Journal(tmp_path / "run" / "journal.sqlite")
    wall.advance(30)
    again = minutes_backfill(tmp_path, wall)
    again.check(fresh, csv_dir, "home")
    led = again.ledger
    missing = led.missing(led.slot_of(minute(0)), led.slot_of(minute(35)))
    assert sorted(led.slot_time(s) for s in missing) == [minute(i) for i in (29, 30, 34, 35)]
