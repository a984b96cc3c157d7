"""python -m services.radio"""

from __future__ import annotations

import logging
import sys

from common.config import Config
from common.service import Stopper, run_service
from services.radio.broadcaster import Broadcaster
from services.radio.journal import Journal
from services.radio.poller import AlreadyRunning, Poller, take_lock

log = logging.getLogger("radio")


def main(config: Config, stopper: Stopper) -> int:
    try:
        take_lock(config.paths.runtime_dir)
    except AlreadyRunning as exc:
        print(f"radio: {exc}; stop the other one first", file=sys.stderr)
        return 3
    storage = config.storage
    journal = Journal(storage.journal_path, storage.journal_max_readings, storage.journal_max_days)
    poller = Poller(config, stopper, journal)
    broadcaster = Broadcaster(
        config.paths.readings_endpoint,
        config.paths.replay_endpoint,
        storage.journal_path,
        poller.status,
    ).start()
    poller.broadcaster = broadcaster
    log.info(
        "polling %s every %g s from %s",
        ",".join(f"{e:02X}" for e in config.properties),
        config.interval_seconds,
        "the built-in simulator" if config.uses_simulator else config.serial_port,
    )
    try:
        poller.run()
    finally:
        broadcaster.close()
        journal.close()
    return 0


if __name__ == "__main__":
    run_service("radio", main, need_broute=True)
