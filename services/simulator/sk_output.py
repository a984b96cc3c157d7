"""Everything the dongle prints goes through here: lines, EVENTs, ERXUDPs, and their delays.

This is where the output-side faults act: nothing comes out of a hung or unplugged dongle,
and ``garbage`` puts a line of noise before each output.  Delayed output is tied to the
dongle's power epoch, so what was scheduled before an unplug never appears after a replug.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from services.simulator.dialects import DongleDialect
from services.simulator.faults import Faults
from services.simulator.loop import Timer
from services.simulator.pans import Pan, link_local

CRLF = b"\r\n"


class SkOutput:
    def __init__(
        self,
        dialect: DongleDialect,
        write: Callable[[bytes], None],
        call_later: Callable[[float, Callable[[], None]], Timer],
        faults: Faults,
        mac: str,
        seed: int = 1,
    ) -> None:
        self.dialect = dialect
        self._write = write
        self._call_later = call_later
        self.faults = faults
        self.mac = mac
        self.ip = link_local(mac)
        self.powered = True
        self.epoch = 0
        self.binary_payloads = dialect.factory_binary  # WOPT state: kept in flash
        self.rssi = False  # SKSREG SA2 1
        self._rng = random.Random(seed)

    def emit(self, data: bytes) -> None:
        if not self.powered or self.faults.active("hang"):
            return
        if self.faults.fire("garbage") is not None:
            noise = bytes(self._rng.choice([*range(1, 10), *range(14, 256)]) for _ in range(12))
            data = noise + CRLF + data
        self._write(data)

    def lines(self, *lines: str, end: bytes = CRLF) -> None:
        self.emit(b"".join(line.encode("ascii") + end for line in lines))

    def event_line(self, num: int, addr: str, param: str | None = None) -> str:
        return self.dialect.event(num, addr, param)

    def event(self, num: int, addr: str, param: str | None = None) -> None:
        self.lines(self.event_line(num, addr, param))

    def erxudp(self, pan: Pan, port: int, payload: bytes, secured: bool = True) -> None:
        head = self.dialect.erxudp_head(
            pan.ip, self.ip, port, pan.mac, secured, len(payload),
            rssi=pan.lqi if self.rssi else None,
        )  # fmt: skip
        # Binary (WOPT 00): DATALEN raw bytes, which may well contain CR LF, then CRLF.
        data = payload if self.binary_payloads else payload.hex().upper().encode()
        self.emit(head.encode() + b" " + data + CRLF)

    def later(self, delay: float, fn: Callable[[], None]) -> Timer:
        epoch = self.epoch

        def run() -> None:
            if self.epoch == epoch and self.powered:
                fn()

        return self._call_later(delay, run)

    def power(self, on: bool) -> None:
        self.epoch += 1
        self.powered = on
