"""The real radio against the real simulator, over a real pty, seen through the real bus.

:class:`RadioRig` starts ``python -m services.simulator`` (with a control socket and a served
log) and ``python -m services.radio`` (``SERIAL_PORT=simulator``, every wait shrunk by
``SMARTMETER_RADIO_TIME_SCALE``) in a temporary tree, and a thread that collects what a
subscriber would see: readings through ``CatchUpSubscriber`` and the radio's status messages
on the status socket (the one health binds).  :func:`check_against_served` is the judge:
every reading is a value the meter served, in order per property, none twice, none wrong.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import serial
import yaml
import zmq

from common.bus import CatchUpSubscriber, Cursor
from common.paths import Paths
from common.reading import Reading, format_value
from common.status import TOPIC_STATUS, status_endpoint
from services.simulator.control import SimulatorControl

PROJECT = Path(__file__).resolve().parents[2]
RBID = "00112233445566778899AABBCCDDEEFF"
PASSWORD = "0123456789AB"
TIME_SCALE = 0.05  # every radio wait × this: 20 s response timeout → 1 s
FAST = {"acquisition": {"interval_seconds": 0.3, "properties": ["E7", "E0", "E3"]}}


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Seen:
    """A reading as the subscriber got it, and when (monotonic)."""

    at: float
    reading: Reading


@dataclass
class Status:
    at: float
    body: dict[str, Any]

    @property
    def cause(self) -> str:
        return str(self.body.get("cause"))


@dataclass
class Collector:
    """A subscriber thread: readings in order, and every status message the radio sends."""

    paths: Paths
    readings: list[Seen] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Collector:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def _run(self, ready: threading.Event) -> None:
        ctx = zmq.Context.instance()
        status = ctx.socket(zmq.SUB)
        status.setsockopt(zmq.LINGER, 0)
        status.setsockopt(zmq.SUBSCRIBE, TOPIC_STATUS)
        status.bind(status_endpoint(self.paths))
        sub = CatchUpSubscriber(self.paths.readings_endpoint, self.paths.replay_endpoint, Cursor())
        ready.set()
        try:
            while not self._stop.is_set():
                got = sub.poll(50)
                now = time.monotonic()
                while status.poll(0):
                    _, body = status.recv_multipart()
                    with self.lock:
                        self.statuses.append(Status(now, json.loads(body)))
                if got:
                    with self.lock:
                        self.readings += [Seen(now, r) for r in got]
        finally:
            sub.close()
            status.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    # --- views ------------------------------------------------------------------------------
    def since(self, t: float) -> list[Reading]:
        """Readings the meter answered at or after monotonic time ``t`` (by their own stamp).

        Not by arrival: a reading answered just before ``t`` may reach the subscriber after it.
        """
        wall = time.time() - (time.monotonic() - t)
        with self.lock:
            return [s.reading for s in self.readings if _stamp(s.reading) >= wall or t <= 0]

    def first_after(self, t: float, source: str = "poll") -> float | None:
        """When (monotonic, on arrival) the first reading answered after ``t`` came."""
        wall = time.time() - (time.monotonic() - t)
        with self.lock:
            for s in self.readings:
                if _stamp(s.reading) >= wall and s.reading.source == source:
                    return s.at
        return None

    def causes(self, since: float = 0.0) -> list[str]:
        with self.lock:
            out: list[str] = []
            for s in self.statuses:
                if s.at >= since and (not out or out[-1] != s.cause):
                    out.append(s.cause)
            return out

    def last_status(self) -> dict[str, Any]:
        with self.lock:
            return self.statuses[-1].body if self.statuses else {}


def _stamp(reading: Reading) -> float:
    return datetime.fromisoformat(reading.ts).timestamp()


class RadioRig:
    def __init__(
        self,
        root: Path,
        dialect: str = "rl7023-ips",
        sim_args: tuple[str, ...] = (),
        settings: dict[str, Any] | None = None,
        time_scale: float = TIME_SCALE,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.dialect = dialect
        self.sim_args = sim_args
        self.settings = settings if settings is not None else FAST
        self.time_scale = time_scale
        self.extra_env = extra_env or {}
        root.mkdir(parents=True, exist_ok=True)
        self.paths = Paths(
            home=root,
            config_file=root / "settings.yml",
            env_file=root / "smartmeter.env",
            runtime_dir=root / "run",
            data_dir=root / "data",
            log_dir=root / "log",
        )
        self.control_path = root / "control.sock"
        self.served_log = root / "served.jsonl"
        self.radio_log = root / "radio.log"
        self.sim: subprocess.Popen[str] | None = None
        self.radio: subprocess.Popen[bytes] | None = None
        self.collector: Collector | None = None
        self.control = SimulatorControl(self.control_path)

    # --- processes ----------------------------------------------------------------------------
    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BROUTE_", "INFLUXDB_"))}
        env.update(
            SMARTMETER_HOME=str(self.root),
            SMARTMETER_CONFIG=str(self.paths.config_file),
            SMARTMETER_ENV_FILE=str(self.paths.env_file),
            SMARTMETER_RUNTIME_DIR=str(self.paths.runtime_dir),
            SMARTMETER_DATA_DIR=str(self.paths.data_dir),
            SMARTMETER_LOG_DIR=str(self.paths.log_dir),
            SERIAL_PORT="simulator",
            SMARTMETER_RADIO_TIME_SCALE=str(self.time_scale),
        )
        env.update(self.extra_env)
        return env

    def start(self, before_radio: Callable[[RadioRig], None] | None = None) -> RadioRig:
        self.start_simulator()
        if before_radio is not None:
            before_radio(self)
        self.collector = Collector(self.paths).start()
        self.start_radio()
        return self

    def leave_dongle_used(self) -> dict[str, Any]:
        """The dongle as another program (momonga, our built-in driver) leaves it: echo off,
        the RSSI token on, then SKRESET, which puts them back or keeps them as the
        simulator's ``--skreset-registers``/``--skreset-echo`` say."""
        from services.simulator.harness import DUAL_STACK, SkProbe

        probe = SkProbe(self.paths.simulator_link, dual_stack=self.dialect in DUAL_STACK)
        try:
            for line in ("SKSREG SFE 0", "SKSREG SA2 1", "SKRESET"):
                assert probe.command(line)[-1] == "OK", line
        finally:
            probe.close()
        return self.control.status()

    def start_simulator(self, *extra: str) -> None:
        cmd = [sys.executable, "-m", "services.simulator",
               "--link", str(self.paths.simulator_link), "--control", str(self.control_path),
               "--served-log", str(self.served_log), "--dialect", self.dialect,
               "--rbid", RBID, "--password", PASSWORD, *self.sim_args, *extra]  # fmt: skip
        err = (self.root / "simulator.log").open("a")
        self.sim = subprocess.Popen(cmd, cwd=PROJECT, stdout=subprocess.PIPE, stderr=err, text=True)
        assert self.sim.stdout is not None
        ready, _, _ = select.select([self.sim.stdout], [], [], 20)
        line = self.sim.stdout.readline() if ready else ""
        if not line.startswith("simulator ready:"):
            raise RuntimeError(f"simulator did not start: {line!r}")

    def write_config(self) -> None:
        self.paths.config_file.write_text(yaml.safe_dump({"logging": {"level": "DEBUG"},
                                                          **self.settings}))  # fmt: skip
        self.paths.env_file.write_text(f"BROUTE_ID={RBID}\nBROUTE_PASSWORD={PASSWORD}\n")
        self.paths.env_file.chmod(0o600)

    def start_radio(self) -> None:
        self.write_config()
        self.radio = subprocess.Popen(
            [sys.executable, "-m", "services.radio"],
            cwd=PROJECT,
            env=self.environ(),
            stdout=subprocess.DEVNULL,
            stderr=self.radio_log.open("ab"),
        )

    def stop_radio(self, timeout: float = 20) -> int | None:
        if self.radio is None or self.radio.poll() is not None:
            return self.radio.returncode if self.radio else None
        self.radio.send_signal(signal.SIGTERM)
        try:
            return self.radio.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.radio.kill()
            self.radio.wait()
            raise AssertionError(f"the radio did not stop within {timeout:g} s") from None

    def stop(self) -> None:
        try:
            self.stop_radio()
        finally:
            if self.collector is not None:
                self.collector.stop()
            if self.sim is not None and self.sim.poll() is None:
                self.sim.terminate()
                try:
                    self.sim.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.sim.kill()
                    self.sim.wait()
            if self.sim is not None and self.sim.stdout:
                self.sim.stdout.close()

    # --- observing ----------------------------------------------------------------------------
    @property
    def seen(self) -> Collector:
        assert self.collector is not None
        return self.collector

    def log(self) -> str:
        return self.radio_log.read_text(errors="replace") if self.radio_log.exists() else ""

    def served(self) -> list[dict[str, Any]]:
        if not self.served_log.exists():
            return []
        return [json.loads(line) for line in self.served_log.read_text().splitlines() if line]

    def wait_readings(self, count: int, since: float = 0.0, timeout: float = 20) -> float:
        """Wait for ``count`` poll readings after ``since``; the time the first came."""
        wait_for(
            lambda: sum(r.source == "poll" for r in self.seen.since(since)) >= count,
            timeout,
            f"{count} readings",
        )
        first = self.seen.first_after(since)
        assert first is not None
        return first

    def wait_cause(self, cause: str, timeout: float = 20, since: float = 0.0) -> None:
        wait_for(lambda: cause in self.seen.causes(since), timeout, f"cause {cause}")

    def counters(self) -> dict[str, int]:
        return dict(self.seen.last_status().get("counters", {}))


