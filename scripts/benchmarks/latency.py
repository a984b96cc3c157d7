"""Figure 5: how long a reading takes from the meter's answer to each place it ends up.

The stack polls every second (the simulator may be polled that fast) with a flush interval of
5 s, InfluxDB healthy.  Per reading, all on this machine's clock:

- *answer read*: the reading's ``ts``, stamped by the radio when it read the meter's ERXUDP
  (ms precision);
- *published*: the journal row's ``at``, written just before the reading goes to the PUB
  socket (read from the journal in the runtime dir at the end);
- *received*: a subscriber process running ``common.bus.CatchUpSubscriber``, as every service
  does, records when ``poll()`` hands it each reading;
- *durable in CSV*: csv_rotator saves its cursor only after the rows are fsynced; the file is
  polled every 10 ms and a reading is durable once the saved ``seq`` reaches it;
- *queued*: the writer's disk queue is watched (mtime of its WAL, every 10 ms); a reading
  counts as queued at the last queue write before the request that carried it;
- *acknowledged*: the writer talks to VictoriaMetrics through a small proxy in this process
  that notes the time the server's 2xx passes back, and which readings the request held.
"""

from __future__ import annotations

import gzip
import http.client
import json
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from scripts.benchmarks.figure import Figure, percentile, say, table
from scripts.benchmarks.stack import PROJECT, Stack, VictoriaMetrics, free_port, wait_for

FLUSH = 5.0
INTERVAL = 1.0
TARGET_SUB_P99_MS = 10.0

SUBSCRIBER = """
import sys, time
from common.bus import CatchUpSubscriber, Cursor
sub = CatchUpSubscriber(sys.argv[1], sys.argv[2], Cursor())
out = open(sys.argv[3], "w", buffering=1)
while True:
    for r in sub.poll(1000):
        out.write(f"{r.epoch} {r.seq} {time.time():.6f} {r.epc} {r.dataid} {r.ts}\\n")
"""


