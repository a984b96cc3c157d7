"""While the server takes writes, readings go to it without being written to the disk queue
(the SD card is spared: docs/benchmarks.md, figure 1); the queue takes over the moment the
server does not, and a restart resends nothing the server already has."""

from __future__ import annotations

import json
import time

import pytest

from services.influx_writer.line_protocol import render
from tests.support.influx_fixtures import (  # noqa: F401 - fake_fixture provides the fixture 'fake'
    Answer,
    Writer,
    fake_fixture,
    listening,
    reading_maker,
)
from tests.support.radio_bus import RadioBus
from tests.support.stack import wait_for


@pytest.fixture
def bus(tmp_path):
    b = RadioBus(tmp_path)
    yield b
    b.close()


def queue_files(writer: Writer) -> dict[str, tuple[int, int]]:
    return {
        p.name: (p.stat().st_size, p.stat().st_mtime_ns)
        for p in writer.data_dir.glob("influx_queue.sqlite*")
    }


def settled(writer: Writer) -> dict[str, tuple[int, int]]:
    def same() -> dict | None:
        before = queue_files(writer)
        time.sleep(0.5)
        return before if queue_files(writer) == before else None

    return wait_for(same, 10, "the queue files to settle")


def test_a_healthy_server_gets_the_readings_and_the_queue_is_not_written(bus, fake, tmp_path):
    make = reading_maker(unitid="direct")
    with listening(tmp_path) as status:
        writer = Writer(tmp_path, fake.url).start()
        try:
            first = bus.publish_made(5, make)  # the queue learns the journal once
            wait_for(lambda: len(fake.lines()) >= 5, 10, "the first group")
            files = settled(writer)  # its ack may follow the server's answer by a moment
            sent = list(first)
            for _ in range(5):
                sent += bus.publish_made(7, make)
                n = len(sent)
                wait_for(lambda n=n: len(fake.lines()) >= n, 10, "a group")
            s = status.wait(lambda s: s["counters"].get("delivered") == len(sent), 10, "counted")
            assert s["counters"]["queue_depth"] == 0
            assert queue_files(writer) == files  # not a byte since the first group
            cursor = json.loads((tmp_path / "influx_writer.cursor.json").read_text())
            assert cursor == {"epoch": bus.journal.epoch, "seq": sent[-1].seq}
        finally:
            assert writer.stop() == 0
    assert fake.lines() == [render(r)[0] for r in sent]


def test_what_the_server_does_not_take_is_queued_and_sent_when_it_is_back(bus, fake, tmp_path):
    make = reading_maker(unitid="spill")
    with listening(tmp_path) as status:
        writer = Writer(tmp_path, fake.url).start()
        try:
            sent = bus.publish_made(5, make)
            wait_for(lambda: len(fake.lines()) >= 5, 10, "the first group")
            sent += bus.publish_made(5, make)
            wait_for(lambda: len(fake.lines()) >= 10, 10, "a group sent directly")
            fake.script = lambda req: Answer(503, "down")
            sent += bus.publish_made(8, make)
            status.wait(lambda s: s["counters"].get("queue_depth") == 8, 10, "8 queued")
            fake.script = lambda req: Answer(204)
            wait_for(lambda: len(fake.lines(204)) >= len(sent), 10, "everything")
            status.wait(lambda s: s["counters"].get("queue_depth") == 0, 10, "an empty queue")
            sent += bus.publish_made(3, make)  # and straight out again
            wait_for(lambda: len(fake.lines(204)) >= len(sent), 10, "the last group")
        finally:
            assert writer.stop() == 0
    assert fake.lines(204) == [render(r)[0] for r in sent]


def test_a_restart_resumes_after_what_was_delivered_directly(bus, fake, tmp_path):
    make = reading_maker(unitid="resume")
    writer = Writer(tmp_path, fake.url).start()
    try:
        sent = bus.publish_made(5, make)
        wait_for(lambda: len(fake.lines()) >= 5, 10, "the first group")
        sent += bus.publish_made(6, make)
        wait_for(lambda: len(fake.lines()) >= 11, 10, "a group sent directly")
        wait_for(lambda: (tmp_path / "influx_writer.cursor.json").exists(), 5, "the cursor")
    finally:
        assert writer.stop() == 0
    writer.start()
    try:
        sent += bus.publish_made(4, make)
        wait_for(lambda: len(fake.lines()) >= len(sent), 10, "the readings after the restart")
    finally:
        assert writer.stop() == 0
    assert fake.lines() == [render(r)[0] for r in sent]  # nothing twice
