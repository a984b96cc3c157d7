"""The SKSTACK IP command set of a Wi-SUN dongle, as seen on its serial port.

Bytes from the host go in through :meth:`SkStackDongle.feed`; everything the dongle prints
goes out through :class:`SkOutput`.  Answers follow research notes §4.2 and the dialect
table: argument counts (FAIL ER05), CR-only ROPT/WOPT (FAIL ER04 where absent), echo while
register SFE is 1, SKSENDTO's raw data with or without a trailing CRLF.  What survives
``SKRESET`` and a power cycle is :class:`DongleMemory`'s to say (the unsettled part).
"""

from __future__ import annotations

import logging
import re

from services.simulator.dongle_memory import DongleMemory
from services.simulator.faults import Faults
from services.simulator.pana import ECHONET_PORT, Pana
from services.simulator.pans import RadioEnvironment, link_local
from services.simulator.sk_input import CommandLine, CommandReader, SendTo
from services.simulator.sk_output import CRLF, SkOutput

log = logging.getLogger("simulator.dongle")

MAX_DATALEN = 0x04D0
REGISTERS = {  # factory values of the registers a host may touch
    "S02": "21", "S03": "FFFF", "S07": "00000000", "S0A": "00000000", "S15": "1",
    "S16": "00015180", "S17": "1", "SA0": "1", "SA1": "1", "SA2": "0", "SF0": "0",
    "SFB": "0", "SFD": "00000000", "SFE": "1", "SFF": "0",
}  # fmt: skip
_HEX = re.compile(r"[0-9A-Fa-f]+")


class CommandError(Exception):
    def __init__(self, code: str) -> None:
        self.code = code


def _hex(text: str, digits: int | None = None) -> int:
    if not _HEX.fullmatch(text) or (digits is not None and len(text) != digits):
        raise CommandError("ER06")
    return int(text, 16)


