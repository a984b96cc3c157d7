"""Idle services sleep until something happens, and still stop at once (docs/benchmarks.md,
figure 3: waking twice a second for nothing was most of an idle stack's CPU time)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml

from common.service import Stopper
from services.csv_rotator.state import CsvState
from tests.support.radio_bus import RadioBus
from tests.support.radio_harness import Wire
from tests.support.stack import PROJECT, wait_for


@pytest.fixture
def stopper():
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield Stopper()
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def test_the_stopper_turns_readable_on_stop_and_on_sigterm(stopper):
    assert not readable(stopper.fileno()) and not stopper.stopped
    os.kill(os.getpid(), signal.SIGTERM)
    wait_for(lambda: stopper.stopped, 2, "the handler")
    assert readable(stopper.fileno())
    stopper.stop()  # twice is harmless
    assert readable(stopper.fileno())


def test_a_subscriber_waiting_without_timeout_wakes_on_the_stop(tmp_path, stopper):
    bus = RadioBus(tmp_path)
    sub = bus.subscriber()
    try:
        sub.poll(100)  # the start-up catch-up
        bus.publish(2)
        got = []
        wait_for(lambda: got.extend(sub.poll(None, wake=stopper.fileno())) or len(got) == 2,
                 5, "two readings")  # fmt: skip
        t0 = time.monotonic()
        stopper.event.set()  # not stop(): nothing wakes the wait; a timeout ends it
        assert sub.poll(300, wake=stopper.fileno()) == []
        assert time.monotonic() - t0 >= 0.25
        stopper.stop()
        t0 = time.monotonic()
        assert sub.poll(None, wake=stopper.fileno()) == []
        assert time.monotonic() - t0 < 0.5
    finally:
        sub.close()
        bus.close()


def test_an_idle_csv_rotator_stops_at_once(tmp_path):
    bus = RadioBus(tmp_path)
    (tmp_path / "settings.yml").write_text(yaml.safe_dump({
        "csv": {"directory": str(tmp_path / "csv")},
        "storage": {"flush_interval_seconds": 0.3},
    }))  # fmt: skip
    env = dict(os.environ, SMARTMETER_HOME=str(tmp_path), SMARTMETER_RUNTIME_DIR=str(tmp_path),
               SMARTMETER_CONFIG=str(tmp_path / "settings.yml"),
               SMARTMETER_ENV_FILE=str(tmp_path / "none.env"),
               SMARTMETER_DATA_DIR=str(tmp_path / "data"))  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "services.csv_rotator"], cwd=PROJECT, env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "csv.log", "wb"))  # noqa: SIM115
    try:
        bus.publish(3)
        wait_for(lambda: (tmp_path / "csv_rotator.state.json").exists() or proc.poll(), 10,
                 "the first flush")  # fmt: skip
        time.sleep(0.5)  # idle now: nothing pending, it waits for the next message
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - t0 < 1.5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        bus.close()
    # The cursor lives next to the journal (the runtime dir), not in the data dir.
    state = CsvState.load(tmp_path / "csv_rotator.state.json")
    assert state.seq == 3 and not (tmp_path / "data" / "csv_rotator.state.json").exists()


def test_the_csv_cursor_moves_from_the_data_dir_once(tmp_path):
    legacy, new = tmp_path / "data" / "state.json", tmp_path / "run" / "state.json"
    legacy.parent.mkdir()
    new.parent.mkdir()
    CsvState("e", 7, {"20261126-smartmeter.csv": 100}).save(legacy)
    assert CsvState.load(new, legacy=legacy) == CsvState("e", 7, {"20261126-smartmeter.csv": 100})
    assert new.exists() and not legacy.exists()
    # A stale copy next to a current one is removed, never read: after the next reboot it
    # would cut the files back to sizes of long ago.
    CsvState("old", 1, {"20261126-smartmeter.csv": 10}).save(legacy)
    assert CsvState.load(new, legacy=legacy).seq == 7
    assert not legacy.exists()


def test_an_idle_radio_wait_is_long_but_ends_on_a_stop():
    """The radio listens for the meter until its next poll in one wait; a stop ends it."""
    r, w = os.pipe()
    try:
        with Wire() as wire:
            wire.t.wake_fd = r
            wire.dongle.say(b"EVENT 21 FE80:0000:0000:0000:021C:6400:030C:12A4 0 00\r\n")
            # What comes while idle is still taken at once.
            assert wire.t.next_event(5, idle=True) is not None
            t0 = time.monotonic()
            assert wire.t.next_event(0.3, idle=True) is None  # a quiet wait runs its course
            assert time.monotonic() - t0 >= 0.25
            threading.Timer(0.3, os.write, (w, b"\0")).start()
            t0 = time.monotonic()
            assert wire.t.next_event(30, idle=True) is None
            assert time.monotonic() - t0 < 2
            # A command's wait (not idle) is not cut short by the stop: the shutdown's
            # SKTERM still gets its answer.
            wire.dongle.reply(b"SKVER\r\n", b"EVER 1.2.10\r\nOK\r\n")
            assert wire.t.command("SKVER", 2)[0] == "EVER 1.2.10"
    finally:
        os.close(r)
        os.close(w)
