"""Every reading reaches a subscriber exactly once, whatever PUB/SUB drops (real sockets)."""

from __future__ import annotations

import time

import pytest
import zmq

from common.bus import CatchUpSubscriber, Cursor
from common.reading import Reading
from services.radio.bus.journal import Journal
from tests.support.radio_bus import RadioBus


@pytest.fixture
def bus(tmp_path):
    b = RadioBus(tmp_path)
    yield b
    b.close()


def drain(sub: CatchUpSubscriber, want: int, timeout: float = 20) -> list[Reading]:
    got: list[Reading] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += sub.poll(100)
    got += sub.poll(300)  # and nothing more arrives
    return got


def test_slow_joiner_gets_everything_published_before_it_started(bus):
    bus.publish(100)
    sub = bus.subscriber()
    got = drain(sub, 100)
    assert [r.seq for r in got] == list(range(1, 101))
    bus.publish(5)
    assert [r.seq for r in drain(sub, 5)] == [101, 102, 103, 104, 105]
    sub.close()


def test_stalled_subscriber_loses_nothing_to_the_high_water_mark(bus):
    sub = bus.subscriber()
    sub.sub.setsockopt(zmq.RCVHWM, 10)
    assert drain(sub, 0, timeout=0.5) == []
    bus.publish(5000)  # while the subscriber does not read: PUB/SUB drops most of these
    time.sleep(0.5)
    got = drain(sub, 5000)
    assert [r.seq for r in got] == list(range(1, 5001))
    assert sub.counters.catch_ups >= 1
    sub.close()


def test_a_reading_lost_on_pub_is_recovered_from_the_heartbeat(bus):
    sub = bus.subscriber()
    bus.publish(3)
    assert len(drain(sub, 3)) == 3
    bus.publish(1, broadcast=False)  # journaled but never sent: only the heartbeat tells
    bus.broadcaster.heartbeat_now()
    got = drain(sub, 1)
    assert [r.seq for r in got] == [4]
    sub.close()


def test_malformed_messages_are_counted_and_skipped(bus):
    sub = bus.subscriber()
    assert drain(sub, 0, timeout=0.5) == []
    bus.broadcaster.publish([b"not json", b'{"v": 99, "seq": 1}'])
    bus.publish(2)
    got = drain(sub, 2)
    assert [r.seq for r in got] == [1, 2]
    assert sub.counters.malformed == 2
    sub.close()


def test_cursor_older_than_the_journal_reports_the_gap(tmp_path):
    bus = RadioBus(tmp_path, max_readings=100)
    try:
        bus.publish(300)
        sub = bus.subscriber(Cursor(bus.journal.epoch, 50))
        got = drain(sub, 100)
        assert [r.seq for r in got] == list(range(201, 301))
        assert sub.counters.lost == 150  # 51..200 were dropped by retention
        assert bus.journal.dropped == 200
        sub.close()
    finally:
        bus.close()


def test_a_new_journal_restarts_the_cursor(bus):
    bus.publish(4)
    sub = bus.subscriber(Cursor("an-old-epoch", 999))
    got = drain(sub, 4)
    assert [r.seq for r in got] == [1, 2, 3, 4]
    assert sub.cursor.epoch == bus.journal.epoch
    sub.close()


def test_subscriber_waits_quietly_for_a_radio_that_is_not_there(tmp_path):
    bus_dir = tmp_path / "later"
    bus_dir.mkdir()
    sub = CatchUpSubscriber(
        f"ipc://{bus_dir}/readings.sock", f"ipc://{bus_dir}/replay.sock", Cursor()
    )
    assert sub.poll(100) == []  # no exception, no hang beyond the replay timeout
    bus = RadioBus(bus_dir)
    try:
        bus.publish(3)
        bus.broadcaster.heartbeat_now()
        assert [r.seq for r in drain(sub, 3)] == [1, 2, 3]
    finally:
        sub.close()
        bus.close()


def test_journal_keeps_seq_across_restarts_and_moves_a_corrupt_file_aside(tmp_path):
    path = tmp_path / "journal.sqlite"
    j = Journal(path)
    epoch = j.epoch
    j.append([Reading(j.next_seq(), epoch, "2026-11-26T12:00:00+09:00", "m", "E7", "", 1.0)])
    j.close()
    j = Journal(path)
    assert (j.epoch, j.last_seq) == (epoch, 1)
    j.close()
    path.write_bytes(b"garbage" * 1000)
    j = Journal(path)
    assert j.epoch != epoch and j.last_seq == 0
    assert list(tmp_path.glob("journal.sqlite.corrupt-*"))
    j.close()
