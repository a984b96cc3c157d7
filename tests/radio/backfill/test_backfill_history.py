"""Reading the meter's history answers (services/radio/meter/history.py).

The bytes come from the simulator's own encoder (services/simulator/history.py), which
shares no code with the radio's decoder; the values must be what the simulator says it
meant, after the same scaling a live EA/EB gets.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from common.echonet import EchonetFormatError, Scaling
from services.radio.meter.history import (
    day_setting,
    parse_clock,
    parse_date,
    parse_day,
    parse_window,
    window_setting,
)
from services.simulator.faults import Faults
from services.simulator.history import Counters, day_history, history_2, valid_setting
from services.simulator.meter_model import JST, EnergyModel, PowerCurve, Register

NOW = datetime(2025, 3, 10, 12, 10, tzinfo=JST).timestamp()
SCALING = Scaling(1, Decimal("0.1"), 6)


def counters(no_energy: bool = False) -> Counters:
    faults = Faults()
    if no_energy:
        faults.set("no-energy", True)
    model = EnergyModel(PowerCurve(1, True), NOW, 12345.6, 4321.0)
    return Counters(model, Register(Decimal("0.1"), 1, 6), lambda: not faults.active("no-energy"))


def kwh(raw: int | None) -> float | None:
    return None if raw is None else SCALING.kwh(raw)


@pytest.mark.parametrize("epc", [0xE2, 0xE4])
@pytest.mark.parametrize("day", [0, 1, 99])
def test_a_day_is_48_half_hours_from_midnight_with_the_meters_values(epc, day):
    served = day_history(counters(), NOW, day, reverse=epc == 0xE4)
    on = date(2025, 3, 10) - timedelta(days=day)
    values = parse_day(epc, served.edt, day, on)
    assert len(values) == 48
    assert {v.epc for v in values} == {"EA" if epc == 0xE2 else "EB"}
    assert values[0].when == datetime(on.year, on.month, on.day)
    assert values[47].when == datetime(on.year, on.month, on.day, 23, 30)
    meant = {datetime.fromisoformat(k).replace(tzinfo=None): v for k, v in served.decoded.items()}
    assert {v.when: kwh(v.raw) for v in values} == meant
    if day == 0:  # after now: no value yet
        assert values[24].raw is not None and values[25].raw is None


def test_no_value_at_the_meter_is_none():
    served = day_history(counters(no_energy=True), NOW, 1, reverse=False)
    assert all(v.raw is None for v in parse_day(0xE2, served.edt, 1, date(2025, 3, 9)))


@pytest.mark.parametrize("count", [1, 5, 12])
def test_an_ec_window_steps_back_from_its_newest_half_hour(count):
    newest = datetime(2025, 3, 10, 11, 30)
    setting = window_setting(newest, count)
    assert valid_setting(setting, 1800, 12)  # the simulated meter takes it as ED
    served = history_2(counters(), NOW, setting)
    values = parse_window(served.edt, newest, count)
    assert len(values) == 2 * count
    assert values[0].when == newest and values[-1].when == newest - (count - 1) * timedelta(
        minutes=30
    )
    meant = {}
    for key, v in served.decoded.items():
        when, kind = key.split("/")
        meant[(datetime.fromisoformat(when).replace(tzinfo=None),
               "EA" if kind == "normal" else "EB")] = v  # fmt: skip
    assert {(v.when, v.epc): kwh(v.raw) for v in values} == meant


def test_an_answer_for_another_day_or_window_is_refused():
    served = day_history(counters(), NOW, 3, reverse=False)
    with pytest.raises(EchonetFormatError, match="shows day 3, day 2 was set"):
        parse_day(0xE2, served.edt, 2, date(2025, 3, 8))
    with pytest.raises(EchonetFormatError, match="194"):
        parse_day(0xE2, served.edt[:-4], 3, date(2025, 3, 7))
    newest = datetime(2025, 3, 10, 11, 0)
    window = history_2(counters(), NOW, window_setting(newest, 4)).edt
    with pytest.raises(EchonetFormatError, match="was set"):
        parse_window(window, newest + timedelta(minutes=30), 4)
    with pytest.raises(EchonetFormatError, match="was set"):
        parse_window(window, newest, 5)
    with pytest.raises(EchonetFormatError):
        parse_window(window[:-1], newest, 4)


def test_a_value_that_is_no_counter_is_taken_as_none():
    served = bytearray(day_history(counters(), NOW, 1, reverse=False).edt)
    served[2:6] = (100_000_000).to_bytes(4, "big")
    values = parse_day(0xE2, bytes(served), 1, date(2025, 3, 9))
    assert values[0].raw is None and values[1].raw is not None


def test_what_is_written_for_e5_and_ed():
    assert day_setting(0) == b"\x00" and day_setting(99) == b"\x63"
    with pytest.raises(ValueError):
        day_setting(100)
    assert window_setting(datetime(2025, 3, 10, 11, 30), 12) == bytes.fromhex("07E9030A0B1E0C")
    for bad in ((datetime(2025, 3, 10, 11, 15), 3), (datetime(2025, 3, 10, 11, 30), 13)):
        with pytest.raises(ValueError):
            window_setting(*bad)


def test_the_meters_clock():
    assert parse_clock(bytes.fromhex("07E9030A"), bytes((23, 58))) == datetime(2025, 3, 10, 23, 58)
    assert parse_date(bytes.fromhex("07E9030B")) == date(2025, 3, 11)
    with pytest.raises(EchonetFormatError):
        parse_clock(bytes.fromhex("07E90D0A"), bytes((23, 58)))
    with pytest.raises(EchonetFormatError):
        parse_date(b"\x07\xe9\x03")
