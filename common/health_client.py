"""Asking the health service for its verdict (smartmeterctl status, the updater's gate)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def health_url(bind: str, port: int) -> str:
    host = "127.0.0.1" if bind in ("0.0.0.0", "", "::") else bind
    return f"http://{host}:{port}/health"


def fetch_health(url: str, timeout: float = 5.0) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:  # 503 carries the verdict too
        return json.loads(exc.read())
