"""The minute ledger ($DATA/radio-minutes.json): what a day of D0 costs the SD card, and how
it stays true across a kill and a power cut although it is written only every 6 hours.

After a kill (the same journal) the journal names the minutes published since the last write;
after a power cut (a new journal) the CSV does, and the minutes written just before the cut
that the CSV lacks are read back: neither a hole nor a minute twice.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from common.reading import Reading
from services.radio.backfill.minutes import FILE_NAME, SAVE_EVERY, MinuteBackfill
from services.radio.bus.journal import Journal
from services.simulator.meter_model import JST
from tests.support.backfill_meter import Bench, FakeClock

NOON = datetime(2025, 11, 26, 12, 0, tzinfo=JST)
KEEP = 130.0  # 2 × flush_interval + 10 s
W = int(SAVE_EVERY // 60)  # the minute of the first write


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


def test_a_day_of_d0_writes_the_ledger_4_times_in_a_few_hundred_bytes(tmp_path):
    wall = FakeClock()
    journal = Journal(tmp_path / "run" / "journal.sqlite")
    mb = minutes_backfill(tmp_path, wall)
    for i in range(1440):
        publish(mb, journal, minute(i))
        wall.advance(60)
    assert mb.ledger.writes <= 1440 * 60 / SAVE_EVERY == 4
    size = (tmp_path / FILE_NAME).stat().st_size
    assert size < 1000, size  # a day of minutes, packed


def test_after_a_kill_the_journal_names_the_minutes_since_the_last_write(tmp_path):
    wall = FakeClock()
    journal = Journal(tmp_path / "run" / "journal.sqlite")
    mb = minutes_backfill(tmp_path, wall)
    for i in range(W + 10):  # the first write SAVE_EVERY after the start
        publish(mb, journal, minute(i))
        wall.advance(60)
    assert mb.ledger.writes == 1
    # Killed: nothing more written.  The same journal holds the last ten minutes.
    again = minutes_backfill(tmp_path, wall)
    again.check(journal, None, "home")
    last = mb.ledger.slot_of(minute(W + 9))
    assert again.ledger.missing(mb.ledger.slot_of(minute(0)), last) == {}


def test_after_a_power_cut_the_csv_names_what_survived(tmp_path):
    wall = FakeClock()
    journal = Journal(tmp_path / "run" / "journal.sqlite")
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    mb = minutes_backfill(tmp_path, wall)
    for i in range(W + 1):
        publish(mb, journal, minute(i))
        wall.advance(60)
    assert mb.ledger.writes == 1  # at minute W, which the CSV had not flushed
    for i in range(W + 1, W + 6):
        publish(mb, journal, minute(i))
        wall.advance(60)
    # The cut: the CSV has everything up to W - 2 and W + 1..W + 3, not W - 1, W, W + 4, W + 5.
    csv_rows(csv_dir, [minute(i) for i in (*range(W - 1), W + 1, W + 2, W + 3)])
    journal.close()
    (tmp_path / "run" / "journal.sqlite").unlink()
    fresh = Journal(tmp_path / "run" / "journal.sqlite")
    wall.advance(30)
    again = minutes_backfill(tmp_path, wall)
    again.check(fresh, csv_dir, "home")
    led = again.ledger
    missing = led.missing(led.slot_of(minute(0)), led.slot_of(minute(W + 5)))
    assert sorted(led.slot_time(s) for s in missing) == [
        minute(i) for i in (W - 1, W, W + 4, W + 5)
    ]


# --- the minute backfill against the simulator's meter, in-process ---------------------------

D0_SETTINGS = {"acquisition": {"schedule": [{"properties": ["E7"], "every_seconds": 30},
                                            {"properties": ["D0"], "every_seconds": 60}]}}


def poll_d0(bench: Bench) -> None:
    answers, _ = bench.meter.read([0xD0])
    bench.poller._publish(answers)


def minutes_idle(bench: Bench) -> bool:
    assert bench.backfill is not None and bench.backfill.minutes is not None
    m = bench.backfill.minutes
    return m.state in ("idle", "unsupported") and not m.reading and m._next_check > bench.fake.t


def d0_minutes(bench: Bench) -> Counter:
    return Counter((r.dataid, r.time) for r in bench.readings() if r.epc == "D0")


def test_three_hours_of_minutes_are_read_back_ten_a_request(tmp_path):
    bench = Bench(tmp_path, NOON, D0_SETTINGS, second_generation=True)
    bench.radio(frozenset(bench.props.get_map))
    poll_d0(bench)
    bench.fake.advance(3 * 3600)  # three hours without a poll (an outage, say)
    poll_d0(bench)
    history = []
    bench.link.on_send = lambda frame: history.extend(p.epc for p in frame.properties)
    bench.run(lambda: minutes_idle(bench))
    got = d0_minutes(bench)
    assert max(got.values()) == 1
    for i in range(181):
        for d in ("forward", "reverse"):
            assert got[(d, minute(i))] == 1, f"{d} {minute(i)}"
    served = {(k.split("/")[1], datetime.fromisoformat(k.split("/")[0])): v
              for e in bench.served() if e["epc"] == "EE"
              for k, v in e["decoded"].items()}  # fmt: skip
    for r in bench.readings():
        if r.epc == "D0" and r.source == "backfill":
            kind = "normal" if r.dataid == "forward" else "reverse"
            assert r.value == served[(kind, r.time)], r
    # 179 minutes between the two polls: 18 windows of ten, EF + EE each (the half-hour side
    # read the meter's clock once, to start its own ledger after 45 minutes without EA/EB).
    assert Counter(history) == {0xEF: 18, 0xEE: 18, 0x97: 1, 0x98: 1}, Counter(history)
    m = bench.backfill.minutes
    assert m.detail()["missing"] == 0 and m.detail()["nodata"] == 0


def test_a_meter_refusing_ef_is_not_asked_again_this_session(tmp_path):
    bench = Bench(tmp_path, NOON, D0_SETTINGS, second_generation=True)
    bench.radio(None)  # the meter did not say what it has
    poll_d0(bench)
    bench.props.set_map = tuple(e for e in bench.props.set_map if e != 0xEF)  # EF refused
    bench.fake.advance(600)
    poll_d0(bench)
    asked = []
    bench.link.on_send = lambda frame: asked.extend(p.epc for p in frame.properties)
    bench.run(lambda: minutes_idle(bench), limit=600)
    assert asked == [0xEF] and bench.backfill.minutes.state == "unsupported"


def test_an_answer_that_never_fits_is_given_up_after_three_reads(tmp_path):
    bench = Bench(tmp_path, NOON, D0_SETTINGS, second_generation=True)
    bench.radio(frozenset(bench.props.get_map))
    poll_d0(bench)
    bench.fake.advance(300)
    poll_d0(bench)

    def meddle(frame) -> None:  # another client moves EF between our SetC and Get
        if any(p.epc == 0xEE for p in frame.properties):
            bench.props.history_3_setting = b"\xff" * 6 + b"\x01"

    bench.link.on_send = meddle
    reads = bench.run(lambda: minutes_idle(bench), limit=600)
    assert reads == 2 * 3
    assert bench.backfill.minutes.detail()["nodata"] == 4