class SkStackDongle:
    def __init__(
        self,
        out: SkOutput,
        pana: Pana,
        env: RadioEnvironment,
        faults: Faults,
        rbid: str | None = None,
        password: str | None = None,
        memory: DongleMemory | None = None,
    ) -> None:
        self.out = out
        self.memory = memory or DongleMemory()
        self.dialect = out.dialect
        self.pana = pana
        self.env = env
        self.faults = faults
        self.expected_rbid = rbid
        self.expected_password = password
        self.reader = CommandReader()
        self.scans = 0  # SKSCANs taken, over the simulator's life (a replug does not reset it)
        self.power_on()

    def power_on(self) -> None:
        """Power applied (start, or a replug): registers and echo from the factory."""
        self.registers = dict(REGISTERS)
        self._restart(wopt_lost=self.memory.wopt_memory == "ram")

    def soft_reset(self) -> None:
        """``SKRESET``: the registers and SFE as ``memory`` says; session and credentials go."""
        kept = dict(self.registers)
        self.registers = dict(REGISTERS)
        if self.memory.skreset_registers == "keep":
            self.registers.update({k: v for k, v in kept.items() if k != "SFE"})
        if self.memory.skreset_echo == "keep":
            self.registers["SFE"] = kept["SFE"]
        self._restart(wopt_lost=self.memory.wopt_memory == "ram")

    def _restart(self, wopt_lost: bool) -> None:
        self.rbid = ""
        self.password = ""
        self.pana.session = None
        if wopt_lost:
            self.out.binary_payloads = self.dialect.factory_binary
        self._sync_rssi()

    def _sync_rssi(self) -> None:
        # The RSSI token exists on dual-stack firmware only; single-stack takes SA2 and
        # ignores it (momonga sets it on every dongle).
        self.out.rssi = self.registers["SA2"] == "1" and self.dialect.dual_stack

    def credentials_ok(self) -> bool:
        return bool(self.rbid and self.password) and (
            self.expected_rbid in (None, self.rbid)
            and self.expected_password in (None, self.password)
        )

    # --- input ---------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if not self.out.powered or self.faults.active("hang"):
            return  # a hung dongle takes nothing in
        for cmd in self.reader.feed(data):
            try:
                if isinstance(cmd, SendTo):
                    self._echo(cmd.header)
                    self._sendto(cmd.args, cmd.data)
                else:
                    self._line(cmd)
            except CommandError as exc:
                self.out.lines(f"FAIL {exc.code}")

    def _echo(self, raw: bytes, end: bytes = CRLF) -> None:
        if self.registers["SFE"] == "1":
            self.out.emit(raw + end)

    def _line(self, cmd: CommandLine) -> None:
        words = cmd.text.split()
        if not words:
            return
        name, args = words[0].upper(), words[1:]
        if name in ("ROPT", "WOPT") and self.dialect.has_wopt:
            self._echo(cmd.raw, b"\r")
            return self._product(name, args)
        self._echo(cmd.raw)
        handler = getattr(self, f"_cmd_{name.lower()}", None) if name.startswith("SK") else None
        if handler is None:
            raise CommandError("ER04")
        handler(args)

    def _ok(self) -> None:
        self.out.lines("OK")

    def _argc(self, args: list[str], *counts: int) -> None:
        if len(args) not in counts:
            raise CommandError("ER05")

    # --- product commands (CR only) -------------------------------------------------
    def _product(self, name: str, args: list[str]) -> None:
        if name == "ROPT":
            return self.out.lines(f"OK {0 if self.out.binary_payloads else 1:02d}", end=b"\r")
        if len(args) != 1 or args[0] not in ("00", "01", "0", "1"):
            return self.out.lines("FAIL ER06", end=b"\r")
        self.out.binary_payloads = int(args[0]) == 0
        self.out.lines("OK", end=b"\r")

    # --- SK commands -----------------------------------------------------------------
    def _cmd_skreset(self, args: list[str]) -> None:
        self.soft_reset()
        self._ok()

    def _cmd_skver(self, args: list[str]) -> None:
        self.out.lines(f"EVER {self.dialect.version}", "OK")

    def _cmd_skappver(self, args: list[str]) -> None:
        if self.dialect.app_version is None:
            raise CommandError("ER04")
        self.out.lines(f"EAPPVER {self.dialect.app_version}", "OK")

    def _cmd_skinfo(self, args: list[str]) -> None:
        ch, pan = int(self.registers["S02"], 16), int(self.registers["S03"], 16)
        self.out.lines(self.dialect.einfo(self.out.ip, self.out.mac, ch, pan), "OK")

    def _cmd_sksetrbid(self, args: list[str]) -> None:
        self._argc(args, 1)
        if len(args[0]) != 32:
            raise CommandError("ER06")
        self.rbid = args[0]
        self._ok()

    def _cmd_sksetpwd(self, args: list[str]) -> None:
        self._argc(args, 2)
        if _hex(args[0]) != len(args[1]) or not 1 <= len(args[1]) <= 32:
            raise CommandError("ER06")
        self.password = args[1]
        self._ok()

    def _cmd_sksreg(self, args: list[str]) -> None:
        self._argc(args, 1, 2)
        reg = args[0].upper()
        if not reg.startswith("S"):
            raise CommandError("ER06")
        reg = "S" + reg[1:].rjust(2, "0")
        if reg not in self.registers:
            raise CommandError("ER06")
        if len(args) == 1:
            return self.out.lines(f"ESREG {self.registers[reg]}", "OK")
        value = args[1].upper()
        _hex(value)
        if reg == "S02" and not 0x21 <= int(value, 16) <= 0x3C:
            raise CommandError("ER06")
        if reg in ("SFE", "SA2") and value not in ("0", "1"):
            raise CommandError("ER06")
        self.registers[reg] = value
        self._sync_rssi()
        self._ok()

    def _cmd_skscan(self, args: list[str]) -> None:
        self._argc(args, self.dialect.scan_args)
        mode = _hex(args[0])
        _hex(args[1], 8)
        duration = _hex(args[2])
        if mode not in (0, 2, 3) or duration > 14:
            raise CommandError("ER06")
        if self.dialect.dual_stack and args[3] not in ("0", "1"):
            raise CommandError("ER06")
        self.scans += 1
        self._ok()
        self.out.later(self.pana.timing.scan_time(duration), lambda: self._scan_result(mode))

    def _scan_result(self, mode: int) -> None:
        me = self.out.ip
        if mode == 0:  # energy detect scan
            self.out.lines("EEDSCAN", " ".join(f"{ch:02X} 1A" for ch in range(0x21, 0x3D)))
            return self.out.event(0x1F, me)
        pans = [] if self.faults.active("no-pan") else self.env.scan(
            self.rbid, self.faults.active("extra-pans")
        )  # fmt: skip
        lines: list[str] = []
        late: list[str] = []
        for pan in pans:
            lines.append(self.out.event_line(0x20, pan.ip))
            desc = pan.epandesc(mode == 2, self.dialect.dual_stack)
            (late if self.faults.active("late-epandesc") else lines).extend(desc)
        lines.append(self.out.event_line(0x22, me))
        self.out.lines(*lines)
        if late:  # hsakoh keeps reading 500 ms after EVENT 22 for this reason
            self.out.later(0.2, lambda: self.out.lines(*late))

    def _cmd_skll64(self, args: list[str]) -> None:
        self._argc(args, 1)
        _hex(args[0], 16)
        self.out.lines(link_local(args[0]))  # one line, no OK

    def _cmd_skjoin(self, args: list[str]) -> None:
        self._argc(args, self.dialect.join_args)
        if ":" not in args[0]:
            raise CommandError("ER06")
        self._ok()
        ch, pan = int(self.registers["S02"], 16), int(self.registers["S03"], 16)
        self.pana.join(args[0].upper(), ch, pan)

    def _cmd_skrejoin(self, args: list[str]) -> None:
        if self.pana.session is None:
            raise CommandError("ER10")
        self._ok()
        self.pana.rejoin()

    def _cmd_skterm(self, args: list[str]) -> None:
        if self.pana.session is None:
            raise CommandError("ER10")
        self._ok()
        self.pana.terminate()

    def _cmd_sksendto(self, args: list[str]) -> None:
        # Only reached for a SKSENDTO that never had a valid header (no data followed).
        self._argc(args, self.dialect.sendto_args)
        raise CommandError("ER06")

    def _sendto(self, args: list[str], data: bytes) -> None:
        self._argc(args, self.dialect.sendto_args)
        handle, ip, port, sec = _hex(args[0]), args[1].upper(), _hex(args[2]), _hex(args[3])
        if not 1 <= handle <= 6 or port == 0 or sec > 2 or len(data) > MAX_DATALEN:
            raise CommandError("ER06")
        if self.dialect.dual_stack and args[4] not in ("0", "1"):
            raise CommandError("ER06")
        delivered = not (
            self.faults.active("tx-limit")
            or self.pana.reauthenticating
            or self.faults.fire("tx-fail") is not None
            or self.pana.reachable(ip) is None  # no MAC-layer ACK from a node not there
        )
        lines = []
        if delivered and self.faults.fire("ns-on-send") is not None:
            lines += [self.out.event_line(0x21, ip, "02"), self.out.event_line(0x02, ip)]
        if self.faults.fire("no-tx-event") is None:
            lines.append(self.out.event_line(0x21, ip, "00" if delivered else "01"))
        self.out.lines(*lines, "OK")
        if not delivered:
            return
        for answer in self.pana.to_meter(ip, port, sec != 0, data):
            self._answer(answer)

    def _answer(self, payload: bytes) -> None:
        if self.faults.fire("drop-responses") is not None:
            return
        delay = self.pana.timing.answer
        slow = self.faults.fire("slow")
        if slow is not None:
            delay += float(slow["seconds"])
        session = self.pana.session
        assert session is not None
        pan = session.pan
        self.out.later(delay, lambda: self.out.erxudp(pan, ECHONET_PORT, payload))
