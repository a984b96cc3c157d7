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

The floor: a flush makes rows durable with fsync, and the kernel writes (and counts) whole
4 KiB pages, so every flush costs at least the CSV file's last page, partly filled or not:
(flushes a day) × 4 KiB + the payload itself (the pages it fills).  At the previous logger's
rate and a 60 s flush that floor is far above 3× the payload; a third run with a 5-minute flush
shows what the target needs (docs/benchmarks.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from scripts.benchmarks import procfs
from scripts.benchmarks.figure import Figure, kib, say, table
from scripts.benchmarks.stack import Stack, VictoriaMetrics, wait_for

SCALE = 20.0
INTERVAL = 30.0  # the previous logger's defaults
FLUSH = 60.0
PROPERTIES = ["D3", "D7", "E1", "E7", "E0", "E3"]
NOT_APPLIANCE = {"simulator"}
TARGET_RATIO = 3.0
PAGE = 4096
LONG_FLUSH = 300.0  # the third run: what a longer flush interval buys


def floor(csv_per_day: float, flush: float) -> float:
    """The least a durable flush every ``flush`` seconds can cost a day (module docstring)."""
    return 86400 / flush * PAGE + csv_per_day


def _snapshot(stack: Stack) -> dict[str, tuple[int, int]]:
    out = {}
    for name, pid in stack.processes().items():
        try:
            out[name] = (pid, procfs.write_bytes(pid))
        except procfs.Gone:
            continue
    return out


def measure(window: float, influx: str, flush: float = FLUSH, minutes: bool = False) -> dict:
    """One time-scaled run; ``influx`` is ``healthy`` (VictoriaMetrics) or ``down``;
    ``minutes``: a Release R meter with 1-minute energy (D0 every minute) on as well."""
    vm = VictoriaMetrics("writes-vm").start() if influx == "healthy" else None
    acquisition: dict = {"interval_seconds": INTERVAL / SCALE, "properties": PROPERTIES}
    if minutes:
        acquisition = {"schedule": [
            {"properties": PROPERTIES, "every_seconds": INTERVAL / SCALE},
            {"properties": ["D0"], "every_seconds": 60 / SCALE},
        ]}  # fmt: skip
    stack = Stack(
        f"writes-{influx}-{flush:g}{'-d0' if minutes else ''}",
        settings={
            "acquisition": acquisition,
            "storage": {"flush_interval_seconds": flush / SCALE},
        },
        simulator_args=["--time-scale", f"{SCALE:g}", *(["--generation", "2"] if minutes else [])],
    )
    # Down: a port nobody listens on (connection refused at once, as with a stopped server).
    from scripts.benchmarks.stack import free_port

    stack.use_influx(vm.url if vm else f"http://127.0.0.1:{free_port()}")
    try:
        stack.start()
        stack.wait_running()
        # Steady state: rows in the CSV and a few flushes behind us.
        wait_for(lambda: stack.csv_rows() > 0, 60, "the first CSV rows")
        time.sleep(max(5 * FLUSH, 2 * flush) / SCALE)
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
        "flush_s": flush,
        "minutes": minutes,
        "elapsed_s": elapsed,
        "per_process_bytes_per_day": rows,
        "total_bytes_per_day": total,
        "csv_bytes_per_day": csv,
        "csv_rows_per_day": (rows_after - rows_before) * per_day,
        "ratio": total / csv if csv else float("inf"),
        "floor_bytes_per_day": floor(csv, flush),
        "restarted": sorted(set(restarted)),
        "points_in_db": points,
    }


def run(quick: bool) -> Figure:
    window = 120.0 if quick else 600.0
    healthy = measure(window, "healthy")
    down = measure(window / 2, "down")
    long = measure(window, "healthy", LONG_FLUSH)
    minutes = measure(window, "healthy", minutes=True)  # 1-minute energy on (docs/radio.md)
    runs = [healthy, down, long, minutes]
    names = sorted(set().union(*(r["per_process_bytes_per_day"] for r in runs)))
    body = []
    for n in names:
        label = f"{n} (not on the appliance)" if n in NOT_APPLIANCE else n
        cells = [r["per_process_bytes_per_day"].get(n) for r in runs]
        body.append([label, *(kib(c) if c is not None else "-" for c in cells)])

    def row(label: str, cell: Callable[[dict], str]) -> list[str]:
        return [label, *(cell(r) for r in runs)]

    body += [
        row("**total (appliance)**", lambda r: f"**{kib(r['total_bytes_per_day'])}**"),
        row("CSV payload", lambda r: kib(r["csv_bytes_per_day"])),
        row("**ratio to the payload**", lambda r: f"**{r['ratio']:.2f}×**"),
        row("floor of a durable flush", lambda r: kib(r["floor_bytes_per_day"])),
        row("floor ÷ payload", lambda r: f"{_div(r['floor_bytes_per_day'], r):.2f}×"),
        row("CSV rows per day", lambda r: f"{r['csv_rows_per_day']:,.0f}"),
    ]
    details = [
        f"Time-scaled {SCALE:g}×: poll every {INTERVAL / SCALE:g} s, simulator clock "
        f"{SCALE:g}×; windows of {healthy['elapsed_s']:.0f} s, {down['elapsed_s']:.0f} s and "
        f"{long['elapsed_s']:.0f} s stand for {healthy['elapsed_s'] * SCALE / 3600:.1f} h, "
        f"{down['elapsed_s'] * SCALE / 3600:.1f} h and {long['elapsed_s'] * SCALE / 3600:.1f} h "
        "of the appliance's life. Bytes per day, extrapolated. The floor is (flushes a day) × "
        "4 KiB + the payload: each flush's fsync writes the CSV file's last page whole.",
        "",
        *table(
            [
                "process",
                f"flush {FLUSH:g} s, InfluxDB healthy",
                f"flush {FLUSH:g} s, InfluxDB down (queue growing)",
                f"flush {LONG_FLUSH:g} s, InfluxDB healthy",
                f"flush {FLUSH:g} s, InfluxDB healthy, D0 every minute",
            ],
            body,
        ),
    ]
    for r in runs:
        if r["restarted"]:
            details.append(
                f"- restarted during the {r['influx']} flush {r['flush_s']:g} s window: "
                f"{', '.join(r['restarted'])}"
            )
    ratio = healthy["ratio"]
    return Figure(
        1,
        "SD-card writes per day",
        f"{kib(healthy['total_bytes_per_day'])}/day = {ratio:.2f}× CSV payload "
        f"({kib(healthy['csv_bytes_per_day'])}), page floor "
        f"{_div(healthy['floor_bytes_per_day'], healthy):.2f}×; InfluxDB down: "
        f"{down['ratio']:.2f}×; flush {LONG_FLUSH:g} s: {long['ratio']:.2f}×; with D0: "
        f"{kib(minutes['total_bytes_per_day'])}/day",
        f"≤ {TARGET_RATIO:g}× CSV payload",
        ratio <= TARGET_RATIO,
        details,
        data={
            "healthy": healthy,
            "down": down,
            f"healthy_flush_{LONG_FLUSH:g}": long,
            "healthy_d0": minutes,
        },
    )


def _div(n: float, r: dict) -> float:
    return n / r["csv_bytes_per_day"] if r["csv_bytes_per_day"] else float("inf")
