"""The meter's (0x028801) and its node profile's (0x0EF001) properties, value by value.

Each ``get`` returns a :class:`Served`: the EDT the meter sends and what it means (the served
log's ``decoded``), computed from the model with arithmetic of its own.  ``set`` takes what
SetC/SetI write (E5, ED, EF).
"""

from __future__ import annotations

from collections.abc import Callable

from services.simulator.faults import Faults
from services.simulator.history import (
    HISTORY_DAYS,
    Counters,
    Served,
    day_history,
    fixed_time,
    history_2,
    history_3,
    one_minute,
    unset_setting,
    valid_setting,
)
from services.simulator.meter_model import UNIT_CODES, EnergyModel, MeterClock, Register

MANUFACTURER = bytes.fromhex("000016")
SERIAL = b"SIM000000001"  # 12 ASCII characters, as momonga insists
# C0: 00, the maker code, 12 bytes the maker chooses (a household's number: tests see it whole).
ROUTE_B_ID = b"\x00" + MANUFACTURER + b"SIMROUTEB042"
METER_GET = (0x80, 0x82, 0x88, 0x8A, 0x8D, 0x97, 0x98, 0x9D, 0x9E, 0x9F, 0xD3, 0xD7,
             0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE7, 0xE8, 0xEA, 0xEB, 0xEC,
             0xED)  # fmt: skip
METER_SET = (0xE5, 0xED)
# What Appendix Release R added (next-generation meters, from FY2025): a first-generation
# meter (the default) lacks them, answers Get_SNA / SetC_SNA, and its maps do not list them.
RELEASE_R_GET = (0xC0, 0xD0, 0xEE, 0xEF)
RELEASE_R_SET = (0xEF,)
METER_INF = (0x80, 0x88, 0xEA, 0xEB)
NODE_GET = (0x80, 0x82, 0x83, 0x8A, 0x9D, 0x9E, 0x9F, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7)
NODE_INF = (0x80, 0xD5)
INSTANCE_LIST = bytes.fromhex("01028801")  # one instance: the smart meter


def property_map(epcs: tuple[int, ...]) -> bytes:
    """9D/9E/9F: a list below 16 entries, else the 16-byte bitmap (notes §4.4)."""
    if len(epcs) < 16:
        return bytes((len(epcs), *epcs))
    bitmap = bytearray(16)
    for epc in epcs:
        bitmap[epc & 0x0F] |= 1 << ((epc >> 4) - 8)
    return bytes((len(epcs),)) + bytes(bitmap)


