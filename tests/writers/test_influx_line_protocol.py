"""A reading becomes one line of InfluxDB line protocol that any server parses back to the
same measurement, tags, value and time: the previous logger's data model, escaping that survives any
unit name, and a timestamp that is the reading's own (so a replay overwrites, never adds)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.reading import Reading
from services.influx_writer.line_protocol import Unrenderable, escape_tag, render, timestamp_ms

JST = timezone(timedelta(hours=9))


def reading(**kw) -> Reading:
    base = dict(seq=1, epoch="e", ts="2026-11-26T12:00:00.123+09:00", unitid="smartmeter",
                epc="E7", dataid="", value=523.0)  # fmt: skip
    return Reading(**(base | kw))


def _split_unescaped(text: str, sep: str) -> list[str]:
    out, cur, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cur += text[i : i + 2]  # an escaped character never separates
            i += 2
        elif text[i] == sep:
            out.append(cur)
            cur, i = "", i + 1
        else:
            cur, i = cur + text[i], i + 1
    out.append(cur)
    return out


def _unescape(text: str) -> str:
    return re.sub(r"\\([\\, =])", r"\1", text)


def parse_line(line: str) -> tuple[str, dict[str, str], str, str]:
    """A reader of line protocol written from the spec (the table of escapes in the
    InfluxDB docs: ``\\,`` ``\\=`` ``\\ `` and ``\\\\``), independent of the writer."""
    head, field, ts = _split_unescaped(line, " ")
    name, *pairs = _split_unescaped(head, ",")
    tags = {}
    for pair in pairs:
        k, v = _split_unescaped(pair, "=")
        tags[_unescape(k)] = _unescape(v)
    return _unescape(name), tags, field, ts


def test_the_previous_loggers_data_model():
    line, ts = render(reading())
    assert line == "smartmeter_power,epc=E7,unitid=smartmeter value=523.0 1795662000123"
    assert ts == 1795662000123
    assert datetime.fromtimestamp(ts / 1000, UTC) == datetime(2026, 11, 26, 3, 0, 0, 123000, UTC)


def test_dataid_is_a_tag_only_when_set():
    line, _ = render(reading(epc="E8", dataid="R", value=12.5))
    assert line.startswith("smartmeter_power,dataid=R,epc=E8,unitid=smartmeter value=12.5 ")


def test_value_is_always_a_float_field():
    # "value=523i" would be an integer field; one integer write would make every later
    # float write a field type conflict.
    for value in (0.0, 523.0, -1.0, 1e20, 0.1, 123456.7):
        _, _, field, _ = parse_line(render(reading(value=value))[0])
        assert field.startswith("value=") and not field.endswith("i")
        assert float(field.removeprefix("value=")) == value


def test_values_no_server_can_store_are_refused_here():
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(Unrenderable):
            render(reading(value=bad))


def test_timestamp_is_the_readings_own_time_exactly():
    # Integer arithmetic: no float rounding of ms, whatever the offset.
    r = reading(ts="2026-11-26T23:59:59.999+09:00")
    assert (
        timestamp_ms(r)
        == int(datetime(2026, 11, 26, 14, 59, 59, tzinfo=UTC).timestamp()) * 1000 + 999
    )
    # A time without an offset is taken in the configured zone, not the machine's.
    naive = reading(ts="2026-11-26T12:00:00")
    assert timestamp_ms(naive, JST) == timestamp_ms(reading(ts="2026-11-26T12:00:00+09:00"))
    # Rendering twice gives the same line: a replay overwrites the same point.
    assert render(reading()) == render(reading())


@given(st.text(min_size=1, max_size=30), st.text(max_size=10))
def test_any_unit_name_and_dataid_survive_the_round_trip(unitid, dataid):
    line, _ = render(reading(unitid=unitid, dataid=dataid))
    measurement, tags, field, ts = parse_line(line)
    assert measurement == "smartmeter_power" and field == "value=523.0" and ts.isdigit()
    # Control characters cannot be carried by line protocol; they become spaces.
    expected_unit = "".join(" " if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in unitid)
    expected_data = "".join(" " if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in dataid)
    assert tags.get("unitid", "") == expected_unit
    assert tags.get("dataid", "") == expected_data
    assert "\n" not in line and "\r" not in line


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("a b", "a\\ b"), ("a,b", "a\\,b"), ("a=b", "a\\=b"), ("a\\", "a\\\\"), ("日本", "日本")],
)
def test_escapes_follow_the_line_protocol_table(raw, escaped):
    assert escape_tag(raw) == escaped
