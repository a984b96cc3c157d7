"""momonga, a hardware-tested B-route client (Home Assistant's), against every dialect.

Where momonga and the simulator disagree, the simulator is wrong until proved otherwise;
docs/simulator.md lists each case and the conclusion.  Every value momonga reads is
checked against the simulator's served log, the tests' reference.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import momonga
import pytest

from services.simulator.harness import PASSWORD, RBID, RunningSimulator

DIALECTS = ["rl7023-ips", "bp35a1", "rl7023-dss", "bp35c2", "rs-wsuha-p"]
# One run also has the meter refuse D3 (optional in the spec): momonga must take it as 1.
EXTRA = {"rl7023-dss": ("--refuse-d3",)}
# And one a dongle whose SKRESET keeps registers and echo (unsettled; momonga resets first).
KEEPS = ("--skreset-registers", "keep", "--skreset-echo", "keep")
RUNS = [(d, EXTRA.get(d, ())) for d in DIALECTS] + [("bp35c2", KEEPS)]


@pytest.fixture
def simulator(tmp_path):
    sim = RunningSimulator(tmp_path / "sim", dialect="bp35c2")
    yield sim
    sim.stop()


def open_momonga(sim: RunningSimulator) -> momonga.Momonga:
    mo = momonga.Momonga(RBID, PASSWORD, str(sim.link))
    mo.internal_xmit_interval = 0  # its 5 s pauses between requests are for real meters
    return mo


def served(sim: RunningSimulator, epc: str, via: str = "get") -> dict:
    return [e for e in sim.served(epc) if e["via"] == via][-1]["decoded"]


@pytest.mark.parametrize(
    ("dialect", "args"), RUNS, ids=[d + ("-skreset-keeps" if a == KEEPS else "") for d, a in RUNS]
)
def test_momonga_reads_everything_from_every_dialect(tmp_path, dialect, args):
    sim = RunningSimulator(tmp_path / "sim", *args, dialect=dialect)
    try:
        with open_momonga(sim) as mo:  # scan, join (and WOPT 01 where payloads are binary)
            assert mo.get_instantaneous_power() == served(sim, "E7")[""]
            assert mo.get_measured_cumulative_energy() == pytest.approx(served(sim, "E0")[""])
            assert mo.get_measured_cumulative_energy(reverse=True) == pytest.approx(
                served(sim, "E3")[""]
            )
            current = mo.get_instantaneous_current()
            e8 = served(sim, "E8")
            assert current["r phase current"] == pytest.approx(e8["R"])
            assert current["t phase current"] == pytest.approx(e8["T"])
            if "--refuse-d3" in args:
                with pytest.raises(momonga.MomongaResponseNotPossible):
                    mo.get_coefficient_for_cumulative_energy()
                assert mo.energy_coefficient == 1 and sim.served("D3")[-1]["raw"] is None
            else:
                assert mo.get_coefficient_for_cumulative_energy() == served(sim, "D3")[""] == 1
            assert mo.get_unit_for_cumulative_energy() == served(sim, "E1")[""] == 0.1
            assert mo.get_number_of_effective_digits_for_cumulative_energy() == 6

            # One INF and one INFC of EA/EB; momonga answers the INFC with INFC_Res.
            for esv in ("inf", "infc"):
                assert sim.control.do("notify", esv=esv)["sent"]
                note = mo.get_notification(timeout=5)
                assert note is not None and note["esv"].name == esv
                ea = note["properties"][momonga.EchonetPropertyCode(0xEA)]
                assert ea["cumulative energy"] == pytest.approx(served(sim, "EA", esv)[""])
            status = sim.control.status()
            assert [(r["answered"], r["valid"]) for r in status["infc"]] == [(True, True)]

            # A day of history: momonga sets E5 with SetC, then reads E2.
            day = mo.get_historical_cumulative_energy_1(day=1)
            truth = list(served(sim, "E2").values())
            assert [p["cumulative energy"] for p in day] == pytest.approx(truth)
            # History 2 from the meter's own clock (momonga would use the host's).
            now = datetime.fromisoformat(status["meter_time"]).replace(tzinfo=None)
            points = mo.get_historical_cumulative_energy_2(timestamp=now, num_of_data_points=4)
            ec = served(sim, "EC")
            assert [p["cumulative energy"]["normal direction"] for p in points] == pytest.approx(
                [v for k, v in ec.items() if k.endswith("/normal")]
            )
            assert points[0]["timestamp"].minute in (0, 30)
    finally:
        sim.stop()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_momonga_reads_a_second_generation_meter_from_every_dialect(tmp_path, dialect):
    """A Release R meter (--generation 2): C0, D0 and EE/EF as momonga 0.7.0 reads them."""
    sim = RunningSimulator(tmp_path / "sim", "--generation", "2", dialect=dialect)
    try:
        with open_momonga(sim) as mo:
            assert {0xC0, 0xD0, 0xEE, 0xEF} <= {int(e) for e in mo.get_properties_to_get_values()}
            rid = mo.get_route_b_id()
            assert rid["manufacturer code"] == bytes.fromhex("000016")
            assert len(rid["authentication id"]) == 12

            d0 = mo.get_one_minute_measured_cumulative_energy()
            truth = [e for e in sim.served("D0") if e["via"] == "get"][-1]
            assert d0["timestamp"] == datetime.fromisoformat(truth["value_time"]).replace(
                tzinfo=None
            )
            assert d0["timestamp"].second == 0
            energy = d0["cumulative energy"]
            assert energy["normal direction"] == pytest.approx(truth["decoded"]["forward"])
            assert energy["reverse direction"] == pytest.approx(truth["decoded"]["reverse"])
            # D0 advances with the load: the same counters as E0 (to the register's step).
            assert mo.get_measured_cumulative_energy() >= energy["normal direction"]

            # Ten minutes of EE, from the meter's own clock an hour back (EF by SetC).
            now = datetime.fromisoformat(sim.control.status()["meter_time"]).replace(tzinfo=None)
            newest = now.replace(second=0, microsecond=0) - timedelta(hours=1)
            points = mo.get_historical_cumulative_energy_3(timestamp=newest,
                                                           num_of_data_points=10)  # fmt: skip
            ee = served(sim, "EE")
            assert [p["timestamp"] for p in points] == [newest - timedelta(minutes=i)
                                                        for i in range(10)]  # fmt: skip
            assert [p["cumulative energy"]["normal direction"] for p in points] == pytest.approx(
                [v for k, v in ee.items() if k.endswith("/normal")]
            )
            assert [p["cumulative energy"]["reverse direction"] for p in points] == pytest.approx(
                [v for k, v in ee.items() if k.endswith("/reverse")]
            )
            window = mo.get_time_for_historical_data_3()
            assert window == {"timestamp": newest, "number of data points": 10}
    finally:
        sim.stop()


def test_momonga_finds_none_of_release_r_on_a_first_generation_meter(simulator):
    with open_momonga(simulator) as mo:
        assert not {0xC0, 0xD0, 0xEE, 0xEF} & {int(e) for e in mo.get_properties_to_get_values()}
        for read in (mo.get_route_b_id, mo.get_one_minute_measured_cumulative_energy,
                     mo.get_time_for_historical_data_3):  # fmt: skip
            with pytest.raises(momonga.MomongaResponseNotPossible):
                read()
        with pytest.raises(momonga.MomongaResponseNotPossible):
            mo.set_time_for_historical_data_3(datetime(2025, 1, 1, 0, 0), 10)
        assert mo.get_instantaneous_power() is not None  # and the rest goes on as before
    assert simulator.served("D0") == [] and simulator.served("C0") == []


def test_momonga_rides_through_reauthentication(simulator):
    with open_momonga(simulator) as mo:
        first = mo.get_instantaneous_power()
        # EVENT 29 then 25: momonga holds its sends until the 25.
        simulator.control.do("reauth")
        wait_for_session(simulator)
        assert mo.get_instantaneous_power() is not None
        # EVENT 29 then 24: momonga joins again by itself.
        simulator.control.do("reauth", result="fail")
        wait_for_session(simulator)
        assert mo.get_instantaneous_power() is not None
    assert first is not None
    status = simulator.control.status()
    assert status["reauthentications"] == 2 and status["session"] is None


def wait_for_session(sim: RunningSimulator, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session = sim.control.status()["session"]
        if session and not session["reauthenticating"]:
            return
        time.sleep(0.05)
    raise AssertionError("no session came back")
