"""ECHONET Lite frames and smart-meter property values (common/echonet.py).

Byte strings and value rules: B-route research notes §4.3/§4.4.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from common.echonet import (
    ENERGY_UNITS,
    EOJ_CONTROLLER,
    EOJ_NODE_PROFILE,
    EOJ_SMART_METER,
    EPC_NAMES,
    ESV,
    MEASURABLE_EPCS,
    EchonetFormatError,
    Frame,
    Measurement,
    Property,
    Scaling,
    decode_coefficient,
    decode_current,
    decode_digits,
    decode_energy_raw,
    decode_fixed_time_energy,
    decode_measurements,
    decode_meter_time,
    decode_power,
    decode_property_map,
    decode_unit,
    get_request,
    parse_epc,
)

TWO_LIST_ESVS = (ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA)
ONE_LIST_ESVS = tuple(e for e in ESV if e not in TWO_LIST_ESVS)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# --- strategies -------------------------------------------------------------------------

properties_st = st.builds(
    Property,
    epc=st.integers(0, 0xFF),
    edt=st.binary(max_size=0xFF),
)
property_lists_st = st.lists(properties_st, max_size=6).map(tuple)


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    esv = draw(
        st.one_of(
            st.sampled_from(list(ESV)),
            st.sampled_from(TWO_LIST_ESVS),  # weight the SetGet family up
            st.integers(0, 0xFF),
        )
    )
    get_properties = draw(property_lists_st) if esv in TWO_LIST_ESVS else ()
    return Frame(
        tid=draw(st.integers(0, 0xFFFF)),
        seoj=draw(st.integers(0, 0xFFFFFF)),
        deoj=draw(st.integers(0, 0xFFFFFF)),
        esv=esv,
        properties=draw(property_lists_st),
        get_properties=get_properties,
    )


scalings = st.builds(
    Scaling,
    coefficient=st.integers(1, 999999),
    unit_kwh=st.sampled_from(sorted(ENERGY_UNITS.values())),
    digits=st.one_of(st.none(), st.integers(1, 8)),
)


# --- frames: properties -----------------------------------------------------------------


@given(frames())
def test_frame_round_trip(frame: Frame) -> None:
    data = frame.encode()
    assert Frame.decode(data) == frame
    # and the wire length is exactly what the header and property lists add up to
    lists = [frame.properties]
    if frame.esv in TWO_LIST_ESVS:
        lists.append(frame.get_properties)
    assert len(data) == 11 + sum(1 + sum(2 + len(p.edt) for p in pl) for pl in lists)


@given(st.sampled_from(TWO_LIST_ESVS), property_lists_st, property_lists_st)
def test_setget_frames_keep_both_lists(esv: int, set_part: tuple, get_part: tuple) -> None:
    frame = Frame(0x1234, EOJ_CONTROLLER, EOJ_SMART_METER, esv, set_part, get_part)
    back = Frame.decode(frame.encode())
    assert back.properties == set_part
    assert back.get_properties == get_part
    assert back.encode()[11] == len(set_part)


@given(frames(), st.data())
def test_truncated_frame_is_rejected(frame: Frame, data: st.DataObject) -> None:
    wire = frame.encode()
    cut = data.draw(st.integers(0, len(wire) - 1))
    with pytest.raises(EchonetFormatError):
        Frame.decode(wire[:cut])


@given(frames(), st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_rejected(frame: Frame, extra: bytes) -> None:
    with pytest.raises(EchonetFormatError):
        Frame.decode(frame.encode() + extra)


@given(st.binary(max_size=64))
@example(b"")
@example(h("1081"))
@example(h("1081000102880105FF0172"))  # no OPC
@example(h("1081000102880105FF017201E7"))  # property header cut
@example(h("1081000102880105FF017201E70400"))  # EDT cut
@example(h("1081000105FF010288016E01E70000"))  # SetGet without its Get list
def test_decode_arbitrary_bytes_only_raises_format_error(data: bytes) -> None:
    try:
        frame = Frame.decode(data)
    except EchonetFormatError:
        return
    assert frame.encode() == data  # whatever decodes is the canonical encoding


@given(frames(), st.data())
def test_decode_mutated_frames_only_raises_format_error(frame: Frame, data: st.DataObject) -> None:
    wire = bytearray(frame.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 0xFF))
    try:
        decoded = Frame.decode(bytes(wire))
    except EchonetFormatError:
        return
    assert decoded.encode() == bytes(wire)


# --- frames: limits ---------------------------------------------------------------------


def test_frame_limits() -> None:
    biggest = Frame(
        0xFFFF, 0xFFFFFF, 0, 0x72, tuple(Property(0xFF, b"\xaa" * 255) for _ in range(255))
    )
    assert Frame.decode(biggest.encode()) == biggest
    with pytest.raises(EchonetFormatError):
        Property(0xE7, b"\x00" * 256)
    with pytest.raises(EchonetFormatError):
        Property(0x100)
    with pytest.raises(EchonetFormatError):
        Property(-1)
    with pytest.raises(EchonetFormatError):
        Frame(0x10000, EOJ_CONTROLLER, EOJ_SMART_METER, ESV.GET)
    with pytest.raises(EchonetFormatError):
        Frame(-1, EOJ_CONTROLLER, EOJ_SMART_METER, ESV.GET)
    with pytest.raises(EchonetFormatError):
        Frame(1, 0x1000000, EOJ_SMART_METER, ESV.GET)
    with pytest.raises(EchonetFormatError):
        Frame(1, EOJ_CONTROLLER, -1, ESV.GET)
    with pytest.raises(EchonetFormatError):
        Frame(1, EOJ_CONTROLLER, EOJ_SMART_METER, 0x100)
    with pytest.raises(EchonetFormatError):
        Frame(1, EOJ_CONTROLLER, EOJ_SMART_METER, ESV.GET, (Property(0xE7),) * 256)
    with pytest.raises(EchonetFormatError):  # a second list only for SetGet and its answers
        Frame(1, EOJ_CONTROLLER, EOJ_SMART_METER, ESV.GET, (), (Property(0xE7),))


def test_decode_rejects_wrong_header() -> None:
    with pytest.raises(EchonetFormatError, match="EHD"):
        Frame.decode(h("1082000102880105FF017201E704000003A0"))
    with pytest.raises(EchonetFormatError, match="shorter than 12"):
        Frame.decode(h("1081000102880105FF0172"))


# --- frames: public byte strings (notes §4.3) -------------------------------------------


def test_get_request_encoding() -> None:
    frame = get_request(1, [0xE7])
    assert frame.encode() == h("1081000105FF010288016201E700")
    assert len(frame.encode()) == 14
    assert Frame.decode(h("1081000105FF010288016201E700")) == frame


def test_get_request_several_epcs() -> None:
    frame = get_request(0xBEEF, [0xD3, 0xE7, 0xE8])
    assert frame.encode() == h("1081BEEF05FF010288016203D300E700E800")


def _single(frame: Frame, epc: int) -> bytes:
    (prop,) = [p for p in frame.properties if p.epc == epc]
    return prop.edt


def test_get_res_928_watts() -> None:
    frame = Frame.decode(h("1081000102880105FF017201E704000003A0"))
    assert frame.tid == 1
    assert frame.seoj == EOJ_SMART_METER
    assert frame.deoj == EOJ_CONTROLLER
    assert frame.esv == ESV.GET_RES
    assert frame.properties == (Property(0xE7, h("000003A0")),)
    assert frame.get_properties == ()
    assert decode_power(_single(frame, 0xE7)) == 928
    assert decode_measurements(0xE7, _single(frame, 0xE7), Scaling()) == [Measurement("", 928.0)]


def test_get_res_1189_watts() -> None:
    frame = Frame.decode(h("1081000102880105FF017201E704000004A5"))
    assert decode_power(_single(frame, 0xE7)) == 1189


def test_get_res_two_properties() -> None:
    frame = Frame.decode(h("1081100202880105FF017202E7040000029CE80400280028"))
    assert frame.tid == 0x1002
    assert [p.epc for p in frame.properties] == [0xE7, 0xE8]
    assert decode_power(_single(frame, 0xE7)) == 668
    assert decode_current(_single(frame, 0xE8)) == (4.0, 4.0)
    assert decode_measurements(0xE8, _single(frame, 0xE8), Scaling()) == [
        Measurement("R", 4.0),
        Measurement("T", 4.0),
    ]


def test_instance_list_inf() -> None:
    frame = Frame.decode(h("108101000EF0010EF0017301D5040105FF01"))
    assert frame.tid == 0x0100
    assert frame.seoj == EOJ_NODE_PROFILE
    assert frame.deoj == EOJ_NODE_PROFILE
    assert frame.esv == ESV.INF
    assert frame.properties == (Property(0xD5, h("0105FF01")),)
    assert frame.encode() == h("108101000EF0010EF0017301D5040105FF01")


def test_meter_inf_zero_watts() -> None:
    frame = Frame.decode(h("1081000102880105FF017301E70400000000"))
    assert frame.esv == ESV.INF
    assert decode_power(_single(frame, 0xE7)) == 0


def test_get_sna_with_empty_property() -> None:
    frame = Frame.decode(h("1081000102880105FF015201D300"))
    assert frame.esv == ESV.GET_SNA
    assert frame.properties == (Property(0xD3, b""),)


def test_setget_wire_layout() -> None:
    frame = Frame(
        2,
        EOJ_CONTROLLER,
        EOJ_SMART_METER,
        ESV.SETGET,
        (Property(0xE5, b"\x01"),),
        (Property(0xE2),),
    )
    wire = h("1081000205FF010288016E01E50101" + "01E200")
    assert frame.encode() == wire
    assert Frame.decode(wire) == frame


# --- arbitrary bytes into every property decoder ----------------------------------------

DECODERS: list[tuple[str, Callable[[bytes], object]]] = [
    ("decode_coefficient", decode_coefficient),
    ("decode_digits", decode_digits),
    ("decode_unit", decode_unit),
    ("decode_power", decode_power),
    ("decode_current", decode_current),
    ("decode_energy_raw E0", lambda b: decode_energy_raw(0xE0, b)),
    ("decode_energy_raw E3", lambda b: decode_energy_raw(0xE3, b)),
    ("decode_fixed_time_energy EA", lambda b: decode_fixed_time_energy(0xEA, b)),
    ("decode_fixed_time_energy EB", lambda b: decode_fixed_time_energy(0xEB, b)),
    ("decode_meter_time", lambda b: decode_meter_time(0xD0, b)),
    ("decode_property_map 9D", lambda b: decode_property_map(0x9D, b)),
    ("decode_property_map 9F", lambda b: decode_property_map(0x9F, b)),
]


@pytest.mark.parametrize("decoder", [d for _, d in DECODERS], ids=[n for n, _ in DECODERS])
@given(data=st.one_of(st.binary(max_size=20), st.binary(min_size=17, max_size=17)))
@example(data=b"")
@example(data=b"\x00" * 4)
@example(data=b"\xff" * 11)
@example(data=b"\x10" + b"\xff" * 16)
def test_decoders_only_raise_format_error(decoder: Callable[[bytes], object], data: bytes) -> None:
    with contextlib.suppress(EchonetFormatError):
        decoder(data)


@pytest.mark.parametrize("epc", sorted(MEASURABLE_EPCS), ids=lambda e: f"{e:02X}")
@given(data=st.binary(max_size=16), scaling=scalings)
@example(data=b"", scaling=Scaling())
@example(data=b"\xff\xff\xff\xfe", scaling=Scaling())
@example(data=b"\x07\xe8\x01\x01\x00\x00\x00\xff\xff\xff\xfe", scaling=Scaling())
def test_decode_measurements_only_raises_format_error(
    epc: int, data: bytes, scaling: Scaling
) -> None:
    try:
        result = decode_measurements(epc, data, scaling)
    except EchonetFormatError:
        return
    assert result
    assert all(isinstance(m, Measurement) for m in result)
    assert all(m.value is None or isinstance(m.value, float) for m in result)


@given(epc=st.integers(0, 0xFF).filter(lambda e: e not in MEASURABLE_EPCS), data=st.binary())
def test_decode_measurements_rejects_other_epcs(epc: int, data: bytes) -> None:
    with pytest.raises(EchonetFormatError, match="not a measurable"):
        decode_measurements(epc, data, Scaling())


# --- E7 instantaneous power -------------------------------------------------------------


@pytest.mark.parametrize(
    ("edt", "watts"),
    [
        ("00000000", 0),
        ("000003A0", 928),
        ("FFFFFC60", -928),  # export
        ("FFFFFFFF", -1),
        ("7FFFFFFD", 2147483645),
        ("80000001", -2147483647),
    ],
)
def test_power_is_signed(edt: str, watts: int) -> None:
    assert decode_power(h(edt)) == watts
    assert decode_measurements(0xE7, h(edt), Scaling()) == [Measurement("", float(watts))]


@pytest.mark.parametrize("edt", ["7FFFFFFF", "80000000", "7FFFFFFE"])
def test_power_sentinels_are_none(edt: str) -> None:
    assert decode_power(h(edt)) is None
    assert decode_measurements(0xE7, h(edt), Scaling()) == [Measurement("", None)]


@pytest.mark.parametrize("edt", ["", "000003", "0000000000"])
def test_power_needs_four_bytes(edt: str) -> None:
    with pytest.raises(EchonetFormatError, match="E7"):
        decode_power(h(edt))


# --- E8 instantaneous current -----------------------------------------------------------


@pytest.mark.parametrize(
    ("edt", "expected"),
    [
        ("00280028", (4.0, 4.0)),
        ("00287FFE", (4.0, None)),  # single-phase two-wire: no T phase
        ("0000FFF1", (0.0, -1.5)),  # negative = export
        ("FF9C0001", (-10.0, 0.1)),
        ("7FFF0010", (None, 1.6)),  # overflow
        ("00108000", (1.6, None)),  # underflow
        ("7FFD8001", (3276.5, -3276.7)),  # range limits
        ("7FFF8000", (None, None)),
    ],
)
def test_current(edt: str, expected: tuple[float | None, float | None]) -> None:
    assert decode_current(h(edt)) == expected
    r, t = expected
    assert decode_measurements(0xE8, h(edt), Scaling()) == [
        Measurement("R", r),
        Measurement("T", t),
    ]


def test_current_values_have_no_float_noise() -> None:
    r, t = decode_current(h("00030007"))
    assert (repr(r), repr(t)) == ("0.3", "0.7")


@pytest.mark.parametrize("edt", ["", "0028", "002800", "0028002800"])
def test_current_needs_four_bytes(edt: str) -> None:
    with pytest.raises(EchonetFormatError, match="E8"):
        decode_current(h(edt))


# --- E0/E3 cumulative energy, E1 unit, D3 coefficient, D7 digits -----------------------


@pytest.mark.parametrize(
    ("code", "unit"),
    [
        (0x00, "1"),
        (0x01, "0.1"),
        (0x02, "0.01"),
        (0x03, "0.001"),
        (0x04, "0.0001"),
        (0x0A, "10"),
        (0x0B, "100"),
        (0x0C, "1000"),
        (0x0D, "10000"),
    ],
)
def test_unit_table(code: int, unit: str) -> None:
    assert decode_unit(bytes([code])) == Decimal(unit)
    assert decode_measurements(0xE1, bytes([code]), Scaling()) == [Measurement("", float(unit))]


def test_unit_table_is_complete() -> None:
    assert sorted(ENERGY_UNITS) == [0x00, 0x01, 0x02, 0x03, 0x04, 0x0A, 0x0B, 0x0C, 0x0D]


@pytest.mark.parametrize("code", [0x05, 0x06, 0x09, 0x0E, 0x10, 0xFF])
def test_unknown_unit_codes(code: int) -> None:
    with pytest.raises(EchonetFormatError, match="E1"):
        decode_unit(bytes([code]))


@pytest.mark.parametrize("edt", ["", "0101"])
def test_unit_needs_one_byte(edt: str) -> None:
    with pytest.raises(EchonetFormatError):
        decode_unit(h(edt))


@pytest.mark.parametrize(
    ("raw", "unit", "coefficient", "kwh"),
    [
        (123457, "0.01", 1, "1234.57"),
        (3, "0.1", 1, "0.3"),  # 3 * 0.1 in floats is 0.30000000000000004
        (1, "0.1", 3, "0.3"),
        (7, "0.0001", 1, "0.0007"),
        (12345678, "0.001", 1, "12345.678"),
        (99999999, "0.0001", 1, "9999.9999"),
        (5, "10", 1, "50.0"),
        (99999999, "10000", 999999, "9.9999899000001e+17"),
        (0, "0.01", 40, "0.0"),
        (1234, "0.1", 40, "4936.0"),
    ],
)
def test_scaling_is_exact(raw: int, unit: str, coefficient: int, kwh: str) -> None:
    scaling = Scaling(coefficient=coefficient, unit_kwh=Decimal(unit))
    assert repr(scaling.kwh(raw)) == kwh
    edt = raw.to_bytes(4, "big")
    for epc in (0xE0, 0xE3):
        (m,) = decode_measurements(epc, edt, scaling)
        assert m == Measurement("", float(kwh))
        assert repr(m.value) == kwh


@given(raw=st.integers(0, 99999999), scaling=scalings)
def test_scaling_matches_decimal_arithmetic(raw: int, scaling: Scaling) -> None:
    exact = Decimal(raw) * scaling.unit_kwh * scaling.coefficient
    assert scaling.kwh(raw) == float(exact)
    # at most 14 significant digits, so the float's shortest repr is the exact decimal
    assert Decimal(repr(scaling.kwh(raw))) == exact


def test_energy_raw() -> None:
    assert decode_energy_raw(0xE0, h("00000000")) == 0
    assert decode_energy_raw(0xE0, h("0001E241")) == 123457
    assert decode_energy_raw(0xE3, h("05F5E0FF")) == 99999999
    assert decode_energy_raw(0xE0, h("FFFFFFFE")) is None
    assert decode_measurements(0xE0, h("FFFFFFFE"), Scaling()) == [Measurement("", None)]
    with pytest.raises(EchonetFormatError, match="8 digits"):
        decode_energy_raw(0xE0, h("05F5E100"))  # 100000000
    with pytest.raises(EchonetFormatError, match="8 digits"):
        decode_energy_raw(0xE0, h("FFFFFFFF"))
    with pytest.raises(EchonetFormatError, match="E3"):
        decode_energy_raw(0xE3, h("0001E2"))


@pytest.mark.parametrize(
    ("edt", "value"), [("00000001", 1), ("0000000A", 10), ("000F423F", 999999)]
)
def test_coefficient(edt: str, value: int) -> None:
    assert decode_coefficient(h(edt)) == value
    assert decode_measurements(0xD3, h(edt), Scaling()) == [Measurement("", float(value))]


@pytest.mark.parametrize("edt", ["00000000", "000F4240", "FFFFFFFF", "", "000001", "0000000001"])
def test_coefficient_out_of_range(edt: str) -> None:
    with pytest.raises(EchonetFormatError, match="D3"):
        decode_coefficient(h(edt))


@pytest.mark.parametrize("digits", range(1, 9))
def test_digits(digits: int) -> None:
    assert decode_digits(bytes([digits])) == digits
    assert decode_measurements(0xD7, bytes([digits]), Scaling()) == [Measurement("", float(digits))]


@pytest.mark.parametrize("edt", ["00", "09", "FF", "", "0606"])
def test_digits_out_of_range(edt: str) -> None:
    with pytest.raises(EchonetFormatError, match="D7"):
        decode_digits(h(edt))


# --- EA/EB fixed-time energy ------------------------------------------------------------


def test_fixed_time_energy() -> None:
    edt = h("07E80B1A0C1E00" + "0001E241")  # 2024-11-26 12:30:00, 123457
    assert decode_fixed_time_energy(0xEA, edt) == (datetime(2024, 11, 26, 12, 30, 0), 123457)
    scaling = Scaling(unit_kwh=Decimal("0.01"))
    assert decode_measurements(0xEA, edt, scaling) == [
        Measurement("", 1234.57, datetime(2024, 11, 26, 12, 30, 0))
    ]
    (m,) = decode_measurements(0xEB, edt, scaling)
    assert repr(m.value) == "1234.57"


def test_fixed_time_energy_without_measurement() -> None:
    edt = h("07E80101000000" + "FFFFFFFE")  # 2024-01-01 00:00:00, no measurement
    assert decode_fixed_time_energy(0xEB, edt) == (datetime(2024, 1, 1), None)
    assert decode_measurements(0xEB, edt, Scaling()) == [
        Measurement("", None, datetime(2024, 1, 1))
    ]


@pytest.mark.parametrize(
    "edt",
    [
        "07E80D1A0C1E00" + "00000001",  # month 13
        "07E8021E0C1E00" + "00000001",  # 30 February
        "07E80B1A180000" + "00000001",  # hour 24
        "07E80B1A0C3C00" + "00000001",  # minute 60
        "00000101000000" + "00000001",  # year 0
        "07E80B1A0C1E00" + "05F5E100",  # counter beyond 8 digits
        "07E80B1A0C1E00" + "000001",  # 10 bytes
        "07E80B1A0C1E00" + "0000000100",  # 12 bytes
        "",
    ],
)
def test_fixed_time_energy_rejects(edt: str) -> None:
    with pytest.raises(EchonetFormatError):
        decode_fixed_time_energy(0xEA, h(edt))


def test_meter_time_too_short() -> None:
    with pytest.raises(EchonetFormatError, match="D0"):
        decode_meter_time(0xD0, h("07E80B1A0C1E"))


# --- 9D/9E/9F property maps -------------------------------------------------------------


def _bitmap(epcs: set[int]) -> bytes:
    """The notes' rule, built the other way round: EPC 0x80 + 0x10·j + i ⇒ bit j of byte i."""
    body = bytearray(16)
    for epc in epcs:
        i, j = epc & 0x0F, (epc >> 4) - 8
        body[i] |= 1 << j
    return bytes([len(epcs)]) + bytes(body)


