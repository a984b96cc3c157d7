"""The SKSTACK IP command set of a Wi-SUN dongle, as seen on its serial port.

Bytes from the host go in through :meth:`SkStackDongle.feed`; everything the dongle prints
goes out through the ``output`` callback, some of it later through ``schedule`` (scan
results, the PANA exchange, the meter's answers).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from services.simulator.dialects import DongleDialect
from services.simulator.meter import SimulatedMeter

log = logging.getLogger("simulator.dongle")

CRLF = b"\r\n"
ECHONET_PORT = 0x0E1A
PANA_PORT = 0x02CC


def link_local(mac: str) -> str:
    """FE80::/64 address of a 64-bit MAC (universal/local bit flipped), SKSTACK spelling."""
    iid = int(mac, 16) ^ (1 << 57)
    groups = [f"{(iid >> s) & 0xFFFF:04X}" for s in (48, 32, 16, 0)]
    return "FE80:0000:0000:0000:" + ":".join(groups)


@dataclass
class Pan:
    """One meter's network as the scan sees it."""

    mac: str = "001D129012345678"
    channel: int = 0x21
    pan_id: int = 0x8CF5
    lqi: int = 0xE1

    @property
    def ip(self) -> str:
        return link_local(self.mac)


@dataclass
class Timing:
    """Delays in seconds; defaults are fast (tests), --realistic uses the hardware's."""

    scan: float = 0.3
    join: float = 0.3
    answer: float = 0.05

    @classmethod
    def realistic(cls) -> Timing:
        return cls(scan=17.5, join=3.0, answer=0.8)


