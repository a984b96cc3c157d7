"""Every radio fault of the simulator through the whole supervised stack: the cause is named
in /health, readings resume within docs/radio.md's bound, and the CSV misses nothing.

tests/test_radio_faults.py proves each fault on the radio alone (a subprocess, a subscriber
in the test, both dialects of the matrix).  This runs them one after another on one stack
under supervisord, as a person would meet them: the simulator's control socket switches the
fault, ``GET /health``'s ``radio:link`` check must name the cause while a lasting fault is
on, and the time from the fault's end to the first reading the meter answered after it (as
the radio's journal shows it) must be within the bound of docs/radio.md's "test asserts"
column (radio waits × 0.05).  In the end the CSV holds every journaled reading exactly
once, and every journaled reading is a value the meter served.

Short form: one fault of each kind (a wire fault, the transmission limit, a refused join,
USB unplug, a hung dongle); full form: all of them (``scripts/test --long``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from tests.support.fault_stack import (
    FaultStack,
    assert_clean_csv,
    assert_csv_is,
    read_journal_times,
    unpublished,
)
from tests.support.stack import wait_for

pytestmark = pytest.mark.e2e

POLLED = ["E7", "E0", "E3"]


@dataclass(frozen=True)
class Fault:
    name: str  # the simulator's fault, or action when ``action`` is set
    bound: float  # readings resume this long after the fault ends, at most (docs/radio.md)
    cause: str | None = None  # what /health's radio:link names while it lasts
    params: tuple[tuple[str, object], ...] = ()
    then: str | None = None  # an action right after switching it on (to force a rejoin)
    action: bool = False  # a one-shot action, not a fault that is switched off
    hold: float = 1.0


FAULTS = {
    "garbage": Fault("garbage", 1.0),
    "no-tx-event": Fault("no-tx-event", 1.0),  # no EVENT 21 after SKSENDTO
    "slow": Fault("slow", 2.5, params=(("seconds", 0.5),), hold=1.5),
    "tx-limit": Fault("tx-limit", 1.0, "tx-limited"),  # EVENT 32, then 33 when switched off
    "reauth": Fault("reauth", 1.0, action=True),  # EVENT 29, then 25
    "reauth-fail": Fault("reauth", 2.0, params=(("result", "fail"),), action=True),  # 29, 24
    "peer-term": Fault("peer-term", 2.0, action=True),  # EVENT 26
    "auth-fail": Fault("auth-fail", 5.0, "auth-failed", then="peer-term"),  # EVENT 24
    "no-pan": Fault("no-pan", 5.0, "no-meter-found", then="replace-meter"),
    "unplug": Fault("unplug", 3.0, "dongle-missing"),
    "hang": Fault("hang", 5.0, "dongle-not-responding"),
    "replace-meter": Fault("replace-meter", 5.0, action=True),
    "drop-responses": Fault("drop-responses", 5.0, "meter-not-answering"),
    "tx-fail": Fault("tx-fail", 5.0, "meter-not-answering"),
}
SHORT = ["garbage", "tx-limit", "auth-fail", "unplug", "hang"]


def radio_cause(stack: FaultStack) -> str:
    return str(stack.check("radio:link").get("cause", ""))


def first_reading_after(stack: FaultStack, wall: float, timeout: float) -> float:
    """Monotonic time at which the journal first held a poll reading answered after ``wall``."""
    deadline = time.monotonic() + timeout
    last = stack.journal()[-1].seq
    while time.monotonic() < deadline:
        seen = time.monotonic()
        new = [r for _, r in read_journal_times(stack.journal_path, after_seq=last)]
        if any(r.source == "poll" and r.time.timestamp() >= wall for r in new):
            return seen
        if new:
            last = new[-1].seq
        time.sleep(0.05)
    raise AssertionError(f"no reading within {timeout:g} s")


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(SHORT, id="short"),
        pytest.param(list(FAULTS), id="full", marks=[pytest.mark.long, pytest.mark.timeout(3600)]),
    ],
)
def test_radio_faults_through_the_whole_stack(tmp_path, names):
    stack = FaultStack(
        tmp_path / "s",
        settings={
            "acquisition": {"interval_seconds": 0.3, "properties": POLLED},
            "storage": {"flush_interval_seconds": 0.5},
        },
        simulator_args=["--notify", "off"],
    )
    results: dict[str, float] = {}
    try:
        stack.start()
        stack.wait_all_running()
        wait_for(lambda: radio_cause(stack) == "joined", 60, "radio:link joined")
        for name in names:
            f = FAULTS[name]
            wait_for(lambda: radio_cause(stack) == "joined", 30, f"joined before {name}")
            first_reading_after(stack, time.time(), 10)  # readings flow
            params = dict(f.params)
            if f.action:
                off = time.time()
                off_mono = time.monotonic()
                stack.control.do(f.name, **params)
            else:
                stack.control.fault(f.name, **params)
                if f.then:
                    stack.control.do(f.then)
                if f.cause:
                    wait_for(lambda f=f: radio_cause(stack) == f.cause, 30,
                             f"/health radio:link {f.cause} during {name}")  # fmt: skip
                time.sleep(f.hold)
                off = time.time()
                off_mono = time.monotonic()
                stack.control.clear(f.name)
            took = first_reading_after(stack, off, f.bound + 30) - off_mono
            results[name] = took
        wait_for(lambda: radio_cause(stack) == "joined", 30, "joined at the end")
        stack.rpc().stopProcess("radio")
        journal = stack.journal()
        wait_for(lambda: len(stack.csv_rows()) >= len(journal), 30, "the CSV to catch up")
        served = stack.served_entries(set(POLLED))
        log = stack.log("radio")
    finally:
        stack.stop()
    for n, t in results.items():
        print(f"{n}: readings resumed {t:.2f} s after the fault ended (bound {FAULTS[n].bound:g})")
    slow = {n: round(t, 2) for n, t in results.items() if t > FAULTS[n].bound}
    assert not slow, f"readings resumed later than docs/radio.md's bound: {slow}"
    assert_clean_csv(stack)
    assert_csv_is(stack, journal)
    unpublished(served, journal)  # every reading is a value the meter served, none twice
    assert "Traceback" not in log