def test_property_map_list_form() -> None:
    edt = h("0A" + "80 81 82 88 8A 8D 9D 9E 9F E7".replace(" ", ""))
    assert decode_property_map(0x9F, edt) == {
        0x80, 0x81, 0x82, 0x88, 0x8A, 0x8D, 0x9D, 0x9E, 0x9F, 0xE7,
    }  # fmt: skip
    assert decode_property_map(0x9D, h("00")) == frozenset()
    fifteen = bytes([15, *range(0xE0, 0xEF)])
    assert decode_property_map(0x9F, fifteen) == frozenset(range(0xE0, 0xEF))


@pytest.mark.parametrize(
    ("byte_index", "bit", "epc"),
    [
        (0, 0, 0x80),
        (1, 0, 0x81),
        (15, 0, 0x8F),
        (0, 1, 0x90),
        (0, 7, 0xF0),
        (7, 6, 0xE7),
        (8, 6, 0xE8),
        (3, 5, 0xD3),
        (15, 7, 0xFF),
    ],
)
def test_property_map_bitmap_single_bits(byte_index: int, bit: int, epc: int) -> None:
    # the bit under test plus 15 others, all in the low nibble 0..14 of EPCs A0..AE, so the
    # count reaches 16 (bitmap form); none of the parametrized EPCs is in A0..AE
    fill = set(range(0xA0, 0xAF))
    body = bytearray(16)
    for i in range(15):
        body[i] |= 1 << 2  # bit 2 of byte i ⇒ 0xA0 + i
    body[byte_index] |= 1 << bit
    result = decode_property_map(0x9F, bytes([16]) + bytes(body))
    assert result == frozenset({epc, *fill})


