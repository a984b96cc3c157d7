"""The writer as a process between a real radio-side bus (journal + broadcaster) and a real
server (VictoriaMetrics): every reading the radio published arrives, with its own time,
through kill -9 in a loop, a crash between the server's 204 and the queue commit, a day
without the database, a full disk and a damaged queue file."""

from __future__ import annotations

import random
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from common.reading import Reading
from services.influx_writer.line_protocol import render
from tests.support.influx_fixtures import (  # noqa: F401 - *_fixture provide 'victoria' and 'fake'
    Answer,
    VictoriaMetrics,
    Writer,
    expected_points,
    fake_fixture,
    listening,
    reading_maker,
    victoria_fixture,
)
from tests.support.radio_bus import RadioBus
from tests.support.stack import wait_for

EPCS = ("E7", "E0", "E8", "E3")


@pytest.fixture
def bus(tmp_path):
    b = RadioBus(tmp_path)
    yield b
    b.close()


def selector(unitid: str) -> str:
    return f'smartmeter_power_value{{unitid="{unitid}"}}'


def test_every_reading_arrives_with_its_own_time_tags_and_value(bus, victoria, tmp_path):
    make = reading_maker(epcs=EPCS, unitid="delivery")
    with listening(tmp_path) as status:
        writer = Writer(tmp_path, victoria.url).start()
        try:
            sent = bus.publish_made(200, make)
            victoria.wait_count(200, selector=selector("delivery"))
        finally:
            assert writer.stop() == 0
        status.wait(lambda s: s["cause"] == "stopped", 5, "the last status")
    assert victoria.points(selector("delivery")) == expected_points(sent)
    # The previous logger's Flux query filters _measurement "smartmeter_power" and epc "E7"; in
    # VictoriaMetrics' naming that is the series below.
    e7 = victoria.points('smartmeter_power_value{unitid="delivery",epc="E7"}')
    assert len(e7) == 50 and all(("epc", "E7") in key for key in e7)
    counters = status.latest()["counters"]
    assert counters["delivered"] == 200 and counters["queue_depth"] == 0
    assert "ok" in status.causes()


def test_kill_9_in_a_loop_loses_nothing(bus, victoria, tmp_path):
    make = reading_maker(epcs=EPCS, unitid="kill9", step_s=0.5)
    published: list[Reading] = []
    done = threading.Event()

    def radio() -> None:  # about 100 readings a second, as in the reliability prototype
        while not done.is_set():
            published.extend(bus.publish_made(10, make))
            time.sleep(0.1)

    thread = threading.Thread(target=radio)
    writer = Writer(tmp_path, victoria.url)
    thread.start()
    try:
        for _ in range(15):
            writer.start()
            time.sleep(random.uniform(0.3, 0.8))
            writer.kill()
    finally:
        done.set()
        thread.join()
    writer.start()
    try:
        victoria.wait_count(len(published), timeout=30, selector=selector("kill9"))
    finally:
        writer.stop()
    assert victoria.points(selector("kill9")) == expected_points(published)
    assert len(published) > 500


def test_a_crash_between_the_servers_204_and_the_queue_commit_only_resends(bus, fake, tmp_path):
    make = reading_maker(unitid="crash")
    writer = Writer(tmp_path, fake.url, SMARTMETER_INFLUX_CRASH_AFTER_WRITE="1")
    writer.start()
    sent = bus.publish_made(30, make)
    assert writer.proc.wait(timeout=20) == 9
    first = fake.lines(204)
    assert first and "exiting right after the server's 2xx" in writer.log()
    writer.env = {}
    writer.start()
    try:
        # Everything, and the batch of the first run once more.
        wait_for(lambda: len(fake.lines(204)) >= len(first) + len(sent), 20, "all lines")
    finally:
        writer.stop()
    lines = fake.lines(204)
    # The batch the server took before the crash came again, byte for byte (same point:
    # InfluxDB overwrites it), and nothing is missing.
    assert all(lines.count(line) == 2 for line in first)
    assert set(lines) == {render(r)[0] for r in sent}
    assert len(lines) == len(first) + len(sent)