def served_values(served: list[dict[str, Any]]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(epc, dataid, value text, entry) of every value the meter served, in order."""
    out = []
    for entry in served:
        for dataid, value in (entry.get("decoded") or {}).items():
            if value is not None and not isinstance(value, dict):
                out.append((entry["epc"], dataid, format_value(float(value)), entry))
    return out


def served_history(served: list[dict[str, Any]]) -> dict[tuple[str, datetime], set[str]]:
    """(EA|EB, half-hour) or ("D0 forward"|"D0 reverse", minute) → values the meter's
    history (E2/E4, EC; EE for the minutes) gave for it."""
    out: dict[tuple[str, datetime], set[str]] = {}
    for entry in served:
        if entry["epc"] not in ("E2", "E4", "EC", "EE") or not entry.get("decoded"):
            continue
        for key, value in entry["decoded"].items():
            if value is None:
                continue
            when, _, direction = key.partition("/")
            reverse = entry["epc"] == "E4" or direction == "reverse"
            if entry["epc"] == "EE":
                slot = ("D0 reverse" if reverse else "D0 forward", datetime.fromisoformat(when))
            else:
                slot = ("EB" if reverse else "EA", datetime.fromisoformat(when))
            out.setdefault(slot, set()).add(format_value(float(value)))
    return out


def check_against_served(readings: list[Reading], served: list[dict[str, Any]],
                         slack: float = 5.0) -> None:  # fmt: skip
    """Every reading is a value the meter served, in order per property, each at most once.

    Poll readings carry the time of the answer (within ``slack`` of the meter serving it);
    EA/EB readings carry the meter's own time, and come from an INF/INFC or a Get, or (source
    ``backfill``) from the meter's 30-minute history (E2/E4/EC) for that half-hour.
    """
    seqs = [r.seq for r in readings]
    assert seqs == sorted(set(seqs)), "readings out of order or repeated"
    assert all(b - a == 1 for a, b in itertools.pairwise(seqs)), "a gap in seq"
    queues: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
    for epc, dataid, value, entry in served_values(served):
        queues.setdefault((epc, dataid), []).append((value, entry))
    history = served_history(served)
    for r in readings:
        if r.source == "backfill":  # read back from the meter's 30-minute (1-minute) history
            name = f"D0 {r.dataid}" if r.epc == "D0" else r.epc
            key = (name, datetime.fromisoformat(r.ts))
            assert format_value(r.value) in history.get(key, set()), f"{r} not in any history"
            continue
        queue = queues.get((r.epc, r.dataid), [])
        want = format_value(r.value)
        meter_time = r.epc in ("EA", "EB", "D0")
        at = datetime.fromisoformat(r.ts)

        def stale(entry: dict[str, Any], at: datetime = at, meter_time: bool = meter_time) -> bool:
            """Not this reading's origin: another half-hour, or served too long before it."""
            if meter_time:
                return datetime.fromisoformat(entry["value_time"]) != at
            return (at - datetime.fromisoformat(entry["time"])).total_seconds() > slack

        while queue and (queue[0][0] != want or stale(queue[0][1])):
            queue.pop(0)  # served, but not published (an answer that came too late)
        assert queue, f"reading {r} was never served (or was published twice)"
        _, entry = queue.pop(0)
        if meter_time:
            assert at == datetime.fromisoformat(entry["value_time"]), r
        else:
            gap = abs((at - datetime.fromisoformat(entry["time"])).total_seconds())
            assert gap < slack, f"{r} stamped {gap:.1f} s away from when it was served"
        if not meter_time:  # a half-hour both polled and announced is published once, either way
            expected_source = "poll" if entry.get("via") == "get" else "notify"
            assert r.source == expected_source, f"{r} should have source {expected_source}"
        else:
            assert r.source in ("poll", "notify"), r
    stamped = [(r.epc, r.dataid, r.ts) for r in readings if r.epc in ("EA", "EB", "D0")]
    assert len(stamped) == len(set(stamped)), "a half-hour (a minute) published twice"