def test_property_map_bitmap_example() -> None:
    # byte 0 = 0x41: bits 0 and 6 ⇒ 80, E0; byte 7 = 0x40 ⇒ E7; byte 15 = 0xFF ⇒ 8F..FF
    body = bytearray(16)
    body[0] = 0x41
    body[7] = 0x40
    body[15] = 0xFF
    body[3] = 0x20  # D3
    body[8] = 0x40  # E8
    body[1] = 0x03  # 81, 91
    body[2] = 0x01  # 82
    body[10] = 0x01  # 8A
    edt = bytes([17]) + bytes(body)
    assert decode_property_map(0x9F, edt) == {
        0x80, 0xE0, 0xE7, 0xD3, 0xE8, 0x81, 0x91, 0x82, 0x8A,
        0x8F, 0x9F, 0xAF, 0xBF, 0xCF, 0xDF, 0xEF, 0xFF,
    }  # fmt: skip


@given(st.sets(st.integers(0x80, 0xFF), min_size=16))
def test_property_map_bitmap_matches_rule(epcs: set[int]) -> None:
    assert decode_property_map(0x9F, _bitmap(epcs)) == epcs


@given(st.sets(st.integers(0, 0xFF), max_size=15))
def test_property_map_list_round_trip(epcs: set[int]) -> None:
    edt = bytes([len(epcs), *sorted(epcs)])
    assert decode_property_map(0x9E, edt) == epcs


