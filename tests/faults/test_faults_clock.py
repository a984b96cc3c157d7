"""The wall clock jumps: timers keep their pace, CSV files follow the readings' own time,
readings stamped 1970 are held back from InfluxDB and named.

A Raspberry Pi has no real-time clock: it boots at 1970 or at fake-hwclock's last value, and
NTP steps the clock later, possibly by days, either way.  Every Python process of the stack
(supervisord and its children, not the simulated meter, which has its own clock) runs on a
wall clock the test sets (tests/support/clock_shift/sitecustomize.py: ``time.time`` and
``datetime.now`` jump, ``time.monotonic`` does not, as with a real step of the system clock;
libfaketime cannot be used with Python 3.11, see that file).  The clock goes:

real → 3 days back → (InfluxDB down) 3 more days back → (InfluxDB up) → 1970 → real.

- Timers use the monotonic clock: in every phase the radio polls at its interval (no stall
  after a step back, no burst after a step forward); a USB unplug right after a step back
  is recovered within docs/radio.md's bound; the InfluxDB writer, backing off while the
  database is down when the clock steps back 3 days, sends what was read at the new clock
  within its backoff cap once the database is back.  (What was read before a step back is
  more than a day ahead of the clock then, and is held until the clock is right again.)
- Each CSV file is named for the local date of the readings it holds (3 and 6 days ago,
  1970-01-01, today), and holds every reading of the radio's journal exactly once.
- InfluxDB gets every reading but those stamped 1970, which the writer holds (``held``) and
  names ``clock-implausible`` in /health while the clock says 1970 and after.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.fault_stack import (
    JST,
    PROJECT,
    FaultStack,
    assert_clean_csv,
    assert_csv_is,
    db_points,
    missing_from_db,
    reading_point,
)
from tests.support.influx_fixtures import VictoriaMetrics
from tests.support.stack import wait_for

pytestmark = pytest.mark.e2e

INTERVAL = 0.5
PROPERTIES = ["E7", "E0", "E3"]
DAY = 86400
IN_1970 = 3600 * 12  # 1970-01-01 21:00 JST
UNPLUG_BOUND = 3.0  # docs/radio.md, recovery bound for `unplug` at the tests' time scale
BACKOFF_CAP = 2.0


class Clock:
    """The stack's wall clock (the file tests/support/clock_shift/sitecustomize.py reads)."""

    def __init__(self, path) -> None:
        self.path = path
        self.set("+0")

    def set(self, text: str) -> None:
        self.path.write_text(text + "\n")
        time.sleep(0.3)  # each process looks at the file at most every 0.1 s


def pace(stack: FaultStack, seconds: float) -> float:
    """Polls per second over ``seconds`` of real time (by the journal)."""
    before = len(stack.journal())
    t0 = time.monotonic()
    time.sleep(seconds)
    got = len(stack.journal()) - before
    return got / len(PROPERTIES) / (time.monotonic() - t0)


def stamped_before(stack: FaultStack, ago: float) -> list:
    """Journaled readings stamped more than ``ago`` seconds before the real time."""
    return [r for r in stack.journal() if r.time.timestamp() < time.time() - ago]


