"""The disk queue: atomic with its cursor through kill -9, bounded by size and age with the
drops counted, never wedged by a damaged file or a full disk, and light on the SD card."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from common.bus import Cursor
from services.influx_writer.queue import DiskFull, DiskQueue, Row
from tests.support.stack import PROJECT

TS = 1_795_662_000_000  # 2026-11-26T03:00:00Z
BIG = 1 << 62


def line(n: int) -> str:
    return f"smartmeter_power,epc=E7,unitid=smartmeter value={n}.0 {TS + n * 1000}"


def rows(first: int, n: int) -> list[tuple[str, int]]:
    return [(line(i), TS + i * 1000) for i in range(first, first + n)]


def open_queue(path: Path, max_bytes: int = 64 << 20, max_age: float = 30 * 86400) -> DiskQueue:
    return DiskQueue(path, max_bytes, max_age)


def everything(q: DiskQueue) -> list[Row]:
    return q.peek(BIG, 0, BIG)[0]


def test_rows_and_cursor_are_committed_together_and_survive_a_reopen(tmp_path):
    q = open_queue(tmp_path / "q.sqlite")
    assert q.cursor == Cursor("", 0) and q.depth == 0
    q.enqueue(rows(1, 10), Cursor("epoch-a", 10))
    q.ack(everything(q)[:4])
    q.close()
    q = open_queue(tmp_path / "q.sqlite")
    assert q.cursor == Cursor("epoch-a", 10)
    assert [r.line for r in everything(q)] == [line(i) for i in range(5, 11)]
    assert q.depth == 6 and q.counters["delivered"] == 4
    q.close()


WORKER = textwrap.dedent(
    """
    import sys
    from common.bus import Cursor
    from services.influx_writer.queue import DiskQueue
    q = DiskQueue(__import__("pathlib").Path(sys.argv[1]), 64 << 20, 86400 * 30)
    seq = q.cursor.seq
    print("ready", flush=True)
    while True:
        batch = [(f"m v={i}.0 {1795662000000 + i}", 1795662000000 + i)
                 for i in range(seq + 1, seq + 8)]
        seq += len(batch)
        q.enqueue(batch, Cursor("e", seq))
        q.ack(q.peek(5, 0, 1 << 62)[0])
    """
)


def test_kill_9_at_any_instant_leaves_rows_cursor_and_counters_consistent(tmp_path):
    path = tmp_path / "q.sqlite"
    for _ in range(15):
        proc = subprocess.Popen([sys.executable, "-c", WORKER, str(path)], cwd=PROJECT,
                                stdout=subprocess.PIPE)  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        time.sleep(random.uniform(0.01, 0.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        q = open_queue(path)
        # Every reading up to the cursor is either still queued or was delivered; the queued
        # ones are exactly the newest, in order: nothing lost, nothing twice.
        queued = [int(r.line.split("=")[1].split(".")[0]) for r in everything(q)]
        assert q.counters["delivered"] + len(queued) == q.cursor.seq
        assert queued == list(range(q.counters["delivered"] + 1, q.cursor.seq + 1))
        q.close()
    assert q.cursor.seq > 0


def test_the_size_limit_drops_the_oldest_counts_them_and_bounds_the_files(tmp_path):
    cap = 256 * 1024
    q = open_queue(tmp_path / "q.sqlite", max_bytes=cap)
    total = 0
    for _ in range(200):
        q.enqueue(rows(total + 1, 50), Cursor("e", total + 50))
        total += 50
    kept = everything(q)
    assert q.counters["dropped"] > 0
    assert q.counters["dropped"] + len(kept) == total  # counted, not lost silently
    assert kept[-1].line == line(total)  # the newest are kept, in order
    assert [r.seq for r in kept] == sorted(r.seq for r in kept)
    size = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert size <= cap + 32 * 1024, size  # the file and its WAL (give or take a transaction)
    q.close()
    q = open_queue(tmp_path / "q.sqlite", max_bytes=cap)
    assert q.counters["dropped"] + q.depth == total  # the counter is persisted
    q.close()


def test_rows_older_than_the_age_limit_are_dropped_and_counted(tmp_path):
    q = open_queue(tmp_path / "q.sqlite", max_age=3600)
    q.enqueue(rows(1, 5), Cursor("e", 5))
    q.db.execute("UPDATE q SET enq = enq - 7200")  # as if queued two hours ago
    assert q.enqueue(rows(6, 3), Cursor("e", 8)) == 5
    assert [r.line for r in everything(q)] == [line(i) for i in (6, 7, 8)]
    assert q.counters["dropped"] == 5
    q.close()


def test_rows_queued_before_the_clock_was_set_age_from_when_it_was(tmp_path):
    q = open_queue(tmp_path / "q.sqlite", max_age=3600)
    q.enqueue(rows(1, 5), Cursor("e", 5))
    q.db.execute("UPDATE q SET enq = 100.0")  # queued in an earlier boot, clock at 1970
    q.close()
    q = open_queue(tmp_path / "q.sqlite", max_age=3600)
    assert q.enqueue(rows(6, 1), Cursor("e", 6)) == 0  # not "55 years old"
    assert len(everything(q)) == 6
    q.close()


def test_a_batch_in_flight_when_its_rows_were_dropped_cannot_delete_newer_rows(tmp_path):
    q = open_queue(tmp_path / "q.sqlite", max_age=3600)
    q.enqueue(rows(1, 5), Cursor("e", 5))
    in_flight = everything(q)
    q.db.execute("UPDATE q SET enq = enq - 7200")
    q.enqueue(rows(6, 5), Cursor("e", 10))  # drops all five that are in flight
    q.ack(in_flight)  # the server's 204 for them arrives now
    assert [r.line for r in everything(q)] == [line(i) for i in range(6, 11)]
    assert q.counters["delivered"] == 0 and q.depth == 5
    q.close()


def test_dead_letters_keep_the_line_and_the_servers_reason(tmp_path):
    q = open_queue(tmp_path / "q.sqlite")
    q.enqueue(rows(1, 3), Cursor("e", 3), invalid=[('{"value": NaN}', "not a finite number")])
    q.dead_letter(everything(q)[1:2], 400, "unable to parse 'x': bad timestamp")
    assert q.dead_letters() == [
        ('{"value": NaN}', None, "not a finite number"),
        (line(2), 400, "unable to parse 'x': bad timestamp"),
    ]
    assert q.counters["deadletter"] == 2 and q.depth == 2
    q.close()


@pytest.mark.parametrize("damage", ["header", "middle page"])
def test_a_damaged_file_is_set_aside_counted_and_replaced(tmp_path, damage):
    path = tmp_path / "q.sqlite"
    q = open_queue(path)
    for i in range(40):
        q.enqueue(rows(i * 50 + 1, 50), Cursor("e", (i + 1) * 50))
    q.close()
    data = bytearray(path.read_bytes())
    if damage == "header":
        data[:32] = os.urandom(32)
    else:
        page = 1024
        mid = (len(data) // page // 2) * page
        data[mid : mid + page] = os.urandom(page)
    path.write_bytes(bytes(data))
    q = open_queue(path)  # no exception: a fresh start
    assert q.depth == 0 and q.cursor == Cursor("", 0)  # the journal refills it from seq 0
    assert q.quarantined == 1
    assert len(list(tmp_path.glob("q.sqlite.corrupt-*"))) == 1
    q.enqueue(rows(1, 1), Cursor("e", 1))
    q.close()
    assert open_queue(path).quarantined == 1  # remembered outside the new file


def test_a_second_writer_on_the_same_queue_is_refused_not_mistaken_for_damage(tmp_path):
    path = tmp_path / "q.sqlite"
    q = open_queue(path)
    q.enqueue(rows(1, 2), Cursor("e", 2))
    with pytest.raises(sqlite3.OperationalError):
        open_queue(path)
    assert not list(tmp_path.glob("*.corrupt-*"))
    assert len(everything(q)) == 2
    q.close()


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill the filesystem up, leaving about ``leave`` bytes free."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 4096)
        except OSError:
            pass
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def test_a_full_disk_with_nothing_queued_stores_nothing_keeps_the_cursor_and_recovers(
    small_disk,
):
    q = open_queue(small_disk / "q.sqlite")
    q.enqueue(rows(1, 10), Cursor("e", 10))
    q.ack(everything(q))  # a healthy server: nothing waits in the queue
    filler = fill(small_disk)
    total = 10
    with pytest.raises(DiskFull):
        for _ in range(100):  # the WAL has a little room left; it runs out
            q.enqueue(rows(total + 1, 50), Cursor("e", total + 50))
            total += 50
            with contextlib.suppress(DiskFull):  # a delete may not find room either
                q.ack(everything(q))
    assert q.cursor == Cursor("e", total)  # the failed batch did not move it: the journal
    assert q.counters["dropped"] == 0  # sends it again, nothing was lost
    filler.unlink()
    q.ack(everything(q))
    q.enqueue(rows(total + 1, 50), Cursor("e", total + 50))
    assert q.depth == 50 and q.cursor == Cursor("e", total + 50)
    q.close()


def test_a_nearly_full_disk_with_a_backlog_drops_the_oldest_to_keep_the_newest(small_disk):
    q = open_queue(small_disk / "q.sqlite")  # its own limit (64 MB) is far away
    q.enqueue(rows(1, 500), Cursor("e", 500))  # the server is down: a backlog
    fill(small_disk, leave=q.reserve // 2)
    total = 500
    for _ in range(30):
        q.enqueue(rows(total + 1, 100), Cursor("e", total + 100))
        total += 100
    kept = everything(q)
    assert q.counters["dropped"] > 0 and q.disk_limited
    assert q.counters["dropped"] + len(kept) == total  # counted
    assert kept[-1].line == line(total) and q.cursor == Cursor("e", total)  # newest kept
    q.ack(kept)  # and it can still delete: not wedged
    assert q.depth == 0
    q.close()


def _written() -> int:
    for entry in Path("/proc/self/io").read_text().splitlines():
        if entry.startswith("write_bytes:"):
            return int(entry.split()[1])
    raise AssertionError("no write_bytes in /proc/self/io")


def test_steady_state_costs_the_sd_card_about_a_kilobyte_per_reading(tmp_path):
    """A healthy server: every flush interval one commit of that interval's readings (12 at
    the default 30 s poll of 6 properties and 60 s flush) and one delete after the 204.
    The writes of each interval reach the disk before the next (os.sync stands in for the
    kernel's 30 s writeback), so this is what the card sees."""
    q = open_queue(tmp_path / "q.sqlite")
    q.enqueue(rows(1, 12), Cursor("e", 12))
    q.ack(everything(q))
    os.sync()
    before, n = _written(), 0
    for _ in range(200):
        q.enqueue(rows(13 + n, 12), Cursor("e", 24 + n))
        q.ack(everything(q))
        n += 12
        os.sync()
    per_reading = (_written() - before) / n
    q.close()
    if per_reading == 0:
        pytest.skip(f"{tmp_path} is not on a block device (tmpfs?): nothing to measure")
    payload = len(line(1))
    print(f"queue: {per_reading:.0f} bytes written per reading (payload {payload} bytes)")
    assert per_reading < 2048
