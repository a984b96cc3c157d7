"""One radio per dongle and per bus: a second one is refused, the first one keeps working."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.support.radio_harness import PROJECT, RadioRig, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def rig(tmp_path):
    r = RadioRig(tmp_path / "first").start()
    r.wait_readings(2)
    yield r
    r.stop()


def test_second_radio_on_the_same_runtime_dir_is_refused(rig):
    second = subprocess.run(
        [sys.executable, "-m", "services.radio"],
        env=rig.environ(), cwd=PROJECT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert second.returncode == 3
    assert "another radio" in second.stderr and "Traceback" not in second.stderr
    again = time.monotonic()
    rig.wait_readings(3, since=again, timeout=5)


def test_second_radio_on_the_same_serial_port_cannot_open_it(rig, tmp_path):
    other = RadioRig(tmp_path / "second", settings={"acquisition": {"interval_seconds": 10}})
    other.write_config()
    env = other.environ() | {"SERIAL_PORT": str(rig.paths.simulator_link)}
    log = tmp_path / "second.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "services.radio"], env=env, cwd=PROJECT,
                                stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        try:
            wait_for(lambda: "held by another program" in log.read_text(), 15, "the refusal")
            again = time.monotonic()
            rig.wait_readings(3, since=again, timeout=5)  # the first radio was not disturbed
        finally:
            proc.terminate()
            assert proc.wait(timeout=15) == 0
    assert "dongle-missing" in log.read_text()
