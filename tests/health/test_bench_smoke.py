"""scripts/bench's measuring code still reads /proc right (seconds, no stack).

The benchmark is not part of the suite (it reports figures and never fails on speed), so
these keep the part that can rot silently honest: each reader is tried on this process,
where the answer is known.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.benchmarks import procfs
from scripts.benchmarks.figure import percentile
from scripts.benchmarks.run import BEGIN, END, write_markdown


def _on_tmpfs(path: Path) -> bool:
    best, fstype = "", ""
    for line in Path("/proc/mounts").read_text().splitlines():
        mnt, typ = line.split()[1:3]
        if str(path.resolve()).startswith(mnt) and len(mnt) > len(best):
            best, fstype = mnt, typ
    return fstype == "tmpfs"


def test_write_bytes_count_what_reaches_a_disk_and_nothing_on_tmpfs(tmp_path):
    assert {"rchar", "wchar", "write_bytes"} <= set(procfs.io())
    before = procfs.write_bytes()
    with open(tmp_path / "f", "wb") as f:
        f.write(b"x" * 10_000)
        f.flush()
        os.fsync(f.fileno())
    grew = procfs.write_bytes() - before
    if _on_tmpfs(tmp_path):
        assert grew == 0  # no block device: what the bench's runtime dir relies on
        pytest.skip(f"{tmp_path} is on tmpfs; write_bytes of a disk not checked")
    assert grew >= 10_000  # whole pages: 3 of 4 KiB


def test_memory_is_read_from_smaps_rollup():
    m = procfs.memory()
    assert 0 < m.private_kib <= m.rss_kib
    assert 0 < m.pss_kib <= m.rss_kib
    block = bytearray(20 * 1024 * 1024)  # touched: zero-filled by the constructor
    assert procfs.memory().private_kib - m.private_kib >= 15 * 1024
    del block


def test_cpu_time_and_wakeups_of_this_process():
    s = procfs.stat()
    assert s.comm and s.ppid == os.getppid() and s.threads >= 1
    before, switches = procfs.cpu_seconds(), procfs.context_switches()
    end = time.process_time() + 0.15
    while time.process_time() < end:
        pass
    for _ in range(5):
        time.sleep(0.01)
    assert procfs.cpu_seconds() - before >= 0.1
    assert procfs.context_switches() - switches >= 5


def test_children_their_roles_and_start_times():
    t0 = time.time()
    child = subprocess.Popen(
        [sys.executable, "-m", "services.ctl", "--help"], stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert {child.pid, sleeper.pid} <= set(procfs.descendants(os.getpid()))
        assert t0 - 0.05 <= procfs.started_at(sleeper.pid) <= time.time() + 0.05
        assert procfs.role(sleeper.pid) == "python"
    finally:
        sleeper.kill()
        sleeper.wait()
        child.wait()
    assert procfs.role(os.getpid())  # pytest, python...


def test_a_process_that_is_gone_says_so():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    try:
        procfs.io(child.pid)
    except procfs.Gone:
        pass
    else:
        raise AssertionError("read /proc of a reaped process")


def test_percentile_and_markdown_markers(tmp_path):
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile(list(range(1, 101)), 99) == 99
    doc = tmp_path / "b.md"
    doc.write_text(f"prose\n{BEGIN}\nold\n{END}\nmore prose\n")
    write_markdown(doc, ["| new |"])
    assert doc.read_text() == f"prose\n{BEGIN}\n| new |\n{END}\nmore prose\n"
