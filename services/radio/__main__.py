"""python -m services.radio"""

from __future__ import annotations

import logging
import sys

from common.config import Config
from common.service import Stopper, run_service
from common.status import StatusReporter
from services.radio.bus.broadcaster import Broadcaster
from services.radio.bus.journal import Journal
from services.radio.link.port_lock import AlreadyRunning, take_lock
from services.radio.poller import Poller

log = logging.getLogger("radio")


def main(config: Config, stopper: Stopper) -> int:
    try:
        take_lock(config.paths.runtime_dir)
    except AlreadyRunning as exc:
        print(f"radio: {exc}; stop the other one first", file=sys.stderr)
        return 3
    if config.dongle_driver == "keilog":
        from services.radio.link.keilog_driver import KeilogMissing, load_keilib

        try:
            load_keilib(config.keilog_path)
        except KeilogMissing as exc:
            print(f"radio: config error: {exc}", file=sys.stderr)
            return 2
    storage = config.storage
    journal = Journal(storage.journal_path, storage.journal_max_readings, storage.journal_max_days)
    reporter = StatusReporter(config.paths, "radio")
    poller = Poller(config, stopper, journal, reporter)
    broadcaster = Broadcaster(
        config.paths.readings_endpoint,
        config.paths.replay_endpoint,
        storage.journal_path,
        poller.status,
    ).start()
    poller.broadcaster = broadcaster
    log.info(
        "reading %s from %s (driver %s)",
        "; ".join(
            f"{','.join(f'{e:02X}' for e in g.properties)} every {g.every_seconds:g} s"
            for g in config.schedule
        ),
        "the built-in simulator" if config.uses_simulator else config.serial_port,
        config.dongle_driver,
    )
    try:
        poller.run()
    finally:
        broadcaster.close()
        journal.close()
        reporter.close()
    return 0


if __name__ == "__main__":
    run_service("radio", main, need_broute=True)
