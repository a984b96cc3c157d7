"""smartmeterctl in a second terminal talks about the stack that is running.

The stack is started the way scripts/demo starts it (settings in config/, .env or, without
one, config/demo.env); smartmeterctl runs from a shell with none of the stack's SMARTMETER_*
variables, as a person's second terminal has.  SMARTMETER_HOME stands in for the checkout
(a real second terminal finds it as the project root): the tests must not use the
checkout's own var/ and port 8780.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.stack import PROJECT, Stack, wait_for

pytestmark = pytest.mark.e2e

REAL_LOOKING_ID = "7F3A9C0B12D45E6F8A9B0C1D2E3F4A5B"
REAL_LOOKING_PASSWORD = "Q7W2E9R4T1Y6"


class DemoStack(Stack):
    """The stack as scripts/demo runs it from a checkout at ``root``."""

    dot_env: str | None = None  # the checkout's .env, or none (the simulated meter's demo.env)

    @property
    def runtime_dir(self) -> Path:
        return self.root / "var" / "run"

    @property
    def log_dir(self) -> Path:
        return self.root / "var" / "log"

    @property
    def csv_dir(self) -> Path:
        return self.root / "logs"

    def write_config(self) -> None:
        (self.root / "config").mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / "config" / "demo.env", self.root / "config" / "demo.env")
        settings = {
            "acquisition": {"interval_seconds": 0.5, "properties": ["E7", "E0", "E3"]},
            "storage": {"flush_interval_seconds": 0.5},
            "health": {"bind": "127.0.0.1", "port": self.health_port},
        }
        (self.root / "config" / "settings.yml").write_text(yaml.safe_dump(settings))
        if self.dot_env is not None:
            (self.root / ".env").write_text(self.dot_env)
            (self.root / ".env").chmod(0o600)

    def terminal(self) -> dict[str, str]:
        """A second terminal's environment: nothing of the stack's."""
        stacks = ("SMARTMETER_", "BROUTE_", "INFLUXDB_", "SERIAL_PORT")
        env = {k: v for k, v in os.environ.items() if not k.startswith(stacks)}
        env["SMARTMETER_HOME"] = str(self.root)
        return env

    def environ(self) -> dict[str, str]:
        env = self.terminal()
        env["SMARTMETER_FATAL_COOLDOWN"] = "2"
        env["SMARTMETER_STATUS_INTERVAL"] = os.environ.get("SMARTMETER_STATUS_INTERVAL", "5")
        if self.dot_env is None:  # what scripts/demo exports when there is no .env
            env["SMARTMETER_ENV_FILE"] = str(self.root / "config" / "demo.env")
        return env | self.extra_env

    def ctl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "services.ctl", *args]
        return subprocess.run(command, env=self.terminal(), capture_output=True, text=True,
                              timeout=timeout, cwd=PROJECT)  # fmt: skip


@pytest.fixture
def demo(tmp_path):
    stacks: list[DemoStack] = []

    def make(dot_env: str | None = None, **extra_env: str) -> DemoStack:
        s = DemoStack(tmp_path / "checkout", extra_env=extra_env)
        s.dot_env = dot_env
        stacks.append(s)
        return s

    yield make
    for s in stacks:
        s.stop()


def passing(stack: Stack) -> bool:
    try:
        return stack.health()[1]["status"] == "pass"
    except OSError:
        return False


def test_without_env_status_reports_the_running_simulator(demo):
    stack = demo()
    stack.write_config()
    before = stack.ctl("status")
    assert before.returncode == 3, before.stdout + before.stderr
    assert "no stack is running; what scripts/demo would use" in before.stdout
    assert "config/demo.env" in before.stdout and "the built-in simulator" in before.stdout
    check = stack.ctl("config", "check")
    assert check.returncode == 0 and "the built-in simulator" in check.stdout, check.stderr

    stack.start()
    wait_for(lambda: passing(stack), 60, "/health pass")
    done = stack.ctl("status")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the running stack's (supervisord pid" in done.stdout
    assert str(stack.root / "config" / "demo.env") in done.stdout
    assert "meter          the built-in simulator" in done.stdout
    procs = {p["name"]: p["state"] for p in json.loads(stack.ctl("status", "--json").stdout)[
        "processes"]}  # fmt: skip
    assert procs["simulator"] == procs["radio"] == "RUNNING"
    # every other command reads the same stack
    check = stack.ctl("config", "check")
    assert check.returncode == 0 and "the running stack's" in check.stdout, check.stderr
    wait_for(lambda: stack.ctl("readings", "--last", "3").stdout.count("\n") >= 3, 30, "readings")
    logs = stack.ctl("logs", "radio", "-n", "5")
    assert logs.returncode == 0 and logs.stdout.strip(), logs.stderr
    assert stack.ctl("restart", "csv_rotator").returncode == 0

    record = stack.runtime_dir / "stack.json"
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    assert json.loads(record.read_text())["env_file"] == str(stack.root / "config" / "demo.env")


def test_with_a_real_looking_env_status_reports_that_file_and_no_secret(demo):
    stack = demo(f"BROUTE_ID={REAL_LOOKING_ID}\nBROUTE_PASSWORD={REAL_LOOKING_PASSWORD}\n"
                 "SERIAL_PORT=simulator\n")  # fmt: skip
    stack.start()
    wait_for(lambda: passing(stack), 60, "/health pass")
    done = stack.ctl("status")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"secrets  {stack.root / '.env'}" in done.stdout
    assert "meter          the built-in simulator" in done.stdout
    record = (stack.runtime_dir / "stack.json").read_text()
    for secret in (REAL_LOOKING_ID, REAL_LOOKING_PASSWORD):
        assert secret not in done.stdout + done.stderr + record
    # a second scripts/demo in the same checkout does not start a second stack over it
    again = stack.ctl("supervise", "--for", "5")
    assert again.returncode == 1 and "a stack is already running" in again.stderr
    assert stack.ctl("status").returncode == 0


def test_secrets_the_stack_had_in_its_environment_are_not_reported_missing(demo):
    """BROUTE_* exported in the demo's terminal, not in the second one: the stack has them."""
    stack = demo("SERIAL_PORT=simulator\n", BROUTE_ID=REAL_LOOKING_ID,
                 BROUTE_PASSWORD=REAL_LOOKING_PASSWORD)  # fmt: skip
    stack.start()
    wait_for(lambda: passing(stack), 60, "/health pass")
    done = stack.ctl("status")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROUTE_ID, BROUTE_PASSWORD from the stack's own environment" in done.stdout
    record = json.loads((stack.runtime_dir / "stack.json").read_text())
    assert record["secrets_from_environment"] == ["BROUTE_ID", "BROUTE_PASSWORD"]
    assert REAL_LOOKING_PASSWORD not in json.dumps(record)


def test_a_broken_env_is_named_as_a_config_error(demo):
    stack = demo(f"BROUTE_ID={REAL_LOOKING_ID}\nBROUTE_PASSWORD=short\nSERIAL_PORT=simulator\n")
    stack.start()
    wait_for(lambda: stack.ctl("status").returncode == 2, 60, "status CRITICAL")
    done = stack.ctl("status")
    assert "config-error: BROUTE_PASSWORD must be 12 letters and digits" in done.stdout
    assert str(stack.root / ".env") in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