def test_a_day_without_the_database_is_queued_on_disk_and_delivered_when_it_is_back(
    bus, victoria, tmp_path
):
    day = 17_280  # six properties every 30 s
    make = reading_maker(start=datetime.now(UTC) - timedelta(days=1, hours=1), step_s=5,
                         epcs=EPCS, unitid="outage")  # fmt: skip
    with listening(tmp_path) as status:
        writer = Writer(tmp_path, victoria.url).start()
        try:
            sent = bus.publish_made(100, make)
            victoria.wait_count(100, selector=selector("outage"))
            rss_before = writer.rss_kb()
            victoria.stop()
            for _ in range(day // 960):
                sent += bus.publish_made(960, make)
                time.sleep(0.05)
            status.wait(lambda s: s["counters"].get("queue_depth") == day, 30, "a day queued")
            assert status.latest()["cause"] == "influx-unreachable"
            assert writer.rss_kb() - rss_before < 25_000  # the backlog is on disk, not in RAM
            victoria.start()
            victoria.wait_count(day + 100, timeout=60, selector=selector("outage"))
            status.wait(lambda s: s["cause"] == "ok", 10, "ok again")
        finally:
            writer.stop()
            if victoria.proc is None:
                victoria.start()
    assert victoria.points(selector("outage")) == expected_points(sent)


def test_a_read_only_server_answering_503_keeps_everything(bus, tmp_path):
    readonly = VictoriaMetrics(tmp_path / "ro", ("-storage.minFreeDiskSpaceBytes=100000GB",))
    readonly.start()
    with listening(tmp_path) as status:
        writer = Writer(tmp_path, readonly.url).start()
        try:
            bus.publish_made(20, reading_maker(unitid="readonly"))
            s = status.wait(lambda s: s["cause"] == "influx-unreachable", 10, "unreachable")
            assert "503" in s["message"]
            status.wait(lambda s: s["counters"].get("queue_depth") == 20, 10, "20 queued")
        finally:
            writer.stop()
            readonly.stop()


def test_a_queue_at_its_limit_drops_the_oldest_counts_them_and_says_so(bus, fake, tmp_path):
    fake.script = lambda req: Answer(503, "down")
    make = reading_maker(unitid="full")
    with listening(tmp_path) as status:
        writer = Writer(tmp_path, fake.url, influx={"queue_max_mb": 1}).start()
        try:
            sent = []
            for _ in range(15):
                sent += bus.publish_made(1000, make)
                time.sleep(0.05)
            s = status.wait(lambda s: s["cause"] == "queue-full", 20, "queue-full")
            assert s["level"] == "fail" and "oldest are dropped" in s["message"]

            def counted(s: dict) -> int:
                return s["counters"].get("dropped", 0) + s["counters"].get("queue_depth", 0)

            s = status.wait(lambda s: counted(s) == len(sent), 15, "every reading counted")
            kept = s["counters"]["queue_depth"]
            fake.script = lambda req: Answer(204)
            wait_for(lambda: len(fake.lines(204)) >= kept, 20, "the kept readings")
        finally:
            writer.stop()
    # What was kept is the newest, in order; what is missing was counted.
    assert fake.lines(204) == [render(r)[0] for r in sent[-kept:]]


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "data"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_named_and_the_journal_refills_the_queue_when_space_returns(
    bus, fake, tmp_path, small_disk
):
    make = reading_maker(unitid="diskfull")
    with listening(tmp_path) as status:
        writer = Writer(tmp_path, fake.url).start()
        try:
            sent = bus.publish_made(10, make)
            wait_for(lambda: len(fake.lines(204)) >= 10, 10, "the first readings")
            assert writer.stop() == 0
            fake.script = lambda req: Answer(503, "down")  # so the queue has to hold them
            filler = small_disk / "filler"
            with filler.open("wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"x" * 4096)
                except OSError:
                    pass
            writer.start()  # its first commit finds the disk full
            sent += bus.publish_made(3000, make)
            s = status.wait(lambda s: s["cause"] == "disk-full", 20, "disk-full")
            assert s["level"] == "fail" and "journal" in s["message"]
            time.sleep(1)
            assert writer.proc.poll() is None  # it waits; it does not crash
            filler.unlink()
            fake.script = lambda req: Answer(204)
            want = {render(r)[0] for r in sent}
            wait_for(lambda: set(fake.lines(204)) >= want, 30, "every reading after space returned")
        finally:
            writer.stop()


def test_a_damaged_queue_file_is_set_aside_and_refilled_from_the_journal(bus, fake, tmp_path):
    make = reading_maker(unitid="corrupt")
    fake.script = lambda req: Answer(503, "down")
    with listening(tmp_path) as status:
        writer = Writer(tmp_path, fake.url).start()
        sent = bus.publish_made(100, make)
        status.wait(lambda s: s["counters"].get("queue_depth") == 100, 10, "100 queued")
        assert writer.stop() == 0
        data = bytearray(writer.queue_path.read_bytes())
        data[:100] = b"\0" * 100
        writer.queue_path.write_bytes(bytes(data))
        fake.script = lambda req: Answer(204)
        writer.start()
        try:
            want = {render(r)[0] for r in sent}
            wait_for(lambda: set(fake.lines(204)) >= want, 20, "every reading again")
            status.wait(lambda s: s["counters"].get("quarantined") == 1, 10, "quarantined=1")
        finally:
            assert writer.stop() == 0
    assert list(writer.data_dir.glob("influx_queue.sqlite.corrupt-*"))
    assert "damaged" in writer.log()


def test_when_disabled_it_starts_and_stays_quiet(tmp_path):
    writer = Writer(tmp_path, "", influx={"enabled": False})
    with listening(tmp_path) as status:
        writer.start()
        s = status.wait(lambda s: s["cause"] == "disabled", 10, "disabled")
        assert s["level"] == "pass"
        time.sleep(1)
        assert writer.proc.poll() is None
        assert writer.stop() == 0
    assert "influxdb.enabled is false" in writer.log()
