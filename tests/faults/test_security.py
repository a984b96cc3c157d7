"""Secrets stay secret and the attack surface stays closed, on the whole supervised stack.

DESIGN.md, "Secrets stay secret": the B-route password, the InfluxDB token and the MQTT
password never in logs, status, health or metrics.  One stack runs with fresh random
credentials (the ID, the password, the token and the MQTT password), logging at DEBUG,
InfluxDB behind a scripted server whose first refusals even echo the Authorization header
back in their message, and an MQTT broker (a real mosquitto with a password file) that first
refuses a wrong password, and goes through:

- every ``smartmeterctl`` command there is (read from its own ``--help``) and every service's
  ``logs``;
- faults: a refused join (EVENT 24), re-authentication, a USB unplug, a hung dongle, line
  noise, a SIGKILL of the radio, the writer and health, the token refused (401) and the
  server failing (500), a B-route password of the wrong length (config-error) and back, a
  wrong MQTT password (mqtt-auth-failed) and back, the broker stopped and started, a SIGKILL
  of the MQTT publisher;
- the hostile HTTP below.

Then one grep over everything: every file under the stack's directories (logs, supervisord's
log, journal, queue, CSV, state; not the .env file itself, nor the test's supervisord.conf,
which gives the simulated meter the credentials it checks), every command's output, /health,
/metrics and the page, and the command line (and, but for the simulated meter, which is
given the credentials to check them, the environment) of every process.  None may hold any
of the secrets, in any letter case.  (The test proves the secrets were in use: the
meter accepted the join, the server saw the token.)

Also: the runtime dir (sockets, journal) is 0750 or stricter, supervisord's socket is not
reachable by other users, and the HTTP server is read-only: no method but GET/HEAD, no path
outside its routes, no file but the CSV directory's own day files (no traversal, no symbolic
link followed), oversized requests refused, a silent client dropped after 10 s, and it
still answers after all that.

test_health_stack.py::test_no_secret_anywhere and ::test_http_is_read_only are the quick
versions of this on a healthy stack; the image's first-boot import (0600, owner smartmeter)
is tested in test_image_static.py and test_image_rootfs.py.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import socket
import stat
import string
import time
from pathlib import Path

import pytest

from tests.support.fault_stack import FaultStack, descendants
from tests.support.influx_fixtures import Answer, FakeInflux
from tests.support.mqtt_broker import Broker
from tests.support.stack import wait_for

pytestmark = pytest.mark.e2e

ALNUM = string.ascii_uppercase + string.digits


def secret(n: int, alphabet: str = ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


BROUTE_ID = secret(32, "0123456789ABCDEF")
BROUTE_PASSWORD = secret(12)
TOKEN = "tok-" + secret(40, string.ascii_letters + string.digits)
MQTT_USER = "meter"
MQTT_PASSWORD = "mq-" + secret(24, string.ascii_letters + string.digits)
MQTT_WRONG = "mq-" + secret(24, string.ascii_letters + string.digits)
SECRETS = (BROUTE_ID, BROUTE_PASSWORD, TOKEN, MQTT_PASSWORD, MQTT_WRONG)


class Rig:
    def __init__(self, stack: FaultStack, fake: FakeInflux, broker: Broker) -> None:
        self.stack, self.fake, self.broker = stack, fake, broker
        self.outputs: list[tuple[str, str]] = []  # (what, text) to grep at the end

    def ctl(self, *args: str) -> str:
        done = self.stack.ctl(*args, timeout=60)
        text = done.stdout + done.stderr
        self.outputs.append((f"smartmeterctl {' '.join(args)}", text))
        return text

    def http(self, path: str) -> None:
        with contextlib.suppress(OSError):
            self.outputs.append((f"GET {path}", self.stack.get(path)[1].decode("utf-8", "replace")))


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    fake = FakeInflux()
    refusals = {"n": 0}

    def script(req):
        refusals["n"] += 1
        if refusals["n"] <= 2:  # a careless proxy that repeats what it was sent
            return Answer(401, f"unauthorized: {req.headers.get('authorization')}")
        if refusals["n"] <= 4:
            return Answer(500, "internal error")
        return Answer()

    fake.script = script
    # Outside the stack's directories: the grep below covers those, and the broker's
    # password file holds a hash of the password by design.
    broker = Broker(tmp_path_factory.mktemp("broker"), users={MQTT_USER: MQTT_PASSWORD}).start()
    root = tmp_path_factory.mktemp("sec") / "s"
    stack = FaultStack(
        root,
        settings={
            "acquisition": {"interval_seconds": 0.5, "properties": ["E7", "E0", "E3", "E8"]},
            "storage": {"flush_interval_seconds": 0.5},
            "influxdb": {"enabled": True, "timeout_seconds": 2},
            "mqtt": {"enabled": True},
        },
        env_values={
            "BROUTE_ID": BROUTE_ID,
            "BROUTE_PASSWORD": BROUTE_PASSWORD,
            "INFLUXDB_URL": fake.url,
            "INFLUXDB_TOKEN": TOKEN,
            "INFLUXDB_ORG": "home",
            "INFLUXDB_BUCKET": "power",
            "MQTT_URL": broker.url,
            "MQTT_USERNAME": MQTT_USER,
            "MQTT_PASSWORD": MQTT_WRONG,  # refused first; the right one later
        },
        extra_env={"SMARTMETER_INFLUX_BACKOFF_CAP": "1", "SMARTMETER_MQTT_BACKOFF_CAP": "1"},
        # The meter checks the credentials: a join with other ones is refused (EVENT 24).
        program_env={
            "simulator": {
                "SIMULATOR_BROUTE_ID": BROUTE_ID,
                "SIMULATOR_BROUTE_PASSWORD": BROUTE_PASSWORD,
            }
        },
    )
    r = Rig(stack, fake, broker)
    try:
        stack.start()
        stack.wait_all_running()
        wait_for(lambda: stack.check("radio:link").get("cause") == "joined", 60, "joined")
        yield r
    finally:
        stack.stop()
        fake.close()
        broker.stop()


def test_runtime_dir_and_supervisor_socket_are_not_for_other_users(rig):
    run = rig.stack.runtime_dir
    mode = stat.S_IMODE(run.stat().st_mode)
    assert mode & 0o027 == 0, f"runtime dir {oct(mode)}: others (or the group) may write/enter"
    sock = stat.S_IMODE((run / "supervisor.sock").stat().st_mode)
    assert sock & 0o077 == 0, f"supervisor.sock {oct(sock)}"
    ipc = [p for p in run.iterdir() if stat.S_ISSOCK(p.stat().st_mode)]
    assert {"readings.sock", "replay.sock", "status.sock"} <= {p.name for p in ipc}
    for p in ipc:
        assert stat.S_IMODE(p.stat().st_mode) & 0o002 == 0, f"{p.name} is world-writable"


def raw(stack: FaultStack, request: bytes, timeout: float = 3) -> bytes:
    """Send bytes as they are; the status line (and a little more) of the answer."""
    with socket.create_connection(("127.0.0.1", stack.health_port), timeout=timeout) as s:
        with contextlib.suppress(OSError):
            s.sendall(request)
        data = b""
        with contextlib.suppress(OSError):
            while len(data) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    return data


def status_of(answer: bytes) -> int:
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def test_health_server_is_read_only_and_refuses_abuse(rig):
    stack = rig.stack
    # Half a request, then silence: the server drops it after its idle timeout (10 s).
    slow = socket.create_connection(("127.0.0.1", stack.health_port))
    slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    opened = time.monotonic()
    # Every method but GET and HEAD is refused, known or not.
    for method in (b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE", b"CONNECT",
                   b"PROPFIND", b"BREW"):  # fmt: skip
        answer = raw(stack, method + b" /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                     b"Connection: close\r\n\r\n{}")  # fmt: skip
        assert status_of(answer) in (405, 501), (method, answer[:200])
    # Nothing outside the routes, whatever the path says.
    for path in (b"/../../etc/passwd", b"/%2e%2e/%2e%2e/etc/passwd", b"//etc/passwd",
                 b"/..%2f..%2fetc%2fpasswd", b"/health/../../../etc/passwd", b"/health%00",
                 b"/.env", b"/smartmeter.env", b"/metrics/../../../../etc/shadow",
                 b"http://127.0.0.1/../../etc/passwd", b"/\\..\\..\\etc\\passwd"):  # fmt: skip
        answer = raw(stack, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(answer) in (400, 404), (path, answer[:200])
        assert b"root:" not in answer and b"BROUTE" not in answer
    # The CSV downloads: only a day file of the CSV directory, whatever the path says.
    csv_dir, env_file = stack.csv_dir, stack.root / "smartmeter.env"
    wait_for(lambda: any(csv_dir.glob("*-smartmeter.csv")), 30, "a CSV file")
    real = sorted(csv_dir.glob("*-smartmeter.csv"))[0].name
    (csv_dir / "20200101-smartmeter.csv").symlink_to(env_file)  # a planted link to a secret
    (csv_dir / "20200102-smartmeter.csv.gz").symlink_to("/etc/passwd")
    answer = raw(stack, b"GET /download/" + real.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                 b"Connection: close\r\n\r\n")  # fmt: skip
    assert status_of(answer) == 200 and b"timestamp,unitid,epc,dataid,value" in answer
    for path in (b"/download/../smartmeter.env", b"/download/../../etc/passwd",
                 b"/download/%2e%2e/smartmeter.env", b"/download/..%2fsmartmeter.env",
                 b"/download/%2e%2e%2f%2e%2e%2fetc%2fpasswd", b"/download//etc/passwd",
                 b"/download/" + real.encode() + b"/../../smartmeter.env",
                 b"/download/..\\smartmeter.env", b"/download/20200101-smartmeter.csv",
                 b"/download/20200102-smartmeter.csv.gz", b"/download/.env",
                 b"/download/" + real.encode() + b"%00.env", b"/download/csv_rotator.state.json",
                 b"/api/energy/../../smartmeter.env", b"/download/\xff\xfe"):  # fmt: skip
        answer = raw(stack, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(answer) in (400, 404), (path, answer[:200])
        assert b"root:" not in answer and b"BROUTE" not in answer, path
        assert BROUTE_PASSWORD.encode() not in answer, path
    for planted in ("20200101-smartmeter.csv", "20200102-smartmeter.csv.gz"):
        (csv_dir / planted).unlink()  # the secret grep below walks the CSV directory
    # Oversized: a request line, a header, too many headers.
    long_line = raw(stack, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n")
    assert status_of(long_line) in (400, 414), long_line[:200]
    big_header = raw(stack, b"GET /health HTTP/1.1\r\nX: " + b"b" * 70000 + b"\r\n\r\n")
    assert status_of(big_header) in (400, 431), big_header[:200]
    many = b"".join(b"X-%d: y\r\n" % i for i in range(200))
    many_headers = raw(stack, b"GET /health HTTP/1.1\r\n" + many + b"\r\n")
    assert status_of(many_headers) in (400, 431), many_headers[:200]
    garbage = raw(stack, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100)
    assert status_of(garbage) in (0, 400), garbage[:200]  # TLS hello: refused or dropped
    # Idle connections do not starve others; the server still answers, and says little.
    idle = [socket.create_connection(("127.0.0.1", stack.health_port)) for _ in range(20)]
    try:
        t0 = time.monotonic()
        answer = raw(stack, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(answer) in (200, 503) and time.monotonic() - t0 < 3
    finally:
        for s in idle:
            s.close()
    head = raw(stack, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(head) == 200 and head.split(b"\r\n\r\n", 1)[1] == b""
    server = [h for h in head.split(b"\r\n") if h.lower().startswith(b"server:")]
    assert server and b"Python" not in server[0], server
    assert stack.info("health")["statename"] == "RUNNING"
    slow.settimeout(20)
    try:
        leftover = slow.recv(4096)
    except OSError:
        leftover = b""
    finally:
        slow.close()
    held = time.monotonic() - opened
    assert leftover in (b"",) or status_of(leftover) == 408, leftover[:200]
    assert held < 15, f"a silent client held its connection for {held:.0f} s"


def test_no_secret_anywhere_after_every_command_and_fault(rig):
    stack, control = rig.stack, rig.stack.control
    # Every command smartmeterctl has, read from its help.
    help_text = rig.ctl("--help")
    listing = help_text.split("Commands:", 1)[1].splitlines()
    names = [line.split()[0] for line in listing if line.startswith("  ") and line.strip()]
    assert {"status", "readings", "config", "restart", "logs", "supervise"} <= set(names)
    rig.ctl("--version")
    rig.ctl("status")
    rig.ctl("status", "--json")
    rig.ctl("readings", "--last", "50")
    rig.ctl("config", "check")
    rig.ctl("logs", "-n", "400")
    for name in ("radio", "csv_rotator", "influx_writer", "mqtt_publisher", "health",
                 "simulator", "restarter"):  # fmt: skip
        rig.ctl("logs", name, "-n", "400")
    for extra in set(names) - {"status", "readings", "config", "restart", "logs", "supervise"}:
        rig.ctl(extra, "--help")
        if extra == "backfill":
            rig.ctl("backfill", "--no-wait")
    wait_for(lambda: len(rig.fake.lines()) > 0, 60, "the server to take a write")

    # Faults, each until it is named.
    def cause() -> str:
        return str(stack.check("radio:link").get("cause"))

    for fault, named, then in (("auth-fail", "auth-failed", "peer-term"),
                               ("unplug", "dongle-missing", None),
                               ("hang", "dongle-not-responding", None)):  # fmt: skip
        control.fault(fault)
        if then:
            control.do(then)
        wait_for(lambda named=named: cause() == named, 30, named)
        rig.ctl("status")
        control.clear(fault)
        wait_for(lambda: cause() == "joined", 30, f"joined after {fault}")
    control.do("reauth")
    control.fault("garbage")
    time.sleep(1)
    control.clear("garbage")
    # MQTT: the wrong password refused and named, then the right one, the broker gone and
    # back, the publisher killed.
    wait_for(lambda: stack.check("mqtt:delivery").get("cause") == "mqtt-auth-failed", 60,
             "mqtt-auth-failed")  # fmt: skip
    rig.ctl("status")
    rig.http("/health")
    env = stack.root / "smartmeter.env"
    env.write_text(env.read_text().replace(MQTT_WRONG, MQTT_PASSWORD))
    rig.ctl("restart", "mqtt_publisher")
    wait_for(lambda: stack.check("mqtt:delivery").get("cause") == "ok", 60, "mqtt ok")
    rig.broker.stop()
    wait_for(lambda: stack.check("mqtt:delivery").get("cause") != "ok", 60, "mqtt down")
    rig.ctl("status")
    rig.broker.start()
    wait_for(lambda: stack.check("mqtt:delivery").get("cause") == "ok", 60, "mqtt ok again")
    for name in ("radio", "influx_writer", "mqtt_publisher", "health"):  # all: test_faults_kill
        pid = stack.kill(name, signal.SIGKILL)
        stack.wait_running(name, not_pid=pid, timeout=60)
    rig.ctl("restart", "influx_writer")
    # A password of the wrong length: config-error (the value must not be echoed either).
    env = stack.root / "smartmeter.env"
    good = env.read_text()
    env.write_text(good.replace(BROUTE_PASSWORD, BROUTE_PASSWORD + "Z"))
    rig.ctl("restart", "radio")
    wait_for(lambda: stack.check("radio:link").get("cause") == "config-error", 60, "config-error")
    rig.ctl("status")
    rig.ctl("config", "check")
    env.write_text(good)
    wait_for(lambda: cause() == "joined", 90, "joined again after the fix")
    rig.ctl("status")
    rig.ctl("logs", "-n", "2000")
    for path in ("/health", "/metrics", "/", "/nope"):
        rig.http(path)

    # The secrets were in use: the meter took the join, the server saw the token, the broker
    # took the MQTT login (and refused the wrong one).
    assert any(TOKEN in r.headers.get("authorization", "") for r in rig.fake.requests)
    assert f"u'{MQTT_USER}'" in rig.broker.log() and "not authorised" in rig.broker.log()
    assert "auth-failed" in stack.log("radio") and "joined" in stack.log("radio")
    processes = process_texts(stack)
    stack.stop()

    texts = rig.outputs + processes
    for path in sorted(stack.root.rglob("*")):
        # The .env file holds them by design; supervisord.conf is the test's own copy, which
        # hands the simulated meter the credentials it checks.
        if path.is_file() and path.name not in ("smartmeter.env", "supervisord.conf"):
            texts.append((str(path), path.read_bytes().decode("utf-8", "replace")))
    assert len(texts) > 40
    leaks = [
        (where, s[:4] + "…") for where, text in texts for s in SECRETS if s.lower() in text.lower()
    ]
    assert not leaks, f"secrets found in: {leaks}"


def process_texts(stack: FaultStack) -> list[tuple[str, str]]:
    """The command line of every process of the stack, and the environment of all but the
    simulated meter (which is given the credentials, to check the join)."""
    assert stack.proc is not None
    sim = stack.info("simulator")["pid"]
    sim_tree = {sim, *descendants(sim)}
    out = []
    for pid in [stack.proc.pid, *descendants(stack.proc.pid)]:
        proc = Path(f"/proc/{pid}")
        with contextlib.suppress(OSError):
            out.append(
                (f"pid {pid} cmdline", (proc / "cmdline").read_bytes().decode(errors="replace"))
            )
            if pid not in sim_tree:
                environ = (proc / "environ").read_bytes().decode(errors="replace")
                out.append((f"pid {pid} environ", environ))
    return out
