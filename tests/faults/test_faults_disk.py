"""A full disk: no crash loop, drops counted, everything that can be is delivered when space
returns.

DESIGN.md: "Says what is wrong ... disk full" and "bounds the queue (oldest dropped, counted)
so a dead server can never fill the disk".  The data dir and the CSV dir share one small
tmpfs (as they share the SD card).  InfluxDB (VictoriaMetrics) is down, so a backlog builds up
in the writer's queue; then a filler file takes the free space in two steps:

1. nearly full (less free than the queue keeps back for its checkpoints): ``/health`` names
   ``disk-full`` for InfluxDB and the disk, and the queue drops its oldest readings to take
   the newest, counting them (``smartmeter_queue_dropped_total``);
2. full to the last byte: the CSV cannot be written either (``csv:write`` ``disk-full``);
   rows wait in the radio's journal.  For 10 s nothing exits and nothing is restarted.

Then the filler goes and the database comes back: the CSV holds every reading of the radio's
journal exactly once, and the database every one but the dropped, which are exactly as many
as counted and the oldest of the outage.

Needs root to mount the tmpfs (skipped otherwise, as in test_no_loss_processes.py).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.fault_stack import (
    FaultStack,
    assert_clean_csv,
    assert_csv_is,
    csv_rows,
    db_points,
    reading_point,
    reading_row,
)
from tests.support.influx_fixtures import VictoriaMetrics
from tests.support.stack import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def small_disk(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    disk = root / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(disk)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(path: Path, leave: int = 0) -> None:
    """Write to ``path`` until only ``leave`` bytes of its filesystem are free (or none)."""
    chunk = b"\0" * 65536
    with path.open("ab", buffering=0) as f:
        for size in (65536, 4096, 512, 64, 1):  # down to the last blocks
            with contextlib.suppress(OSError):
                while free_bytes(path) - size >= leave:
                    f.write(chunk[:size])


def free_bytes(path: Path) -> int:
    st = os.statvfs(path.parent)
    return st.f_bavail * st.f_frsize


def queue_counter(stack: FaultStack, name: str) -> int:
    return int(stack.check("influxdb:delivery").get("counters", {}).get(name, 0))


def test_full_disk_drops_counted_no_crash_loop_recovery(tmp_path, small_disk):
    vm = VictoriaMetrics(tmp_path / "vm" / "data").start()
    unitid = "disk"
    stack = FaultStack(
        small_disk.parent,
        settings={
            "unitid": unitid,
            "acquisition": {"interval_seconds": 0.3, "properties": ["E7", "E0", "E3"]},
            "storage": {"flush_interval_seconds": 0.5},
        },
        simulator_args=["--notify", "off"],
        data_dir=small_disk / "data",
        csv_dir=small_disk / "csv",
        extra_env={"SMARTMETER_INFLUX_BACKOFF_CAP": "2"},
    ).use_influx(vm)
    filler = small_disk / "filler"
    try:
        stack.start()
        stack.wait_all_running()
        wait_for(lambda: db_points(vm, unitid), 60, "readings in the database")
        vm.stop()
        down_at = time.time()
        wait_for(lambda: queue_counter(stack, "queue_depth") > 100, 90, "a backlog in the queue")
        pids = stack.pids()

        # Nearly full (less free than the queue keeps for its checkpoints): the queue stops
        # growing and drops its oldest to take the newest; the CSV still has room.
        fill(filler, leave=128 * 1024)
        wait_for(lambda: stack.check("influxdb:delivery").get("cause") == "disk-full", 60,
                 "influxdb:delivery disk-full")  # fmt: skip
        wait_for(lambda: queue_counter(stack, "dropped") > 0, 60, "the queue dropping its oldest")
        assert stack.check("disk:data").get("cause") == "disk-full"

        # Full to the last byte: the CSV cannot be written either.  Rows wait in the radio's
        # journal; nothing exits, nothing is restarted.
        fill(filler)
        wait_for(lambda: stack.check("csv:write").get("cause") == "disk-full", 60,
                 "csv:write disk-full")  # fmt: skip
        time.sleep(8)  # long enough for a crash loop to show (startsecs 2, startretries 3)
        assert stack.check("influxdb:delivery").get("cause") == "disk-full"
        assert set(stack.states().values()) == {"RUNNING"}, stack.states()
        assert stack.pids() == pids, "a program exited while the disk was full"
        _, body = stack.get("/metrics")
        metric = [line for line in body.decode().splitlines()
                  if line.startswith("smartmeter_queue_dropped_total")]  # fmt: skip
        assert metric and float(metric[0].split()[-1]) > 0, metric

        filler.unlink()
        vm.start()
        wait_for(lambda: stack.check("csv:write").get("cause") == "ok", 60, "CSV writing again")
        wait_for(
            lambda: (
                stack.check("influxdb:delivery").get("cause") == "ok"
                and queue_counter(stack, "queue_depth") == 0
            ),
            90,
            "delivery again, and an empty queue",
        )
        stack.rpc().stopProcess("radio")
        timed = stack.journal_times()
        journal = [r for _, r in timed]
        want = Counter(map(reading_row, journal))
        wait_for(lambda: csv_rows(stack) == want, 60, "the CSV to hold the whole journal")
        time.sleep(3)
        dropped = queue_counter(stack, "dropped")
        got = db_points(vm, unitid)
        assert stack.pids().keys() >= {"csv_rotator", "influx_writer", "health"}
    finally:
        stack.stop()
        vm.stop()
    assert_clean_csv(stack)
    assert_csv_is(stack, journal)
    missing = [r for r in journal if reading_point(r) not in got]
    assert len(missing) == dropped, f"{len(missing)} missing from the database, {dropped} counted"
    assert dropped > 0
    # Oldest first: every reading dropped is older than every one of the outage delivered.
    kept = [r.seq for at, r in timed if at >= down_at and reading_point(r) in got]
    assert max(r.seq for r in missing) < min(kept), "a newer reading was dropped before an older"
    logs = stack.log("influx_writer") + stack.log("csv_rotator") + stack.log("radio")
    assert "Traceback" not in logs
    print(f"{dropped} readings dropped (the oldest) and counted while the disk was full")
