"""python -m services.csv_rotator"""

from __future__ import annotations

import logging

from common.bus import Subscriber
from common.config import Config
from common.service import Stopper, run_service
from services.csv_rotator.daily_csv import DailyCsv

log = logging.getLogger("csv_rotator")


def main(config: Config, stopper: Stopper) -> int:
    if not config.csv_enabled:
        log.info("csv.enabled is false; nothing to do")
        stopper.event.wait()
        return 0
    sub = Subscriber(config.paths.readings_endpoint)
    csv = DailyCsv(config.csv_dir, config.timezone)
    last: dict[str, int] = {}  # epoch -> last seq written
    log.info("writing CSV files to %s", config.csv_dir)
    try:
        while not stopper.stopped:
            wrote = False
            for reading in sub.receive(500):
                if reading.seq <= last.get(reading.epoch, 0):
                    continue  # already written
                csv.write(reading)
                last[reading.epoch] = reading.seq
                wrote = True
            if wrote:
                csv.flush()
    finally:
        csv.close()
        sub.close()
    return 0


if __name__ == "__main__":
    run_service("csv_rotator", main)
