"""mqtt: publishing to an MQTT broker (services/mqtt_publisher), and MQTT_* from .env.

The broker's address and credentials are kept in .env, like INFLUXDB_TOKEN; settings.yml
holds the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common.config.inputs import Checked, Inputs
from common.config.secret import Secret
from common.config.values import boolean

SECTION: dict[str, Any] = {
    "enabled": False,
    "topic_prefix": "smartmeter",
    "discovery": True,
    "discovery_prefix": "homeassistant",
    "protocol": "3.1.1",
    "tls_ca_file": "",
    "tls_verify": True,
    "keepalive_seconds": 60,
}
DEFAULTS: dict[str, Any] = {"mqtt": SECTION}
PROTOCOLS = ("3.1.1", "5")
SCHEMES = {"mqtt": (False, 1883), "mqtts": (True, 8883)}
_TOPIC_PART = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")


@dataclass(frozen=True)
class MqttSettings:
    enabled: bool = False
    url: str = ""
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    topic_prefix: str = "smartmeter"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    protocol: str = "3.1.1"
    tls_ca_file: Path | None = None
    tls_verify: bool = True
    keepalive_seconds: int = 60

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or SCHEMES.get(parts.scheme, (False, 1883))[1]

    @property
    def tls(self) -> bool:
        return SCHEMES.get(urlsplit(self.url).scheme, (False, 0))[0]

    @property
    def where(self) -> str:
        """The broker as logs and status show it: never a password, even one in the URL."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def check(inputs: Inputs) -> Checked:
    section, env, problems = inputs.settings["mqtt"], inputs.env, []

    def flag(key: str) -> bool:
        return boolean(section[key], f"mqtt.{key}", problems)

    def topic(key: str) -> str:
        value = section[key]
        if not isinstance(value, str) or not _TOPIC_PART.match(value):
            problems.append(
                f"settings.yml: 'mqtt.{key}' must be a topic like {SECTION[key]!r} (letters, "
                f"digits, _ - and /; no + or #, no leading or trailing /), not {value!r}"
            )
            return str(SECTION[key])
        return value

    enabled = flag("enabled")
    protocol = str(section["protocol"]).strip()
    if protocol not in PROTOCOLS:
        problems.append(
            f'settings.yml: \'mqtt.protocol\' must be "3.1.1" or "5", not {section["protocol"]!r}'
        )
        protocol = "3.1.1"
    keepalive = section["keepalive_seconds"]
    if isinstance(keepalive, bool) or not isinstance(keepalive, int) or not 5 <= keepalive <= 3600:
        problems.append(
            f"settings.yml: 'mqtt.keepalive_seconds' must be a whole number from 5 to 3600, "
            f"not {keepalive!r}"
        )
        keepalive = 60
    ca = section["tls_ca_file"]
    ca_path: Path | None = None
    if ca not in ("", None):
        if not isinstance(ca, str) or "\0" in ca:
            problems.append(f"settings.yml: 'mqtt.tls_ca_file' must be a file name, not {ca!r}")
        else:
            ca_path = Path(ca).expanduser()
            if not ca_path.is_absolute():
                ca_path = inputs.paths.home / ca_path
            if enabled and not ca_path.is_file():
                problems.append(
                    f"settings.yml: 'mqtt.tls_ca_file' {ca!r}: no such file ({ca_path}); put "
                    "the broker's CA certificate (PEM) there, or leave it empty for the "
                    "system's CAs"
                )
    settings = MqttSettings(
        enabled=enabled,
        url=env.get("MQTT_URL", "").strip(),
        username=env.get("MQTT_USERNAME", "").strip(),
        password=Secret(env.get("MQTT_PASSWORD", "").strip()),
        topic_prefix=topic("topic_prefix"),
        discovery=flag("discovery"),
        discovery_prefix=topic("discovery_prefix"),
        protocol=protocol,
        tls_ca_file=ca_path,
        tls_verify=flag("tls_verify"),
        keepalive_seconds=int(keepalive),
    )
    env_file = inputs.paths.env_file
    if enabled:
        problems += _check_url(settings.url, env_file)
        if settings.password and not settings.username:
            problems.append(
                f"MQTT_PASSWORD is set but MQTT_USERNAME is not; set both in {env_file}"
            )
    return {"mqtt": settings}, problems


def _check_url(url: str, env_file: Path) -> list[str]:
    example = "e.g. mqtt://192.168.1.20:1883 or mqtts://broker.local:8883"
    if not url:
        return [f"MQTT_URL is not set; put the broker's address in {env_file} ({example}), "
                "or set mqtt.enabled: false"]  # fmt: skip
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return [f"MQTT_URL has a port that is not a number from 1 to 65535 ({example}); "
                f"fix it in {env_file}"]  # fmt: skip
    if parts.scheme not in SCHEMES:
        return [f"MQTT_URL must start with mqtt:// or mqtts:// ({example}); fix it in {env_file}"]
    if not parts.hostname:
        return [f"MQTT_URL has no host name ({example}); fix it in {env_file}"]
    if parts.password or parts.username:
        return [f"MQTT_URL must not carry a user or password; put them in {env_file} as "
                "MQTT_USERNAME and MQTT_PASSWORD"]  # fmt: skip
    if port == 0:
        return [f"MQTT_URL has port 0; use the broker's port ({example}) in {env_file}"]
    return []
