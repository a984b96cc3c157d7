"""What the meter does not have is asked for once, warned about once, and then left alone.

At each join the radio reads the meter's identity (8A maker, 8D serial, 82 release) and its
Get property map (9F); a property outside the map, or one the meter refuses (Get_SNA), is
skipped until the next join.  A refused D3 means coefficient 1 (research notes §4.4).
"""

from __future__ import annotations

import time

import pytest

from tests.support.radio_harness import RadioRig, check_against_served

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("dialect", ["rl7023-ips", "bp35c2"])
def test_refused_coefficient_is_skipped_with_one_warning(tmp_path, dialect):
    rig = RadioRig(tmp_path / "rig", dialect, sim_args=("--fault", "refuse-d3"), settings={
        "acquisition": {"interval_seconds": 0.3, "properties": ["D3", "E7", "E0"]},
    })  # fmt: skip
    try:
        rig.start()
        rig.wait_readings(6)
        rig.control.do("peer-term")  # a second join: the map is read again, no new warning
        again = time.monotonic()
        rig.wait_readings(6, since=again)
        assert rig.stop_radio() == 0
        rig.wait_cause("stopped", timeout=5)
    finally:
        rig.stop()
    check_against_served(rig.seen.since(0), rig.served())
    assert {r.epc for r in rig.seen.since(0) if r.source == "poll"} == {"E7", "E0"}
    assert rig.log().count("it will not be asked for") == 1
    assert len([e for e in rig.served() if e["epc"] == "D3"]) == 2  # once per join
    assert rig.seen.last_status()["details"]["unsupported"] == ["D3"]
    assert "coefficient 1" in rig.log()
