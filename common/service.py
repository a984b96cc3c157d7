"""What every service does at start: load config, set up logging, stop cleanly on SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable

from common.config import Config, ConfigError, load_config


class Stopper:
    """Set by SIGTERM/SIGINT; services poll it or wait on it between steps."""

    def __init__(self) -> None:
        self.event = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        logging.getLogger("service").info("received %s, stopping", signal.Signals(signum).name)
        self.event.set()

    @property
    def stopped(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if asked to stop meanwhile."""
        return self.event.wait(seconds)


def setup_logging(name: str, level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def run_service(
    name: str,
    main: Callable[[Config, Stopper], int | None],
    *,
    need_broute: bool = False,
    need_influx: bool = False,
) -> None:
    """Load config (exit 2 with one line per problem), then run ``main`` until it returns."""
    setup_logging(name)
    try:
        config = load_config(need_broute=need_broute, need_influx=need_influx)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"{name}: config error: {line}", file=sys.stderr)
        sys.exit(2)
    setup_logging(name, config.log_level)
    stopper = Stopper()
    sys.exit(main(config, stopper) or 0)
