"""Waits and backoff: a cap, jitter below it, and no test knob that can rush a real meter."""

from __future__ import annotations

import random

from common.config import load_config
from common.paths import Paths
from services.radio.timing import TIME_SCALE_VARIABLE, Backoff, Timing, timing_for
from tests.support.radio_harness import PASSWORD, RBID


def config(tmp_path, port: str):
    paths = Paths(tmp_path, tmp_path / "settings.yml", tmp_path / ".env", tmp_path / "run",
                  tmp_path / "lib", tmp_path / "log")  # fmt: skip
    paths.env_file.write_text(f"BROUTE_ID={RBID}\nBROUTE_PASSWORD={PASSWORD}\n")
    return load_config(paths, {"SERIAL_PORT": port})


def test_time_scale_applies_to_the_simulator_only(tmp_path):
    env = {TIME_SCALE_VARIABLE: "0.05"}
    assert timing_for(config(tmp_path, "simulator"), env).response == 1.0
    assert timing_for(config(tmp_path, "/dev/ttyUSB0"), env).response == 20.0
    assert timing_for(config(tmp_path, "simulator"), {TIME_SCALE_VARIABLE: "7"}) == Timing()


def test_scaling_keeps_counts_and_the_firmwares_own_delays():
    fast = Timing().scaled(0.1)
    assert fast.retries == Timing().retries and fast.late_epandesc == Timing().late_epandesc
    assert fast.backoff_cap == 30.0 and fast.scale == 0.1


def test_backoff_doubles_to_its_cap_with_jitter_below_it():
    b = Backoff(5, 300, random.Random(1))
    delays = [b.next() for _ in range(10)]
    assert all(0.8 * min(300, 5 * 2**i) <= d <= min(300, 5 * 2**i) for i, d in enumerate(delays))
    assert max(delays) <= 300
    b.reset()
    assert b.next() <= 5
