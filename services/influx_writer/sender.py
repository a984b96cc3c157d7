"""One HTTP write of a batch of lines, and what its answer means for the queue.

influxdb-client in SYNCHRONOUS mode: no buffer of its own, no retries, no threads; every
non-2xx answer raises ApiException with the status, the server's message and the raw
Retry-After header, and network trouble raises urllib3's errors unwrapped.  The client's
batching mode is not used: its buffer lives in RAM and its close() gives up on pending data
(reference/reliability.md §2).

Nothing here may show the token: messages are built from the status, the server's message
and the host, and scrubbed of the token anyway.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from common.config import InfluxSettings

log = logging.getLogger("influx_writer.sender")

# What an answer means for the batch.
OK = "ok"  # 2xx: delete it
BAD_LINES = "bad-lines"  # 400: some line is malformed; bisect to find which
AUTH = "auth"  # 401/403: the token; keep everything
MISSING = "missing"  # 404: org or bucket does not exist; keep everything
TOO_LARGE = "too-large"  # 413: send less at a time
PARTIAL = "partial"  # 422: the server kept what it could; the rest will never be taken
RETRY = "retry"  # 429, 5xx, timeouts, refused connections: the same batch later
REFUSED = "refused"  # any other 4xx: a request we cannot fix by retrying; keep everything

MAX_RETRY_AFTER = 3600.0  # a server asking for more than an hour is probably confused
_DROPPED = re.compile(r"dropped=(\d+)")


@dataclass(frozen=True)
class Outcome:
    kind: str
    status: int | None = None
    reason: str = ""  # the server's message, or what went wrong on the way
    retry_after: float | None = None  # seconds, from Retry-After
    rejected: int = 0  # 422: points the server says it dropped


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def classify_status(status: int, message: str, retry_after: str | None, lines: int) -> Outcome:
    reason = message.strip()
    if 200 <= status < 300:
        return Outcome(OK, status)
    if status == 422 or (status == 400 and "partial write" in reason):
        # InfluxDB 1.8's v2 endpoint says 400 "partial write: ... dropped=N" where v2 says
        # 422: either way the other points are stored and retrying cannot help these.
        m = _DROPPED.search(reason)
        rejected = min(int(m.group(1)), lines) if m else lines
        return Outcome(PARTIAL, status, reason, rejected=rejected)
    if status == 400:
        return Outcome(BAD_LINES, status, reason)
    if status in (401, 403):
        return Outcome(AUTH, status, reason)
    if status == 404:
        return Outcome(MISSING, status, reason)
    if status == 413:
        return Outcome(TOO_LARGE, status, reason)
    if status == 429 or status >= 500:
        return Outcome(RETRY, status, reason, parse_retry_after(retry_after))
    return Outcome(REFUSED, status, reason)


class Sender:
    def __init__(self, settings: InfluxSettings) -> None:
        self.settings = settings
        self._token = settings.token.reveal()
        parts = urlsplit(settings.url)
        # For messages: never the URL itself, which could carry user:password@.
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.where = f"{parts.hostname or '?'}:{port}"
        self.client = InfluxDBClient(
            url=settings.url,
            token=self._token,
            org=settings.org,
            timeout=int(settings.timeout_seconds * 1000),
            verify_ssl=settings.verify_tls,
            enable_gzip=settings.gzip,
            retries=False,  # the queue retries, with backoff, from disk
        )
        self.write_api = self.client.write_api(write_options=SYNCHRONOUS)

    def scrub(self, text: str) -> str:
        if self._token and self._token in text:
            text = text.replace(self._token, "***")
        return text

    def send(self, lines: Sequence[str]) -> Outcome:
        try:
            self.write_api.write(
                bucket=self.settings.bucket,
                org=self.settings.org,
                record="\n".join(lines),
                write_precision=WritePrecision.MS,
            )
        except ApiException as exc:
            message = exc.message if isinstance(exc.message, str) else _text(exc.body)
            return classify_status(
                int(exc.status or 0), self.scrub(message or exc.reason or ""),
                exc.retry_after, len(lines),
            )  # fmt: skip
        except urllib3.exceptions.NewConnectionError as exc:  # a TimeoutError subclass
            return Outcome(RETRY, None, f"cannot connect to {self.where}: {_errno_text(exc)}")
        except urllib3.exceptions.TimeoutError:
            return Outcome(RETRY, None, f"no answer from {self.where} within "
                           f"{self.settings.timeout_seconds:g} s")  # fmt: skip
        except urllib3.exceptions.HTTPError as exc:
            return Outcome(RETRY, None, f"connection to {self.where} failed: {type(exc).__name__}")
        except OSError as exc:
            return Outcome(RETRY, None, f"connection to {self.where} failed: {exc.strerror or exc}")
        return Outcome(OK, 204)

    def close(self) -> None:
        self.client.close()


def _text(body: object) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return "" if body is None else str(body)


def _errno_text(exc: Exception) -> str:
    # "[Errno 111] Connection refused" without urllib3's object reprs around it.
    m = re.search(r"\[Errno -?\d+\] ([^')\"]+)", str(exc))
    return m.group(1).strip() if m else type(exc).__name__
