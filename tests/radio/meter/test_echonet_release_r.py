"""The Release R properties of next-generation meters: C0, D0, EE/EF (common/echonet_release_r.py,
D0 in common/echonet.py).  Layouts: MRA v1.3.1 devices/0x0288.json; momonga 0.7.0's parsers."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from common.echonet import (
    MEASURABLE_EPCS,
    EchonetFormatError,
    Measurement,
    Scaling,
    decode_measurements,
    decode_one_minute_energy,
    parse_epc,
)
from common.echonet_release_r import (
    MINUTE_WINDOW_MAX,
    MinuteValue,
    decode_minute_history,
    decode_minute_window,
    decode_route_b_id,
    encode_minute_window,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --- C0 ------------------------------------------------------------------------------------

C0 = h("00 000016 303132333435363738394142")


def test_route_b_id_shows_the_maker_and_the_last_four_only():
    rid = decode_route_b_id(C0)
    assert rid.maker == "000016"
    assert rid.masked() == "000016-" + "*" * 20 + "4142"
    assert "3031" not in rid.masked()


def test_route_b_id_key_is_stable_and_tells_meters_apart():
    assert decode_route_b_id(C0).key() == decode_route_b_id(bytes(C0)).key()
    other = C0[:-1] + b"\x43"
    assert decode_route_b_id(other).key() != decode_route_b_id(C0).key()
    assert C0.hex() not in decode_route_b_id(C0).key()


@pytest.mark.parametrize("edt", ["", "00" * 8, "00" * 15, "00" * 17, "01" + "00" * 15])
def test_route_b_id_rejects(edt):
    # 8 bytes: what hsakoh's Wi-Fi emulator sends (the spec says 16).
    with pytest.raises(EchonetFormatError, match="C0"):
        decode_route_b_id(h(edt))


@given(st.binary(max_size=20))
@example(b"\x00" * 16)
def test_route_b_id_only_raises_format_error(data):
    try:
        rid = decode_route_b_id(data)
    except EchonetFormatError:
        return
    masked = rid.masked()
    assert len(masked) == 6 + 1 + 24 and masked.count("*") == 20


# --- D0 ------------------------------------------------------------------------------------

D0 = h("07E9 0B 1A 0C 1F 00  0001E240  000003E8")  # 2025-11-26 12:31:00, 123456, 1000


def test_one_minute_energy():
    assert decode_one_minute_energy(D0) == (datetime(2025, 11, 26, 12, 31), 123456, 1000)


def test_one_minute_energy_scaled_by_d3_and_e1():
    ms = decode_measurements(0xD0, D0, Scaling(10, Decimal("0.01")))
    when = datetime(2025, 11, 26, 12, 31)
    assert ms == [Measurement("forward", 12345.6, when), Measurement("reverse", 100.0, when)]


def test_one_minute_energy_no_data_either_way():
    edt = D0[:7] + h("FFFFFFFE 000003E8")
    assert [m.value for m in decode_measurements(0xD0, edt, Scaling())] == [None, 1000.0]
    edt = D0[:11] + h("FFFFFFFE")
    assert [m.value for m in decode_measurements(0xD0, edt, Scaling())] == [123456.0, None]


@pytest.mark.parametrize(
    "edt",
    [
        "07E90B1A0C1F00 0001E240",  # 11 bytes: EA's length
        "07E90B1A0C1F00 0001E240 000003E8 00",  # 16
        "07E90D1A0C1F00 0001E240 000003E8",  # month 13
        "07E90B1A0C1F3C 0001E240 000003E8",  # second 60
        "07E90B1A0C1F00 05F5E100 000003E8",  # 100000000: more than 8 digits
        "07E90B1A0C1F00 0001E240 FFFFFFFF",  # FFFFFFFF is no marker
    ],
)
def test_one_minute_energy_rejects(edt):
    with pytest.raises(EchonetFormatError, match="D0"):
        decode_one_minute_energy(h(edt))


def test_d0_is_measurable_and_named():
    assert 0xD0 in MEASURABLE_EPCS
    assert parse_epc("D0") == parse_epc("one_minute_energy") == 0xD0


@given(
    when=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
    forward=st.integers(0, 99999999) | st.just(0xFFFFFFFE),
    reverse=st.integers(0, 99999999) | st.just(0xFFFFFFFE),
)
def test_one_minute_energy_round_trip(when, forward, reverse):
    edt = (when.year.to_bytes(2, "big")
           + bytes((when.month, when.day, when.hour, when.minute, when.second))
           + forward.to_bytes(4, "big") + reverse.to_bytes(4, "big"))  # fmt: skip
    none = lambda raw: None if raw == 0xFFFFFFFE else raw  # noqa: E731
    assert decode_one_minute_energy(edt) == (when, none(forward), none(reverse))


# --- EF ------------------------------------------------------------------------------------


def test_minute_window_round_trip():
    edt = encode_minute_window(datetime(2025, 11, 26, 12, 31), 10)
    assert edt == h("07E9 0B 1A 0C 1F 0A")
    assert decode_minute_window(edt) == (datetime(2025, 11, 26, 12, 31), 10)


def test_minute_window_unset_is_the_default():
    assert decode_minute_window(h("FFFFFFFFFFFF 01")) == (None, 1)


@pytest.mark.parametrize(("newest", "count"), [
    (datetime(2025, 1, 1, 0, 0), 0),
    (datetime(2025, 1, 1, 0, 0), 11),
    (datetime(2025, 1, 1, 0, 0, 30), 5),  # a minute has no seconds
])  # fmt: skip
def test_minute_window_refuses_to_encode(newest, count):
    with pytest.raises(ValueError):
        encode_minute_window(newest, count)


@pytest.mark.parametrize("edt", ["", "07E90B1A0C1F", "07E90B1A0C1F0A00", "07E90B1A0C1F00",
                                 "07E90B1A0C1F0B", "07E90B1A183C05"])  # fmt: skip
def test_minute_window_rejects(edt):
    with pytest.raises(EchonetFormatError, match="EF"):
        decode_minute_window(h(edt))


# --- EE ------------------------------------------------------------------------------------


def ee(newest: str, pairs: list[tuple[int, int]]) -> bytes:
    body = b"".join(f.to_bytes(4, "big") + r.to_bytes(4, "big") for f, r in pairs)
    return h(newest) + bytes((len(pairs),)) + body


def test_minute_history_steps_back_one_minute_newest_first():
    edt = ee("07E9 0B 1A 00 01", [(102, 7), (101, 0xFFFFFFFE), (0xFFFFFFFE, 5)])
    newest, values = decode_minute_history(edt)
    assert newest == datetime(2025, 11, 26, 0, 1)
    assert values == [
        MinuteValue(datetime(2025, 11, 26, 0, 1), 102, 7),
        MinuteValue(datetime(2025, 11, 26, 0, 0), 101, None),
        MinuteValue(datetime(2025, 11, 25, 23, 59), None, 5),  # across midnight
    ]


def test_minute_history_is_at_most_87_bytes():
    edt = ee("07E9 0B 1A 00 09", [(1, 1)] * MINUTE_WINDOW_MAX)
    assert len(edt) == 87 and len(decode_minute_history(edt)[1]) == 10


def test_minute_history_unset_default_holds_no_minutes():
    # The appendix's default: FFFFFFFFFFFF 01 FFFFFFFE FFFFFFFE.
    assert decode_minute_history(h("FFFFFFFFFFFF01FFFFFFFEFFFFFFFE")) == (None, [])


@pytest.mark.parametrize("edt", [
    "07E90B1A0001",  # no count
    "07E90B1A000100",  # 0 minutes
    "07E90B1A00010B" + "00" * 88,  # 11 minutes
    "07E90B1A000102" + "00" * 8,  # 2 said, 1 given
    "07E90B1A000101" + "00" * 9,  # a byte too many
    "07E90B1A3C0101" + "00" * 8,  # hour 60
    "07E90B1A00010105F5E10000000000",  # 9 digits
    "00010101000002" + "00" * 16,  # the minute before 0001-01-01 00:00
])  # fmt: skip
def test_minute_history_rejects(edt):
    with pytest.raises(EchonetFormatError, match="EE"):
        decode_minute_history(h(edt))


@given(
    newest=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(
        lambda d: d.replace(second=0, microsecond=0)
    ),
    pairs=st.lists(
        st.tuples(st.integers(0, 99999999) | st.just(0xFFFFFFFE),
                  st.integers(0, 99999999) | st.just(0xFFFFFFFE)),
        min_size=1, max_size=MINUTE_WINDOW_MAX,
    ),
)  # fmt: skip
def test_minute_history_round_trip(newest, pairs):
    edt = encode_minute_window(newest, len(pairs))[:6] + ee("", pairs)
    shown, values = decode_minute_history(edt)
    none = lambda raw: None if raw == 0xFFFFFFFE else raw  # noqa: E731
    assert shown == newest
    assert values == [MinuteValue(newest - timedelta(minutes=i), none(f), none(r))
                      for i, (f, r) in enumerate(pairs)]  # fmt: skip


@given(st.binary(max_size=100))
@example(b"\xff" * 6 + b"\x0a" + b"\xff" * 80)
@example(b"\x00\x01\x01\x01\x00\x00\x0a" + b"\x00" * 80)
def test_minute_history_and_window_only_raise_format_error(data):
    for decoder in (decode_minute_history, decode_minute_window):
        with contextlib.suppress(EchonetFormatError):
            decoder(data)