class PtyDongle:
    """The dongle's end of a pseudo-terminal: a test says what the dongle prints.

    ``port()`` opens the other end with pyserial as the radio does.  ``reply(expect, answer)``
    writes ``answer`` once the host has written ``expect`` (a background thread), so answers
    come after their command, as on the wire.
    """

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.slave_name = os.ttyname(self._slave)
        self.heard = bytearray()  # not yet matched by a rule
        self.transcript = bytearray()  # everything the host wrote
        self._rules: list[tuple[bytes, bytes]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def port(self, **kwargs: Any) -> serial.Serial:
        return serial.Serial(self.slave_name, 115200, timeout=0.2, **kwargs)

    def say(self, data: bytes) -> None:
        os.write(self.master, data)

    def reply(self, expect: bytes, answer: bytes) -> None:
        with self._lock:
            self._rules.append((expect, answer))
            self._match()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(self.master, 4096)
            except OSError:
                return
            with self._lock:
                self.heard += data
                self.transcript += data
                self._match()

    def _match(self) -> None:
        while self._rules and self._rules[0][0] in self.heard:
            expect, answer = self._rules.pop(0)
            cut = self.heard.index(expect) + len(expect)
            del self.heard[:cut]
            os.write(self.master, answer)

    def unplug(self) -> None:
        """As a USB stick pulled out: the host's reads and writes fail with EIO."""
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master = self._slave = -1

    def close(self) -> None:
        if self.master >= 0:
            self.unplug()


class Wire:
    """A transport on one end of a pty and a scripted dongle on the other."""

    def __init__(
        self, dual_stack: bool = False, secrets: tuple[str, ...] = (), timeout: float = 1.0
    ) -> None:
        from services.radio.link.sk_reader import SkReader
        from services.radio.link.transport import SkTransport

        self.dongle = PtyDongle()
        self.port = self.dongle.port()
        self.t = SkTransport(self.port, SkReader(dual_stack), secrets, timeout)

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.port.close()
        self.dongle.close()
