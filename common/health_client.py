"""Asking the health service for its verdict (GET /health): smartmeterctl and the MQTT
publisher both do, on the address the health service listens on."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def health_url(bind: str, port: int) -> str:
    host = "127.0.0.1" if bind in ("0.0.0.0", "", "::") else bind
    return f"http://{host}:{port}/health"


def fetch_health(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """The verdict; raises OSError (URLError) when the service does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:  # 503 carries the verdict too
        return json.loads(exc.read())
