"""What the fuzzers feed: every parser of bytes that come from outside the logger.

Each target takes one byte string, drives a parser with it and checks its promise: nothing
raised but the parser's own typed error, and what comes out is well-formed.  An exception
that escapes a target is a bug (AssertionError: a broken invariant).

Used by tests/test_fuzz_parsers.py (hypothesis, in CI and with --long) and by scripts/fuzz
(atheris, coverage-guided, a million inputs and more): ``python -m tests.support.fuzz_targets NAME
[libFuzzer flags]`` runs one target under atheris.
"""

from __future__ import annotations

import math
import sys
from decimal import Decimal

from common.echonet import (
    MEASURABLE_EPCS,
    EchonetFormatError,
    Frame,
    Scaling,
    decode_coefficient,
    decode_digits,
    decode_fixed_time_energy,
    decode_measurements,
    decode_meter_time,
    decode_property_map,
    decode_unit,
)
from common.echonet_release_r import (
    decode_minute_history,
    decode_minute_window,
    decode_route_b_id,
)
from common.reading import MalformedMessage, Reading
from services.health.energy.csv_files import parse_rows
from services.radio.link.sk_reader import MAX_LINE, ErxUdp, Event, SkReader

# A line waiting for its end, or an ERXUDP waiting for 2 × DATALEN (≤ 0xFFFF) hex digits.
BUFFER_BOUND = MAX_LINE + 2 * 0xFFFF + 256
ADDR = "FE80:0000:0000:0000:021D:1290:1234:5678"
EVENT_LINE = f"EVENT 21 {ADDR} 00\r\n".encode()


def _drain(reader: SkReader, out: list) -> None:
    while (item := reader.next_item()) is not None:
        _check_item(item)
        out.append(item)


def _check_item(item: object) -> None:
    if isinstance(item, str):
        assert "\r" not in item and "\n" not in item, repr(item)
        assert item and item == item.rstrip(), repr(item)
    elif isinstance(item, Event):
        assert isinstance(item.code, int), item
    elif isinstance(item, ErxUdp):
        assert isinstance(item.data, bytes) and isinstance(item.sender, str), item
    else:
        raise AssertionError(f"the reader gave {item!r}")


def sk_stream(data: bytes) -> list:
    """Anything on the serial line, cut into reads at places the data itself chooses."""
    if not data:
        return []
    reader = SkReader(dual_stack=bool(data[0] & 1))
    cuts = data[1:4]
    stream = data[4:]
    out: list = []
    pos, i = 0, 0
    while pos < len(stream):
        size = 1 + (cuts[i % len(cuts)] if cuts else len(stream))
        reader.feed(stream[pos : pos + size])
        pos += size
        i += 1
        _drain(reader, out)
        assert len(reader.buffer) <= BUFFER_BOUND, len(reader.buffer)
    return out


def erxudp(data: bytes) -> None:
    """An ERXUDP of any dialect's layout, its payload hex or raw, its DATALEN right or
    wrong; then an EVENT line.  With the right DATALEN the payload comes out exactly and the
    EVENT after it too; with a wrong one, nothing but items."""
    if len(data) < 3:
        return
    flags, skew, payload = data[0], data[1], data[2:]
    layout = (["1"], ["1", "0"], ["9C", "1", "0"])[flags % 3]
    raw = bool(flags & 4)
    declared = len(payload) if not flags & 8 else (len(payload) + skew - 128) % 0x10000
    head = " ".join([ADDR, ADDR, "0E1A", "0E1A", "001D129012345678", *layout, f"{declared:04X}"])
    body = payload if raw else payload.hex().upper().encode()
    reader = SkReader(dual_stack=len(layout) > 1)
    out: list = []
    # The bytes arrive in two reads, cut where the skew says.
    wire = b"ERXUDP " + head.encode() + b" " + body + b"\r\n" + EVENT_LINE
    cut = skew % (len(wire) + 1)
    for part in (wire[:cut], wire[cut:]):
        reader.feed(part)
        _drain(reader, out)
    if declared == len(payload):
        datagrams = [i for i in out if isinstance(i, ErxUdp)]
        assert len(datagrams) == 1 and datagrams[0].data == payload, (out, payload)
        assert any(isinstance(i, Event) and i.code == 0x21 for i in out), out


SCALINGS = [
    Scaling(1, Decimal("0.1"), 6),
    Scaling(10, Decimal("0.001"), 8),
    Scaling(999999, Decimal("10000"), 1),
]


def echonet(data: bytes) -> None:
    """A datagram from the meter: the frame, then every property value in it."""
    try:
        frame = Frame.decode(data)
    except EchonetFormatError:
        return
    assert Frame.decode(frame.encode()) == frame
    for prop in frame.properties + frame.get_properties:
        _property(prop.epc, prop.edt, SCALINGS[prop.epc % len(SCALINGS)])


def _property(epc: int, edt: bytes, scaling: Scaling) -> None:
    decoders = {
        0xD3: decode_coefficient, 0xD7: decode_digits, 0xE1: decode_unit,
        0x9D: lambda e: decode_property_map(0x9D, e), 0x9E: lambda e: decode_property_map(0x9E, e),
        0x9F: lambda e: decode_property_map(0x9F, e),
        0xEA: lambda e: decode_fixed_time_energy(0xEA, e),
        0xEB: lambda e: decode_fixed_time_energy(0xEB, e),
        0x97: lambda e: decode_meter_time(0xEA, e),  # the 7-byte time EA/EB carry
        0xC0: decode_route_b_id, 0xEE: decode_minute_history, 0xEF: decode_minute_window,
    }  # fmt: skip
    try:
        if epc in MEASURABLE_EPCS:
            for m in decode_measurements(epc, edt, scaling):
                assert m.value is None or m.value == m.value, m  # no NaN
        if epc in decoders:
            decoders[epc](edt)
    except EchonetFormatError:
        pass


def property_value(data: bytes) -> None:
    """One property value of any measurable EPC, with any scaling."""
    if len(data) < 2:
        return
    epcs = sorted(MEASURABLE_EPCS)
    scaling = Scaling(1 + data[1] % 999999, Decimal("0.1"), 1 + data[1] % 8)
    _property(epcs[data[0] % len(epcs)], data[2:], scaling)


def bus_message(data: bytes) -> None:
    """A message on the readings bus: a reading, or MalformedMessage."""
    try:
        reading = Reading.decode(data)
    except MalformedMessage:
        return
    again = Reading.decode(reading.encode())
    assert again == reading or reading.value != reading.value, (reading, again)


def csv_day(data: bytes) -> None:
    """A day's CSV file as health reads it for the energy page: rows, or nothing."""
    for epc, t, value in parse_rows(b"timestamp,unitid,epc,dataid,value\n" + data):
        assert epc in ("E0", "E3", "EA", "EB", "D3", "D7", "E1"), epc
        assert math.isfinite(t) and math.isfinite(value), (t, value)


TARGETS = {
    "sk_stream": sk_stream,
    "erxudp": erxudp,
    "echonet": echonet,
    "property_value": property_value,
    "bus_message": bus_message,
    "csv_day": csv_day,
}


def main(argv: list[str]) -> None:
    """``python -m tests.support.fuzz_targets NAME [libFuzzer flags]``: one target under atheris."""
    import logging

    import atheris

    logging.disable(logging.CRITICAL)  # the reader logs what it drops: millions of lines
    target = TARGETS[argv[1]]
    atheris.instrument_all()  # coverage of everything loaded: the parsers above included
    atheris.Setup([argv[0], *argv[2:]], lambda data: target(data) and None)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
