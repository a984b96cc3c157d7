"""Figure 3: CPU seconds per hour of the whole stack at 10 s E7 polling (what keilog does).

utime + stime of every process (/proc/<pid>/stat, all threads) over a steady-state window,
scaled to an hour; context switches (voluntary + involuntary, every thread) show how often
each process wakes up, which is what an idle Python service mostly pays for.
"""

from __future__ import annotations

import time

from scripts.benchmarks import procfs
from scripts.benchmarks.figure import Figure, say, table
from scripts.benchmarks.stack import Mosquitto, Stack, VictoriaMetrics, wait_for

TARGET_PERCENT = 0.1  # of one core
KEILOG_PERCENT = 0.05
NOT_APPLIANCE = {"simulator"}


def steady_stack(vm: VictoriaMetrics, broker: Mosquitto) -> Stack:
    """The appliance polling E7 every 10 s with every writer on (CSV, InfluxDB, MQTT);
    defaults otherwise."""
    stack = Stack(
        "steady", settings={"acquisition": {"interval_seconds": 10, "properties": ["E7"]}}
    )
    stack.use_influx(vm.url)
    stack.use_mqtt(broker.url)
    return stack


def _sample(stack: Stack) -> dict[str, tuple[int, float, int]]:
    out = {}
    for name, pid in stack.processes().items():
        try:
            out[name] = (pid, procfs.cpu_seconds(pid), procfs.context_switches(pid))
        except procfs.Gone:
            continue
    return out


def measure(stack: Stack, window: float) -> dict:
    wait_for(lambda: stack.csv_rows() > 0, 120, "the first CSV rows", every=1)
    pids_before = stack.restarts()
    before = _sample(stack)
    t0 = time.monotonic()
    say(f"cpu: measuring for {window:g} s")
    time.sleep(window)
    after = _sample(stack)
    elapsed = time.monotonic() - t0
    restarted = [n for n, pid in stack.restarts().items() if pids_before.get(n) != pid]
    rows = {}
    for name, (pid, cpu, ctx) in after.items():
        b = before.get(name)
        if b is None or b[0] != pid:
            restarted.append(name)
            continue
        rows[name] = {
            "cpu_s_per_hour": (cpu - b[1]) * 3600 / elapsed,
            "wakeups_per_s": (ctx - b[2]) / elapsed,
        }
    return {"elapsed_s": elapsed, "rows": rows, "restarted": sorted(set(restarted))}


def figure(result: dict) -> Figure:
    rows = result["rows"]
    total = sum(r["cpu_s_per_hour"] for n, r in rows.items() if n.rstrip("+") not in NOT_APPLIANCE)
    wake = sum(r["wakeups_per_s"] for n, r in rows.items() if n.rstrip("+") not in NOT_APPLIANCE)
    percent = total / 3600 * 100
    body = []
    for n, r in rows.items():
        label = n if n.rstrip("+") not in NOT_APPLIANCE else f"{n} (not on the appliance)"
        body.append(
            [
                label,
                f"{r['cpu_s_per_hour']:.2f}",
                f"{r['cpu_s_per_hour'] / 36:.3f} %",
                f"{r['wakeups_per_s']:.1f}",
            ]
        )
    body.append(
        ["**total (appliance)**", f"**{total:.2f}**", f"**{percent:.3f} %**", f"**{wake:.1f}**"]
    )
    say(f"cpu: {total:.2f} CPU-s/h = {percent:.3f} % of a core")
    details = [
        f"E7 every 10 s, flush every 60 s, InfluxDB healthy; window {result['elapsed_s']:.0f} s "
        "(clock ticks are 10 ms, so short windows are coarse):",
        "",
        *table(["process", "CPU s/hour", "% of one core", "wakeups/s"], body),
    ]
    if result["restarted"]:
        details.append(f"- restarted during the window: {', '.join(result['restarted'])}")
    return Figure(
        3,
        "CPU at 10 s E7 polling",
        f"{total:.2f} CPU-s/hour = {percent:.3f} % of one core (keilog: {KEILOG_PERCENT} %)",
        f"≤ {TARGET_PERCENT} % of one core",
        percent <= TARGET_PERCENT,
        details,
        data=result,
    )
