"""python -m services.csv_rotator: readings → daily CSV files, exactly once."""

from __future__ import annotations

import errno
import logging
import math
import time
from datetime import datetime

from common.bus import CatchUpSubscriber, Cursor
from common.config import Config
from common.service import Stopper, idle_while_disabled, run_service
from common.status import StatusReporter
from services.csv_rotator.daily_csv import DailyCsv
from services.csv_rotator.housekeeping import oldest_kept, tidy
from services.csv_rotator.state import CsvState

log = logging.getLogger("csv_rotator")

TIDY_EVERY = 3600.0
STATE_FILE = "csv_rotator.state.json"


class CsvRotator:
    def __init__(self, config: Config) -> None:
        self.config = config
        # The cursor lives next to the journal it points into (tmpfs on the appliance), not
        # on the SD card: it is only ever used against that journal, which a power cut
        # takes with it; saving it on the card at every flush was 30 % of the logger's
        # writes (docs/benchmarks.md, figure 1).  A process restart finds both.
        self.state_path = config.storage.journal_path.parent / STATE_FILE
        self.state = CsvState.load(self.state_path, legacy=config.paths.data_dir / STATE_FILE)
        self.csv = DailyCsv(config.csv.directory, config.timezone)
        self.csv.recover(self.state.files)
        self.sub = CatchUpSubscriber(
            config.paths.readings_endpoint,
            config.paths.replay_endpoint,
            Cursor(self.state.epoch, self.state.seq),
        )
        self.cause = "ok"
        self.rows_written = 0
        self.status = StatusReporter(config.paths, "csv_rotator")
        self.status.set("pass", "ok", f"writing to {config.csv.directory}")

    def flush(self) -> bool:
        """Make pending rows durable, then the cursor; on failure replay them later."""
        if not self.csv.pending:
            return True
        rows = self.csv.pending_rows
        cursor = self.sub.cursor
        try:
            unknown = self.csv.unknown_pending_files()
            if unknown:
                # Record where a file we have not written before ends now, so that a crash
                # in the middle of the write below can be cut back to it at start.
                self.state.files.update(unknown)
                self.state.save(self.state_path)
                self.csv.committed.update(unknown)
            touched = set(self.csv.pending)
            sizes = self.csv.write_pending()
            today = datetime.now(self.config.timezone).date()
            sizes = {k: v for k, v in sizes.items() if k >= oldest_kept(today) or k in touched}
            new = CsvState(cursor.epoch, cursor.seq, sizes)
            new.save(self.state_path)
        except OSError as exc:
            self.csv.undo()
            # Rewind to the saved cursor: the journal sends these rows again later.
            self.sub.cursor = Cursor(self.state.epoch, self.state.seq)
            self.sub.need_catch_up = True
            cause = "disk-full" if exc.errno == errno.ENOSPC else "csv-write-failed"
            if cause != self.cause:
                log.error(
                    "%s: cannot write CSV to %s (%s); the rows stay in the radio's journal "
                    "and are written when this works again",
                    cause, self.config.csv.directory, exc.strerror or exc,
                )  # fmt: skip
            self.cause = cause
            self.status.set(
                "fail", cause,
                f"cannot write to {self.config.csv.directory}: {exc.strerror or exc}; "
                "free some space (rows wait in the radio's journal meanwhile)",
            )  # fmt: skip
            return False
        self.csv.accept(sizes)
        self.state = new
        self.rows_written += rows
        self.status.detail(
            last_write=datetime.now(self.config.timezone).isoformat(timespec="seconds"),
            files=sorted(sizes)[-2:],
        )
        if self.cause != "ok":
            log.info("CSV writing works again")
            self.cause = "ok"
            self.status.set("pass", "ok", f"writing to {self.config.csv.directory}")
        return True

    def _count(self) -> None:
        c = self.sub.counters
        self.status.count(
            rows_written=self.rows_written, pending=self.csv.pending_rows, seq=self.sub.cursor.seq,
            catch_ups=c.catch_ups, lost=c.lost, malformed=c.malformed, duplicates=c.duplicates,
        )  # fmt: skip

    def run(self, stopper: Stopper) -> None:
        flush_every = self.config.storage.flush_interval_seconds
        next_flush = time.monotonic() + flush_every
        next_tidy = 0.0
        while not stopper.stopped:
            # Sleep until a message, a stop, or the next thing to do (a flush only when rows
            # are pending): waking twice a second for nothing was most of an idle
            # rotator's CPU time (docs/benchmarks.md).
            now = time.monotonic()
            due = min(next_flush, next_tidy) if self.csv.pending else next_tidy
            wait_ms = max(0, math.ceil((due - now) * 1000))
            for reading in self.sub.poll(wait_ms, wake=stopper.fileno()):
                self.csv.add(reading)
            now = time.monotonic()
            if now >= next_flush:
                self.flush()
                self._count()
                next_flush = now + flush_every
            if now >= next_tidy:
                self._tidy()
                next_tidy = now + TIDY_EVERY
        self.flush()

    def _tidy(self) -> None:
        csvc = self.config.csv
        try:
            tidy(self.config.csv.directory, datetime.now(self.config.timezone).date(),
                 csvc.gzip_after_days, csvc.retention_days, set(self.csv.pending))  # fmt: skip
        except OSError as exc:
            log.error("tidying old CSV files failed: %s", exc)

    def close(self) -> None:
        self.sub.close()
        self.status.close()


def main(config: Config, stopper: Stopper) -> int:
    if not config.csv.enabled:
        return idle_while_disabled(log, "csv.enabled", stopper)
    rotator = CsvRotator(config)
    log.info(
        "writing CSV files to %s (flushed every %g s), from seq %d of journal %s",
        config.csv.directory, config.storage.flush_interval_seconds,
        rotator.state.seq, rotator.state.epoch or "(any)",
    )  # fmt: skip
    try:
        rotator.run(stopper)
    finally:
        rotator.close()
    return 0


if __name__ == "__main__":
    run_service("csv_rotator", main)
