"""The PANA session with the meter: configure the dongle, scan for the meter, join.

Each failure becomes a :class:`SessionError` whose ``cause`` is one of the named causes the
health service shows (``auth-failed``, ``no-meter-found``, ...).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from common.config import Config
from services.radio.dialect import DIALECTS, Dialect, detect
from services.radio.transport import CommandFailed, Event, SkStackTransport, TransportError

log = logging.getLogger("radio.session")

EVENT_BEACON = 0x20
EVENT_SCAN_DONE = 0x22
EVENT_PANA_FAILED = 0x24
EVENT_PANA_OK = 0x25
SCAN_DURATIONS = (6, 7, 8)
JOIN_TIMEOUT = 60.0  # SKJOIN's worst case is about 38 s (momonga)


class SessionError(Exception):
    def __init__(self, cause: str, message: str) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True)
class PanDescriptor:
    channel: int
    pan_id: int
    mac: str
    lqi: int
    pair_id: str | None

    @classmethod
    def parse(cls, fields: dict[str, str]) -> PanDescriptor:
        return cls(
            channel=int(fields["Channel"], 16),
            pan_id=int(fields["Pan ID"], 16),
            mac=fields["Addr"],
            lqi=int(fields.get("LQI", "0"), 16),
            pair_id=fields.get("PairID"),
        )


def scan_time(duration: int) -> float:
    """Seconds an active scan over 28 channels takes for a duration exponent."""
    return 0.0096 * (2**duration + 1) * 28


class Session:
    def __init__(self, transport: SkStackTransport, config: Config) -> None:
        self.t = transport
        self.config = config
        self.meter_ip: str | None = None
        self.pan: PanDescriptor | None = None

    def configure(self) -> Dialect:
        """Echo off, identify the dongle, pick its dialect, load the credentials."""
        try:
            self.t.command("SKSREG SFE 0")
        except TransportError as exc:
            raise SessionError(
                "dongle-not-responding", f"the dongle did not answer: {exc}"
            ) from exc
        einfo = [ln for ln in self.t.command("SKINFO") if ln.startswith("EINFO")]
        model = self.config.dongle_model
        dialect = DIALECTS[model] if model != "auto" else detect(einfo[0].split() if einfo else [])
        self.t.dialect = dialect
        log.info("dongle dialect: %s%s", dialect.name, " (detected)" if model == "auto" else "")
        pwd = self.config.broute_password.reveal()
        self.t.command(f"SKSETPWD {len(pwd):X} {pwd}")
        self.t.command(f"SKSETRBID {self.config.broute_id.reveal()}")
        return dialect

    def scan(self) -> PanDescriptor:
        pair_id = self.config.broute_id.reveal()[-8:].upper()
        for duration in SCAN_DURATIONS:
            found = self._scan_once(duration)
            ours = [p for p in found if p.pair_id is None or p.pair_id.upper() == pair_id]
            if ours:
                best = max(ours, key=lambda p: p.lqi)
                log.info(
                    "found the meter: channel %02X, PAN %04X, LQI %d",
                    best.channel, best.pan_id, best.lqi,
                )  # fmt: skip
                return best
            log.info("scan with duration %d found %d PAN(s), none ours", duration, len(found))
        raise SessionError(
            "no-meter-found",
            "no smart meter answered the scan; move the dongle closer to the meter, or check "
            "that the B-route service is active for this BROUTE_ID",
        )

    def _scan_once(self, duration: int) -> list[PanDescriptor]:
        self.t.command(self.t.dialect.scan_command(duration))
        deadline = time.monotonic() + scan_time(duration) + 10
        found: list[PanDescriptor] = []
        fields: dict[str, str] | None = None
        while time.monotonic() < deadline:
            item = self.t.read_item(deadline - time.monotonic())
            if item is None:
                break
            if isinstance(item, Event):
                if fields:
                    found.append(self._descriptor(fields))
                    fields = None
                if item.code == EVENT_SCAN_DONE:
                    return found
                continue
            if isinstance(item, str):
                if item.startswith("EPANDESC"):
                    fields = {}
                elif fields is not None and ":" in item:
                    key, _, value = item.strip().partition(":")
                    fields[key] = value.strip()
            else:
                self.t.pending.append(item)
        raise SessionError("dongle-not-responding", "the scan did not finish in time")

    @staticmethod
    def _descriptor(fields: dict[str, str]) -> PanDescriptor:
        return PanDescriptor.parse(fields)

    def join(self, pan: PanDescriptor) -> str:
        self.t.command(f"SKSREG S2 {pan.channel:02X}")
        self.t.command(f"SKSREG S3 {pan.pan_id:04X}")
        lines = self.t.command(f"SKLL64 {pan.mac}", expect_ok=False)
        ip = lines[-1].strip()
        try:
            self.t.command(f"SKJOIN {ip}")
        except CommandFailed as exc:
            raise SessionError("meter-not-answering", f"SKJOIN refused: {exc}") from exc
        deadline = time.monotonic() + JOIN_TIMEOUT
        while time.monotonic() < deadline:
            item = self.t.next_pending(deadline - time.monotonic())
            if isinstance(item, Event):
                if item.code == EVENT_PANA_OK:
                    self.meter_ip, self.pan = ip, pan
                    log.info("joined the meter at %s", ip)
                    return ip
                if item.code == EVENT_PANA_FAILED:
                    raise SessionError(
                        "auth-failed",
                        "the meter refused the B-route ID or password (EVENT 24); check "
                        "BROUTE_ID and BROUTE_PASSWORD",
                    )
        raise SessionError("meter-not-answering", f"no PANA answer within {JOIN_TIMEOUT:g} s")

    def terminate(self) -> None:
        if self.meter_ip is None:
            return
        try:
            self.t.command("SKTERM")
        except TransportError as exc:
            log.info("SKTERM on shutdown: %s", exc)
        self.meter_ip = None
