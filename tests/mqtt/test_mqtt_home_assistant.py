"""What a Home Assistant on the broker sees of the logger (docs/home-assistant.md).

One supervised stack (the simulated meter, every 1 s) publishes to a real mosquitto.  A
client reads the retained discovery the way HA does when it starts (device-based discovery:
``dev``, ``o``, ``cmps`` with the shared options merged into each component), builds the
entity list, and judges each entity by HA's own rules: the (device_class, state_class,
unit) combinations HA's sensor platform accepts, and those its Energy dashboard offers for
"Grid consumption" / "Return to grid".  Then: the states equal the CSV's latest rows, the
entities go unavailable when the meter cannot be read, HA's birth message brings the
announcement again, and a killed publisher is announced offline by the broker's last will.
"""

from __future__ import annotations

import json
import re
import signal
import time
from datetime import datetime

import pytest

from tests.support.mqtt_broker import Broker, Watcher, retained_snapshot
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.e2e

BASE = "smartmeter/smartmeter"
# HA's sensor platform: the units each device class accepts, and its state classes.
UNITS = {
    "energy": {"Wh", "kWh", "MWh", "GJ", "MJ"},
    "power": {"W", "kW"},
    "current": {"A", "mA"},
    "signal_strength": {"dB", "dBm"},
    "timestamp": {None},
    None: {None},
}
STATE_CLASSES = {
    "energy": {"total", "total_increasing"},
    "power": {"measurement"},
    "current": {"measurement"},
    "signal_strength": {"measurement"},
    "timestamp": {None},
    None: {None, "measurement"},
}
# The Energy dashboard's grid sources: an energy sensor with a total state class, in an
# energy unit; its grid power: power, measurement.
ENERGY_SOURCE = ("energy", {"total", "total_increasing"}, {"Wh", "kWh", "MWh", "GJ"})
ENTITY_ID = re.compile(r"^(sensor|binary_sensor)\.[a-z0-9_]+$")


@pytest.fixture(scope="module")
def ha(tmp_path_factory):
    root = tmp_path_factory.mktemp("ha")
    broker = Broker(root / "broker").start()
    stack = Stack(
        root / "stack",
        settings={
            "acquisition": {"interval_seconds": 1, "properties": ["E7", "E0", "E3", "E8"]},
            "mqtt": {"enabled": True},
        },
        env_values={"MQTT_URL": broker.url},
    )
    watcher = Watcher(broker, ["#"]).start()
    stack.start()
    try:
        wait_for(lambda: any(t.endswith("/config") for t in watcher.latest), 60, "discovery")
        wait_for(lambda: watcher.value(f"{BASE}/state/power"), 60, "a power state")
        yield stack, broker, watcher
    finally:
        stack.stop()
        watcher.stop()
        broker.stop()


def home_assistant_entities(retained: dict[str, bytes]) -> list[dict]:
    """The entities HA builds from retained device discovery messages."""
    entities = []
    for topic, raw in retained.items():
        m = re.fullmatch(r"homeassistant/device/([A-Za-z0-9_-]+)/config", topic)
        if not m or not raw:
            continue
        payload = json.loads(raw)
        assert {"dev", "o", "cmps"} <= set(payload), "device discovery needs dev, o and cmps"
        shared = {k: v for k, v in payload.items() if k not in ("dev", "o", "cmps")}
        for key, component in payload["cmps"].items():
            entity = {**shared, **component, "device": payload["dev"], "origin": payload["o"],
                      "component_key": key, "discovery_id": m.group(1)}  # fmt: skip
            entities.append(entity)
    return entities


