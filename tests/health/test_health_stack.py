"""Health endpoint, metrics, status page and smartmeterctl against the real supervised stack."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.browser import Chromium
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.e2e

PASSWORD = "S3cretPassw0"
BROUTE_ID = "0123456789ABCDEF0123456789ABCDEF"
FAST = {
    "acquisition": {"interval_seconds": 0.5, "properties": ["E7", "E0", "E3", "E8"]},
    "storage": {"flush_interval_seconds": 0.5},
}


def make(root: Path, **kw) -> Stack:
    env = {"BROUTE_ID": BROUTE_ID, "BROUTE_PASSWORD": PASSWORD} | kw.pop("env_values", {})
    return Stack(root, settings=kw.pop("settings", FAST), env_values=env, **kw)


@pytest.fixture
def stack(tmp_path):
    s = make(tmp_path / "s")
    yield s
    s.stop()


def verdict(stack: Stack) -> str:
    try:
        return stack.health()[1]["status"]
    except OSError:
        return ""


def ctl_status(stack: Stack) -> tuple[int, dict]:
    done = stack.ctl("status", "--json")
    return done.returncode, json.loads(done.stdout)


def test_pass_then_fail_when_the_radio_stops_then_pass_again(stack):
    stack.start()
    wait_for(lambda: verdict(stack) == "pass", 60, "/health pass")
    code, doc = stack.health()
    assert code == 200
    assert {"status", "checks", "version", "releaseId", "output"} <= set(doc)
    for key, checks in doc["checks"].items():
        assert ":" in key
        assert {"status", "time", "output"} <= set(checks[0])
    fresh = doc["checks"]["readings:freshness"][0]
    assert fresh["observedUnit"] == "s" and fresh["observedValue"] < 30
    assert doc["checks"]["disk:data"][0]["observedUnit"] == "bytes"
    assert doc["checks"]["process:radio"][0]["status"] == "pass"
    assert ctl_status(stack)[0] == 0
    text = stack.ctl("status")
    assert text.returncode == 0 and "Smart-meter logger: OK" in text.stdout
    assert "E7" in text.stdout and "radio" in text.stdout

    stack.rpc().stopProcess("radio")

    def radio_process_failed() -> bool:
        return verdict(stack) == "fail" and (
            stack.health()[1]["checks"]["process:radio"][0]["status"] == "fail"
        )

    wait_for(radio_process_failed, 30, "/health fail with process:radio fail")
    code, doc = stack.health()
    assert code == 503
    assert doc["checks"]["process:radio"][0]["status"] == "fail"
    rc, js = ctl_status(stack)
    assert rc == 2 and js["verdict"] == "critical"
    assert any("radio" in p for p in js["problems"])

    stack.rpc().startProcess("radio")
    wait_for(lambda: verdict(stack) == "pass", 60, "/health pass again")


def test_a_missing_dongle_is_named(stack):
    stack.start()
    wait_for(lambda: verdict(stack) == "pass", 60, "/health pass")
    stack.rpc().stopProcess("simulator")  # the pty and its link disappear, as on USB unplug
    wait_for(lambda: verdict(stack) == "fail", 60, "/health fail")
    wait_for(
        lambda: (
            stack.health()[1]["checks"]["radio:link"][0]["cause"]
            in ("dongle-missing", "dongle-not-responding")
        ),
        60,
        "a named radio cause",
    )
    assert ctl_status(stack)[0] == 2


def test_low_disk_is_a_warning(tmp_path):
    data = tmp_path / "s" / "data"
    data.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(data)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    stack = make(tmp_path / "s")
    try:
        stack.start()

        def only_disk_warns() -> bool:
            doc = stack.health()[1] if verdict(stack) else {"checks": {}}
            bad = {k for k, c in doc["checks"].items() if c[0]["status"] != "pass"}
            return bad == {"disk:data"}

        wait_for(only_disk_warns, 60, "/health warn for disk:data alone")
        code, doc = stack.health()
        assert code == 200
        assert doc["checks"]["disk:data"][0]["cause"] == "disk-low"
        rc, js = ctl_status(stack)
        assert rc == 1 and js["verdict"] == "warning"
    finally:
        stack.stop()
        subprocess.run(["umount", "-l", str(data)], check=False)


def test_status_without_supervisord_is_unknown_in_the_first_line(tmp_path):
    stack = make(tmp_path / "s")
    stack.write_config()
    done = stack.ctl("status")
    assert done.returncode == 3
    first, *rest = done.stdout.strip().splitlines()
    assert first.startswith("UNKNOWN: supervisord is not running")  # what a monitor shows
    assert rest[0].split() == ["config", "no", "stack", "is", "running;", "this", "shell's"]
    assert len(rest) <= 4  # then the files that configuration would use, and the meter
    assert "Traceback" not in done.stdout + done.stderr
    rc, js = ctl_status(stack)
    assert rc == 3 and js["verdict"] == "unknown"


def test_metrics_parse_and_carry_the_latest_power(stack):
    stack.start()
    wait_for(lambda: verdict(stack) == "pass", 60, "/health pass")
    code, body = stack.get("/metrics")
    assert code == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    for name in (
        "smartmeter_power_watts",
        "smartmeter_energy_kwh",
        "smartmeter_readings",
        "smartmeter_process_up",
        "smartmeter_health_status",
        "smartmeter_current_amperes",
    ):
        assert name in families, name  # fmt: skip
    power = families["smartmeter_power_watts"].samples[0].value
    served_e7 = [e["decoded"][""] for e in stack.served({"E7"})]
    assert power in served_e7
    directions = {s.labels["direction"] for s in families["smartmeter_energy_kwh"].samples}
    assert directions == {"import", "export"}


def test_http_is_read_only(stack):
    import urllib.error
    import urllib.request

    stack.start()
    wait_for(lambda: verdict(stack) in ("pass", "warn"), 60, "/health up")
    for method in ("POST", "PUT", "DELETE"):
        req = urllib.request.Request(stack.url + "/health", method=method, data=b"x")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5)
        assert info.value.code == 405
    for path in ("/../etc/passwd", "/%2e%2e/etc/passwd", "/nope", "/" + "a" * 5000):
        assert stack.get(path)[0] in (404, 414), path
    head = urllib.request.Request(stack.url + "/health", method="HEAD")
    with urllib.request.urlopen(head, timeout=5) as answer:
        assert answer.status == 200 and answer.read() == b""


def test_page_in_chromium_shows_power_and_todays_curve(stack, tmp_path):
    chromium = Chromium(tmp_path / "chromium")
    stack.start()
    wait_for(lambda: len(stack.served({"E7"})) >= 3, 60, "three E7 readings")
    wait_for(lambda: verdict(stack) == "pass", 60, "/health pass")
    dom = chromium.dom(stack.url + "/")
    assert 'id="verdict"' in dom and 'data-status="pass"' in dom
    e7 = dom.split('id="e7-value"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    assert float(e7) in [e["decoded"][""] for e in stack.served({"E7"})]
    points = dom.split('id="curve-line"', 1)[1].split('points="', 1)[1].split('"', 1)[0]
    assert len(points.split()) >= 3
    shot = chromium.screenshot(stack.url + "/", tmp_path / "page.png")
    assert shot.stat().st_size > 10_000
    if os.environ.get("SMARTMETER_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["SMARTMETER_KEEP_SCREENSHOT"])


def test_fatal_program_comes_back_and_is_counted(stack):
    stack.start()
    stack.wait_running("radio")
    stack.rpc().stopProcess("radio")
    # Hold the radio's lock: every start now exits at once, and supervisord gives up (FATAL).
    fd = os.open(stack.runtime_dir / "radio.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        stack.rpc().startProcess("radio", False)
        wait_for(lambda: stack.info("radio")["statename"] == "FATAL", 60, "radio FATAL")
        wait_for(lambda: verdict(stack) == "fail", 30, "/health fail")
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    stack.wait_running("radio", timeout=60)  # the restarter starts it after the cool-down
    restarts = json.loads((stack.runtime_dir / "restarts.json").read_text())
    assert restarts["radio"]["fatal"] >= 1 and restarts["radio"]["restarted"] >= 1
    wait_for(lambda: verdict(stack) == "pass", 60, "/health pass again")
    js = ctl_status(stack)[1]
    radio = next(p for p in js["processes"] if p["name"] == "radio")
    assert radio["restarts"] >= 1


def test_config_error_waits_instead_of_crash_looping_and_recovers_when_fixed(tmp_path):
    stack = make(tmp_path / "s", env_values={"BROUTE_ID": "TOO-SHORT"})
    try:
        stack.start()

        def named() -> bool:
            return bool(verdict(stack)) and "config-error" in json.dumps(stack.health()[1])

        wait_for(named, 60, "config-error in /health")
        link = stack.health()[1]["checks"]["radio:link"][0]
        assert link["status"] == "fail" and "BROUTE_ID" in link["output"]
        stack.wait_running("radio")  # waiting for the fix, not crash-looping into FATAL
        time.sleep(5)
        assert stack.info("radio")["statename"] == "RUNNING"
        assert "config-error" in json.dumps(stack.health()[1])
        env = stack.root / "smartmeter.env"
        env.write_text(f"BROUTE_ID={BROUTE_ID}\nBROUTE_PASSWORD={PASSWORD}\n")
        wait_for(lambda: verdict(stack) == "pass", 90, "/health pass after the fix")
    finally:
        stack.stop()


def test_no_secret_anywhere(stack):
    stack.start()
    wait_for(lambda: verdict(stack) == "pass", 60, "/health pass")
    outputs = [
        stack.ctl("status").stdout, stack.ctl("status", "--json").stdout,
        stack.ctl("config", "check").stdout, stack.ctl("logs").stdout,
        stack.ctl("readings").stdout,
        stack.get("/health")[1].decode(), stack.get("/metrics")[1].decode(),
        stack.get("/")[1].decode(),
    ]  # fmt: skip
    stack.stop()
    for path in stack.root.rglob("*"):
        if path.is_file() and path.name != "smartmeter.env":
            outputs.append(path.read_bytes().decode("utf-8", "replace"))
    for secret in (PASSWORD, BROUTE_ID):
        assert not [o for o in outputs if secret in o], f"{secret[:3]}... leaked"
    assert oct((stack.root / "smartmeter.env").stat().st_mode & 0o777) == "0o600"
