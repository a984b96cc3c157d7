"""A reading as one line of InfluxDB line protocol, rendered once, when it is queued.

The line carries the reading's own time, not the time of the HTTP call: a replay after an
ambiguous failure (a timeout, a crash between the server's 204 and our commit) then rewrites
the same point instead of adding one, because InfluxDB identifies a point by measurement, tag
set and timestamp.  For the same reason the tag set and the precision never change.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, datetime, tzinfo

from common.reading import Reading

MEASUREMENT = "smartmeter_power"
FIELD = "value"
# Milliseconds: the meter answers at most a few times a second, and VictoriaMetrics stores ms.
PRECISION = "ms"

# Tag keys and values: backslash first, so the escapes added after it are not doubled.
_TAG_ESCAPES = str.maketrans({"\\": "\\\\", ",": "\\,", "=": "\\=", " ": "\\ "})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Unrenderable(ValueError):
    """A reading no InfluxDB can store (a value that is not a finite number)."""


def escape_tag(value: str) -> str:
    """A tag value as line protocol wants it.

    Line protocol has no escape for line breaks or other control characters, so they become
    spaces (a unit name with a newline is a typo; the point is worth more than the byte).
    A trailing backslash is safe because every backslash is doubled.
    """
    cleaned = "".join(" " if unicodedata.category(c) == "Cc" else c for c in value)
    return cleaned.translate(_TAG_ESCAPES)


def timestamp_ms(reading: Reading, assume: tzinfo = UTC) -> int:
    """Milliseconds since the epoch, exactly (no float rounding); ``assume`` for naive times."""
    when = reading.time
    if when.tzinfo is None:
        when = when.replace(tzinfo=assume)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_float(value: float) -> str:
    """A float field: no ``i`` suffix, so InfluxDB stores it as a float even when whole."""
    if not math.isfinite(value):
        raise Unrenderable(f"value {value!r} is not a finite number")
    return repr(float(value))


def render(reading: Reading, assume: tzinfo = UTC) -> tuple[str, int]:
    """The line for ``reading`` and its timestamp in ms.

    Tags are in key order (what InfluxDB sorts them to anyway); an empty tag value is not
    allowed by line protocol, so an empty ``dataid`` (or unit name) is left out.
    """
    ts = timestamp_ms(reading, assume)
    tags = [("dataid", reading.dataid), ("epc", reading.epc), ("unitid", reading.unitid)]
    tag_text = "".join(f",{k}={escape_tag(v)}" for k, v in tags if escape_tag(v))
    return f"{MEASUREMENT}{tag_text} {FIELD}={format_float(reading.value)} {ts}", ts
