"""Figure 2: PSS of every process of the stack in steady state, next to its import-only floor.

The floor of a process is a ``python -c`` that imports what that process has imported by the
time it runs steadily (its own module and everything in its ``sys.modules``, lazy imports
included; each process writes that list when asked, see pystartup/sitecustomize.py) and sleeps.
Floors are started while the stack runs and every PSS (stack and floors) is read at the same
moment, so shared pages (the interpreter, libzmq, libsqlite) are split the same way on both
sides.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.benchmarks import procfs
from scripts.benchmarks.figure import Figure, say, table
from scripts.benchmarks.stack import PROJECT, Stack, wait_for

TARGET_RATIO = 1.3
NOT_APPLIANCE = {"simulator"}
DUMP_SIGNAL = signal.SIGRTMIN + 7
SITE = Path(__file__).resolve().parent / "pystartup"

# What each process runs as its main module (run as __main__, so not in its sys.modules).
MAIN_MODULE = {"supervisord": "supervisor.supervisord", "smartmeterctl": "services.ctl.cli"}

FLOOR = """
import importlib, sys, time
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException:
        pass
print("ready", flush=True)
time.sleep(3600)
"""


def prepare(stack: Stack) -> None:
    """Before start: every process of the stack can tell which modules it has loaded."""
    dump = stack.runtime_dir / "modules"
    dump.mkdir()
    stack.extra_env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")])),
        SMARTMETER_BENCH_MODULES=str(dump),
    )


def _modules(stack: Stack, pids: dict[str, int]) -> dict[str, list[str]]:
    dump = stack.runtime_dir / "modules"
    for pid in pids.values():
        os.kill(pid, DUMP_SIGNAL)
    wait_for(
        lambda: all((dump / f"{p}.modules").exists() for p in pids.values()),
        10,
        "every process's module list",
    )
    out = {}
    for name, pid in pids.items():
        mods = (dump / f"{pid}.modules").read_text().split()
        main = MAIN_MODULE.get(name.rstrip("+"), f"services.{name.rstrip('+')}.__main__")
        out[name] = [main] + [m for m in mods if m not in ("__main__", "sitecustomize")]
    return out


def measure(stack: Stack) -> dict:
    pids = stack.processes()
    mods = _modules(stack, pids)
    floors: dict[str, subprocess.Popen] = {}
    try:
        for name, names in mods.items():
            floors[name] = subprocess.Popen(
                [sys.executable, "-c", FLOOR, *names],
                cwd=PROJECT,
                env=stack.environ(),
                stdout=subprocess.PIPE,
                text=True,
            )
        for p in floors.values():
            assert p.stdout is not None
            p.stdout.readline()  # "ready": every import done
        time.sleep(2)
        rows = {}
        for name, pid in pids.items():
            rows[name] = {
                "pid": pid,
                "stack": procfs.memory(pid),
                "floor": procfs.memory(floors[name].pid),
                "threads": procfs.stat(pid).threads,
                "modules": len(mods[name]),
            }
    finally:
        for p in floors.values():
            p.kill()
            p.wait()
    return rows


def figure(rows: dict, seconds: float) -> Figure:
    body = []
    stack_sum = floor_sum = 0
    for name, r in rows.items():
        s, f = r["stack"], r["floor"]
        mine = name.rstrip("+") not in NOT_APPLIANCE
        if mine:
            stack_sum += s.pss_kib
            floor_sum += f.pss_kib
        label = name if mine else f"{name} (not on the appliance)"
        body.append(
            [
                label,
                f"{s.pss_kib / 1024:.1f}",
                f"{f.pss_kib / 1024:.1f}",
                f"{s.pss_kib / f.pss_kib:.2f}×",
                f"{s.rss_kib / 1024:.1f}",
                f"{s.private_kib / 1024:.1f}",
                str(r["threads"]),
                str(r["modules"]),
            ]
        )
    ratio = stack_sum / floor_sum
    body.append(
        [
            "**total (appliance)**",
            f"**{stack_sum / 1024:.1f}**",
            f"**{floor_sum / 1024:.1f}**",
            f"**{ratio:.2f}×**",
            "",
            "",
            "",
            "",
        ]
    )
    say(f"memory: {stack_sum / 1024:.1f} MiB PSS vs floor {floor_sum / 1024:.1f} MiB")
    details = [
        f"Steady state after {seconds:.0f} s of running (E7 every 10 s, InfluxDB healthy). "
        "MiB; floor = the same interpreter importing the same modules and sleeping, measured "
        "at the same moment:",
        "",
        *table(["process", "PSS", "floor PSS", "ratio", "RSS", "USS", "threads", "modules"], body),
    ]
    return Figure(
        2,
        "Memory (PSS, steady state)",
        f"{stack_sum / 1024:.1f} MiB = {ratio:.2f}× the import floor ({floor_sum / 1024:.1f} MiB)",
        f"≤ {TARGET_RATIO:g}× floor",
        ratio <= TARGET_RATIO,
        details,
        data={
            n: {
                "pss_kib": r["stack"].pss_kib,
                "floor_pss_kib": r["floor"].pss_kib,
                "rss_kib": r["stack"].rss_kib,
                "threads": r["threads"],
            }
            for n, r in rows.items()
        },
    )
