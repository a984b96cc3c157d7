"""A reading as it travels on the bus: versioned JSON, one per property value."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

WIRE_VERSION = 1


class MalformedMessage(Exception):
    """A message on the bus that is not a reading of a version we understand."""


@dataclass(frozen=True)
class Reading:
    seq: int  # monotonic within ``epoch``
    epoch: str  # identifies the radio's sequence; a new epoch restarts seq
    ts: str  # ISO 8601 with offset: when the meter answered (or its own time for EA/EB)
    unitid: str
    epc: str  # two upper-case hex digits, e.g. "E7"
    dataid: str  # sub-value ("R"/"T" for E8), "" when the property has one value
    value: float
    source: str = "poll"  # poll | notify | backfill

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.ts)

    def encode(self) -> bytes:
        return json.dumps({"v": WIRE_VERSION, **asdict(self)}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, body: bytes) -> Reading:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedMessage(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise MalformedMessage(f"not a JSON object: {type(data).__name__}")
        if data.get("v") != WIRE_VERSION:
            raise MalformedMessage(f"unknown message version {data.get('v')!r}")
        try:
            reading = cls(
                seq=int(data["seq"]),
                epoch=str(data["epoch"]),
                ts=str(data["ts"]),
                unitid=str(data["unitid"]),
                epc=str(data["epc"]),
                dataid=str(data.get("dataid", "")),
                value=float(data["value"]),
                source=str(data.get("source", "poll")),
            )
            reading.time  # noqa: B018 - validates ts
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # Overflow: seq 1e999
            raise MalformedMessage(f"bad field: {exc}") from None
        return reading


def format_value(value: float) -> str:
    """Shortest text for a value: 523 rather than 523.0, 1234.57 rather than 1234.5700000000002."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
