"""What every service does at start: load config, set up logging, stop cleanly on SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

from common.config import Config, ConfigError, load_config
from common.paths import Paths
from common.status import StatusReporter


class Stopper:
    """Set by SIGTERM/SIGINT; services poll it or wait on it between steps.

    A loop that blocks in a ZeroMQ poll can add :meth:`fileno` to it: the descriptor turns
    readable when a stop is asked for, so the poll may wait for minutes (an idle service that
    wakes twice a second for nothing costs more CPU than its work; docs/benchmarks.md).
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        logging.getLogger("service").info("received %s, stopping", signal.Signals(signum).name)
        self.stop()

    def stop(self) -> None:
        """Ask the service to stop (what SIGTERM does), waking whoever polls :meth:`fileno`."""
        self.event.set()
        with contextlib.suppress(BlockingIOError):  # already readable
            os.write(self._wake_w, b"\0")

    def fileno(self) -> int:
        """Readable once a stop was asked for (never read from: it stays readable)."""
        return self._wake_r

    @property
    def stopped(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if asked to stop meanwhile."""
        return self.event.wait(seconds)


def idle_while_disabled(
    log: logging.Logger, key: str, stopper: Stopper, reporter: StatusReporter | None = None
) -> int:
    """A writer switched off in settings.yml (``key`` false): say so, and stay up until stopped.

    Staying up keeps supervisord's view simple (RUNNING, never a crash loop); switching the
    writer on is a change of settings and a restart.
    """
    log.info("%s is false; nothing to do", key)
    if reporter is not None:
        reporter.set("pass", "disabled", f"{key} is false in settings.yml")
    stopper.event.wait()
    return 0


def setup_logging(name: str, level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def _config_files_stamp(paths: Paths) -> tuple[float, ...]:
    stamps = []
    for path in (paths.config_file, paths.env_file):
        try:
            stamps.append(path.stat().st_mtime)
        except OSError:
            stamps.append(0.0)
    return tuple(stamps)


def wait_for_config_change(name: str, problems: list[str], stopper: Stopper) -> None:
    """Under supervisord: say what is wrong, then wait for the files to change.

    Exiting at once would make supervisord restart the service in a tight loop and, after
    ``startretries``, give up on it (FATAL): the cause would scroll away and the service
    would not come back when the user fixes the file.  Instead the service stays up, reports
    ``config-error`` to the health service, and exits when settings.yml or .env changes, so
    supervisord starts it again with the new configuration.
    """
    paths = Paths.from_environ()
    reporter = StatusReporter(paths, name)
    reporter.set(
        "fail",
        "config-error",
        problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""),
    )
    reporter.detail(problems=problems)
    stamp = _config_files_stamp(paths)
    logging.getLogger(name).error(
        "waiting for %s or %s to change", paths.config_file, paths.env_file
    )
    while not stopper.wait(2.0):
        if _config_files_stamp(paths) != stamp:
            logging.getLogger(name).info("configuration changed; restarting")
            break
    reporter.close()


def run_service(
    name: str,
    main: Callable[[Config, Stopper], int | None],
    *,
    need_broute: bool = False,
    need_influx: bool = False,
) -> None:
    """Load config, then run ``main`` until it returns.

    A config error is one line per problem on stderr, never a traceback; run by hand the
    service exits 2, under supervisord it waits for the config to change (see above).
    """
    setup_logging(name)
    try:
        config = load_config(need_broute=need_broute, need_influx=need_influx)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"{name}: config error: {line}", file=sys.stderr, flush=True)
        if os.environ.get("SUPERVISOR_ENABLED"):
            wait_for_config_change(name, exc.problems, Stopper())
            sys.exit(0)
        sys.exit(2)
    setup_logging(name, config.log_level)
    stopper = Stopper()
    sys.exit(main(config, stopper) or 0)
