"""Asking the health service for its verdict (GET /health): smartmeterctl, the MQTT
publisher and the updater's health gate all do, on the address the health service listens on."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from common.config import DEFAULTS, ConfigError, load_config
from common.paths import Paths


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


def health_url_of(paths: Paths) -> str:
    """The health service's /health as settings.yml places it (its defaults when broken)."""
    try:
        cfg = load_config(paths)
        return health_url(cfg.health.bind, cfg.health.port)
    except ConfigError:
        default = DEFAULTS["health"]
        return health_url(default["bind"], default["port"])