class SkStackDongle:
    def __init__(
        self,
        dialect: DongleDialect,
        meter: SimulatedMeter,
        output: Callable[[bytes], None],
        schedule: Callable[[float, Callable[[], None]], None],
        rbid: str | None = None,
        password: str | None = None,
        pan: Pan | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.dialect = dialect
        self.meter = meter
        self.out = output
        self.schedule = schedule
        self.expected_rbid = rbid
        self.expected_password = password
        self.pan = pan or Pan()
        self.timing = timing or Timing()
        self.mac = "001D129012ABCDEF"
        self.buffer = bytearray()
        # SKSENDTO's header has a fixed number of words per dialect; its last is DATALEN.
        words = dialect.sendto_args - 1
        self._sendto_header = re.compile(rb"SKSENDTO((?: [^ \r\n]+){%d}) ([0-9A-Fa-f]{4}) " % words)
        self.reset()

    def reset(self) -> None:
        self.registers: dict[str, str] = {"S02": "21", "S03": "FFFF", "SFE": "1", "SA2": "0"}
        self.rbid = ""
        self.password = ""
        self.session = False

    # --- input ------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self.buffer += data
        while self._take_one():
            pass

    def _take_one(self) -> bool:
        buf = self.buffer
        while buf[:1] in (b"\r", b"\n"):
            del buf[:1]
        if not buf:
            return False
        if buf.startswith(b"SKSENDTO"):
            m = self._sendto_header.match(buf)
            if m is None:
                if CRLF in buf:  # a SKSENDTO line without a data length: syntax error
                    line, _, rest = bytes(buf).partition(CRLF)
                    self.buffer = bytearray(rest)
                    self._echo(line)
                    self.out(b"FAIL ER06" + CRLF)
                    return True
                return False
            length = int(m.group(2), 16)
            end = m.end() + length
            if len(buf) < end:
                return False
            header, data = bytes(buf[: m.end()]), bytes(buf[m.end() : end])
            del buf[:end]
            if buf.startswith(CRLF):  # some clients end the data with CRLF: tolerated
                del buf[:2]
            self._echo(header)
            self._sendto([*header.decode("ascii", "replace").split()[1:-1], m.group(2).decode()],
                         data)  # fmt: skip
            return True
        idx = buf.find(b"\r")
        if idx < 0:
            return False
        line = bytes(buf[:idx])
        del buf[: idx + 1]
        if buf[:1] == b"\n":
            del buf[:1]
        self._echo(line)
        self._command(line.decode("ascii", "replace").split())
        return True

    def _echo(self, line: bytes) -> None:
        if self.registers.get("SFE", "1") == "1":
            self.out(line + CRLF)

    # --- commands ---------------------------------------------------------------------
    def _command(self, words: list[str]) -> None:
        if not words:
            return
        name, args = words[0].upper(), words[1:]
        handler = getattr(self, f"_cmd_{name.lower()}", None)
        if handler is None or not name.startswith("SK"):
            self.out(b"FAIL ER04" + CRLF)
            return
        handler(args)

    def _ok(self) -> None:
        self.out(b"OK" + CRLF)

    def _fail(self, code: str) -> None:
        self.out(f"FAIL {code}".encode() + CRLF)

    def _cmd_skreset(self, args: list[str]) -> None:
        self.reset()
        self._ok()

    def _cmd_skver(self, args: list[str]) -> None:
        self.out(f"EVER {self.dialect.version}".encode() + CRLF)
        self._ok()

    def _cmd_skinfo(self, args: list[str]) -> None:
        ch = self.registers["S02"]
        pan = self.registers["S03"]
        self.out(f"EINFO {link_local(self.mac)} {self.mac} {ch} {pan} FFFE".encode() + CRLF)
        self._ok()

    def _cmd_sksetrbid(self, args: list[str]) -> None:
        if len(args) != 1:
            return self._fail("ER05")
        self.rbid = args[0]
        self._ok()

    def _cmd_sksetpwd(self, args: list[str]) -> None:
        if len(args) != 2:
            return self._fail("ER05")
        try:
            length = int(args[0], 16)
        except ValueError:
            return self._fail("ER06")
        if length != len(args[1]) or not 1 <= length <= 32:
            return self._fail("ER06")
        self.password = args[1]
        self._ok()

    def _cmd_sksreg(self, args: list[str]) -> None:
        if not args or len(args) > 2:
            return self._fail("ER05")
        reg = args[0].upper()
        if not reg.startswith("S"):
            return self._fail("ER06")
        reg = "S" + reg[1:].rjust(2, "0")
        if len(args) == 1:
            self.out(f"ESREG {self.registers.get(reg, '0')}".encode() + CRLF)
        else:
            self.registers[reg] = args[1].upper()
        self._ok()

    def _cmd_skscan(self, args: list[str]) -> None:
        if len(args) != self.dialect.scan_args:
            return self._fail("ER05")
        mode = args[0]
        self._ok()
        self.schedule(self.timing.scan, lambda: self._scan_result(mode == "2"))

    def _scan_result(self, with_pair_id: bool) -> None:
        pan = self.pan
        me = link_local(self.mac)
        lines = [
            f"EVENT 20 {pan.ip}",
            "EPANDESC",
            f"  Channel:{pan.channel:02X}",
            "  Channel Page:09",
            f"  Pan ID:{pan.pan_id:04X}",
            f"  Addr:{pan.mac}",
            f"  LQI:{pan.lqi:02X}",
        ]
        if with_pair_id and self.expected_rbid:
            lines.append(f"  PairID:{self.expected_rbid[-8:]}")
        elif with_pair_id:
            lines.append(f"  PairID:{(self.rbid or '0' * 8)[-8:]}")
        lines.append(f"EVENT 22 {me}")
        self.out(b"".join(line.encode() + CRLF for line in lines))

    def _cmd_skll64(self, args: list[str]) -> None:
        if len(args) != 1:
            return self._fail("ER05")
        try:
            self.out(link_local(args[0]).encode() + CRLF)
        except ValueError:
            self._fail("ER06")

    def _cmd_skjoin(self, args: list[str]) -> None:
        if len(args) != 1:
            return self._fail("ER05")
        self._ok()
        self.schedule(self.timing.join, lambda: self._pana(args[0].upper()))

    def _cmd_skrejoin(self, args: list[str]) -> None:
        if not self.session:
            return self._fail("ER10")
        self._ok()
        self.schedule(self.timing.join, lambda: self._pana(self.pan.ip))

    def _pana(self, target: str) -> None:
        pan = self.pan
        reachable = (
            target == pan.ip
            and int(self.registers["S02"], 16) == pan.channel
            and int(self.registers["S03"], 16) == pan.pan_id
        )
        if not reachable:
            self._event(0x24, pan.ip if target == pan.ip else target)
            return
        self._event(0x21, pan.ip, "02")
        self._event(0x02, pan.ip)
        for _ in range(2):
            self._erxudp(PANA_PORT, os.urandom(88), secured=False)
        self._event(0x21, pan.ip, "00")
        good = (self.expected_rbid in (None, self.rbid)) and (
            self.expected_password in (None, self.password)
        )
        if good and self.rbid and self.password:
            self.session = True
            self._event(0x25, pan.ip)
            self.schedule(0.1, lambda: self._erxudp(ECHONET_PORT, self.meter.instance_list_inf()))
        else:
            self.session = False
            self._event(0x24, pan.ip)

    def _cmd_skterm(self, args: list[str]) -> None:
        if not self.session:
            return self._fail("ER10")
        self.session = False
        self._ok()
        self.schedule(0.05, lambda: self._event(0x27, self.pan.ip))

    def _sendto(self, args: list[str], data: bytes) -> None:
        if len(args) != self.dialect.sendto_args:
            return self._fail("ER05")
        target, port = args[1].upper(), args[2].upper()
        self._event(0x21, target, "00")
        self._ok()
        if not (self.session and target == self.pan.ip and port == f"{ECHONET_PORT:04X}"):
            return
        answer = self.meter.handle(data)
        if answer is not None:
            self.schedule(self.timing.answer, lambda: self._erxudp(ECHONET_PORT, answer))

    # --- output -----------------------------------------------------------------------
    def _event(self, num: int, addr: str, param: str | None = None) -> None:
        parts = ["EVENT", f"{num:02X}", addr]
        if self.dialect.dual_stack:
            parts.append("0")
        if param is not None:
            parts.append(param)
        self.out(" ".join(parts).encode() + CRLF)

    def _erxudp(self, port: int, payload: bytes, secured: bool = True) -> None:
        pan = self.pan
        parts = ["ERXUDP", pan.ip, link_local(self.mac), f"{port:04X}", f"{port:04X}", pan.mac,
                 "1" if secured else "0", f"{len(payload):04X}", payload.hex().upper()]  # fmt: skip
        self.out(" ".join(parts).encode() + CRLF)
