"""The fault-injection suite's stack and judges (DESIGN.md "The promises", docs/reliability.md).

:class:`FaultStack` is tests/stack.py's supervised stack with what a fault test needs on top:
the simulator's command line extended (a control socket for switching faults, ``--time-scale``,
``--notify``), the radio's waits shrunk (``SMARTMETER_RADIO_TIME_SCALE``), InfluxDB pointed at
a VictoriaMetrics, and read access to the radio's journal.

The judges compare three records of the same readings:

- the simulator's **served log**: every value the meter sent (the ground truth);
- the radio's **journal**: every reading the radio numbered and published (what the
  subscribers must deliver exactly once; it outlives any process kill, not a power cut);
- the **CSV files** and **VictoriaMetrics**: what was delivered.

Test counts come in a short form (CI, ``scripts/test``) and a full form marked ``long``
(``scripts/test --long``), see :func:`counts`.
"""

from __future__ import annotations

import bisect
import configparser
import contextlib
import json
import os
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from common.reading import Reading, format_value
from services.csv_rotator.daily_csv import HEADER
from services.simulator.control import SimulatorControl
from tests.support.influx_fixtures import BUCKET, ORG, TOKEN, VictoriaMetrics
from tests.support.stack import PROJECT, Stack, wait_for

JST = timezone(timedelta(hours=9))
PROGRAMS = (
    "simulator", "radio", "csv_rotator", "influx_writer", "mqtt_publisher", "health", "restarter",
)  # fmt: skip


def counts(short: int | float, full: int | float) -> list[Any]:
    """Parameters for a test's count: the short form, and the full one marked ``long`` (which
    may take longer than the suite's 300 s per test)."""
    return [
        pytest.param(short, id="short"),
        pytest.param(full, id="full", marks=[pytest.mark.long, pytest.mark.timeout(3600)]),
    ]


