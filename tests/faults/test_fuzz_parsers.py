"""Fuzzing every parser of outside bytes: nothing raised but the typed errors.

The targets (tests/fuzz_targets.py) are the serial line as the radio's reader cuts it
(SKSTACK lines, EVENTs, ERXUDPs whose DATALEN may lie, raw binary payloads with CR LF inside,
any read boundaries), the ECHONET Lite frame and every property decoder behind it, and the
readings bus's message decoder.  Each gets arbitrary bytes and, to reach deep, bytes made of
what the dongle and the meter really send, mixed with noise.

Short form: 300 examples per target and strategy (CI); full form: 20 000 each
(``scripts/test --long``).  scripts/fuzz runs the same targets coverage-guided under atheris,
a million inputs and more (docs/reliability.md).  tests/test_echonet.py and the
tests/test_transport_*.py files hold the hand-written cases.
"""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fault_stack import counts
from tests.support.fuzz_targets import ADDR, TARGETS

HEX = "0123456789ABCDEF"


def hexword(n: int) -> st.SearchStrategy[str]:
    return st.text(HEX, min_size=n, max_size=n)


def _erxudp(layout: list[str], payload: bytes, raw: bool, datalen: int | None) -> bytes:
    n = len(payload) if datalen is None else datalen
    body = payload if raw else payload.hex().upper().encode()
    head = " ".join([ADDR, ADDR, "0E1A", "0E1A", "001D129012345678", *layout, f"{n:04X}"])
    return b"ERXUDP " + head.encode() + b" " + body + b"\r\n"


dongle_lines = st.one_of(
    st.sampled_from([b"OK\r\n", b"FAIL ER04\r\n", b"OK 00\r", b"EVER 1.2.10\r\n",
                     b"SKSREG SFE 0\r\n", b"EPANDESC\r\n", b"  Channel:21\r\n"]),
    st.builds(lambda c, p: f"EVENT {c} {ADDR}{p}\r\n".encode(),
              st.sampled_from(["20", "21", "22", "24", "25", "26", "29", "32", "33"]),
              st.sampled_from(["", " 0", " 00", " 0 01", " 1 02"])),
    st.builds(_erxudp, st.sampled_from([["1"], ["1", "0"], ["9C", "1", "0"]]),
              st.binary(max_size=80), st.booleans(),
              st.one_of(st.none(), st.integers(0, 0x100))),
    st.binary(max_size=40),  # noise, half lines
)  # fmt: skip
streams = st.builds(
    lambda flags, parts: flags + b"".join(parts), st.binary(min_size=4, max_size=4),
    st.lists(dongle_lines, max_size=12),
)  # fmt: skip


def _frame(esv: int, props: list[tuple[int, bytes]], tail: bytes) -> bytes:
    body = b"".join(bytes([epc, len(edt)]) + edt for epc, edt in props)
    return (b"\x10\x81\x00\x01\x02\x88\x01\x05\xff\x01" + bytes([esv, len(props)]) + body
            + tail)  # fmt: skip


frames = st.builds(
    _frame,
    st.sampled_from([0x72, 0x73, 0x74, 0x52, 0x7A, 0x7E, 0x62]),
    st.lists(st.tuples(st.sampled_from([0xE7, 0xE0, 0xE3, 0xE8, 0xEA, 0xEB, 0xD3, 0xD7, 0xE1,
                                        0x9F, 0x97, 0x8A, 0xC0, 0xD0, 0xEE, 0xEF]),
                       st.binary(max_size=20) | st.binary(min_size=7, max_size=90)),
             max_size=5),
    st.binary(max_size=3),
)  # fmt: skip

STRATEGIES = {
    "sk_stream": [st.binary(max_size=400), streams],
    "erxudp": [st.binary(max_size=300)],
    "echonet": [st.binary(max_size=120), frames],
    "property_value": [st.binary(max_size=24)],
    "bus_message": [
        st.binary(max_size=200),
        st.builds(
            lambda seq, ts, v: (
                f'{{"v":1,"seq":{seq},"epoch":"e","ts":"{ts}","unitid":"u","epc":"E7",'
                f'"dataid":"","value":{v},"source":"poll"}}'
            ).encode(),
            st.integers().map(str) | st.sampled_from(["1e999", "-1e999", "NaN", "1.5", '"7"']),
            st.text(max_size=30),
            st.sampled_from(["1", "1e999", "NaN", "-0", "x"]),
        ),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
            lambda inner: st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["v", "seq", "ts", "value", "x"]), inner, max_size=4),
            max_leaves=8,
        ).map(lambda doc: json.dumps(doc).encode()),
    ],
    "csv_day": [
        st.binary(max_size=400),
        st.lists(st.builds(
            lambda ts, epc, value: f"{ts},u,{epc},,{value}\n".encode(),
            st.sampled_from(["2026-01-05T10:00:00+09:00", "2026-01-05T10:00:00", "9999-12-31T23:"
                             "59:59-23:59", "0001-01-01T00:00:00+14:00"]) | st.text(max_size=30),
            st.sampled_from(["E0", "E3", "EA", "EB", "D3", "D7", "E1", "E7", "E0,"]),
            st.floats().map(repr) | st.sampled_from(["nan", "inf", "1e999", "", "1_0"]),
        ), max_size=20).map(b"".join),
    ],
}  # fmt: skip
CASES = [(name, i) for name, strategies in STRATEGIES.items() for i in range(len(strategies))]


def test_every_target_has_a_strategy():
    assert set(STRATEGIES) == set(TARGETS)


@pytest.mark.parametrize("examples", counts(300, 20_000))
@pytest.mark.parametrize(("name", "which"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_parser_raises_only_its_typed_errors(name, which, examples):
    target = TARGETS[name]

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(STRATEGIES[name][which])
    def run(data: bytes) -> None:
        target(data)

    logging.disable(logging.WARNING)  # the reader says what it drops, at length
    try:
        run()
    finally:
        logging.disable(logging.NOTSET)
