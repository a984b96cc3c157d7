"""Dongle dialects: the differences between models in one table instead of ``if`` branches.

Single-stack firmware (Tessera RL7023 Stick-D/IPS, ROHM BP35A1) and dual-stack firmware
(RL7023 Stick-D/DSS, BP35C0/C2, Ratoc RS-WSUHA-P) differ in argument counts, in the SIDE token
of EVENT/ERXUDP lines, and in how ERXUDP payloads are printed (research notes §2, §4.2).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    dual_stack: bool
    binary_payload: bool = False  # ERXUDP data as raw bytes (WOPT 00) instead of hex text
    rssi: bool = False  # SKSREG SA2 1: an RSSI token in ERXUDP

    @property
    def erxudp_fields(self) -> tuple[str, ...]:
        """Tokens between SENDERLLA and DATALEN in an ERXUDP line."""
        if not self.dual_stack:
            return ("secured",)
        return ("rssi", "secured", "side") if self.rssi else ("secured", "side")

    def scan_command(self, duration: int) -> str:
        return f"SKSCAN 2 FFFFFFFF {duration}" + (" 0" if self.dual_stack else "")

    def sendto_header(self, ip: str, length: int, secured: int = 1) -> bytes:
        side = " 0" if self.dual_stack else ""
        return f"SKSENDTO 1 {ip} 0E1A {secured}{side} {length:04X} ".encode()


DIALECTS: dict[str, Dialect] = {
    "rl7023-ips": Dialect("rl7023-ips", dual_stack=False),
    "bp35a1": Dialect("bp35a1", dual_stack=False),
    "rl7023-dss": Dialect("rl7023-dss", dual_stack=True),
    "bp35c2": Dialect("bp35c2", dual_stack=True),
    "rs-wsuha-p": Dialect("rs-wsuha-p", dual_stack=True),
}


def detect(einfo_tokens: list[str]) -> Dialect:
    """From ``EINFO <ip> <mac> <ch> <panid> <addr16> [...]``: single-stack reports FFFE.

    The same rule momonga uses; ``dongle.model`` in settings.yml overrides it.
    """
    last = einfo_tokens[-1] if einfo_tokens else "FFFE"
    if last.upper() == "FFFE":
        return DIALECTS["rl7023-ips"]
    return DIALECTS["bp35c2"]
