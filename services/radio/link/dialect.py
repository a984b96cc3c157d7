"""Dongle dialects: the differences between models in one table instead of ``if`` branches.

Single-stack firmware (Tessera RL7023 Stick-D/IPS, ROHM BP35A1) and dual-stack firmware
(RL7023 Stick-D/DSS, BP35C0/C2, Ratoc RS-WSUHA-P) differ in argument counts, in the SIDE token
of EVENT/ERXUDP lines, and in whether the product commands ROPT/WOPT exist (research notes
§2, §4.2).  What the wire shows decides: ``SKINFO``'s last token is ``FFFE`` on single-stack
firmware (momonga's rule), and ``ROPT`` answers only where WOPT exists.  RS-WSUHA-P is a
BP35C2 inside; the wire cannot tell them apart and nothing needs to.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    dual_stack: bool
    has_ropt: bool  # ROPT/WOPT exist (CR-only product commands)

    def scan_command(self, duration: int) -> str:
        return f"SKSCAN 2 FFFFFFFF {duration}" + (" 0" if self.dual_stack else "")

    def sendto_header(self, ip: str, length: int, secured: int = 1) -> bytes:
        side = " 0" if self.dual_stack else ""
        return f"SKSENDTO 1 {ip} 0E1A {secured}{side} {length:04X} ".encode()

    def rssi_command(self, on: bool) -> str | None:
        """``SKSREG SA2 1`` adds an RSSI token to ERXUDP (``0`` takes it away), on dual-stack
        firmware only: single-stack firmware prints none either way."""
        return f"SKSREG SA2 {int(on)}" if self.dual_stack else None


DIALECTS: dict[str, Dialect] = {
    "rl7023-ips": Dialect("rl7023-ips", dual_stack=False, has_ropt=False),
    "bp35a1": Dialect("bp35a1", dual_stack=False, has_ropt=True),
    "rl7023-dss": Dialect("rl7023-dss", dual_stack=True, has_ropt=False),
    "bp35c2": Dialect("bp35c2", dual_stack=True, has_ropt=True),
    "rs-wsuha-p": Dialect("rs-wsuha-p", dual_stack=True, has_ropt=True),
}


def detect(einfo_tokens: list[str], has_ropt: bool) -> Dialect:
    """From ``EINFO <ip> <mac> <ch> <panid> <last>`` and whether ``ROPT`` answered."""
    last = einfo_tokens[-1] if einfo_tokens else "FFFE"
    dual = last.upper() != "FFFE"
    for dialect in DIALECTS.values():
        if (dialect.dual_stack, dialect.has_ropt) == (dual, has_ropt):
            return dialect
    raise AssertionError("the table covers every combination")
