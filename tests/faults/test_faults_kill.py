"""Random SIGKILLs over every supervised process: nothing lost, nothing twice.

DESIGN.md, "Nothing lost": a reading reaches CSV and InfluxDB exactly once in effect through
any process killed with SIGKILL.  The real stack runs under supervisord with the simulator as
the meter (meter time ×30, answers every 0.5 s) and VictoriaMetrics as InfluxDB.  Seeded
random SIGKILLs, 0.2–2 s apart, in rounds that take every child of supervisord once in a
random order (simulator, radio, csv_rotator, influx_writer, health, restarter), each while
RUNNING.

Judged at the end, after the radio is stopped and the writers have caught up:

- the CSV holds every reading of the radio's journal exactly once (0 missing, 0 duplicate
  rows), in clean files;
- VictoriaMetrics holds every journaled reading, with its value, and nothing else;
- every journaled reading is a value the meter served, in order, once (served log);
- a served value that never became a reading was served within 2 s of a SIGKILL of the radio
  (it died holding the answer) or of the simulator (it died before the answer left): the
  only readings a kill may lose are the ones no process had yet written down.

Short form 12 kills (CI), full form 200 (``scripts/test --long``, docs/reliability.md).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter

import pytest

from tests.support.fault_stack import (
    PROGRAMS,
    FaultStack,
    assert_clean_csv,
    assert_csv_is,
    assert_db_is,
    counts,
    csv_rows,
    missing_from_db,
    reading_row,
    unpublished,
)
from tests.support.influx_fixtures import victoria_fixture  # noqa: F401
from tests.support.stack import wait_for

pytestmark = pytest.mark.e2e

EPCS = ["E7", "E0", "E3", "E8"]
KILL_WINDOW = 2.0  # a served value may be lost if served this close to a radio/simulator kill


@pytest.mark.parametrize("kills", counts(12, 200))
def test_random_sigkills_lose_nothing_and_duplicate_nothing(tmp_path, victoria, kills):
    seed = int(os.environ.get("SMARTMETER_FAULT_SEED") or time.time())
    rng = random.Random(seed)
    unitid = f"kill{kills}-{seed}"
    stack = FaultStack(
        tmp_path / "s",
        settings={
            "unitid": unitid,
            "acquisition": {"interval_seconds": 0.5, "properties": EPCS},
            "storage": {"flush_interval_seconds": 0.5},
        },
        # No EA/EB announcements: a killed simulator restarts its meter clock, and would
        # announce a half-hour again with another value.
        simulator_args=["--time-scale", "30", "--notify", "off"],
    ).use_influx(victoria)
    done: list[tuple[float, str]] = []
    try:
        stack.start()
        stack.wait_all_running()
        wait_for(lambda: len(stack.csv_rows()) >= 8, 60, "the first CSV rows")
        started = time.monotonic()
        order: list[str] = []
        while len(done) < kills:
            if not order:  # rounds: every program once, in a random order
                order = rng.sample(PROGRAMS, len(PROGRAMS))
            name = order.pop()
            if stack.info(name)["statename"] != "RUNNING":
                stack.wait_running(name, timeout=60)
            try:
                stack.kill(name)
            except ProcessLookupError:
                continue  # it died by itself just now (a radio that lost its simulator)
            done.append((time.time(), name))
            time.sleep(rng.uniform(0.2, 2.0))
        took = time.monotonic() - started
        stack.wait_all_running(timeout=90)
        before = len(stack.journal())
        wait_for(lambda: len(stack.journal()) >= before + 8, 60, "readings after the last kill")
        time.sleep(3)
        stopped_at = time.time()
        stack.rpc().stopProcess("radio")  # the journal is final from here on
        journal = stack.journal()
        wait_delivered(stack, victoria, unitid, journal)
        served = stack.served_entries(set(EPCS))
    finally:
        stack.stop()
    by_program = Counter(n for _, n in done)
    print(f"seed {seed}: {len(done)} SIGKILLs in {took:.0f} s {dict(by_program)}, "
          f"{len(journal)} readings")  # fmt: skip

    assert {n for _, n in done} <= set(PROGRAMS)
    assert_clean_csv(stack)
    assert_csv_is(stack, journal)
    assert_db_is(victoria, unitid, journal)
    lost = unpublished(served, journal)
    fatal = [t for t, n in done if n in ("radio", "simulator")]
    unexplained = [s for s in lost if not any(-KILL_WINDOW <= s[3] - t <= 1.0 for t in fatal)]
    # The answer in flight when the radio was stopped at the end may be missing too.
    unexplained = [s for s in unexplained if s[3] < stopped_at - 1.0]
    print(f"{len(lost)} served values never became readings, each within {KILL_WINDOW:g} s of "
          "a SIGKILL of the radio or the simulator (or the final stop)")  # fmt: skip
    assert not unexplained, (
        f"seed {seed}: {len(unexplained)} served values were lost outside any kill: "
        f"{unexplained[:5]}"
    )


def wait_delivered(stack: FaultStack, vm, unitid: str, journal: list, timeout: float = 90) -> None:
    """Until the CSV and the database hold the whole journal (or ``timeout``: the judges say
    what is missing)."""
    want = Counter(map(reading_row, journal))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and csv_rows(stack) != want:
        time.sleep(0.5)
    while time.monotonic() < deadline and missing_from_db(vm, unitid, journal):
        time.sleep(1.0)
