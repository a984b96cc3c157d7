"""A broker that cannot be used is a named warning, never a failure or a crash loop.

One supervised stack; between scenarios its .env and settings.yml are rewritten and the
publisher restarted.  Real mosquittos: one with a password file, one with a TLS listener
whose certificate the test made (its CA is not in the system's store).  Each scenario is
judged as a person would: the cause in /health (``mqtt:delivery``, ``warn``), in
``smartmeterctl status`` and on the page; the rest of the logger still ``pass``/``warn``;
the publisher RUNNING with the same pid (it waits and retries, it does not exit); and the
MQTT password nowhere in what the logger shows or writes.
"""

from __future__ import annotations

import time

import pytest

from tests.support.mqtt_broker import Broker, Watcher
from tests.support.stack import Stack, free_port, wait_for

pytestmark = pytest.mark.e2e

USER, PASSWORD = "meter", "mq-pw-7Hq2xZr9"
WRONG = "mq-wrong-3Kd8"


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    root = tmp_path_factory.mktemp("fail")
    auth = Broker(root / "auth", users={USER: PASSWORD}).start()
    tls = Broker(root / "tls", tls=True).start()
    stack = Stack(
        root / "stack",
        settings={
            "acquisition": {"interval_seconds": 1, "properties": ["E7"]},
            "mqtt": {"enabled": True},
        },
        env_values={"MQTT_URL": auth.url, "MQTT_USERNAME": USER, "MQTT_PASSWORD": WRONG},
        extra_env={"SMARTMETER_MQTT_BACKOFF_CAP": "2"},
    )
    stack.start()
    try:
        stack.wait_running("mqtt_publisher", timeout=60)
        yield stack, auth, tls
    finally:
        stack.stop()
        auth.stop()
        tls.stop()


def use(stack: Stack, mqtt_settings: dict, **env: str) -> int:
    """Rewrite the configuration, restart the publisher; its new pid."""
    stack.settings["mqtt"] = {"enabled": True, **mqtt_settings}
    stack.env_values.update(env)
    stack.write_config()
    rpc = stack.rpc()
    rpc.stopProcess("mqtt_publisher")
    rpc.startProcess("mqtt_publisher")
    return stack.wait_running("mqtt_publisher", timeout=30)


def mqtt_check(stack: Stack) -> dict:
    try:
        return stack.health()[1]["checks"].get("mqtt:delivery", [{}])[0]
    except (OSError, ValueError):
        return {}


def named(stack: Stack, pid: int, cause: str) -> dict:
    check = wait_for(lambda: mqtt_check(stack).get("cause") == cause and mqtt_check(stack),
                     45, cause)  # fmt: skip
    assert isinstance(check, dict)
    assert check["status"] == "warn" if cause != "ok" else "pass"
    time.sleep(5)  # retries go on meanwhile (backoff capped at 2 s here)
    assert stack.info("mqtt_publisher")["pid"] == pid, "waits and retries; never exits"
    code, verdict = stack.health()
    assert code == 200 and verdict["status"] in ("pass", "warn")
    assert all(c[0]["status"] != "fail" for k, c in verdict["checks"].items()), verdict["notes"]
    status = stack.ctl("status").stdout
    line = next(x for x in status.splitlines() if x.startswith("  mqtt "))
    assert (cause in line) if cause != "ok" else ("connected" in line), line
    page = stack.get("/")[1].decode()
    assert cause in page
    return check


def readings_arrive(broker, **kw) -> None:
    """The stream's readings reach a client of ``broker`` within 30 s."""
    watcher = Watcher(broker, ["smartmeter/#"], **kw).start()
    try:
        wait_for(lambda: watcher.messages("smartmeter/smartmeter/readings"), 30, "readings")
    finally:
        watcher.stop()


def test_a_wrong_password_is_named_and_the_logger_otherwise_well(rig):
    stack, auth, _ = rig
    check = named(stack, stack.info("mqtt_publisher")["pid"], "mqtt-auth-failed")
    assert "MQTT_USERNAME" in check["output"] and "MQTT_PASSWORD" in check["output"]
    pid = use(stack, {}, MQTT_PASSWORD=PASSWORD)
    named(stack, pid, "ok")
    readings_arrive(auth, auth=(USER, PASSWORD))


def test_no_broker_is_unreachable(rig):
    stack, _, _ = rig
    pid = use(stack, {}, MQTT_URL=f"mqtt://127.0.0.1:{free_port()}")
    check = named(stack, pid, "mqtt-unreachable")
    assert "MQTT_URL" in check["output"] or "127.0.0.1" in check["output"]


def test_tls_needs_the_brokers_ca_and_works_with_it(rig):
    stack, _, tls = rig
    pid = use(stack, {}, MQTT_URL=tls.url, MQTT_USERNAME="", MQTT_PASSWORD="")
    check = named(stack, pid, "mqtt-tls")
    assert "tls_ca_file" in check["output"]
    pid = use(stack, {"tls_ca_file": str(tls.ca)})
    named(stack, pid, "ok")
    readings_arrive(tls)


def test_mqtt_5_is_named_and_works_the_same(rig):
    stack, auth, _ = rig
    pid = use(stack, {"protocol": "5"}, MQTT_URL=auth.url, MQTT_USERNAME=USER,
              MQTT_PASSWORD=WRONG)  # fmt: skip
    named(stack, pid, "mqtt-auth-failed")
    pid = use(stack, {"protocol": "5"}, MQTT_PASSWORD=PASSWORD)
    named(stack, pid, "ok")
    readings_arrive(auth, auth=(USER, PASSWORD))


def test_the_mqtt_password_is_nowhere(rig):
    stack, _, _ = rig
    texts = [stack.get(p)[1].decode("utf-8", "replace") for p in ("/health", "/metrics", "/")]
    texts += [stack.ctl("status").stdout, stack.ctl("config", "check").stdout]
    texts += [stack.ctl("logs", "mqtt_publisher", "-n", "2000").stdout]
    for path in sorted(stack.root.rglob("*")):
        if path.is_file() and path.name != "smartmeter.env":
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    for secret in (PASSWORD, WRONG):
        assert not [t for t in texts if secret.lower() in t.lower()]