class AckProxy:
    """Forwards /api/v2/write to VictoriaMetrics; notes when each answer went back."""

    def __init__(self, target: str) -> None:
        self.target = urlsplit(target)
        self.requests: list[tuple[float, float, int, list[str]]] = []  # start, ack, status, lines
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                start = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                conn = http.client.HTTPConnection(
                    proxy.target.hostname, proxy.target.port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                acked = time.time()
                conn.close()
                if self.command == "POST" and "write" in self.path:
                    if self.headers.get("Content-Encoding") == "gzip":
                        body = gzip.decompress(body)
                    lines = body.decode().splitlines()
                    with proxy.lock:
                        proxy.requests.append((start, acked, resp.status, lines))

            do_POST = do_GET = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


class Watcher:
    """Polls the CSV cursor and the queue's WAL every 10 ms, noting when each changed."""

    def __init__(self, state: Path, wal: Path) -> None:
        self.state, self.wal = state, wal
        self.csv: list[tuple[float, str, int]] = []  # time, epoch, seq saved
        self.queue_writes: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        last_state, last_wal = None, None
        while not self.stop.wait(0.01):
            now = time.time()
            try:
                st = self.state.stat().st_mtime_ns
                if st != last_state:
                    data = json.loads(self.state.read_text())
                    self.csv.append((now, data["epoch"], int(data["seq"])))
                    last_state = st
            except (OSError, ValueError, KeyError):
                pass
            try:
                w = self.wal.stat()
                key = (w.st_mtime_ns, w.st_size)
                if key != last_wal:
                    if last_wal is not None:
                        # The write's own time: the drain sends within a millisecond of a
                        # commit, sooner than this loop comes round.
                        self.queue_writes.append(w.st_mtime_ns / 1e9)
                    last_wal = key
            except OSError:
                pass


def _line_key(line: str) -> tuple[str, str, int] | None:
    # smartmeter_power,dataid=R,epc=E8,unitid=x value=1.0 1700000000000
    try:
        head, _field, ts = line.split(" ")
        tags = dict(t.split("=", 1) for t in head.split(",")[1:])
        return tags.get("epc", ""), tags.get("dataid", ""), int(ts)
    except ValueError:
        return None


def _ts_ms(iso: str) -> int:
    from datetime import datetime

    return round(datetime.fromisoformat(iso).timestamp() * 1000)


def measure(window: float) -> dict:
    vm = VictoriaMetrics("latency-vm").start()
    proxy = AckProxy(vm.url)
    stack = Stack(
        "latency",
        settings={
            "acquisition": {"interval_seconds": INTERVAL},
            "storage": {"flush_interval_seconds": FLUSH},
        },
    )
    stack.use_influx(proxy.url)
    sub_log = stack.runtime_dir / "subscriber.log"
    sub = None
    try:
        stack.start()
        sub = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SUBSCRIBER,
                stack.readings_endpoint,
                stack.replay_endpoint,
                str(sub_log),
            ],
            cwd=PROJECT,
            env=stack.environ(),
        )
        stack.wait_running()
        wait_for(lambda: stack.csv_rows() > 0, 60, "the first CSV rows")
        state = stack.runtime_dir / "csv_rotator.state.json"  # next to the journal
        if not state.exists() and (stack.data_dir / state.name).exists():
            state = stack.data_dir / state.name  # where older versions kept it
        watcher = Watcher(state, stack.data_dir / "influx_queue.sqlite-wal")
        time.sleep(2 * FLUSH)  # past the subscriber's catch-up
        t0 = time.time()
        say(f"latency: measuring for {window:g} s")
        time.sleep(window)
        t1 = time.time()
        time.sleep(FLUSH + 3)  # let the last ones become durable and acknowledged
        watcher.stop.set()
        journal = sqlite3.connect(stack.runtime_dir / "journal.sqlite")
        at = {seq: a for seq, a in journal.execute("SELECT seq, at FROM readings")}
        journal.close()
    finally:
        if sub:
            sub.kill()
            sub.wait()
        stack.stop()
        proxy.close()
        vm.stop()
    received = {}
    for line in sub_log.read_text().splitlines():
        epoch, seq, t, epc, dataid, ts = (
            line.split(" ")
            if line.count(" ") == 5
            else (*line.split(" ")[:4], "", line.split(" ")[-1])
        )
        received[int(seq)] = (epoch, float(t), epc, dataid, ts)
    stack.cleanup()
    acks: dict[tuple[str, str, int], tuple[float, float]] = {}
    for start, acked, status, lines in proxy.requests:
        if 200 <= status < 300:
            for line in lines:
                key = _line_key(line)
                if key and key not in acks:
                    acks[key] = (start, acked)
    hops: dict[str, list[float]] = {
        k: []
        for k in (
            "read→published",
            "published→received",
            "read→durable CSV",
            "read→queued",
            "read→acknowledged",
        )
    }
    unqueued = 0
    for seq, (epoch, t_recv, epc, dataid, ts) in received.items():
        t_pub = at.get(seq)
        t_read = _ts_ms(ts) / 1000
        if t_pub is None or not (t0 <= t_pub <= t1):
            continue
        hops["read→published"].append(t_pub - t_read)
        hops["published→received"].append(t_recv - t_pub)
        durable = next((t for t, e, s in watcher.csv if e == epoch and s >= seq), None)
        if durable is not None:
            hops["read→durable CSV"].append(durable - t_read)
        ack = acks.get((epc, dataid, _ts_ms(ts)))
        if ack is not None:
            hops["read→acknowledged"].append(ack[1] - t_read)
            queued = [w for w in watcher.queue_writes if t_pub <= w <= ack[0]]
            if queued:
                hops["read→queued"].append(queued[-1] - t_read)
            else:
                unqueued += 1
    return {
        "hops": hops,
        "unqueued": unqueued,
        "window_s": t1 - t0,
        "requests": len(proxy.requests),
    }


def run(quick: bool) -> Figure:
    result = measure(60.0 if quick else 300.0)
    hops = result["hops"]
    body = []
    for name, values in hops.items():
        if not values:
            body.append([name, "0", "-", "-", "-"])
            continue
        ms = [v * 1000 for v in values]
        body.append(
            [
                name,
                f"{len(ms):,}",
                f"{percentile(ms, 50):.1f}",
                f"{percentile(ms, 99):.1f}",
                f"{max(ms):.1f}",
            ]
        )
    sub99 = percentile([v * 1000 for v in hops["published→received"]], 99)
    csv_max = max(hops["read→durable CSV"], default=float("inf"))
    queue_max = max(hops["read→queued"], default=0.0)
    durable_max = max(csv_max, queue_max)
    met = sub99 <= TARGET_SUB_P99_MS and durable_max <= FLUSH + 1
    details = [
        f"Poll every {INTERVAL:g} s (six properties), flush every {FLUSH:g} s, InfluxDB "
        f"(VictoriaMetrics) healthy; {result['window_s']:.0f} s window; milliseconds:",
        "",
        *table(["hop", "readings", "p50", "p99", "max"], body),
        "",
        f"{result['unqueued']:,} readings reached InfluxDB without a queue write before their "
        f"request; {result['requests']} write requests in all.",
    ]
    return Figure(
        5,
        "Latency",
        f"publish→subscriber p99 {sub99:.1f} ms; →durable max {durable_max:.2f} s "
        f"(flush {FLUSH:g} s)",
        f"p99 ≤ {TARGET_SUB_P99_MS:g} ms; durable ≤ flush + 1 s",
        met,
        details,
        data={k: sorted(v) for k, v in hops.items()} | {"unqueued": result["unqueued"]},
    )
