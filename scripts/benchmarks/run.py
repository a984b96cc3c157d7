"""scripts/bench: the seven figures of docs/benchmarks.md, each with its target and verdict.

A benchmark, not a test: it always exits 0 once it has measured (a missed target is a
figure to explain, not a failure); it exits non-zero only when it could not measure.

    scripts/bench [--quick] [--only writes,memory,cpu,drain,latency,startup,page]
                  [--markdown FILE] [--json FILE]

``--markdown FILE`` writes the report (machine, commands, table, breakdowns); if FILE holds
the markers ``<!-- bench:begin -->`` and ``<!-- bench:end -->`` only the part between them is
replaced, so docs/benchmarks.md keeps its prose.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Run as a script, this directory comes first on sys.path; the project root must instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(ROOT)
elif str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.benchmarks.figure import Figure, say, table  # noqa: E402

FIGURES = ("writes", "memory", "cpu", "drain", "latency", "startup", "page")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def machine() -> list[str]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "status",
                "--porcelain",
                "services",
                "common",
                "supervisord.conf",
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        commit, dirty = "?", ""
    import sqlite3

    import zmq

    return [
        f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {os.cpu_count()} CPUs ({cpu}), {int(mem) / 1024 / 1024:.1f} GiB RAM, "
        f"kernel {platform.release()}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"pyzmq {zmq.__version__} (libzmq {zmq.zmq_version()})",
        f"- code: commit {commit}{' with local changes' if dirty else ''}",
        f"- disk for data and logs: {_fs(Path('/var/tmp'))}; runtime dir: {_fs(Path('/dev/shm'))}",
    ]


def _fs(path: Path) -> str:
    best, fstype = "", "?"
    for line in Path("/proc/mounts").read_text().splitlines():
        _dev, mnt, typ = line.split()[:3]
        if str(path).startswith(mnt) and len(mnt) > len(best):
            best, fstype = mnt, typ
    return f"{path} ({fstype})"


def run_figures(names: list[str], quick: bool) -> list[Figure]:
    from scripts.benchmarks import cpu, drain, latency, memory, page, startup, writes

    out: list[Figure] = []

    def timed(fn, *args) -> Figure:
        t0 = time.monotonic()
        fig = fn(*args)
        fig.seconds = time.monotonic() - t0
        return fig

    if "writes" in names:
        out.append(timed(writes.run, quick))
    if "memory" in names or "cpu" in names:
        out += timed_steady(names, quick, cpu, memory)
    if "drain" in names:
        out.append(timed(drain.run, quick))
    if "latency" in names:
        out.append(timed(latency.run, quick))
    if "startup" in names:
        out.append(timed(startup.run, quick))
    if "page" in names:
        out.append(timed(page.run, quick))
    return sorted(out, key=lambda f: f.number)


def timed_steady(names: list[str], quick: bool, cpu, memory) -> list[Figure]:
    """Memory and CPU share one run: E7 every 10 s, InfluxDB and the MQTT broker healthy."""
    from scripts.benchmarks.stack import Mosquitto, VictoriaMetrics

    window = 120.0 if quick else 600.0
    out = []
    t0 = time.monotonic()
    vm = VictoriaMetrics("steady-vm").start()
    broker = Mosquitto("steady-mqtt").start()
    stack = cpu.steady_stack(vm, broker)
    memory.prepare(stack)
    try:
        stack.start()
        stack.wait_running()
        result = cpu.measure(stack, window)
        if "cpu" in names:
            fig = cpu.figure(result)
            fig.seconds = time.monotonic() - t0
            out.append(fig)
        if "memory" in names:
            fig = memory.figure(memory.measure(stack), time.monotonic() - t0)
            fig.seconds = time.monotonic() - t0
            out.append(fig)
    finally:
        stack.stop()
        stack.cleanup()
        vm.stop()
        broker.stop()
    return out


def summary(figures: list[Figure]) -> list[str]:
    rows = [[str(f.number), f.name, f.measured, f.target, f.verdict] for f in figures]
    return table(["#", "figure", "measured", "target", "verdict"], rows)


def report(figures: list[Figure], command: str, started: str, took: float) -> list[str]:
    lines = [
        f"Produced by `{command}` ({took / 60:.0f} min), started {started}.",
        "",
        *machine(),
        "",
        *summary(figures),
    ]
    for f in figures:
        lines += ["", f"### {f.number}. {f.name}", "", *f.details]
    return lines


def write_markdown(path: Path, lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    if path.exists():
        old = path.read_text()
        if BEGIN in old and END in old:
            pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
            text = pattern.sub(lambda _m: f"{BEGIN}\n{text}{END}", old)
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short windows (minutes, not half an hour)")
    p.add_argument(
        "--only", default=",".join(FIGURES), help=f"comma-separated subset of {','.join(FIGURES)}"
    )
    p.add_argument("--markdown", type=Path, help="write the report here (see above)")
    p.add_argument("--json", type=Path, help="write every raw number here")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        p.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    command = "scripts/bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    t0 = time.monotonic()
    figures = run_figures(names, args.quick)
    took = time.monotonic() - t0
    lines = report(figures, command.strip(), started, took)
    print("\n".join(summary(figures)))
    if args.markdown:
        write_markdown(args.markdown, lines)
        say(f"report written to {args.markdown}")
    else:
        print()
        print("\n".join(lines))
    if args.json:
        args.json.write_text(
            json.dumps([dataclasses.asdict(f) for f in figures], indent=1, default=str)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
