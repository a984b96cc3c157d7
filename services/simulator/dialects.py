"""What differs between dongle models on the wire (research notes §2, §4.1, §4.2).

One table instead of ``if`` branches: argument counts, the SIDE token of EVENT/ERXUDP
lines, the RSSI token (dual-stack with ``SKSREG SA2 1``), the EINFO layout, whether the
product commands ROPT/WOPT exist and how ERXUDP payloads are printed when the dongle
leaves the factory.  Where the notes are unsure, ``with_options`` lets a test choose.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

SIDE_B_ROUTE = 0


@dataclass(frozen=True)
class DongleDialect:
    name: str
    dual_stack: bool  # C2 family: SIDE tokens, one more argument to SKSCAN/SKSENDTO
    version: str  # EVER answer
    app_version: str | None  # EAPPVER answer; None: SKAPPVER is FAIL ER04 (RL7023 DSS)
    has_wopt: bool  # ROPT/WOPT exist (CR-only product commands); else FAIL ER04
    factory_binary: bool  # WOPT 00 from the factory: raw ERXUDP payloads until WOPT 01
    rssi_format: str = "lqi"  # ERXUDP RSSI token: "lqi" (2 hex digits) or "dbm" (signed)

    # --- argument counts: FAIL ER05 on a mismatch --------------------------------------
    @property
    def scan_args(self) -> int:  # mode, channel mask, duration, [side]
        return 4 if self.dual_stack else 3

    @property
    def sendto_args(self) -> int:  # handle, ip, port, sec, [side], datalen
        return 6 if self.dual_stack else 5

    @property
    def join_args(self) -> int:  # ip (BP35C0 command set too: hsakoh SKJoinCommand)
        return 1

    # --- what the dongle prints --------------------------------------------------------
    def einfo(self, ip: str, mac: str, channel: int, pan_id: int) -> str:
        # Single-stack ends with ADDR16 FFFE; dual-stack ends with the side (0/1), which is
        # what momonga's detect_device and our radio's detect() tell the families apart by.
        last = f"{SIDE_B_ROUTE}" if self.dual_stack else "FFFE"
        return f"EINFO {ip} {mac} {channel:02X} {pan_id:04X} {last}"

    def event(self, num: int, addr: str, param: str | None = None) -> str:
        parts = ["EVENT", f"{num:02X}", addr]
        if self.dual_stack:
            parts.append(str(SIDE_B_ROUTE))
        if param is not None:
            parts.append(param)
        return " ".join(parts)

    def erxudp_head(
        self,
        sender: str,
        dest: str,
        port: int,
        sender_mac: str,
        secured: bool,
        length: int,
        *,
        rssi: int | None,
    ) -> str:
        """Everything of an ERXUDP line before its DATA, without the separating space."""
        parts = ["ERXUDP", sender, dest, f"{port:04X}", f"{port:04X}", sender_mac]
        if self.dual_stack and rssi is not None:
            parts.append(self._rssi_token(rssi))
        parts.append("1" if secured else "0")
        if self.dual_stack:
            parts.append(str(SIDE_B_ROUTE))
        parts.append(f"{length:04X}")
        return " ".join(parts)

    def _rssi_token(self, lqi: int) -> str:
        if self.rssi_format == "dbm":
            return str(round(0.275 * lqi - 104.27))
        return f"{lqi:02X}"

    def with_options(
        self, wopt: str | None = None, rssi_format: str | None = None
    ) -> DongleDialect:
        """``wopt``: "absent" (no ROPT/WOPT, hex ASCII), "ascii" or "binary" (factory)."""
        d = self
        if wopt == "absent":
            d = replace(d, has_wopt=False, factory_binary=False)
        elif wopt in ("ascii", "binary"):
            d = replace(d, has_wopt=True, factory_binary=wopt == "binary")
        if rssi_format:
            d = replace(d, rssi_format=rssi_format)
        return d


DIALECTS: dict[str, DongleDialect] = {
    # Tessera RL7023 Stick-D/IPS: single-stack firmware.  Whether it has ROPT/WOPT is not
    # in the notes; its DSS sibling has not, so neither has this one unless --wopt says so.
    "rl7023-ips": DongleDialect(
        "rl7023-ips", dual_stack=False, version="1.2.10", app_version="rev26e",
        has_wopt=False, factory_binary=False,
    ),
    # ROHM BP35A1: ROPT/WOPT exist (Smdn BP35Base reads ROPT); the factory setting is not in
    # the notes: ASCII here, --wopt binary for the other possibility.
    "bp35a1": DongleDialect(
        "bp35a1", dual_stack=False, version="1.2.10", app_version="rev26e",
        has_wopt=True, factory_binary=False,
    ),
    # Tessera RL7023 Stick-D/DSS: no ROPT/WOPT/SKAPPVER (FAIL ER04), always hex ASCII
    # (nbtk/momonga#4).
    "rl7023-dss": DongleDialect(
        "rl7023-dss", dual_stack=True, version="1.5.2", app_version=None,
        has_wopt=False, factory_binary=False,
    ),
    # ROHM BP35C2 and the Ratoc RS-WSUHA-P built on it: binary payloads until WOPT 01
    # (hsakoh/broute-mqtt#6: factory ROPT answers OK 00).
    "bp35c2": DongleDialect(
        "bp35c2", dual_stack=True, version="1.0.0", app_version="rev1.0.0",
        has_wopt=True, factory_binary=True,
    ),
    "rs-wsuha-p": DongleDialect(
        "rs-wsuha-p", dual_stack=True, version="1.0.0", app_version="rev1.0.0",
        has_wopt=True, factory_binary=True,
    ),
}  # fmt: skip
