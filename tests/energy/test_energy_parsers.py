"""Property tests for what health reads from disk that another program (or a person) wrote:
a day's CSV file and the day cache.  Any bytes: no exception, only finite values with a
time zone, and a cache line that cannot be read is a day read again, not a crash."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from common.echonet import Scaling
from common.energy import kwh_between, raw_units, wrap_kwh
from services.health.energy import csv_files
from services.health.energy.cache import DayCache

ROW = st.builds(
    lambda ts, epc, value: f"{ts},u,{epc},,{value}\n",
    st.one_of(st.just("2026-01-05T10:00:00+09:00"), st.text(max_size=30)),
    st.sampled_from(["E0", "E3", "EA", "EB", "D3", "D7", "E1", "E7", "e0", "E0,"]),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=12)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(ROW, max_size=30), st.binary(max_size=200))
def test_any_csv_bytes_give_rows_or_nothing(tmp_path_factory, rows, noise):
    path = Path(tmp_path_factory.mktemp("csv")) / "20260105-smartmeter.csv"
    path.write_bytes(b"timestamp,unitid,epc,dataid,value\n" + "".join(rows).encode() + noise)
    for epc, t, value in csv_files.energy_rows([path]):
        assert epc in ("E0", "E3", "EA", "EB", "D3", "D7", "E1")
        assert math.isfinite(t) and math.isfinite(value)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_a_gzip_file_of_any_bytes_is_read_as_far_as_it_goes(tmp_path_factory, data):
    path = Path(tmp_path_factory.mktemp("gz")) / "20260105-smartmeter.csv.gz"
    path.write_bytes(b"\x1f\x8b" + data)
    assert isinstance(csv_files.energy_rows([path]), list)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=5))
def test_a_cache_of_any_text_loads_without_raising(tmp_path_factory, lines):
    root = Path(tmp_path_factory.mktemp("cache"))
    cache = DayCache(root, "Asia/Tokyo")
    head = '{"format": "smartmeter-energy-days", "version": 1, "tz": "Asia/Tokyo"}'
    (root / "energy-days.jsonl").write_text("\n".join([head, *lines]))
    assert isinstance(cache.load(), dict)


@given(st.integers(0, 10**7 - 1), st.integers(0, 10**7 - 1))
def test_kwh_between_is_the_way_round_the_dial_for_a_small_wrap(before, after):
    s = Scaling(1, Decimal("0.0001"), 7)
    got = kwh_between("E0", s.kwh(before), s.kwh(after), s)
    delta = (after - before) % 10**7
    if after >= before:
        assert got is not None and math.isclose(got, s.kwh(after) - s.kwh(before), abs_tol=1e-9)
    elif delta <= 10**6:  # a wrap: small next to the range
        assert got is not None and math.isclose(got, s.kwh(delta), abs_tol=1e-6)
    else:  # a big step back: a replaced meter, nothing derived across it
        assert got is None
    assert raw_units(s.kwh(after), s) == after
    assert wrap_kwh(s) == 1000.0
