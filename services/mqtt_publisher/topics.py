"""Where everything goes on the broker: one place, so the docs and the tests read the same.

```
<prefix>/<unit>/availability        online | offline (retained; offline is the last will)
<prefix>/<unit>/meter               online | offline (retained): can the meter be read now
<prefix>/<unit>/state/<entity>      the latest value of one entity (retained)
<prefix>/<unit>/state/problem/attributes   what /health says is wrong (retained JSON)
<prefix>/<unit>/readings            every reading, QoS 1, JSON (the stream)
<discovery_prefix>/device/<device>/config  Home Assistant device discovery (retained)
<discovery_prefix>/status           Home Assistant's birth/last will (subscribed)
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NOT_TOPIC_SAFE = re.compile(r"[^A-Za-z0-9_\-]+")


def slug(text: str) -> str:
    """A topic level and entity-id part: letters, digits, _ and - only."""
    return _NOT_TOPIC_SAFE.sub("_", text).strip("_") or "meter"


@dataclass(frozen=True)
class Topics:
    prefix: str
    unit: str  # slug(unitid)
    discovery_prefix: str

    @classmethod
    def of(cls, topic_prefix: str, unitid: str, discovery_prefix: str) -> Topics:
        return cls(topic_prefix, slug(unitid), discovery_prefix)

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.unit}"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def meter(self) -> str:
        return f"{self.base}/meter"

    @property
    def readings(self) -> str:
        return f"{self.base}/readings"

    def state(self, key: str) -> str:
        return f"{self.base}/state/{key}"

    def attributes(self, key: str) -> str:
        return f"{self.base}/state/{key}/attributes"

    def discovery(self, device_id: str) -> str:
        return f"{self.discovery_prefix}/device/{device_id}/config"

    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"
