"""Every answer an InfluxDB v2 server can give, and what the writer does with the queue and
what health shows: the table of reference/reliability.md §2, against a scripted fake server
(VictoriaMetrics answers 204 to everything).  The queue, sender and drain loop are the real
ones, in-process; each step is one batch."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from common.bus import Cursor
from common.config import InfluxSettings, Secret
from common.paths import Paths
from common.status import StatusReporter
from services.influx_writer.drain import BISECT_BUDGET, IDLE, Backoff, Drainer
from services.influx_writer.health import Health
from services.influx_writer.line_protocol import render
from services.influx_writer.queue import DiskQueue
from services.influx_writer.sender import Sender, parse_retry_after
from tests.support.influx_fixtures import (  # noqa: F401 - fake_fixture provides the fixture 'fake'
    BUCKET,
    ORG,
    TOKEN,
    Answer,
    fake_fixture,
    free_port,
    reading_maker,
)


class Rig:
    def __init__(self, tmp_path, url: str, **influx) -> None:
        self.settings = InfluxSettings(
            enabled=True, url=url, token=Secret(TOKEN), org=ORG, bucket=BUCKET,
            batch_size=influx.pop("batch_size", 100), timeout_seconds=1.0, **influx,
        )  # fmt: skip
        self.queue = DiskQueue(tmp_path / "q.sqlite", 64 << 20, 30 * 86400)
        paths = Paths.from_environ({"SMARTMETER_HOME": str(tmp_path),
                                    "SMARTMETER_RUNTIME_DIR": str(tmp_path)})  # fmt: skip
        self.reporter = StatusReporter(paths, "influx_writer")
        self.sender = Sender(self.settings)
        self.health = Health(self.reporter, self.sender.scrub)
        self.drainer = Drainer(self.queue, self.sender, self.health, self.settings,
                               Backoff(base=0.1, cap=0.8))  # fmt: skip
        self.lines: list[str] = []
        self.seq = 0

    def fill(self, n: int, make=None) -> list[str]:
        make = make or reading_maker()
        rows = [render(make(self.seq + i + 1, "e")) for i in range(n)]
        self.seq += n
        self.queue.enqueue(rows, Cursor("e", self.seq))
        self.lines += [line for line, _ in rows]
        return [line for line, _ in rows]

    def status(self) -> dict:
        self.drainer.numbers()
        return self.reporter.snapshot()

    def close(self) -> None:
        self.reporter.close()
        self.sender.close()
        self.queue.close()


@pytest.fixture
def rig(tmp_path, fake, caplog):
    caplog.set_level("DEBUG")
    r = Rig(tmp_path, fake.url)
    yield r
    snapshot = json.dumps(r.status())
    r.close()
    # Whatever happened, the token never shows.
    assert TOKEN not in snapshot
    assert TOKEN not in caplog.text


def poison_script(marker: str, reason: str = "unable to parse"):
    def script(req):
        bad = [line for line in req.lines if marker in line]
        if bad:
            return Answer(400, f"{reason} '{bad[0]}': invalid field format")
        return Answer(204)

    return script


def test_204_deletes_the_batch_and_the_request_is_what_influxdb_v2_expects(rig, fake):
    sent = rig.fill(10)
    assert rig.drainer.step() == 0
    assert rig.queue.depth == 0 and rig.queue.counters["delivered"] == 10
    (req,) = fake.requests
    assert req.path == "/api/v2/write"
    assert req.query == {"org": ORG, "bucket": BUCKET, "precision": "ms"}
    assert req.headers["authorization"] == f"Token {TOKEN}"
    assert req.headers["content-encoding"] == "gzip"
    assert req.lines == sent
    assert rig.status()["cause"] == "ok"
    assert rig.status()["details"]["last_success"]


def test_gzip_can_be_turned_off(tmp_path, fake):
    rig = Rig(tmp_path, fake.url, gzip=False)
    try:
        rig.fill(3)
        rig.drainer.step()
        assert "content-encoding" not in fake.requests[0].headers
        assert len(fake.requests[0].lines) == 3
    finally:
        rig.close()


def test_400_is_bisected_and_only_the_poison_line_is_set_aside_with_the_reason(rig, fake):
    lines = rig.fill(100)
    poison = lines[37]
    fake.script = poison_script(poison)
    assert rig.drainer.step() == 0
    assert sorted(fake.lines(204)) == sorted(line for line in lines if line != poison)
    assert rig.queue.depth == 0
    ((line, status, reason),) = rig.queue.dead_letters()
    assert (line, status) == (poison, 400) and "unable to parse" in reason
    assert len(fake.requests) <= 2 * 7 + 1  # a bisection, not one request per line
    s = rig.status()
    assert (s["level"], s["cause"]) == ("warn", "influx-rejecting")
    assert s["counters"]["deadletter"] == 1 and s["counters"]["delivered"] == 99


def test_a_400_that_every_line_gets_is_about_the_request_and_keeps_everything(rig, fake):
    rig.fill(100)
    fake.script = lambda req: Answer(400, "cannot find the provided auth token")
    assert rig.drainer.step() > 0  # and then it waits
    assert rig.queue.depth == 100 and rig.queue.dead_letters() == []
    assert len(fake.requests) <= BISECT_BUDGET + 1
    s = rig.status()
    assert (s["level"], s["cause"]) == ("fail", "influx-rejecting")
    assert "cannot find the provided auth token" in s["message"]


@pytest.mark.parametrize(
    ("status", "cause"),
    [(401, "influx-auth"), (403, "influx-auth"), (404, "influx-bucket-missing")],
)
def test_auth_and_missing_bucket_keep_everything_back_off_and_name_the_cause(
    rig, fake, status, cause
):
    rig.fill(20)
    fake.script = lambda req: Answer(status, f'bucket "{BUCKET}" not found' if status == 404
                                     else "unauthorized access")  # fmt: skip
    delays = [rig.drainer.step() for _ in range(4)]
    assert rig.queue.depth == 20 and rig.queue.counters["deadletter"] == 0
    assert delays[0] <= 0.1 < 0.2 <= delays[3] <= 0.8  # exponential, capped
    s = rig.status()
    assert (s["level"], s["cause"]) == ("fail", cause)
    assert str(status) in s["message"] and "docs/influxdb.md" in s["message"]
    assert s["details"]["last_error"]["cause"] == cause
    fake.script = lambda req: Answer(204)  # the user fixed the token or made the bucket
    rig.drainer.step()
    assert rig.queue.depth == 0 and rig.status()["cause"] == "ok"


def test_413_sends_smaller_batches_until_they_fit(rig, fake):
    lines = rig.fill(100)
    fake.script = lambda req: Answer(413 if len(req.lines) > 30 else 204, "too large")
    for _ in range(10):
        if rig.drainer.step() == IDLE:
            break
    assert sorted(fake.lines(204)) == sorted(lines) and rig.queue.depth == 0
    assert rig.drainer.limit <= 30
    assert rig.queue.counters["deadletter"] == 0


def test_422_commits_the_batch_and_counts_what_the_server_dropped(rig, fake):
    rig.fill(50)
    fake.script = lambda req: Answer(
        422, "failure writing points to database: partial write: points beyond retention "
        "policy dropped=2")  # fmt: skip
    assert rig.drainer.step() == 0
    assert rig.queue.depth == 0
    s = rig.status()
    assert s["counters"]["rejected"] == 2 and s["counters"]["delivered"] == 48
    assert (s["level"], s["cause"]) == ("warn", "influx-rejecting")


def test_influxdb_1_8s_400_partial_write_is_a_partial_write_not_poison(rig, fake):
    rig.fill(10)
    fake.script = lambda req: Answer(
        400, 'partial write: field type conflict: input field "value" on measurement '
        '"smartmeter_power" is type float, already exists as type integer dropped=10')  # fmt: skip
    assert rig.drainer.step() == 0
    assert len(fake.requests) == 1 and rig.queue.depth == 0
    assert rig.queue.counters["rejected"] == 10 and rig.queue.dead_letters() == []
    assert rig.status()["cause"] == "influx-rejecting"


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(rig, fake, status):
    rig.fill(5)
    fake.script = lambda req: Answer(status, "slow down", {"Retry-After": "2"})
    assert 2.0 <= rig.drainer.step() <= 2.2
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    fake.script = lambda req: Answer(status, "slow down", {"Retry-After": when})
    assert 28 <= rig.drainer.step() <= 33
    assert rig.queue.depth == 5
    s = rig.status()
    assert (s["level"], s["cause"]) == ("warn", "influx-unreachable")


def test_retry_after_is_waited_out_in_the_running_loop(rig, fake):
    rig.fill(5)
    answers = iter([Answer(503, "starting", {"Retry-After": "1"})])
    fake.script = lambda req: next(answers, Answer(204))
    stop = threading.Event()
    thread = threading.Thread(target=rig.drainer.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while rig.queue.depth and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        rig.drainer.wake.set()
        thread.join()
    first, second = fake.requests[:2]
    assert second.at - first.at >= 1.0
    assert rig.queue.depth == 0


def test_5xx_backs_off_exponentially_with_a_cap(rig, fake):
    rig.fill(5)
    fake.script = lambda req: Answer(500, "internal error")
    delays = [rig.drainer.step() for _ in range(8)]
    assert delays[0] <= 0.1 and delays[3] >= 0.2 and max(delays) <= 0.8
    assert rig.queue.depth == 5 and rig.status()["cause"] == "influx-unreachable"


def test_a_server_that_hangs_is_given_up_on_after_the_timeout(rig, fake):
    rig.fill(5)
    fake.script = lambda req: Answer(204, delay=3)
    started = time.monotonic()
    assert rig.drainer.step() > 0
    assert 0.9 <= time.monotonic() - started < 2.5  # influxdb.timeout_seconds is 1
    assert rig.queue.depth == 5  # the outcome is unknown: send again later (idempotent)
    s = rig.status()
    assert s["cause"] == "influx-unreachable" and "within 1 s" in s["message"]


def test_a_refused_connection_keeps_everything_and_says_so(tmp_path, caplog):
    rig = Rig(tmp_path, f"http://127.0.0.1:{free_port()}")
    try:
        rig.fill(5)
        assert rig.drainer.step() > 0
        s = rig.status()
        assert s["cause"] == "influx-unreachable" and "refused" in s["message"].lower()
        assert rig.queue.depth == 5
    finally:
        rig.close()
    assert TOKEN not in caplog.text


def test_other_4xx_keep_everything(rig, fake):
    rig.fill(5)
    fake.script = lambda req: Answer(405, "method not allowed")
    assert rig.drainer.step() > 0
    assert rig.queue.depth == 5 and rig.status()["cause"] == "influx-rejecting"


def test_implausible_timestamps_are_held_back_and_named(rig, fake):
    good = rig.fill(3)
    rig.fill(2, reading_maker(start=datetime(1970, 1, 1, tzinfo=UTC)))  # no RTC, no NTP yet
    rig.fill(2, reading_maker(start=datetime.now(UTC) + timedelta(days=3)))
    rig.drainer.step()
    assert rig.drainer.step() == IDLE
    assert fake.lines(204) == good
    s = rig.status()
    assert (s["level"], s["cause"]) == ("warn", "clock-implausible")
    assert s["counters"]["held"] == 4 and s["counters"]["queue_depth"] == 4


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), (" 0 ", 0.0), ("-3", 0.0), ("junk", None), ("", None), (None, None),
     ("99999999", 3600.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)  # fmt: skip
def test_retry_after_header_forms(header, seconds):
    assert parse_retry_after(header) == seconds
