"""python -m services.radio"""

from __future__ import annotations

import logging
import sys

from common.bus import Publisher
from common.config import Config
from common.service import Stopper, run_service
from services.radio.poller import AlreadyRunning, Poller, take_lock

log = logging.getLogger("radio")


def main(config: Config, stopper: Stopper) -> int:
    try:
        take_lock(config.paths.runtime_dir)
    except AlreadyRunning as exc:
        print(f"radio: {exc}; stop the other one first", file=sys.stderr)
        return 3
    publisher = Publisher(config.paths.readings_endpoint)
    log.info(
        "polling %s every %g s from %s",
        ",".join(f"{e:02X}" for e in config.properties),
        config.interval_seconds,
        "the built-in simulator" if config.uses_simulator else config.serial_port,
    )
    try:
        Poller(config, stopper, publisher).run()
    finally:
        publisher.close()
    return 0


if __name__ == "__main__":
    run_service("radio", main, need_broute=True)