@pytest.mark.parametrize(
    "edt",
    [
        "",
        "02E7",  # says 2, lists 1
        "01E7E8",  # says 1, lists 2
        "10" + "00" * 16,  # says 16, bitmap empty
        "11" + "FF" + "00" * 15,  # says 17, 8 bits set
        "10" + "FF" * 2,  # bitmap cut short
        "10" + "FF" * 2 + "00" * 15,  # bitmap too long
    ],
)
def test_property_map_rejects(edt: str) -> None:
    with pytest.raises(EchonetFormatError, match="9F"):
        decode_property_map(0x9F, h(edt))


# --- parse_epc ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["E7", "0xE7", "0XE7", "e7", "0xe7", " E7 ", "instantaneous_power", "INSTANTANEOUS_POWER"],
)
def test_parse_epc_accepts(text: str) -> None:
    assert parse_epc(text) == 0xE7


def test_parse_epc_names() -> None:
    for epc, name in EPC_NAMES.items():
        assert parse_epc(name) == epc
    assert parse_epc("cumulative_energy_normal") == 0xE0
    assert parse_epc("D3") == 0xD3
    assert parse_epc("00") == 0x00
    assert parse_epc("ff") == 0xFF


@pytest.mark.parametrize(
    "text",
    [
        "ZZ",
        "E",
        "",
        "E7X",
        "0x",
        "0xE",
        "0xE7X",
        "x7",
        "-1",
        "+7",
        "0x-1",
        "0x+F",
        " 7 7",
        "٠٧",
        "E 7",
    ],
)
def test_parse_epc_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_epc(text)


@given(st.integers(0, 0xFF))
def test_parse_epc_every_byte(epc: int) -> None:
    assert parse_epc(f"{epc:02X}") == epc
    assert parse_epc(f"{epc:02x}") == epc
    assert parse_epc(f"0x{epc:02X}") == epc


@given(st.text(max_size=8))
def test_parse_epc_arbitrary_text(text: str) -> None:
    try:
        epc = parse_epc(text)
    except ValueError:
        return
    assert 0 <= epc <= 0xFF
    t = text.strip().lower()
    assert EPC_NAMES.get(epc) == t or t.removeprefix("0x") == f"{epc:02x}"