def test_clock_jumps(tmp_path):
    vm = VictoriaMetrics(tmp_path / "vm" / "data").start()
    unitid = "clock"
    clock = Clock(tmp_path / "clock")
    stack = FaultStack(
        tmp_path / "s",
        settings={
            "unitid": unitid,
            "acquisition": {"interval_seconds": INTERVAL, "properties": PROPERTIES},
            "storage": {"flush_interval_seconds": 0.5},
        },
        simulator_args=["--notify", "off"],
        extra_env={
            "PYTHONPATH": str(PROJECT / "tests" / "support" / "clock_shift"),
            "SMARTMETER_TEST_CLOCK": str(clock.path),
            "SMARTMETER_INFLUX_BACKOFF_CAP": str(BACKOFF_CAP),
        },
        program_env={"simulator": {"SMARTMETER_TEST_CLOCK": ""}},  # the meter's own clock
    ).use_influx(vm)
    paces: dict[str, float] = {}
    try:
        stack.start()
        stack.wait_all_running()
        wait_for(lambda: db_points(vm, unitid), 60, "readings in the database")
        paces["real"] = pace(stack, 3)

        clock.set(f"-{3 * DAY}")
        paces["3 days back"] = pace(stack, 3)
        stack.control.fault("unplug")
        time.sleep(1.0)
        before = len(stack.journal())
        stack.control.clear("unplug")
        off = time.monotonic()
        wait_for(lambda: len(stack.journal()) >= before + 3, 30, "readings after the replug")
        replug = time.monotonic() - off

        vm.stop()
        wait_for(
            lambda: stack.check("influxdb:delivery").get("cause") == "influx-unreachable",
            30,
            "influx-unreachable",
        )
        time.sleep(BACKOFF_CAP)  # a retry is scheduled now
        clock.set(f"-{6 * DAY}")
        paces["6 days back"] = pace(stack, 3)
        vm.start()
        up = time.monotonic()
        # What was read at this clock is sent; what was read 3 days "later" (before the step
        # back) is more than a day ahead of this clock, and waits until it is right again.
        wait_for(lambda: not missing_from_db(vm, unitid, stamped_before(stack, 5 * DAY)), 30,
                 "the readings of the step back")  # fmt: skip
        resent = time.monotonic() - up

        clock.set(f"@{IN_1970}")
        paces["1970"] = pace(stack, 3)
        wait_for(
            lambda: stack.check("influxdb:delivery").get("cause") == "clock-implausible",
            30,
            "clock-implausible for InfluxDB in /health",
        )
        assert stack.check("clock:ntp").get("cause") == "clock-implausible"

        clock.set("+0")
        paces["real again"] = pace(stack, 3)
        stack.rpc().stopProcess("radio")
        journal = stack.journal()
        plausible = [r for r in journal if r.time.year > 1970]
        wait_for(lambda: not missing_from_db(vm, unitid, plausible), 30, "the last readings")
        wait_for(
            lambda: (
                stack.check("influxdb:delivery").get("counters", {}).get("held", 0)
                == len(journal) - len(plausible)
            ),
            30,
            "the 1970 readings counted as held",
        )
        delivery = stack.check("influxdb:delivery")
        got = db_points(vm, unitid)
    finally:
        stack.stop()
        vm.stop()
    print(f"polls/s: {paces}; replug {replug:.2f} s; resent {resent:.2f} s after the restart")

    for phase, rate in paces.items():
        assert 0.6 / INTERVAL < rate < 1.4 / INTERVAL, f"{phase}: {rate:.2f} polls/s"
    assert replug <= UNPLUG_BOUND, f"readings resumed {replug:.2f} s after the replug"
    assert resent <= BACKOFF_CAP + 8, f"the backlog went {resent:.1f} s after the restart"

    assert_clean_csv(stack)
    assert_csv_is(stack, journal)
    days = {r.time.astimezone(JST).strftime("%Y%m%d") for r in journal}
    assert {f.name.split("-")[0] for f in stack.csv_files()} == days
    today = datetime.now(JST).date()
    for back in (0, 3, 6):
        assert (today - timedelta(days=back)).strftime("%Y%m%d") in days
    assert "19700101" in days

    held = [r for r in journal if r.time < datetime(2025, 1, 1, tzinfo=UTC)]
    assert held and all(r.time.year == 1970 for r in held)
    assert not [r for r in held if reading_point(r) in got], "a 1970 reading was sent"
    assert not [r for r in plausible if reading_point(r) not in got], "a reading not sent"
    assert delivery["counters"]["held"] == len(held)
    assert delivery["cause"] == "clock-implausible"
