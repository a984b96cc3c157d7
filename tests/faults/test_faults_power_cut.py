"""Power cut: freeze the whole stack, copy what is on the "SD card", start afresh on the copy.

DESIGN.md, "Nothing lost": a power cut loses at most the last ``flush_interval`` of
not-yet-flushed data, and never corrupts a file.  The real stack runs under supervisord
(simulator as the meter, its clock ×300 from a fixed day so half-hours pass every 6 s;
VictoriaMetrics as InfluxDB; ``storage.flush_interval_seconds`` 2).  A cut is:

1. SIGSTOP to every process of the stack at once (smartmeterctl, supervisord, its children):
   nothing runs on, nothing is written after this instant;
2. a copy of the data dir and the CSV dir, the persistent storage.  The runtime dir is left
   behind: on the appliance it is tmpfs (``/run``), which a power cut empties — the radio's
   journal (and the CSV cursor that points into it) go with it;
3. half a row appended to the newest CSV file of the copy, as a write cut short would leave;
4. SIGKILL to everything; a fresh stack on the copy, its meter's clock continuing from where
   the old one was (plus the time it was off).

Judged at the end (served log = truth, each old journal read while frozen):

- every CSV file is clean (header once, no torn line, rows of its own day), and the queue
  of the copy passes ``PRAGMA quick_check``;
- of the values the meter served before a cut, only those served within the flush
  interval (+1 s) before it are missing from the CSV, and from the database;
- nothing is in the CSV twice: no row more often than the radio journaled it, no half-hour
  of EA/EB twice; every reading of the last stack is in the CSV and the database;
- with the backfill (services/radio/backfill/runner.py), every half-hour of EA and EB from the first
  one announced to the last one due before the end is in the CSV once — the ones the cut
  lost and the ones of the time the power was off included.

Short form one cut (CI); full form ten cuts in a row, each stack started on the previous
one's copy (``scripts/test --long``).
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from common.reading import Reading
from tests.support.fault_stack import (
    FaultStack,
    assert_clean_csv,
    counts,
    csv_rows,
    db_points,
    descendants,
    expected_points,
    freeze,
    kill_hard,
    missing_from_db,
    reading_point,
    reading_row,
    unpublished,
)
from tests.support.influx_fixtures import victoria_fixture  # noqa: F401
from tests.support.stack import wait_for

pytestmark = pytest.mark.e2e

POLLED = ["E7", "E0", "E3"]
FLUSH = 2.0  # storage.flush_interval_seconds: the most a power cut may lose
MARGIN = 1.0  # for the flush itself (fsync) and the two processes' clocks
SCALE = 300  # meter seconds per second: a half-hour every 6 s
METER_START = datetime.fromisoformat("2025-06-10T02:00:00+09:00")
OFF_FOR = 8.0  # seconds without power: more than a half-hour of the meter's time


def make_stack(root: Path, unitid: str, meter_start: datetime, vm) -> FaultStack:
    return FaultStack(
        root,
        settings={
            "unitid": unitid,
            "acquisition": {"interval_seconds": 0.3, "properties": POLLED},
            "storage": {"flush_interval_seconds": FLUSH},
        },
        simulator_args=["--time-scale", str(SCALE), "--start", meter_start.isoformat()],
    ).use_influx(vm)


def stack_pids(stack: FaultStack) -> list[int]:
    assert stack.proc is not None
    return [stack.proc.pid, *descendants(stack.proc.pid)]


def tear_newest_csv(csv_dir: Path) -> str | None:
    """Half of a row at the end of the newest CSV file, without its line end."""
    files = sorted(csv_dir.glob("*-smartmeter.csv"), key=lambda f: f.stat().st_mtime)
    if not files:
        return None
    last = files[-1].read_text().splitlines()[-1]
    with files[-1].open("a") as f:
        f.write(last[: len(last) // 2])
    return files[-1].name


def quick_check(data_dir: Path, scratch: Path) -> str:
    """PRAGMA quick_check of the queue as the copy holds it (on a copy of the copy)."""
    scratch.mkdir(parents=True)
    queue = data_dir / "influx_queue.sqlite"
    if not queue.exists():
        return "no queue file"
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{queue}{suffix}")
        if src.exists():
            shutil.copy2(src, scratch / src.name)
    db = sqlite3.connect(scratch / queue.name)
    try:
        return str(db.execute("PRAGMA quick_check").fetchone()[0])
    finally:
        db.close()


def meter_time(stack: FaultStack) -> datetime:
    return datetime.fromisoformat(stack.control.status()["meter_time"])


class Cut:
    """What one stack did before its power was cut."""

    def __init__(self, at: float, journal: list[tuple[float, Reading]], served: list) -> None:
        self.at, self.journal, self.served = at, journal, served


def half_hours(first: datetime, last: datetime) -> list[datetime]:
    out, t = [], first
    while t <= last:
        out.append(t)
        t += timedelta(minutes=30)
    return out


@dataclass
class Scenario:
    cuts: int
    unitid: str
    done: list[Cut]  # each stack's record, read while it was frozen
    checks: list[str]  # quick_check of each copy's queue
    final: list[Reading]  # the last stack's journal
    served_last: list[dict]
    stopped_at: float
    rows: Counter  # the CSV at the end
    csv_slots: Counter  # (epc, timestamp) of every EA/EB row at the end
    db: dict
    stack: FaultStack
    first_ea: datetime
    slots_until: datetime | None  # half-hours due until here are filled (with backfill)


@pytest.fixture(scope="module", params=counts(1, 10))
def scenario(request, tmp_path_factory, victoria) -> Scenario:
    """The stack through ``cuts`` power cuts in a row, each stack started on the previous
    one's copy; each cut comes 3–5 s after a new EA/EB half-hour reached the CSV (while the
    radio's slot ledger still counts that half-hour as recent, to be checked against the CSV
    after a power cut)."""
    cuts = request.param
    tmp_path = tmp_path_factory.mktemp(f"cut{cuts}")
    unitid = f"cut{cuts}-{int(time.time())}"
    done: list[Cut] = []
    checks: list[str] = []
    stack = make_stack(tmp_path / "c0", unitid, METER_START, victoria)
    slots_until = None
    try:
        stack.start()
        for k in range(cuts):
            stack.wait_all_running()
            seen = {r["timestamp"] for r in stack.csv_rows() if r["epc"] == "EA"}
            wait_for(lambda s=stack, seen=seen: {r["timestamp"] for r in s.csv_rows()
                                                 if r["epc"] == "EA"} - seen,
                     60, "a new EA row in the CSV")  # fmt: skip
            time.sleep(3 + k % 3)  # cut at different points of the flush interval
            meter_at = meter_time(stack)
            pids = stack_pids(stack)
            cut_at = time.time()
            freeze(pids)
            frozen = time.monotonic()
            journal = stack.journal_times()
            served = stack.served_entries(set(POLLED))
            nxt = tmp_path / f"c{k + 1}"
            nxt.mkdir()
            shutil.copytree(stack.data_dir, nxt / "data", symlinks=True)
            shutil.copytree(stack.csv_dir, nxt / "csv", symlinks=True)
            kill_hard(pids)
            assert stack.proc is not None
            stack.proc.wait()
            done.append(Cut(cut_at, journal, served))
            checks.append(quick_check(nxt / "data", tmp_path / f"check{k}"))
            tear_newest_csv(nxt / "csv")
            time.sleep(max(0.0, OFF_FOR - (time.monotonic() - frozen)))
            meter_start = meter_at + timedelta(seconds=(time.time() - cut_at) * SCALE)
            stack = make_stack(nxt, unitid, meter_start, victoria)
            stack.start()
        stack.wait_all_running()
        # The last stack runs a while, and its writers are past their start (a writer that
        # starts after the radio stopped cannot catch up: the journal is the radio's).
        wait_for(lambda: len(stack.journal()) >= 30, 60, "readings from the last stack")
        wait_for(lambda: not missing_from_db(victoria, unitid, stack.journal()[:10]), 60,
                 "the last stack's first readings in the database")  # fmt: skip
        first_ea = min(r.time for _, r in done[0].journal if r.epc == "EA")
        # Every half-hour from the first announced one to the last one whose INF is
        # surely out (backfill_plan.LIVE_GRACE is 15 meter minutes) is in the CSV.
        def filled() -> datetime | None:
            last = meter_time(stack) - timedelta(minutes=45)
            have = {(r["epc"], r["timestamp"]) for r in stack.csv_rows()}
            slots = half_hours(first_ea, last)
            ok = all((epc, t.isoformat()) in have for t in slots for epc in ("EA", "EB"))
            return last if ok else None

        with contextlib.suppress(AssertionError):  # judged by the backfill test
            slots_until = wait_for(filled, 120, "every half-hour of EA/EB in the CSV")
        stopped_at = time.time()
        stack.rpc().stopProcess("radio")
        final = [r for _, r in stack.journal_times()]
        want = Counter(map(reading_row, final))
        wait_for(lambda: not want - csv_rows(stack), 60, "the CSV to hold the last journal")
        wait_for(lambda: not missing_from_db(victoria, unitid, final), 60, "the database")
        served_last = stack.served_entries(set(POLLED))
        db = db_points(victoria, unitid)
    finally:
        stack.stop()
    rows = csv_rows(stack)
    slots = Counter(
        (r["epc"], r["timestamp"]) for r in stack.csv_rows() if r["epc"] in ("EA", "EB")
    )
    return Scenario(cuts, unitid, done, checks, final, served_last, stopped_at, rows, slots, db,
                    stack, first_ea, slots_until)  # fmt: skip


def test_power_cut_loses_at_most_the_flush_interval(scenario: Scenario):
    s = scenario
    assert s.checks == ["ok"] * s.cuts, s.checks
    assert_clean_csv(s.stack)
    journaled = Counter(reading_row(r) for c in s.done for _, r in c.journal)
    journaled.update(map(reading_row, s.final))
    twice = s.rows - journaled
    assert not twice, f"CSV rows more often than the radio journaled them: {list(twice)[:5]}"
    assert not Counter(map(reading_row, s.final)) - s.rows, "a reading of the last stack missing"
    assert not [k for k in expected_points(s.final) if k not in s.db], "missing from the database"

    # What each cut lost: served values that did not survive, each served within the last
    # flush interval before the cut.
    left = Counter(s.rows)
    report = []
    for n, cut in enumerate(s.done):
        kept = []
        for _, r in cut.journal:
            if left[reading_row(r)] > 0:
                left[reading_row(r)] -= 1
                kept.append(r)
        lost = [v for v in unpublished(cut.served, kept) if v[3] < cut.at + 1.0]
        early = [v for v in lost if v[3] < cut.at - FLUSH - MARGIN]
        assert not early, (
            f"cut {n}: {len(early)} values served more than {FLUSH:g} s before the cut are "
            f"missing from the CSV: {[(v[0], v[2], round(cut.at - v[3], 1)) for v in early[:5]]}"
        )
        old = [r for at, r in cut.journal if at < cut.at - FLUSH - MARGIN and r.source == "poll"]
        missing = [r for r in old if reading_point(r) not in s.db]
        assert not missing, f"cut {n}: {len(missing)} old readings missing from the database"
        oldest = max((cut.at - v[3] for v in lost), default=0)
        report.append(f"cut {n}: {len(lost)} served values lost, {oldest:.1f} s before at most")
    unpublished(s.served_last, [r for r in s.final if r.time.timestamp() < s.stopped_at])
    print("\n".join(report))


def test_power_cut_writes_no_half_hour_twice(scenario: Scenario):
    twice = [k for k, n in scenario.csv_slots.items() if n > 1]
    assert not twice, f"half-hours twice in the CSV: {twice[:6]}"


def test_backfill_fills_the_energy_slots_a_power_cut_lost(scenario: Scenario):
    s = scenario
    assert s.slots_until is not None, "the backfill did not fill every half-hour in 120 s"
    for t in half_hours(s.first_ea, s.slots_until):
        for epc in ("EA", "EB"):
            assert s.csv_slots[(epc, t.isoformat())] >= 1, f"{epc} {t.isoformat()} missing"
