"""python -m services.influx_writer: readings → disk queue → InfluxDB v2, nothing lost.

Two threads: the main thread takes readings off the bus and commits them to the queue; the
drain thread sends the queue to InfluxDB.  A slow or dead server therefore never stops the
intake (the queue grows, bounded), and a full disk never stops the drain.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time

from common.bus import CatchUpSubscriber, Cursor
from common.config import Config
from common.service import Stopper, idle_while_disabled, run_service
from common.status import StatusReporter
from services.influx_writer.health import Health
from services.influx_writer.queue import DiskQueue

# drain, intake and sender are imported when InfluxDB is enabled: influxdb-client is about
# 800 modules and 22 MB, which a logger without InfluxDB (the default) need not carry.

log = logging.getLogger("influx_writer")

QUEUE_FILE = "influx_queue.sqlite"
CURSOR_FILE = "influx_writer.cursor.json"  # in the runtime dir: see intake.py
OPEN_RETRY = 10.0
# Test knobs (never set on the appliance): a shorter backoff cap, so outage tests need not
# wait a minute for the retry; and a crash right after the server's 2xx, before the queue
# commit, which must only ever cause a harmless duplicate.
BACKOFF_CAP_ENV = "SMARTMETER_INFLUX_BACKOFF_CAP"
CRASH_AFTER_WRITE_ENV = "SMARTMETER_INFLUX_CRASH_AFTER_WRITE"


def _open_queue(config: Config, health: Health, stopper: Stopper) -> DiskQueue | None:
    """The queue, or None if asked to stop first; never exits on a full or unreadable disk."""
    ix = config.influx
    path = config.paths.data_dir / QUEUE_FILE
    while not stopper.stopped:
        try:
            return DiskQueue(path, int(ix.queue_max_mb * 1024 * 1024), ix.queue_max_days * 86400)
        except (sqlite3.Error, OSError) as exc:
            full = "full" in str(exc) or getattr(exc, "errno", None) == 28
            health.problem("storage", "fail", "disk-full" if full else "queue-error",
                f"cannot open the queue {path} ({exc}); readings stay in the radio's "
                f"journal; trying again in {OPEN_RETRY:g} s")  # fmt: skip
            stopper.wait(OPEN_RETRY)
    return None


def _crash_after_write() -> None:
    log.warning("%s is set: exiting right after the server's 2xx", CRASH_AFTER_WRITE_ENV)
    logging.shutdown()
    os._exit(9)


def main(config: Config, stopper: Stopper) -> int:
    reporter = StatusReporter(config.paths, "influx_writer")
    try:
        if not config.influx.enabled:
            return idle_while_disabled(log, "influxdb.enabled", stopper, reporter)
        return _run(config, stopper, reporter)
    finally:
        reporter.close()


def _run(config: Config, stopper: Stopper, reporter: StatusReporter) -> int:
    from services.influx_writer.drain import Backoff, Drainer
    from services.influx_writer.intake import Intake, load_handled
    from services.influx_writer.sender import Sender

    ix = config.influx
    sender = Sender(ix)
    health = Health(reporter, sender.scrub)
    queue = _open_queue(config, health, stopper)
    if queue is None:
        return 0
    cap = float(os.environ.get(BACKOFF_CAP_ENV) or 60)
    drainer = Drainer(
        queue, sender, health, ix, Backoff(base=min(1.0, cap), cap=cap),
        after_write=_crash_after_write if os.environ.get(CRASH_AFTER_WRITE_ENV) else None,
    )  # fmt: skip
    # A copy: the subscriber advances its cursor in place; the handled one is the intake's.
    cursor_file = config.paths.runtime_dir / CURSOR_FILE
    handled = load_handled(cursor_file, queue.cursor)
    sub = CatchUpSubscriber(
        config.paths.readings_endpoint,
        config.paths.replay_endpoint,
        Cursor(handled.epoch, handled.seq),
    )
    intake = Intake(
        queue, sub, health,
        flush_every=config.storage.flush_interval_seconds, batch_size=ix.batch_size,
        tz=config.timezone, committed=drainer.wake,
        direct=drainer, handled=handled, cursor_file=cursor_file,
    )  # fmt: skip
    log.info(
        "writing to InfluxDB at %s (org %s, bucket %s); queue %s holds %d, from seq %d of "
        "journal %s",
        sender.where, ix.org, ix.bucket, queue.path, queue.depth, handled.seq,
        handled.epoch or "(any)",
    )  # fmt: skip
    halt = threading.Event()  # stops the drain thread; set after the intake's last commit
    damaged: list[sqlite3.DatabaseError] = []
    crashed = threading.Event()

    def drain() -> None:
        try:
            drainer.run(halt)
        except sqlite3.DatabaseError as exc:  # OperationalError is handled inside: damage
            damaged.append(exc)
            stopper.stop()
        except Exception:
            # Never a drain that quietly stopped while the intake goes on: exit, and let
            # supervisord start a fresh process (the queue and the journal keep everything).
            log.exception("the drain thread failed; exiting so supervisord restarts it")
            crashed.set()
            stopper.stop()

    thread = threading.Thread(target=drain, name="drain", daemon=True)
    thread.start()
    try:
        intake.run(stopper.event, wake=stopper.fileno())
    except sqlite3.DatabaseError as exc:  # OperationalError is handled inside: this is damage
        damaged.append(exc)
    finally:
        halt.set()
        drainer.wake.set()
        # An HTTP write in flight may take up to the timeout; supervisord waits longer.
        thread.join(timeout=ix.timeout_seconds + 2)
        with contextlib.suppress(sqlite3.Error):
            drainer.numbers()  # the final counts, for the last status
        sub.close()
        sender.close()
    if damaged:
        # Set the file aside now, so the restart supervisord makes starts clean.
        log.error("the queue failed while running: %s", damaged[0])
        queue.quarantine(damaged[0])
        time.sleep(1)  # let the status reporter tell health
        return 1
    queue.close()
    return 1 if crashed.is_set() else 0


if __name__ == "__main__":
    # need_influx stays False: config checks the INFLUXDB_* keys only when influxdb.enabled
    # is true, so a logger without InfluxDB starts, says "disabled" and stays quiet.
    run_service("influx_writer", main)
