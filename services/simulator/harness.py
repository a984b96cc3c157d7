"""Run the simulator as a subprocess for a test, and talk SKSTACK IP to it with a bare client.

:class:`RunningSimulator` starts ``python -m services.simulator`` on a fresh link path with a
control socket and a served log.  :class:`SkProbe` is a deliberately small SKSTACK client
(pyserial, no code from the radio service) that reads lines and ERXUDP payloads by DATALEN,
so binary payloads containing CR LF come out whole.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import serial

from common.echonet import EOJ_CONTROLLER, EOJ_SMART_METER, ESV, Frame, Property
from services.simulator.control import SimulatorControl

PROJECT = Path(__file__).resolve().parents[2]
RBID = "00112233445566778899AABBCCDDEEFF"
PASSWORD = "0123456789AB"
DUAL_STACK = {"rl7023-dss", "bp35c2", "rs-wsuha-p"}


class RunningSimulator:
    def __init__(self, tmp: Path, *args: str, dialect: str = "rl7023-ips") -> None:
        self.dir = tmp
        self.dialect = dialect
        self.link = tmp / "tty"
        self.control_path = tmp / "control.sock"
        self.served_log = tmp / "served.jsonl"
        self.stderr = tmp / "simulator.err"
        cmd = [sys.executable, "-m", "services.simulator", "--link", str(self.link),
               "--control", str(self.control_path), "--served-log", str(self.served_log),
               "--dialect", dialect, *args]  # fmt: skip
        tmp.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            cmd, cwd=PROJECT, stdout=subprocess.PIPE, stderr=self.stderr.open("w"), text=True
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if ready else ""  # type: ignore[union-attr]
        if not line.startswith("simulator ready:"):
            self.stop()
            raise RuntimeError(f"simulator did not start: {line!r} {self.stderr.read_text()}")
        self.control = SimulatorControl(self.control_path)

    @property
    def dual_stack(self) -> bool:
        return self.dialect in DUAL_STACK

    def served(self, epc: str | None = None) -> list[dict[str, Any]]:
        if not self.served_log.exists():
            return []
        entries = [json.loads(line) for line in self.served_log.read_text().splitlines()]
        return [e for e in entries if epc is None or e["epc"] == epc]

    def probe(self, **kwargs: Any) -> SkProbe:
        return SkProbe(self.link, dual_stack=self.dual_stack, **kwargs)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class ErxUdp:
    tokens: list[str]  # everything before DATA
    data: bytes

    @property
    def sender(self) -> str:
        return self.tokens[1]

    @property
    def port(self) -> int:
        return int(self.tokens[3], 16)


class SkProbe:
    def __init__(
        self, path: Path, dual_stack: bool, binary: bool = False, rssi: bool = False
    ) -> None:
        self.port = serial.Serial(str(path), 115200, timeout=0.1)
        self.dual_stack = dual_stack
        self.binary = binary  # the dongle prints raw ERXUDP payloads (WOPT 00)
        self.rssi = rssi  # SA2 1 on dual-stack: one more token
        self.buffer = bytearray()
        self.meter_ip = ""

    def close(self) -> None:
        self.port.close()

    # --- bytes and lines ---------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def _fill(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing more from the dongle; have {bytes(self.buffer)!r}")
        self.buffer += self.port.read(self.port.in_waiting or 1)

    def read_raw(self, size: int, timeout: float = 5) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buffer) < size:
            self._fill(deadline)
        out = bytes(self.buffer[:size])
        del self.buffer[:size]
        return out

    def read_until(self, end: bytes, timeout: float = 5) -> bytes:
        deadline = time.monotonic() + timeout
        while (i := self.buffer.find(end)) < 0:
            self._fill(deadline)
        out = bytes(self.buffer[: i + len(end)])
        del self.buffer[: i + len(end)]
        return out

    def read_item(self, timeout: float = 5) -> str | ErxUdp:
        """One line (without CRLF), or an ERXUDP with its payload read by DATALEN."""
        deadline = time.monotonic() + timeout
        while not self.buffer.startswith(b"ERXUDP ") and b"\r\n" not in self.buffer:
            if len(self.buffer) >= 7 and not b"ERXUDP ".startswith(bytes(self.buffer[:7])):
                break
            self._fill(deadline)
        if not self.buffer.startswith(b"ERXUDP "):
            return self.read_until(b"\r\n", deadline - time.monotonic())[:-2].decode("latin-1")
        count = 9 if not self.dual_stack else 11 if self.rssi else 10
        while self.buffer.count(b" ") < count - 1:
            self._fill(deadline)
        head = bytes(self.buffer).split(b" ", count - 1)
        tokens = [t.decode() for t in head[:-1]]
        del self.buffer[: sum(len(t) + 1 for t in head[:-1])]
        length = int(tokens[-1], 16)
        raw = self.read_raw(length if self.binary else 2 * length, deadline - time.monotonic())
        if self.read_raw(2, deadline - time.monotonic()) != b"\r\n":
            raise AssertionError(f"ERXUDP data not followed by CRLF: {tokens} {raw!r}")
        return ErxUdp(tokens, raw if self.binary else bytes.fromhex(raw.decode()))

    def lines_until(self, *prefixes: str, timeout: float = 5) -> list[str | ErxUdp]:
        """Items up to and including a line starting with one of ``prefixes`` (or FAIL)."""
        items: list[str | ErxUdp] = []
        deadline = time.monotonic() + timeout
        while True:
            item = self.read_item(deadline - time.monotonic())
            items.append(item)
            if isinstance(item, str) and item.startswith((*prefixes, "FAIL")):
                return items

    def command(self, line: str, until: str = "OK", timeout: float = 5) -> list[str | ErxUdp]:
        self.write(line.encode() + b"\r\n")
        return self.lines_until(until, timeout=timeout)

    def drain(self, seconds: float = 0.3) -> list[str | ErxUdp]:
        items: list[str | ErxUdp] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                items.append(self.read_item(max(0.0, deadline - time.monotonic())))
            except TimeoutError:
                break
        return items

    # --- a whole session ---------------------------------------------------------------
    def scan_command(self, duration: int = 6) -> str:
        return f"SKSCAN 2 FFFFFFFF {duration}" + (" 0" if self.dual_stack else "")

    def scan(self) -> dict[str, str]:
        """The first PAN one active scan finds."""
        found = epandescs(self.command(self.scan_command(), until="EVENT 22"))
        if not found:
            raise AssertionError("the scan found no PAN")
        return found[0]

    def join(self, rbid: str = RBID, password: str = PASSWORD) -> list[str | ErxUdp]:
        """Echo off, credentials, scan, join: the items up to EVENT 25 (or 24)."""
        self.command("SKSREG SFE 0")
        self.command(f"SKSETPWD {len(password):X} {password}")
        self.command(f"SKSETRBID {rbid}")
        pan = self.scan()
        self.command(f"SKSREG S2 {pan['Channel']}")
        self.command(f"SKSREG S3 {pan['Pan ID']}")
        self.meter_ip = str(self.command(f"SKLL64 {pan['Addr']}", until="FE80")[-1])
        self.write(f"SKJOIN {self.meter_ip}\r\n".encode())
        return self.lines_until("EVENT 25", "EVENT 24", timeout=10)

    def sendto(self, data: bytes, trailing_crlf: bool = False, sec: int = 1) -> None:
        side = " 0" if self.dual_stack else ""
        head = f"SKSENDTO 1 {self.meter_ip} 0E1A {sec}{side} {len(data):04X} ".encode()
        self.write(head + data + (b"\r\n" if trailing_crlf else b""))

    def request(self, esv: int, props: list[Property], tid: int = 1) -> Frame:
        """Send one ECHONET Lite frame to the meter and return its answer with the same TID."""
        frame = Frame(tid, EOJ_CONTROLLER, EOJ_SMART_METER, esv, tuple(props))
        self.sendto(frame.encode())
        return self.answer(tid)

    def answer(self, tid: int, timeout: float = 5) -> Frame:
        deadline = time.monotonic() + timeout
        while True:
            item = self.read_item(deadline - time.monotonic())
            if isinstance(item, ErxUdp) and item.port == 0x0E1A:
                frame = Frame.decode(item.data)
                if frame.tid == tid and frame.seoj == EOJ_SMART_METER:
                    return frame

    def get(self, *epcs: int, tid: int = 1) -> Frame:
        return self.request(ESV.GET, [Property(e) for e in epcs], tid)


def epandescs(items: list[str | ErxUdp]) -> list[dict[str, str]]:
    """The EPANDESC blocks among scan output, each as {"Channel": "21", ...}."""
    out: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for item in items:
        if not isinstance(item, str):
            continue
        if item == "EPANDESC":
            current = {}
            out.append(current)
        elif item.startswith("  ") and current is not None:
            key, _, value = item.strip().partition(":")
            current[key] = value
        else:
            current = None
    return out
