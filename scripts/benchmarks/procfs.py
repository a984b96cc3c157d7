"""What the kernel says about a process: bytes written, memory, CPU time, wakeups, children.

Everything is read from /proc and nothing is cached: a number is only meaningful next to the
same number read earlier of the same pid (a process that exits takes its counters with it,
so every figure reads them before the stack stops).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Gone(Exception):
    """The process exited (or never was) between listing it and reading it."""


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError) as exc:
        raise Gone(str(path)) from exc


def _fields(text: str) -> dict[str, int]:
    """``key: 123 [kB]`` lines (io, smaps_rollup, status) → {key: number}."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[key.strip()] = int(parts[0])
    return out


def io(pid: int | str = "self") -> dict[str, int]:
    """/proc/<pid>/io: ``write_bytes`` is what reaches the block layer (page cache dirtied)."""
    return _fields(_read(PROC / str(pid) / "io"))


def write_bytes(pid: int | str = "self") -> int:
    return io(pid)["write_bytes"]


@dataclass(frozen=True)
class Memory:
    pss_kib: int  # proportional set size: shared pages divided among their users
    rss_kib: int
    private_kib: int  # USS: pages only this process maps

    def __add__(self, other: Memory) -> Memory:
        return Memory(
            self.pss_kib + other.pss_kib,
            self.rss_kib + other.rss_kib,
            self.private_kib + other.private_kib,
        )


def memory(pid: int | str = "self") -> Memory:
    """From /proc/<pid>/smaps_rollup (one pass over the mappings, done by the kernel)."""
    f = _fields(_read(PROC / str(pid) / "smaps_rollup"))
    return Memory(f["Pss"], f["Rss"], f.get("Private_Clean", 0) + f.get("Private_Dirty", 0))


@dataclass(frozen=True)
class Stat:
    comm: str
    ppid: int
    utime: int  # clock ticks
    stime: int
    threads: int
    starttime: int  # clock ticks after boot

    @property
    def cpu_seconds(self) -> float:
        return (self.utime + self.stime) / CLK_TCK


def stat(pid: int | str = "self") -> Stat:
    text = _read(PROC / str(pid) / "stat")
    # comm may hold spaces and parentheses: it ends at the last ')'.
    comm = text[text.index("(") + 1 : text.rindex(")")]
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); proc(5) numbers fields from 1.
    return Stat(
        comm=comm,
        ppid=int(rest[1]),
        utime=int(rest[11]),
        stime=int(rest[12]),
        threads=int(rest[17]),
        starttime=int(rest[19]),
    )


def cpu_seconds(pid: int | str = "self") -> float:
    return stat(pid).cpu_seconds


def started_at(pid: int | str = "self") -> float:
    """Wall-clock time the process started (one clock tick, 10 ms, of resolution).

    ``starttime`` counts from boot on CLOCK_BOOTTIME; /proc/stat's ``btime`` is rounded to the
    second, so the boot instant is taken from the two clocks now instead.
    """
    import time

    booted = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    return booted + stat(pid).starttime / CLK_TCK


def context_switches(pid: int | str = "self") -> int:
    """Voluntary + involuntary switches of every thread: roughly, how often it woke up."""
    total = 0
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except FileNotFoundError as exc:
        raise Gone(str(pid)) from exc
    for task in tasks:
        try:
            f = _fields(_read(task / "status"))
        except Gone:
            continue  # a thread that ended meanwhile
        total += f.get("voluntary_ctxt_switches", 0) + f.get("nonvoluntary_ctxt_switches", 0)
    return total


def cmdline(pid: int | str) -> list[str]:
    raw = _read(PROC / str(pid) / "cmdline")
    return [a for a in raw.split("\0") if a]


def children(pid: int | str) -> list[int]:
    out: list[int] = []
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except FileNotFoundError:
        return out
    for task in tasks:
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return sorted(set(out))


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, parents first."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo += children(p)
    return out


def role(pid: int | str) -> str:
    """What a process of the stack is: ``radio`` for ``python -m services.radio``, etc."""
    args = cmdline(pid)
    for i, a in enumerate(args):
        if a == "-m" and i + 1 < len(args):
            module = args[i + 1]
            if module == "supervisor.supervisord":
                return "supervisord"
            if module == "services.ctl":
                return "smartmeterctl"
            return module.removeprefix("services.")
        if a.endswith("/smartmeterctl"):
            return "smartmeterctl"
        if a.endswith("supervisord"):
            return "supervisord"
    return os.path.basename(args[0]) if args else "?"
