"""Figure 4: a backlog of 100,000 queued readings drained to VictoriaMetrics, next to
influxdb-client writing the same lines straight from memory in 5,000-line batches.

The backlog is what a day or more without the server leaves in the writer's disk queue
(services/influx_writer/queue.py, on a real disk).  The writer's own drain loop
(``Drainer.run``, with its ``Sender``, health reporting and the queue's acks) runs in a thread
until the queue is empty.  The direct write uses the same client settings (gzip, timeout).
Each side gets a fresh VictoriaMetrics; the two run one after the other in the same process,
alternating which goes first when repeated.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from common.bus import Cursor
from common.config import InfluxSettings, Secret
from common.paths import Paths
from common.reading import Reading
from scripts.benchmarks.figure import Figure, say, table
from scripts.benchmarks.stack import BUCKET, DISK_BASE, ORG, TOKEN, VictoriaMetrics, remove, scratch

TARGET_RATIO = 0.5
EPCS = ["E7", "E0", "E3", "E7", "E8", "E8"]


def lines(n: int) -> list[tuple[str, int]]:
    """``n`` readings as the intake renders them, one a second, ending now."""
    from services.influx_writer.line_protocol import render

    start = int(time.time()) - n
    out = []
    for i in range(n):
        epc = EPCS[i % len(EPCS)]
        ts = datetime.fromtimestamp(start + i, UTC)
        r = Reading(
            i + 1,
            "bench",
            ts.isoformat(timespec="milliseconds"),
            "bench",
            epc,
            "R" if epc == "E8" and i % 2 else ("T" if epc == "E8" else ""),
            1000.0 + (i * 7919) % 3000 / 10,
        )
        out.append(render(r))
    return out


def settings(url: str, batch_size: int = 500) -> InfluxSettings:
    return InfluxSettings(
        enabled=True, url=url, token=Secret(TOKEN), org=ORG, bucket=BUCKET, batch_size=batch_size
    )


def writer_drain(rows: list[tuple[str, int]], batch_size: int) -> tuple[float, int]:
    """Seconds the writer's drain loop takes to empty a queue of ``rows``; points stored."""
    from common.status import StatusReporter
    from services.influx_writer.drain import Backoff, Drainer
    from services.influx_writer.health import Health
    from services.influx_writer.queue import DiskQueue
    from services.influx_writer.sender import Sender

    vm = VictoriaMetrics("drain-writer-vm").start()
    root = scratch("drain-queue", DISK_BASE)
    try:
        queue = DiskQueue(root / "influx_queue.sqlite", 256 * 1024 * 1024, 30 * 86400)
        for i in range(0, len(rows), 500):
            chunk = rows[i : i + 500]
            queue.enqueue(chunk, Cursor("bench", i + len(chunk)))
        paths = Paths.from_environ(
            {"SMARTMETER_HOME": str(root), "SMARTMETER_RUNTIME_DIR": str(root / "run")}
        )
        reporter = StatusReporter(paths, "influx_writer")
        sender = Sender(settings(vm.url, batch_size))
        drainer = Drainer(
            queue, sender, Health(reporter, sender.scrub), settings(vm.url, batch_size), Backoff()
        )
        halt = threading.Event()
        thread = threading.Thread(target=drainer.run, args=(halt,), daemon=True)
        t0 = time.perf_counter()
        thread.start()
        while queue.depth > 0:
            time.sleep(0.005)
        elapsed = time.perf_counter() - t0
        halt.set()
        drainer.wake.set()
        thread.join()
        sender.close()
        reporter.close()
        queue.close()
        return elapsed, vm.count()
    finally:
        vm.stop()
        remove(root)


def direct(rows: list[tuple[str, int]], batch: int = 5000) -> tuple[float, int]:
    """Seconds influxdb-client SYNCHRONOUS takes for the same lines in ``batch``-line writes."""
    from influxdb_client import InfluxDBClient, WritePrecision
    from influxdb_client.client.write_api import SYNCHRONOUS

    vm = VictoriaMetrics("drain-direct-vm").start()
    try:
        s = settings(vm.url)
        client = InfluxDBClient(
            url=s.url, token=TOKEN, org=ORG, timeout=10_000, enable_gzip=s.gzip, retries=False
        )
        api = client.write_api(write_options=SYNCHRONOUS)
        text = [line for line, _ in rows]
        t0 = time.perf_counter()
        for i in range(0, len(text), batch):
            api.write(
                bucket=BUCKET,
                org=ORG,
                record="\n".join(text[i : i + batch]),
                write_precision=WritePrecision.MS,
            )
        elapsed = time.perf_counter() - t0
        client.close()
        return elapsed, vm.count()
    finally:
        vm.stop()


def run(quick: bool) -> Figure:
    from common.config import DEFAULTS

    n = 100_000
    batch_size = DEFAULTS["influxdb"]["batch_size"]
    rows = lines(n)
    rounds = 1 if quick else 2
    writer_s, direct_s, stored = [], [], []
    for r in range(rounds):
        order = ("writer", "direct") if r % 2 == 0 else ("direct", "writer")
        for side in order:
            say(f"drain: {side}, {n:,} readings")
            if side == "writer":
                secs, count = writer_drain(rows, batch_size)
                writer_s.append(secs)
            else:
                secs, count = direct(rows)
                direct_s.append(secs)
            stored.append((side, count))
    w, d = min(writer_s), min(direct_s)
    ratio = d / w  # rate ratio: (n / w) / (n / d)
    body = [
        [
            f"writer's drain loop (disk queue, batch_size {batch_size})",
            ", ".join(f"{s:.2f}" for s in writer_s),
            f"{n / w:,.0f}",
        ],
        [
            "influxdb-client SYNCHRONOUS, 5,000-line batches, from memory",
            ", ".join(f"{s:.2f}" for s in direct_s),
            f"{n / d:,.0f}",
        ],
    ]
    details = [
        f"{n:,} readings; each side on a fresh VictoriaMetrics; best of {rounds}:",
        "",
        *table(["path", "seconds", "readings/s (best)"], body),
        "",
        "Points stored afterwards: " + ", ".join(f"{side} {c:,}" for side, c in stored) + ".",
    ]
    return Figure(
        4,
        "Drain speed (100k backlog)",
        f"{n / w:,.0f} readings/s = {ratio:.2f}× direct ({n / d:,.0f}/s)",
        f"≥ {TARGET_RATIO:g}× direct",
        ratio >= TARGET_RATIO,
        details,
        data={
            "writer_s": writer_s,
            "direct_s": direct_s,
            "stored": stored,
            "batch_size": batch_size,
        },
    )
