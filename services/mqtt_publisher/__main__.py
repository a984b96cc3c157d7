"""python -m services.mqtt_publisher: readings → an MQTT broker (Home Assistant, a stream).

Off by default (``mqtt.enabled: false``): then it only says "disabled" and waits, like the
InfluxDB writer, so supervisord's program list is the same on every logger.
"""

from __future__ import annotations

import logging

from common.config import Config
from common.service import Stopper, idle_while_disabled, run_service
from common.status import StatusReporter

log = logging.getLogger("mqtt_publisher")


def main(config: Config, stopper: Stopper) -> int:
    reporter = StatusReporter(config.paths, "mqtt_publisher")
    try:
        if not config.mqtt.enabled:
            return idle_while_disabled(log, "mqtt.enabled", stopper, reporter)
        # paho and the publisher are imported only when MQTT is on: a logger without it
        # (the default) carries none of it.
        from services.mqtt_publisher.publisher import Publisher

        publisher = Publisher(config, stopper, reporter)
        log.info("publishing to %s under %s/, from seq %d of journal %s",
                 config.mqtt.where, publisher.topics.base, publisher.stream.acked.seq,
                 publisher.stream.acked.epoch or "(any)")  # fmt: skip
        publisher.run()
        return 0
    finally:
        reporter.close()


if __name__ == "__main__":
    run_service("mqtt_publisher", main)
