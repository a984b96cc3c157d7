"""Figure 1: bytes written to disk per day by the whole stack, next to the CSV payload.

Method: the appliance writes (readings a day) × (cost per reading) + (flushes a day) × (cost
per flush); nothing it writes depends on the wall clock otherwise (heartbeats and status
travel over ipc sockets in tmpfs).  So the poll interval and the flush interval are divided
by the same factor (30 s → 1.5 s, 60 s → 3 s at 20×), the simulated meter's clock runs 20×
too (its :00/:30 EA/EB announcements and session lifetime), and a window of W seconds of wall
time stands for 20 W seconds of the appliance's life.  Bytes are ``write_bytes`` of
/proc/<pid>/io (what each process dirtied in the page cache, i.e. what reaches the block
layer), summed over smartmeterctl, supervisord (which also writes every program's log) and
every program, read at both ends of the window while everything still runs.  The simulator
stands in for the USB dongle and is not part of the appliance: its writes (the served log)
are shown apart and left out of the total.
"""

from __future__ import annotations

import time

from scripts.benchmarks import procfs
from scripts.benchmarks.figure import Figure, kib, say, table
from scripts.benchmarks.stack import Stack, VictoriaMetrics, wait_for

SCALE = 20.0
INTERVAL = 30.0  # the seed's defaults
FLUSH = 60.0
PROPERTIES = ["D3", "D7", "E1", "E7", "E0", "E3"]
NOT_APPLIANCE = {"simulator"}
TARGET_RATIO = 3.0


def _snapshot(stack: Stack) -> dict[str, tuple[int, int]]:
    out = {}
    for name, pid in stack.processes().items():
        try:
            out[name] = (pid, procfs.write_bytes(pid))
        except procfs.Gone:
            continue
    return out


def measure(window: float, influx: str) -> dict:
    """One time-scaled run; ``influx`` is ``healthy`` (VictoriaMetrics) or ``down``."""
    vm = VictoriaMetrics("writes-vm").start() if influx == "healthy" else None
    stack = Stack(
        f"writes-{influx}",
        settings={
            "acquisition": {"interval_seconds": INTERVAL / SCALE, "properties": PROPERTIES},
            "storage": {"flush_interval_seconds": FLUSH / SCALE},
        },
        simulator_args=["--time-scale", f"{SCALE:g}"],
    )
    # Down: a port nobody listens on (connection refused at once, as with a stopped server).
    from scripts.benchmarks.stack import free_port

    stack.use_influx(vm.url if vm else f"http://127.0.0.1:{free_port()}")
    try:
        stack.start()
        stack.wait_running()
        # Steady state: rows in the CSV and a few flushes behind us.
        wait_for(lambda: stack.csv_rows() > 0, 60, "the first CSV rows")
        time.sleep(5 * FLUSH / SCALE)
        pids_before = stack.restarts()
        before, csv_before, rows_before = _snapshot(stack), stack.csv_bytes(), stack.csv_rows()
        t0 = time.monotonic()
        say(f"writes ({influx} InfluxDB): measuring for {window:g} s")
        time.sleep(window)
        after, csv_after, rows_after = _snapshot(stack), stack.csv_bytes(), stack.csv_rows()
        elapsed = time.monotonic() - t0
        restarted = [n for n, pid in stack.restarts().items() if pids_before.get(n) != pid]
        points = vm.count() if vm else None
    finally:
        stack.stop()
        stack.cleanup()
        if vm:
            vm.stop()
    per_day = 86400 / (SCALE * elapsed)
    rows = {}
    for name, (pid, wb) in after.items():
        start = before.get(name)
        if start is None or start[0] != pid:
            restarted.append(name)
            continue
        rows[name] = (wb - start[1]) * per_day
    total = sum(v for k, v in rows.items() if k not in NOT_APPLIANCE)
    csv = (csv_after - csv_before) * per_day
    return {
        "influx": influx,
        "elapsed_s": elapsed,
        "per_process_bytes_per_day": rows,
        "total_bytes_per_day": total,
        "csv_bytes_per_day": csv,
        "csv_rows_per_day": (rows_after - rows_before) * per_day,
        "ratio": total / csv if csv else float("inf"),
        "restarted": sorted(set(restarted)),
        "points_in_db": points,
    }


def run(quick: bool) -> Figure:
    window = 120.0 if quick else 600.0
    healthy = measure(window, "healthy")
    down = measure(window / 2, "down")
    names = sorted(
        set(healthy["per_process_bytes_per_day"]) | set(down["per_process_bytes_per_day"])
    )
    body = []
    for n in names:
        h = healthy["per_process_bytes_per_day"].get(n)
        d = down["per_process_bytes_per_day"].get(n)
        label = f"{n} (not on the appliance)" if n in NOT_APPLIANCE else n
        body.append([label, kib(h) if h is not None else "-", kib(d) if d is not None else "-"])
    body.append(
        [
            "**total (appliance)**",
            f"**{kib(healthy['total_bytes_per_day'])}**",
            f"**{kib(down['total_bytes_per_day'])}**",
        ]
    )
    body.append(["CSV payload", kib(healthy["csv_bytes_per_day"]), kib(down["csv_bytes_per_day"])])
    body.append(["ratio", f"{healthy['ratio']:.2f}×", f"{down['ratio']:.2f}×"])
    body.append(
        [
            "CSV rows per day",
            f"{healthy['csv_rows_per_day']:,.0f}",
            f"{down['csv_rows_per_day']:,.0f}",
        ]
    )
    details = [
        f"Time-scaled {SCALE:g}×: poll every {INTERVAL / SCALE:g} s, flush every "
        f"{FLUSH / SCALE:g} s, simulator clock {SCALE:g}×; windows of "
        f"{healthy['elapsed_s']:.0f} s (healthy) and {down['elapsed_s']:.0f} s (down) stand for "
        f"{healthy['elapsed_s'] * SCALE / 3600:.1f} h and {down['elapsed_s'] * SCALE / 3600:.1f} h "
        "of the appliance's life. Bytes per day, extrapolated:",
        "",
        *table(["process", "InfluxDB healthy", "InfluxDB down (queue growing)"], body),
    ]
    for r in (healthy, down):
        if r["restarted"]:
            details.append(
                f"- restarted during the {r['influx']} window: {', '.join(r['restarted'])}"
            )
    ratio = healthy["ratio"]
    return Figure(
        1,
        "SD-card writes per day",
        f"{kib(healthy['total_bytes_per_day'])}/day = {ratio:.2f}× CSV payload "
        f"({kib(healthy['csv_bytes_per_day'])}); InfluxDB down: {down['ratio']:.2f}×",
        f"≤ {TARGET_RATIO:g}× CSV payload",
        ratio <= TARGET_RATIO,
        details,
        data={"healthy": healthy, "down": down},
    )
