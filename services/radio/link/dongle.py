"""Bring a freshly opened dongle to the state its driver needs: echo, dialect, payload format,
RSSI token, credentials.

Every part of that state is set here, explicitly, each time the port is opened; nothing is
left to what the dongle kept.  Whether ``SKRESET`` puts the registers back, whether ``WOPT``
survives a power cycle: nothing public settles it, so no driver may depend on it (the
simulator plays both answers, docs/simulator.md).  What each driver needs is a
:class:`DongleState`.

``WOPT`` may write the module's flash, so it is written only when the payload format must
change (a driver that cannot read raw payloads) and then checked with ``ROPT``.  A dongle
that later prints raw payloads again has forgotten it (kept in RAM only: a power cycle) and is
written again, but never more than :data:`WOPT_WRITES_PER_DAY` times a day: the writes are
kept, per MAC address, in the data dir, recorded before each write.  The built-in transport
reads raw and hex payloads alike, so it never needs WOPT at all.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.config import Config
from services.radio.condition import RadioFault
from services.radio.link.dialect import DIALECTS, Dialect, detect
from services.radio.link.transport import CommandFailed, DongleTimeout, SkTransport
from services.radio.timing import Timing

log = logging.getLogger("radio.dongle")

WOPT_WRITES_PER_DAY = 24  # a dongle that forgets WOPT at every power cycle: storms happen
DAY = 86400.0


@dataclass(frozen=True)
class DongleState:
    """What a driver relies on once :func:`configure` returns."""

    hex_payloads: bool  # WOPT 01 where ROPT says raw; False: the payloads as they come
    rssi: bool  # dual-stack: SA2 1 (an RSSI token in every ERXUDP) or SA2 0 (none)
    echo: bool  # SFE at the end (it is 0 while configuring)


# Our transport: reads raw and hex alike, takes link quality from the RSSI token, no echo.
BUILTIN = DongleState(hex_payloads=False, rssi=True, echo=False)
# keilog 127d414: hex only; exactly ten ERXUDP tokens on DSS (no RSSI); it skips one echo
# line after SKLL64, so echo must be on.
KEILOG = DongleState(hex_payloads=True, rssi=False, echo=True)


@dataclass(frozen=True)
class DongleInfo:
    dialect: Dialect
    detected: bool
    mac: str
    version: str
    binary_payload: bool | None  # as ROPT reports it; None where ROPT does not exist


class WoptLedger:
    """When this radio wrote each dongle's payload format (``radio-dongle.json``).

    ``{"wopt_written": [mac, ...], "wopt_writes": {mac: [unix time, ...]}}``: the first list
    is every dongle ever written (the file's first form), the second the writes of the last
    day.
    """

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock

    def written(self, mac: str) -> bool:
        return mac in self._load()[0]

    def writes_today(self, mac: str) -> list[float]:
        now = self.clock()
        return [t for t in self._load()[1].get(mac, []) if now - DAY < t <= now]

    def record(self, mac: str) -> None:
        macs, writes = self._load()
        writes[mac] = [*self.writes_today(mac), self.clock()]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".radio-dongle.")
        with os.fdopen(fd, "w") as f:
            json.dump({"wopt_written": sorted(macs | {mac}), "wopt_writes": writes}, f)
        os.replace(tmp, self.path)

    def _load(self) -> tuple[set[str], dict[str, list[float]]]:
        try:
            data = json.loads(self.path.read_text())
            macs = {str(m) for m in data["wopt_written"]}
        except (OSError, ValueError, KeyError, TypeError):
            return set(), {}
        writes = data.get("wopt_writes")
        if not isinstance(writes, dict):
            return macs, {}
        return macs, {
            str(m): [float(t) for t in ts if isinstance(t, (int, float))]
            for m, ts in writes.items()
            if isinstance(ts, list)
        }


def configure(
    t: SkTransport, config: Config, timing: Timing, state: DongleState = BUILTIN
) -> DongleInfo:
    """Raises :class:`RadioFault` ``dongle-not-responding`` when the dongle stays silent or
    cannot be brought to ``state``."""
    # A stray partial command in the dongle's input (a radio killed mid-line) ends here.
    t.write(b"\r\n")
    time.sleep(min(0.1, timing.command))
    for attempt in (1, 2):
        try:
            t.command("SKSREG SFE 0", timing.command)
            break
        except (DongleTimeout, CommandFailed) as exc:
            if attempt == 2:
                raise RadioFault("dongle-not-responding", f"no answer to SKSREG: {exc}") from exc
    try:
        version = _answer(t.command("SKVER", timing.command), "EVER")
        einfo = _answer(t.command("SKINFO", timing.command), "EINFO").split()
        binary = _read_ropt(t, timing)
        model = config.dongle_model
        dialect = DIALECTS[model] if model != "auto" else detect(einfo, binary is not None)
        t.reader.dual_stack = dialect.dual_stack
        mac = einfo[1] if len(einfo) > 1 else "unknown"
        log.info(
            "dongle firmware %s, MAC %s: dialect %s%s, %s payloads",
            version or "?", mac, dialect.name,
            " (detected)" if model == "auto" else " (dongle.model)",
            {None: "hex", True: "raw", False: "hex"}[binary],
        )  # fmt: skip
        if state.hex_payloads and binary:
            binary = _write_hex(t, timing, WoptLedger(_ledger(config)), mac)
        rssi = dialect.rssi_command(state.rssi)
        if rssi:
            t.command(rssi, timing.command)
        pwd = config.broute_password.reveal()
        t.command(f"SKSETPWD {len(pwd):X} {pwd}", timing.command)
        t.command(f"SKSETRBID {config.broute_id.reveal()}", timing.command)
        if state.echo:
            t.command("SKSREG SFE 1", timing.command)
    except DongleTimeout as exc:
        raise RadioFault("dongle-not-responding", str(exc)) from exc
    except CommandFailed as exc:
        raise RadioFault(
            "dongle-not-responding",
            f"{exc} while setting it up; if dongle.model is set, try dongle.model: auto",
        ) from exc
    return DongleInfo(dialect, config.dongle_model == "auto", mac, version, binary)


def _answer(lines: list[str], prefix: str) -> str:
    for line in lines:
        if line.startswith(prefix + " "):
            return line[len(prefix) + 1 :].strip()
    return ""


def _read_ropt(t: SkTransport, timing: Timing) -> bool | None:
    """True: raw payloads (WOPT 00); False: hex; None: no ROPT on this dongle."""
    try:
        answer = t.product_command("ROPT", timing.command)
    except CommandFailed:
        return None  # FAIL ER04: RL7023 firmware has no product commands
    except DongleTimeout:
        log.info("no answer to ROPT; assuming a dongle without product commands")
        return None
    words = answer.split()
    return len(words) > 1 and words[1] in ("00", "0")


def _write_hex(t: SkTransport, timing: Timing, ledger: WoptLedger, mac: str) -> bool:
    """WOPT 01, checked; False (hex payloads now) or a :class:`RadioFault` saying why not."""
    recent = ledger.writes_today(mac)
    if len(recent) >= WOPT_WRITES_PER_DAY:
        raise RadioFault(
            "dongle-not-responding",
            f"dongle {mac} prints raw payloads again after {len(recent)} WOPT 01 writes in a "
            "day; not writing it again today (this driver reads hex only; "
            "dongle.driver: builtin reads both)",
        )
    if ledger.written(mac):
        log.warning(
            "dongle %s prints raw payloads again although WOPT 01 was written (it keeps the "
            "format only until power-off?); writing it again", mac,
        )  # fmt: skip
    else:
        log.info("switching dongle %s to hex payloads (WOPT 01)", mac)
    ledger.record(mac)  # before the write: a crash in between still counts it
    t.product_command("WOPT 01", timing.command)
    if _read_ropt(t, timing):
        raise RadioFault(
            "dongle-not-responding",
            f"dongle {mac} still prints raw payloads after WOPT 01 (this driver reads hex "
            "only; dongle.driver: builtin reads both)",
        )
    return False


def _ledger(config: Config) -> Path:
    return config.paths.data_dir / "radio-dongle.json"