class FaultStack(Stack):
    """The supervised stack with a controllable simulator (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        settings: dict | None = None,
        simulator_args: Iterable[str] = (),
        radio_time_scale: float | None = 0.05,
        data_dir: Path | None = None,
        csv_dir: Path | None = None,
        program_env: dict[str, dict[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(root, settings=dict(settings or {}), **kwargs)
        self.simulator_args = list(simulator_args)
        self._data_dir = data_dir or root / "data"
        self._csv_dir = csv_dir or root / "csv"
        self.program_env = program_env or {}  # program -> its own environment= in the conf
        if radio_time_scale is not None:
            self.extra_env.setdefault("SMARTMETER_RADIO_TIME_SCALE", str(radio_time_scale))

    # --- configuration ---------------------------------------------------------------------
    @property
    def control_path(self) -> Path:
        return self.runtime_dir / "sim-control.sock"

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def csv_dir(self) -> Path:
        return self._csv_dir

    def environ(self) -> dict[str, str]:
        return super().environ() | {"SMARTMETER_DATA_DIR": str(self.data_dir)}

    @property
    def journal_path(self) -> Path:
        return self.runtime_dir / "journal.sqlite"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "influx_queue.sqlite"

    @property
    def control(self) -> SimulatorControl:
        return SimulatorControl(self.control_path)

    def use_influx(self, vm: VictoriaMetrics, **influx: Any) -> FaultStack:
        self.settings.setdefault("influxdb", {}).update(
            {"enabled": True, "timeout_seconds": 2} | influx
        )
        self.env_values.update(
            INFLUXDB_URL=vm.url, INFLUXDB_TOKEN=TOKEN, INFLUXDB_ORG=ORG, INFLUXDB_BUCKET=BUCKET
        )
        return self

    def write_config(self) -> None:
        super().write_config()
        conf = configparser.RawConfigParser(interpolation=None)
        conf.optionxform = str  # type: ignore[assignment,method-assign]
        conf.read(PROJECT / "supervisord.conf")
        section = conf["program:simulator"]
        section["command"] = " ".join(
            [*section["command"].split(), "--control", str(self.control_path),
             *self.simulator_args]
        )  # fmt: skip
        for program, env in self.program_env.items():
            conf[f"program:{program}"]["environment"] = ",".join(
                f'{k}="{v}"' for k, v in env.items()
            )
        path = self.root / "supervisord.conf"
        with path.open("w") as f:
            conf.write(f)
        self.extra_env["SMARTMETER_SUPERVISORD_CONF"] = str(path)

    # --- processes -------------------------------------------------------------------------
    def pids(self) -> dict[str, int]:
        """{program: pid} of every running child of supervisord."""
        return {i["name"]: i["pid"] for i in self.rpc().getAllProcessInfo() if i["pid"]}

    def states(self) -> dict[str, str]:
        return {i["name"]: i["statename"] for i in self.rpc().getAllProcessInfo()}

    def wait_all_running(self, timeout: float = 60) -> None:
        def all_running() -> bool:
            try:
                return set(self.states().values()) == {"RUNNING"}
            except OSError:
                return False

        wait_for(all_running, timeout, "every program RUNNING")

    def supervisord_pid(self) -> int:
        return int(self.rpc().getPID())

    def rss_kb(self, name: str) -> int:
        pid = self.info(name)["pid"]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    # --- /health -----------------------------------------------------------------------------
    def check(self, key: str) -> dict[str, Any]:
        """One check of /health ({} while health does not answer or has no such check)."""
        try:
            return self.health()[1].get("checks", {}).get(key, [{}])[0]
        except (OSError, ValueError):
            return {}

    def verdict(self) -> str:
        try:
            return str(self.health()[1]["status"])
        except (OSError, ValueError, KeyError):
            return ""

    # --- records ------------------------------------------------------------------------------
    def journal(self) -> list[Reading]:
        return read_journal(self.journal_path)

    def journal_times(self) -> list[tuple[float, Reading]]:
        """(time.time() when journaled, reading) of every reading in the journal."""
        return read_journal_times(self.journal_path)

    def served_entries(self, epcs: set[str] | None = None) -> list[dict[str, Any]]:
        """The served log, skipping a line a killed simulator may have left half-written."""
        if not self.served_log.exists():
            return []
        out = []
        for line in self.served_log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if epcs is None or entry["epc"] in epcs:
                    out.append(entry)
        return out


def read_journal_times(path: Path, after_seq: int = 0) -> list[tuple[float, Reading]]:
    if not path.exists():
        return []
    for attempt in range(20):
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                rows = db.execute(
                    "SELECT at, body FROM readings WHERE seq > ? ORDER BY seq", (after_seq,)
                ).fetchall()
            finally:
                db.close()
            return [(at, Reading.decode(body.encode())) for at, body in rows]
        except sqlite3.OperationalError:
            if attempt == 19:
                raise
            time.sleep(0.1)
    return []


def read_journal(path: Path) -> list[Reading]:
    return [r for _, r in read_journal_times(path)]


# --- judges ---------------------------------------------------------------------------------
def csv_key(ts: str, epc: str, dataid: str, value: str) -> tuple[str, str, str, str]:
    return (ts, epc, dataid, value)


def reading_row(r: Reading) -> tuple[str, str, str, str]:
    """A reading as the CSV must show it (Japan time, whole seconds, shortest value)."""
    ts = r.time.astimezone(JST).isoformat(timespec="seconds")
    return csv_key(ts, r.epc, r.dataid, format_value(r.value))


def csv_rows(stack: Stack) -> Counter:
    return Counter(
        csv_key(row["timestamp"], row["epc"], row["dataid"], row["value"])
        for row in stack.csv_rows()
    )


def assert_clean_csv(stack: Stack) -> None:
    """Header once at the top, whole lines only, five fields each, in every file."""
    for f in stack.csv_files():
        text = f.read_text()
        assert text.startswith(HEADER) and text.count(HEADER) == 1, f"header in {f.name}"
        assert text.endswith("\n"), f"torn last line in {f.name}"
        bad = [line for line in text.splitlines() if line.count(",") != 4]
        assert not bad, f"malformed rows in {f.name}: {bad[:3]}"
        day = f.name.split("-")[0]
        stamp = f"{day[:4]}-{day[4:6]}-{day[6:]}T"
        wrong = [line for line in text.splitlines()[1:] if not line.startswith(stamp)]
        assert not wrong, f"{f.name} holds rows of another day: {wrong[:3]}"


def assert_csv_is(stack: Stack, readings: list[Reading]) -> None:
    """The CSV holds each reading exactly once: none missing, none twice, nothing else."""
    want = Counter(reading_row(r) for r in readings)
    got = csv_rows(stack)
    missing, extra = want - got, got - want
    assert not missing, (
        f"{sum(missing.values())} readings missing from the CSV: {list(missing)[:5]}"
    )
    assert not extra, f"{sum(extra.values())} CSV rows duplicated or unknown: {list(extra)[:5]}"


def db_points(vm: VictoriaMetrics, unitid: str) -> dict[tuple[str, str, int], float]:
    out = {}
    for series in vm.export(f'smartmeter_power_value{{unitid="{unitid}"}}'):
        m = series["metric"]
        for ts, value in zip(series["timestamps"], series["values"], strict=True):
            out[(m["epc"], m.get("dataid", ""), int(ts))] = float(value)
    return out


def reading_point(r: Reading) -> tuple[str, str, int]:
    return (r.epc, r.dataid, round(r.time.timestamp() * 1000))


def expected_points(readings: list[Reading]) -> dict[tuple[str, str, int], float]:
    """InfluxDB overwrites a point with the same series and time: the last value wins."""
    return {reading_point(r): r.value for r in readings}


def missing_from_db(vm: VictoriaMetrics, unitid: str, readings: list[Reading]) -> list[Any]:
    want = expected_points(readings)
    got = db_points(vm, unitid)
    return sorted(k for k in want if k not in got)


def assert_db_is(vm: VictoriaMetrics, unitid: str, readings: list[Reading]) -> None:
    want = expected_points(readings)
    got = db_points(vm, unitid)
    missing = sorted(k for k in want if k not in got)
    assert not missing, f"{len(missing)} readings missing from the database: {missing[:5]}"
    extra = sorted(k for k in got if k not in want)
    assert not extra, f"{len(extra)} points in the database that were never read: {extra[:5]}"
    wrong = sorted(k for k in want if got[k] != want[k])
    assert not wrong, f"{len(wrong)} points with another value: {wrong[:5]}"


def served_values(served: list[dict[str, Any]]) -> list[tuple[str, str, str, float]]:
    """(epc, dataid, value text, wall time served) of every plain value the meter sent."""
    out = []
    for entry in served:
        for dataid, value in (entry.get("decoded") or {}).items():
            if value is not None and not isinstance(value, dict):
                at = datetime.fromisoformat(entry["time"]).timestamp()
                out.append((entry["epc"], dataid, format_value(float(value)), at))
    return out


def unpublished(served: list[dict[str, Any]], readings: list[Reading],
                slack: float = 5.0) -> list[tuple[str, str, str, float]]:  # fmt: skip
    """Served values that no reading carries.

    Each poll reading is matched to one served value of its property with the same value,
    served at most ``slack`` seconds before the reading's stamp (when the answer came) and
    not after it (0.5 s for the two processes' clocks and rounding); the closest unused one
    wins.  A reading without one is an AssertionError: the journal holds nothing the meter
    did not say, and nothing twice.
    """
    entries: dict[tuple[str, str, str], list[float]] = {}
    for epc, dataid, value, at in served_values(served):
        entries.setdefault((epc, dataid, value), []).append(at)
    used: set[tuple[tuple[str, str, str], int]] = set()
    for r in readings:
        if r.source != "poll":
            continue
        key = (r.epc, r.dataid, format_value(r.value))
        times = entries.get(key, [])
        stamp = r.time.timestamp()
        lo, hi = bisect.bisect_left(times, stamp - slack), bisect.bisect_right(times, stamp + 0.5)
        free = [i for i in range(lo, hi) if (key, i) not in used]
        assert free, (
            f"reading {r} was never served, or was published twice; served "
            f"{[round(t - stamp, 2) for t in times if abs(t - stamp) < 30]} s around it"
        )
        best = min(free, key=lambda i: abs(times[i] - stamp))
        used.add((key, best))
    return sorted(
        ((*key, at) for key, times in entries.items()
         for i, at in enumerate(times) if (key, i) not in used),
        key=lambda s: s[-1],
    )  # fmt: skip


def freeze(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)


def kill_hard(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first found through /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out