class MeterProperties:
    def __init__(
        self,
        model: EnergyModel,
        register: Register,
        clock: MeterClock,
        faults: Faults,
        single_phase: bool = False,
        second_generation: bool = False,
    ) -> None:
        self.model = model
        self.second_generation = second_generation
        self.get_map = METER_GET + (RELEASE_R_GET if second_generation else ())
        self.set_map = METER_SET + (RELEASE_R_SET if second_generation else ())
        self.register = register
        self.clock = clock
        self.faults = faults
        self.single_phase = single_phase
        self.counters = Counters(model, register, lambda: not faults.active("no-energy"))
        self.day = 0  # E5
        self.history_2_setting = unset_setting(12)  # ED
        self.history_3_setting = unset_setting(10)  # EF
        self._getters: dict[int, Callable[[], Served]] = {
            0x80: lambda: Served(b"\x30"),
            # Appendix release F (first generation) or R (where C0, D0, EE and EF came in)
            0x82: lambda: Served(bytes((0, 0, ord("R" if second_generation else "F"), 0))),
            0x88: lambda: Served(b"\x42"),  # no fault
            0x8A: lambda: Served(MANUFACTURER),
            0x8D: lambda: Served(SERIAL),
            0x97: self._time,
            0x98: self._date,
            0x9D: lambda: Served(property_map(METER_INF)),
            0x9E: lambda: Served(property_map(self.set_map)),
            0x9F: lambda: Served(property_map(self.get_map)),
            0xC0: lambda: Served(ROUTE_B_ID, {"maker": MANUFACTURER.hex().upper()}),
            0xD0: lambda: one_minute(self.counters, self.clock.now()),
            0xD3: self._coefficient,
            0xD7: lambda: Served(bytes((register.digits,)), {"": float(register.digits)}),
            0xE0: lambda: self._energy(False),
            0xE1: self._unit,
            0xE2: lambda: day_history(self.counters, self.clock.now(), self.day, False),
            0xE3: lambda: self._energy(True),
            0xE4: lambda: day_history(self.counters, self.clock.now(), self.day, True),
            0xE5: lambda: Served(bytes((self.day,))),
            0xE7: self._power,
            0xE8: self._current,
            0xEA: lambda: fixed_time(self.counters, self.clock.now(), False),
            0xEB: lambda: fixed_time(self.counters, self.clock.now(), True),
            0xEC: lambda: history_2(self.counters, self.clock.now(), self.history_2_setting),
            0xED: lambda: Served(self.history_2_setting),
            0xEE: lambda: history_3(self.counters, self.clock.now(), self.history_3_setting),
            0xEF: lambda: Served(self.history_3_setting),
        }

    def get(self, epc: int) -> Served | None:
        """None: the meter has no such property (Get_SNA)."""
        getter = self._getters.get(epc) if epc in self.get_map else None
        return getter() if getter else None

    def set(self, epc: int, edt: bytes) -> bool:
        if epc not in self.set_map:
            return False
        if epc == 0xE5 and len(edt) == 1 and edt[0] <= HISTORY_DAYS:
            self.day = edt[0]
        elif epc == 0xED and valid_setting(edt, 1800, 12):
            self.history_2_setting = edt
        elif epc == 0xEF and valid_setting(edt, 60, 10):
            self.history_3_setting = edt
        else:
            return False
        return True

    # --- values --------------------------------------------------------------------
    def _power(self) -> Served:
        w = round(self.model.power(self.clock.now()))
        return Served(w.to_bytes(4, "big", signed=True), {"": float(w)})

    def _current(self) -> Served:
        # 100 V per wire: single-phase two-wire carries it all on R and reports T as 7FFE;
        # single-phase three-wire (most homes) splits it unevenly between R and T.
        amps = abs(self.model.power(self.clock.now())) / 100
        if self.single_phase:
            r, t = round(amps * 10), None
        else:
            r, t = round(amps * 0.55 * 10), round(amps * 0.45 * 10)
        t_raw = 0x7FFE if t is None else t
        edt = r.to_bytes(2, "big", signed=True) + t_raw.to_bytes(2, "big")
        return Served(edt, {"R": r / 10, "T": None if t is None else t / 10})

    def _energy(self, reverse: bool) -> Served:
        raw = self.counters.raw(self.clock.now(), reverse)
        return Served(raw.to_bytes(4, "big"), {"": self.counters.kwh(raw)})

    def _coefficient(self) -> Served:
        if self.faults.active("refuse-d3"):
            return Served(None)
        c = self.register.coefficient
        return Served(c.to_bytes(4, "big"), {"": float(c)})

    def _unit(self) -> Served:
        unit = self.register.unit_kwh
        return Served(bytes((UNIT_CODES[unit],)), {"": float(unit)})

    def _time(self) -> Served:
        d = self.clock.now_dt()
        return Served(bytes((d.hour, d.minute)))

    def _date(self) -> Served:
        d = self.clock.now_dt()
        return Served(d.year.to_bytes(2, "big") + bytes((d.month, d.day)))


class NodeProfileProperties:
    """The node profile answers for the node: one instance, the smart meter."""

    def __init__(self) -> None:
        self._values: dict[int, bytes] = {
            0x80: b"\x30",
            0x82: bytes((0x01, 0x0D, 0x01, 0x00)),  # ECHONET Lite 1.13
            0x83: b"\xfe" + MANUFACTURER + SERIAL.ljust(13, b"\x00"),
            0x8A: MANUFACTURER,
            0x9D: property_map(NODE_INF),
            0x9E: property_map(()),
            0x9F: property_map(NODE_GET),
            0xD3: (1).to_bytes(3, "big"),
            0xD4: (2).to_bytes(2, "big"),  # classes: node profile + smart meter
            0xD5: INSTANCE_LIST,
            0xD6: INSTANCE_LIST,
            0xD7: bytes.fromhex("010288"),
        }

    def get(self, epc: int) -> Served | None:
        edt = self._values.get(epc)
        return None if edt is None else Served(edt)

    def set(self, epc: int, edt: bytes) -> bool:
        return False
