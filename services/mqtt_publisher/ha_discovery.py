"""Home Assistant's vocabulary: the entities of one meter and its device discovery message.

One retained message per meter on ``<discovery_prefix>/device/<device_id>/config`` (HA's
device-based discovery, 2024.11 and later): ``dev`` (the meter), ``o`` (this logger, the
origin), ``cmps`` (one entry per entity, each with its platform ``p`` and ``unique_id``).
Device classes, state classes and units are the ones HA's Energy dashboard accepts as they
are: energy/total_increasing/kWh for the grid counters, power/measurement/W.  Entity ids are
proposed with ``default_entity_id`` (``object_id`` is deprecated, gone in Core 2026.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.mqtt_publisher.topics import Topics, slug

ORIGIN_NAME = "smartmeter-logger"


@dataclass(frozen=True)
class Entity:
    key: str  # the state topic's last level and the unique_id's suffix
    name: str
    platform: str  # sensor | binary_sensor
    device_class: str | None = None
    state_class: str | None = None
    unit: str | None = None
    epc: str = ""  # the reading it shows ("" for a diagnostic)
    dataid: str = ""
    icon: str | None = None
    precision: int | None = None

    @property
    def diagnostic(self) -> bool:
        return not self.epc


MEASUREMENTS = (
    Entity("power", "Power", "sensor", "power", "measurement", "W", "E7", precision=0),
    Entity("energy_import", "Energy import", "sensor", "energy", "total_increasing", "kWh", "E0"),
    Entity("energy_export", "Energy export", "sensor", "energy", "total_increasing", "kWh", "E3"),
    Entity("current_r", "Current R phase", "sensor", "current", "measurement", "A", "E8", "R"),
    Entity("current_t", "Current T phase", "sensor", "current", "measurement", "A", "E8", "T"),
    Entity(
        "energy_import_half_hourly",
        "Energy import (half-hourly)",
        "sensor",
        "energy",
        "total_increasing",
        "kWh",
        "EA",
    ),
    Entity(
        "energy_export_half_hourly",
        "Energy export (half-hourly)",
        "sensor",
        "energy",
        "total_increasing",
        "kWh",
        "EB",
    ),
)
RADIO = Entity("radio", "Radio link", "sensor", icon="mdi:access-point-network")
LQI = Entity("lqi", "Link quality (LQI)", "sensor", state_class="measurement", icon="mdi:signal")
RSSI = Entity("rssi", "Signal strength", "sensor", "signal_strength", "measurement", "dBm")
LAST_READING = Entity("last_reading", "Last reading", "sensor", "timestamp")
PROBLEM = Entity("problem", "Logger problem", "binary_sensor", "problem")
DIAGNOSTICS = (RADIO, LQI, RSSI, LAST_READING, PROBLEM)
BY_READING = {(e.epc, e.dataid): e for e in MEASUREMENTS}
# EA/EB come unasked (the meter announces each half-hour); the rest only when polled.
UNASKED = ("EA", "EB")


def entities_for(properties: tuple[int, ...], diagnostics: set[str]) -> list[Entity]:
    """The meter's entities: what is polled, EA/EB, and the diagnostics known so far."""
    polled = {f"{p:02X}" for p in properties} | set(UNASKED)
    return [e for e in MEASUREMENTS if e.epc in polled] + [
        e for e in DIAGNOSTICS if e.key in diagnostics
    ]


@dataclass(frozen=True)
class MeterIdentity:
    """Who the meter is: its device id and what HA shows about it."""

    device_id: str
    maker: str | None = None  # ECHONET manufacturer code (0x8A), hex
    shown_id: str | None = None  # the B-route identification number, masked by the radio
    release: str | None = None  # Appendix release of the meter's ECHONET Lite

    @classmethod
    def of(cls, unitid: str, key: str | None, maker: str | None = None,
           masked_id: str | None = None, release: str | None = None) -> MeterIdentity:  # fmt: skip
        """The id from the radio's key for the meter: a hash of its B-route identification
        number (C0) on a Release R meter, else of its maker code and serial number (0x8A +
        0x8D); stable, and giving neither number away.  A meter that gives neither: the
        logger's unitid."""
        return cls(f"smartmeter_{slug(key or unitid)}", maker, masked_id, release)


def discovery_payload(
    topics: Topics, meter: MeterIdentity, entities: list[Entity], unitid: str, version: str
) -> dict[str, Any]:
    device: dict[str, Any] = {
        "ids": [meter.device_id],
        "name": "Smart meter" if unitid == "smartmeter" else f"Smart meter {unitid}",
        "mf": f"ECHONET maker {meter.maker}" if meter.maker else "Smart meter (B-route)",
        "mdl": "Low-voltage smart electric energy meter (B-route)",
    }
    if meter.shown_id:
        device["sn"] = meter.shown_id
    if meter.release:
        device["hw"] = f"ECHONET Lite Appendix release {meter.release}"
    cmps = {e.key: _component(topics, meter, e, unitid) for e in entities}
    return {
        "dev": device,
        "o": {"name": ORIGIN_NAME, "sw": version},
        "cmps": cmps,
        "qos": 1,
    }


def removal_payload(entities: list[Entity]) -> dict[str, Any]:
    """What removes a device's entities (sent to the old device id when the meter changed)."""
    return {"cmps": {e.key: {"p": e.platform} for e in entities}}


def _component(topics: Topics, meter: MeterIdentity, e: Entity, unitid: str) -> dict[str, Any]:
    c: dict[str, Any] = {
        "p": e.platform,
        "name": e.name,
        "unique_id": f"{meter.device_id}_{e.key}",
        "default_entity_id": f"{e.platform}.{slug(unitid).lower()}_{e.key}",
        "state_topic": topics.state(e.key),
    }
    for option, value in (("device_class", e.device_class), ("state_class", e.state_class),
                          ("unit_of_measurement", e.unit), ("icon", e.icon),
                          ("suggested_display_precision", e.precision)):  # fmt: skip
        if value is not None:
            c[option] = value
    if e.diagnostic:
        c["entity_category"] = "diagnostic"
        # The diagnostics say why the meter cannot be read: they stay available then.
        c["availability_topic"] = topics.availability
    else:
        c["availability"] = [{"topic": topics.availability}, {"topic": topics.meter}]
        c["availability_mode"] = "all"
    if e is PROBLEM:
        c["payload_on"], c["payload_off"] = "ON", "OFF"
        c["json_attributes_topic"] = topics.attributes(e.key)
    return c