def test_discovery_is_what_home_assistant_and_its_energy_dashboard_accept(ha):
    stack, broker, _ = ha
    retained = retained_snapshot(broker, "homeassistant/#")
    entities = home_assistant_entities(retained)
    assert len([t for t in retained if t.endswith("/config")]) == 1, "one device per meter"
    by_key = {e["component_key"]: e for e in entities}
    assert {"power", "energy_import", "energy_export", "current_r", "current_t",
            "energy_import_half_hourly", "energy_export_half_hourly",
            "radio", "last_reading", "problem", "lqi"} <= set(by_key)  # fmt: skip

    unique_ids = [e["unique_id"] for e in entities]
    assert len(set(unique_ids)) == len(unique_ids)
    # From the meter's own identification (the radio's key: a hash of the simulated meter's
    # maker and serial number, which are not published), not from this installation.
    details = stack.health()[1]["checks"]["radio:link"][0]["details"]
    device = f"smartmeter_{details['meter_key']}"
    assert all(u.startswith(device + "_") for u in unique_ids)
    assert not [t for t, raw in retained.items() if details["meter_serial"].encode() in raw]
    for e in entities:
        assert e["p"] in ("sensor", "binary_sensor")
        assert "object_id" not in e, "object_id is deprecated (gone in HA 2026.4)"
        assert ENTITY_ID.match(e["default_entity_id"]) and e["default_entity_id"].startswith(
            e["p"] + "."
        )
        assert e["origin"]["name"] == "smartmeter-logger" and e["origin"]["sw"]
        assert e["device"]["ids"] == [device]
        dc, sc, unit = e.get("device_class"), e.get("state_class"), e.get("unit_of_measurement")
        if e["p"] == "sensor":
            assert unit in UNITS[dc], (e["component_key"], dc, unit)
            assert sc in STATE_CLASSES[dc], (e["component_key"], dc, sc)
        else:
            assert dc == "problem" and e["payload_on"] == "ON"
        assert e["state_topic"].startswith(BASE + "/state/")

    for key in ("energy_import", "energy_export"):  # Grid consumption, Return to grid
        e = by_key[key]
        dc, classes, units = ENERGY_SOURCE
        assert e["device_class"] == dc and e["state_class"] in classes
        assert e["unit_of_measurement"] in units
    assert (by_key["power"]["device_class"], by_key["power"]["state_class"],
            by_key["power"]["unit_of_measurement"]) == ("power", "measurement", "W")  # fmt: skip

    # Availability: the process (a retained last will) and, for measurements, the meter.
    for e in entities:
        topics = [a["topic"] for a in e.get("availability", [])] or [e["availability_topic"]]
        assert f"{BASE}/availability" in topics
        if e.get("entity_category") != "diagnostic":
            assert f"{BASE}/meter" in topics and e["availability_mode"] == "all"
    state = retained_snapshot(broker, f"{BASE}/#")
    assert state[f"{BASE}/availability"] == b"online"
    assert state[f"{BASE}/meter"] == b"online"
    assert state[f"{BASE}/state/radio"] == b"joined"
    assert state[f"{BASE}/state/problem"] in (b"ON", b"OFF")
    assert float(state[f"{BASE}/state/lqi"]) > 0  # the simulated dongle reports its LQI
    # HA's timestamp sensors need an offset.
    assert datetime.fromisoformat(state[f"{BASE}/state/last_reading"].decode()).tzinfo is not None


def test_states_equal_the_csvs_latest_rows_and_go_unavailable_without_the_meter(ha):
    stack, broker, watcher = ha
    stack.rpc().stopProcess("radio")
    time.sleep(3)  # the CSV flushes every second

    def latest_csv() -> dict[tuple[str, str], float]:
        out = {}
        for row in stack.csv_rows():
            out[row["epc"], row["dataid"]] = float(row["value"])
        return out

    rows = latest_csv()
    state = retained_snapshot(broker, f"{BASE}/state/#")
    for (epc, dataid), key in ((("E7", ""), "power"), (("E0", ""), "energy_import"),
                               (("E3", ""), "energy_export"), (("E8", "R"), "current_r"),
                               (("E8", "T"), "current_t")):  # fmt: skip
        assert float(state[f"{BASE}/state/{key}"]) == pytest.approx(rows[epc, dataid]), key
    # The meter cannot be read now: the measurements go unavailable, the diagnostics say why.
    wait_for(lambda: watcher.value(f"{BASE}/meter") == b"offline", 60, "the meter offline")
    assert watcher.value(f"{BASE}/availability") == b"online"
    assert watcher.value(f"{BASE}/state/radio") in (b"no-heartbeat", b"stopped")
    stack.rpc().startProcess("radio")
    wait_for(lambda: watcher.value(f"{BASE}/meter") == b"online", 90, "the meter online again")


def test_home_assistants_birth_message_brings_the_announcement_again(ha):
    watcher = ha[2]
    config = next(t for t in watcher.latest if t.startswith("homeassistant/device/"))
    before = len(watcher.messages(config))
    watcher.client.publish("homeassistant/status", "online", qos=1)
    wait_for(lambda: len(watcher.messages(config)) > before, 15, "a new announcement")
    assert json.loads(watcher.value(config))["cmps"]["power"]["device_class"] == "power"


def test_a_killed_publisher_is_announced_offline_by_its_last_will(ha):
    stack, broker, watcher = ha
    pid = stack.kill("mqtt_publisher", signal.SIGKILL)
    wait_for(lambda: watcher.value(f"{BASE}/availability") == b"offline", 15, "the last will")
    stack.wait_running("mqtt_publisher", not_pid=pid, timeout=30)
    wait_for(lambda: watcher.value(f"{BASE}/availability") == b"online", 30, "online again")
    # Backfilled or not, every state HA holds is a value the logger read, never a stream
    # message: the state topics carry plain numbers.
    for topic, raw in retained_snapshot(broker, f"{BASE}/state/#").items():
        if topic.endswith(("power", "energy_import", "energy_export")):
            float(raw)
