"""python -m services.health: GET /health, /metrics and a status page at /."""

from __future__ import annotations

import logging
import sys
import threading

from common.config import Config
from common.service import Stopper, run_service
from services.health import metrics, page, verdict
from services.health.collector import Collector
from services.health.energy.api import EnergyApi
from services.health.energy.book import EnergyBook
from services.health.server import HealthServer, json_route
from services.health.state import HealthState

log = logging.getLogger("health")


def main(config: Config, stopper: Stopper) -> int:
    state = HealthState(tz=config.timezone)
    stop = threading.Event()
    csv_dir = config.csv.directory if config.csv.enabled else None
    book = EnergyBook(config.timezone, config.paths.data_dir, csv_dir)
    book.start(stop)
    collector = Collector(config, state, stop, wake=stopper.fileno(), book=book)
    collector.start()

    def build() -> dict:
        collector.processes()  # supervisord is asked when someone asks us, not on a timer
        return verdict.build(state, config)

    def html(query: dict[str, str]) -> tuple[int, str, bytes]:
        v = build()
        return verdict.http_code(v), "text/html; charset=utf-8", page.render(state, v).encode()

    def prom(query: dict[str, str]) -> tuple[int, str, bytes]:
        v = build()
        return (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(state, v, config.unitid).encode(),
        )

    routes = {
        "/health": json_route(build, verdict.http_code),
        "/metrics": prom,
        "/": html,
        **EnergyApi(book, state, csv_dir).routes(),
    }
    try:
        server = HealthServer(config.health.bind, config.health.port, routes)
    except OSError as exc:
        print(
            f"health: cannot listen on {config.health.bind}:{config.health.port} ({exc.strerror}); "
            "change health.port in settings.yml or stop what uses it",
            file=sys.stderr,
        )
        stop.set()
        stopper.wait(30)  # do not spin under supervisord; it restarts us after this
        return 1
    # No poll interval: serve_forever's default wakes twice a second to look for a
    # shutdown() nobody calls; the thread is a daemon and ends with the process.
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": None}, name="http", daemon=True
    ).start()
    log.info("health endpoint on http://%s:%d/health", config.health.bind, config.health.port)
    stopper.event.wait()
    stop.set()
    book.stop()
    return 0


if __name__ == "__main__":
    run_service("health", main)
