"""What differs between dongle models on the wire (research notes §2, §4.2)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DongleDialect:
    name: str
    dual_stack: bool  # C2 family: SIDE tokens, one more argument to SKSCAN/SKSENDTO
    version: str  # EVER answer

    @property
    def scan_args(self) -> int:
        return 4 if self.dual_stack else 3

    @property
    def sendto_args(self) -> int:  # handle, ip, port, sec, [side], len
        return 6 if self.dual_stack else 5


DIALECTS: dict[str, DongleDialect] = {
    "rl7023-ips": DongleDialect("rl7023-ips", dual_stack=False, version="1.2.10"),
}
