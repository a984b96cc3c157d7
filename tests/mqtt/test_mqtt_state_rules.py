"""The rules of Home Assistant's state and identity, without a broker.

HA stamps a state with the time it arrives: a backfilled or older value must never become
state, and after a catch-up only the newest of each entity goes out.  The device id comes
from the meter and is kept across restarts; a different meter is a different device.
"""

from __future__ import annotations

import json
from pathlib import Path

from common.reading import Reading
from services.mqtt_publisher.diagnostics import Diagnostics
from services.mqtt_publisher.ha_discovery import MeterIdentity, entities_for
from services.mqtt_publisher.latest import LatestState
from services.mqtt_publisher.stream import stream_message


def reading(seq: int, epc: str, value: float, minute: int, source: str = "poll",
            dataid: str = "") -> Reading:  # fmt: skip
    ts = f"2026-12-07T10:{minute:02d}:00+09:00"
    return Reading(seq, "e1", ts, "smartmeter", epc, dataid, value, source)


def test_only_the_newest_live_value_of_each_entity_becomes_state():
    state = LatestState()
    for r in (reading(1, "E7", 500, 1), reading(2, "E7", 700, 3), reading(3, "E7", 600, 2),
              reading(4, "EA", 10.5, 30, "backfill"), reading(5, "E0", 1234.5, 3),
              reading(6, "E8", 3.5, 3, dataid="R"), reading(7, "D3", 1, 3)):  # fmt: skip
        state.offer(r)
    assert state.take() == [("current_r", "3.5"), ("energy_import", "1234.5"), ("power", "700")]
    assert state.take() == []  # nothing new since
    state.offer(reading(8, "E7", 100, 0))  # older than the state held: never "now"
    assert state.take() == []
    assert state.newest is not None and state.newest.seq == 2
    assert ("power", "700") in state.everything()


def test_the_stream_message_carries_the_readings_own_time_and_source():
    body = json.loads(stream_message(reading(9, "EA", 10.5, 30, "backfill")))
    assert body == {"ts": "2026-12-07T10:30:00+09:00", "epc": "EA", "dataid": "",
                    "value": 10.5, "unit": "kWh", "seq": 9, "source": "backfill"}  # fmt: skip


def test_entities_follow_what_is_polled():
    keys = [e.key for e in entities_for((0xE7, 0xE0), {"radio"})]
    assert keys == ["power", "energy_import", "energy_import_half_hourly",
                    "energy_export_half_hourly", "radio"]  # fmt: skip


def test_the_device_id_comes_from_the_meter_and_survives_a_restart(tmp_path):
    assert MeterIdentity.of("home", "sn-0123abcd").device_id == "smartmeter_sn-0123abcd"
    assert MeterIdentity.of("my home/2", None).device_id == "smartmeter_my_home_2"
    file = tmp_path / "mqtt_meter.json"
    diag = Diagnostics("http://127.0.0.1:1/health", "home", file)

    def radio(**details: str) -> dict:
        return {"checks": {"radio:link": [{"details": details}]}}

    diag.verdict = radio(meter_maker="000016", meter_serial="SN1")
    diag._learn_identity()
    assert diag.identity is None, "wait for the radio's key, or the id would change with it"
    diag.verdict = radio(meter_maker="000016", meter_serial="SN1", meter_key="c0-aaaa",
                         meter_id="000016-********0001")  # fmt: skip
    diag._learn_identity()
    assert diag.identity is not None and diag.identity.device_id == "smartmeter_c0-aaaa"
    assert diag.identity.shown_id == "000016-********0001"  # masked; never the whole number
    again = Diagnostics("http://127.0.0.1:1/health", "home", file)
    assert again.identity == diag.identity  # known before the radio has identified the meter
    # Another meter: a new device, and the old one to remove.
    again.verdict = radio(meter_maker="000016", meter_serial="SN2", meter_key="sn-bbbb")
    again._learn_identity()
    assert again.identity is not None and again.identity.device_id == "smartmeter_sn-bbbb"
    assert again.previous is not None and again.previous.device_id == "smartmeter_c0-aaaa"


def test_the_problem_sensor_ignores_the_publishers_own_connection():
    diag = Diagnostics("http://127.0.0.1:1/health", "home", Path("/nonexistent"))
    diag.verdict = {"status": "warn", "checks": {
        "mqtt:delivery": [{"status": "warn", "cause": "mqtt-unreachable"}],
        "radio:link": [{"status": "pass", "cause": "joined"}]}}  # fmt: skip
    assert diag.problem() == ("OFF", {"status": "warn", "problems": {}})
    diag.verdict["checks"]["disk:data"] = [{"status": "fail", "cause": "disk-full"}]
    state, attributes = diag.problem() or ("", {})
    assert state == "ON" and attributes["problems"] == {"disk:data": "fail: disk-full"}
