"""The mqtt: section and MQTT_* (common/config/sections/mqtt.py): off by default, every
mistake one line naming the key and the fix, the password never shown."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.config import ConfigError, load_config
from tests.config.test_config import GOOD_ENV, setup

PASSWORD = "mq-Secret-7x9"


def load(tmp_path: Path, mqtt_yml: str, env: str = "", environ: dict | None = None):
    paths = setup(tmp_path, "mqtt:\n" + mqtt_yml, GOOD_ENV + env)
    return load_config(paths, environ or {})


def problems_of(tmp_path: Path, mqtt_yml: str, env: str = "") -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, mqtt_yml, env)
    return info.value.problems


def test_off_by_default_and_nothing_asked_for(tmp_path):
    config = load_config(setup(tmp_path, "", GOOD_ENV), {})
    assert not config.mqtt.enabled
    assert config.mqtt.topic_prefix == "smartmeter"
    assert config.mqtt.discovery and config.mqtt.discovery_prefix == "homeassistant"


def test_enabled_reads_the_broker_from_env_and_the_environment_wins(tmp_path):
    env = f"MQTT_URL=mqtt://192.168.1.20\nMQTT_USERNAME=meter\nMQTT_PASSWORD={PASSWORD}\n"
    config = load(tmp_path, "  enabled: true\n", env)
    m = config.mqtt
    assert (m.host, m.port, m.tls, m.username) == ("192.168.1.20", 1883, False, "meter")
    assert m.password.reveal() == PASSWORD and PASSWORD in config.secrets()
    assert PASSWORD not in repr(config) and PASSWORD not in m.where
    tls = load(tmp_path, "  enabled: true\n", env, {"MQTT_URL": "mqtts://broker.local"})
    assert (tls.mqtt.host, tls.mqtt.port, tls.mqtt.tls) == ("broker.local", 8883, True)


@pytest.mark.parametrize(
    ("yml", "env", "names"),
    [
        ("  enabled: true\n", "", "MQTT_URL is not set"),
        ("  enabled: true\n", "MQTT_URL=http://x:1883\n", "mqtt:// or mqtts://"),
        ("  enabled: true\n", "MQTT_URL=mqtt://:1883\n", "no host name"),
        ("  enabled: true\n", "MQTT_URL=mqtt://h:99999\n", "port"),
        ("  enabled: true\n", f"MQTT_URL=mqtt://u:{PASSWORD}@h\n", "must not carry"),
        ("  enabled: true\n", f"MQTT_URL=mqtt://h\nMQTT_PASSWORD={PASSWORD}\n", "MQTT_USERNAME"),
        ("  enabled: maybe\n", "", "'mqtt.enabled' must be true or false"),
        ("  topic_prefix: home/#\n", "", "'mqtt.topic_prefix' must be a topic"),
        ("  discovery_prefix: /ha\n", "", "'mqtt.discovery_prefix' must be a topic"),
        ("  protocol: 4\n", "", "'mqtt.protocol'"),
        ("  keepalive_seconds: 1\n", "", "'mqtt.keepalive_seconds'"),
        ("  enabled: true\n  tls_ca_file: nope.pem\n", "MQTT_URL=mqtts://h\n", "tls_ca_file"),
        ("  retain: true\n", "", "unknown setting 'mqtt.retain'"),
    ],
)
def test_each_mistake_is_one_line_naming_the_key(tmp_path, yml, env, names):
    found = problems_of(tmp_path, yml, env)
    assert len(found) == 1 and names in found[0], found
    assert PASSWORD not in found[0]


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(url=st.text(st.characters(exclude_characters="\r\n\0"), max_size=60))
def test_any_mqtt_url_is_taken_or_named_never_a_traceback_or_the_password(url):
    """MQTT_URL is outside input: whatever it holds, a config or a line saying what to fix."""
    with tempfile.TemporaryDirectory() as d:
        environ = {"MQTT_URL": url, "MQTT_USERNAME": "u", "MQTT_PASSWORD": PASSWORD}
        try:
            config = load(Path(d), "  enabled: true\n", environ=environ)
        except ConfigError as exc:
            assert all("\n" not in p and PASSWORD not in p for p in exc.problems)
            assert any("MQTT_URL" in p for p in exc.problems)
        else:
            assert config.mqtt.host and 0 < config.mqtt.port < 65536
            assert config.mqtt.where.startswith(("mqtt://", "mqtts://"))
