"""Kill -9, a second radio, a torn file, a full disk: the CSV still equals what the meter served."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common.reading import format_value
from services.csv_rotator.daily_csv import HEADER, DailyCsv
from tests.support.stack import PROJECT, Stack, wait_for

pytestmark = pytest.mark.e2e

FAST = {
    "acquisition": {"interval_seconds": 0.5, "properties": ["E7", "E0", "E3"]},
    "storage": {"flush_interval_seconds": 0.5},
}
EPCS = {"E7", "E0", "E3"}


def served(stack: Stack) -> list[tuple[str, str, str]]:
    out = []
    for entry in stack.served(EPCS):
        for dataid, value in (entry["decoded"] or {}).items():
            if value is not None:
                out.append((entry["epc"], dataid, format_value(value)))
    return out


def csv_values(stack: Stack) -> list[tuple[str, str, str]]:
    return [(r["epc"], r["dataid"], r["value"]) for r in stack.csv_rows()]


def assert_clean_files(stack: Stack) -> None:
    for f in stack.csv_files():
        text = f.read_text()
        assert text.startswith(HEADER) and text.count(HEADER) == 1, f"header in {f.name}"
        assert text.endswith("\n"), f"torn last line in {f.name}"
        lines = text.splitlines()
        assert all(line.count(",") == 4 for line in lines), f"malformed row in {f.name}"
    # Duplicates are judged against the served log by the callers: two polls within one
    # second can give identical rows legitimately (E0 does not move in half a second).


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path / "s", settings=FAST)
    yield s
    s.stop()


def test_csv_rotator_killed_20_times_loses_and_duplicates_nothing(stack):
    stack.start()
    pid = stack.wait_running("csv_rotator")
    for _ in range(20):
        stack.kill("csv_rotator")
        pid = stack.wait_running("csv_rotator", not_pid=pid)
    wait_for(lambda: len(stack.csv_rows()) >= 60, 30, "rows after the last restart")
    stack.stop()
    assert_clean_files(stack)
    got, expected = csv_values(stack), served(stack)
    assert got == expected[: len(got)]
    assert len(expected) - len(got) <= 3  # at most the answer in flight at the stop


def test_radio_killed_keeps_seq_and_writes_no_duplicates(stack):
    stack.start()
    pid = stack.wait_running("radio")
    wait_for(lambda: len(stack.csv_rows()) >= 9, 30, "first rows")
    for _ in range(3):
        stack.kill("radio")
        pid = stack.wait_running("radio", not_pid=pid)
        before = len(stack.csv_rows())
        wait_for(lambda n=before: len(stack.csv_rows()) >= n + 6, 30, "rows after the restart")
    stack.stop()
    assert_clean_files(stack)
    got, expected = csv_values(stack), served(stack)
    # Every row is a served value in order; only answers the radio had not yet journaled when
    # it died (at most one poll per kill) may be missing.
    it = iter(expected)
    assert all(row in it for row in got), "a CSV row that the meter did not serve, or out of order"
    assert len(expected) - len(got) <= 3 * 4 + 3
    journal_epochs = {
        line for line in stack.log("radio").splitlines() if "journal" in line and "epoch" in line
    }
    assert len({line.split("epoch ")[1].split(",")[0] for line in journal_epochs}) == 1


def test_a_second_radio_is_refused(stack):
    stack.start()
    stack.wait_running("radio")
    second = subprocess.run(
        [sys.executable, "-m", "services.radio"],
        env=stack.environ(), cwd=PROJECT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert second.returncode == 3
    assert "another radio" in second.stderr
    assert "Traceback" not in second.stderr
    assert stack.info("radio")["statename"] == "RUNNING"


def test_torn_tail_and_uncommitted_rows_are_cut_at_start(tmp_path):
    directory = tmp_path / "csv"
    directory.mkdir()
    f = directory / "20261126-smartmeter.csv"
    committed = HEADER + "2026-11-26T12:00:00+09:00,m,E7,,500\n"
    f.write_text(committed + "2026-11-26T12:00:30+09:00,m,E7,,501\n2026-11-26T12:01:00+09:0")
    other = directory / "20261125-smartmeter.csv"
    other.write_text(HEADER + "2026-11-25T23:59:30+09:00,m,E7,,1\n2026-11-25T23:5")
    DailyCsv(directory, tz=None).recover({f.name: len(committed)})  # type: ignore[arg-type]
    assert f.read_text() == committed  # rows after the saved cursor come again by replay
    assert other.read_text() == HEADER + "2026-11-25T23:59:30+09:00,m,E7,,1\n"


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "s" / "csv"
    mount.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_is_named_and_nothing_is_lost_when_space_returns(small_disk: Path):
    filler = small_disk / "filler"
    # Leave room for the header and a row or two, then the disk is full.
    with filler.open("wb") as f, contextlib.suppress(OSError):
        f.write(b"x" * (128 * 1024 - 4096 + 200))
    stack = Stack(small_disk.parent, settings=FAST)
    try:
        stack.start()
        wait_for(lambda: "disk-full" in stack.log("csv_rotator"), 60, "disk-full in the log")
        time.sleep(2)
        assert stack.info("csv_rotator")["statename"] == "RUNNING"
        filler.unlink()
        wait_for(lambda: len(stack.csv_rows()) >= 30, 60, "rows after space returned")
        assert "works again" in stack.log("csv_rotator")
        stack.stop()
        assert_clean_files(stack)
        got, expected = csv_values(stack), served(stack)
        assert got == expected[: len(got)]
        assert len(expected) - len(got) <= 3
    finally:
        stack.stop()
