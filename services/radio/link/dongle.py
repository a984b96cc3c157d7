"""Bring a freshly opened dongle to a known state: echo off, dialect, payload format, credentials.

``WOPT`` writes the module's flash, so it is written only when the payload format must change
(a driver that cannot read raw payloads) and at most once per dongle: the MAC addresses of
dongles already written are kept in the data dir.  The built-in transport reads raw and hex
payloads alike, so it never needs WOPT at all.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common.config import Config
from services.radio.condition import RadioFault
from services.radio.link.dialect import DIALECTS, Dialect, detect
from services.radio.link.transport import CommandFailed, DongleTimeout, SkTransport
from services.radio.timing import Timing

log = logging.getLogger("radio.dongle")


@dataclass(frozen=True)
class DongleInfo:
    dialect: Dialect
    detected: bool
    mac: str
    version: str
    binary_payload: bool | None  # as ROPT reports it; None where ROPT does not exist


class WoptLedger:
    """The dongles whose payload format this radio has written (``radio-dongle.json``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def written(self, mac: str) -> bool:
        return mac in self._load()

    def record(self, mac: str) -> None:
        macs = self._load() | {mac}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".radio-dongle.")
        with os.fdopen(fd, "w") as f:
            json.dump({"wopt_written": sorted(macs)}, f)
        os.replace(tmp, self.path)

    def _load(self) -> set[str]:
        try:
            return set(json.loads(self.path.read_text())["wopt_written"])
        except (OSError, ValueError, KeyError, TypeError):
            return set()


def configure(
    t: SkTransport, config: Config, timing: Timing, need_ascii: bool = False
) -> DongleInfo:
    """Raises :class:`RadioFault` ``dongle-not-responding`` when the dongle stays silent."""
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
        if need_ascii and binary:
            binary = _write_ascii_once(t, timing, WoptLedger(_ledger(config)), mac)
        if dialect.rssi_register:
            t.command(dialect.rssi_register, timing.command)
        pwd = config.broute_password.reveal()
        t.command(f"SKSETPWD {len(pwd):X} {pwd}", timing.command)
        t.command(f"SKSETRBID {config.broute_id.reveal()}", timing.command)
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


def _write_ascii_once(t: SkTransport, timing: Timing, ledger: WoptLedger, mac: str) -> bool:
    if ledger.written(mac):
        log.warning(
            "dongle %s still prints raw payloads although WOPT 01 was written once; "
            "not writing its flash again",
            mac,
        )
        return True
    log.info("switching dongle %s to hex payloads (WOPT 01, written once)", mac)
    ledger.record(mac)  # before the write: a crash in between must not make it twice
    t.product_command("WOPT 01", timing.command)
    return False


def _ledger(config: Config) -> Path:
    return config.paths.data_dir / "radio-dongle.json"
