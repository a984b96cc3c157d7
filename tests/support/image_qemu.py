"""Boot a copy of the built SD-card image in QEMU and talk to it over forwarded ports.

The copy gets a smartmeter.env on its FAT partition (mtools, no mounting), is padded to a
power-of-two size (QEMU's emulated SD card insists; first boot then grows the root file
system into the padding), and boots with the kernel, initrd and device tree taken from
that FAT partition. The guest reaches a small SNTP server on this machine's loopback
(QEMU user networking maps 10.0.2.2 to it), so its clock is NTP-synchronised as on a real
network, without any traffic leaving this machine.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# QEMU's usb-serial is an FTDI FT232 (0403:6001), one of the bridges the udev rule knows.
USB_DONGLE = {"driver": "usb-serial", "chardev": "dongle-line", "id": "dongle", "bus": "xhci.0"}
GUEST_HOST = "10.0.2.2"  # QEMU user networking: this machine's loopback, seen from the guest
PADDED_SIZE = 2 * 1024**3
NTP_EPOCH_OFFSET = 2208988800


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SntpServer:
    """Answers SNTP requests on 127.0.0.1:123 with this machine's time (stratum 2)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 123))
        self.sock.settimeout(0.5)
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def _ntp(t: float) -> bytes:
        seconds = int(t) + NTP_EPOCH_OFFSET
        return struct.pack("!II", seconds, int((t % 1) * 2**32))

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                request, peer = self.sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(request) < 48:
                continue
            now = time.time()
            header = struct.pack("!BBbbII4s", (0 << 6) | (4 << 3) | 4, 2, 6, -20, 0, 0, b"LOCL")
            reply = header + self._ntp(now) + request[40:48] + self._ntp(now) + self._ntp(now)
            self.sock.sendto(reply, peer)
            self.answered += 1

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(timeout=2)


def mtools(image: Path, offset: int, *argv: str) -> str:
    target = f"{image}@@{offset}"
    cmd = [argv[0], "-i", target, *argv[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def fat_put(image: Path, offset: int, name: str, text: str) -> None:
    src = image.parent / f".{name}.put"
    src.write_text(text)
    try:
        subprocess.run(["mcopy", "-o", "-i", f"{image}@@{offset}", str(src), f"::{name}"],
                       check=True)  # fmt: skip
    finally:
        src.unlink()


def fat_get(image: Path, offset: int, name: str, dest: Path) -> Path:
    subprocess.run(["mcopy", "-n", "-i", f"{image}@@{offset}", f"::{name}", str(dest)], check=True)
    return dest


def fat_names(image: Path, offset: int) -> list[str]:
    out = mtools(image, offset, "mdir", "-b", "::")
    return [line.rsplit("/", 1)[-1] for line in out.split()]


@dataclass
class Guest:
    """One QEMU process and what it says on its serial lines."""

    proc: subprocess.Popen[bytes]
    port: int
    serial_logs: list[Path]
    history: list[dict[str, Any]] = field(default_factory=list)
    qmp_socket: Path | None = None

    def qmp(self, command: str, **arguments: str) -> dict[str, Any]:
        """One QEMU machine-protocol command (device_del, device_add...); its answer."""
        assert self.qmp_socket is not None
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(self.qmp_socket))
            stream = s.makefile("rwb")

            def call(message: dict[str, Any]) -> dict[str, Any]:
                stream.write(json.dumps(message).encode() + b"\n")
                stream.flush()
                while True:
                    answer = json.loads(stream.readline())
                    if "return" in answer or "error" in answer:
                        return answer

            json.loads(stream.readline())  # the greeting
            call({"execute": "qmp_capabilities"})
            return call({"execute": command, "arguments": arguments})

    def http(self, path: str, timeout: float = 10) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def health(self) -> dict[str, Any] | None:
        try:
            _, body = self.http("/health")
            verdict = json.loads(body)
        except (OSError, ValueError):
            return None
        self.history.append(verdict)
        return verdict

    def serial(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.serial_logs if p.exists())

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def prepare(image: Path, work: Path, boot_offset: int, env_text: str) -> tuple[Path, Path]:
    """A padded copy with smartmeter.env on its FAT, and a folder with its boot files."""
    work.mkdir(parents=True, exist_ok=True)
    disk = work / "sdcard.img"
    subprocess.run(["cp", "--sparse=always", str(image), str(disk)], check=True)
    subprocess.run(["truncate", "-s", str(PADDED_SIZE), str(disk)], check=True)
    fat_put(disk, boot_offset, "smartmeter.env", env_text)
    boot = work / "boot"
    boot.mkdir(exist_ok=True)
    for name in fat_names(disk, boot_offset):
        if name.startswith(("vmlinuz-", "initrd.img-", "cmdline.txt", "bcm2837-rpi-3-b.dtb")):
            fat_get(disk, boot_offset, name, boot / name)
    return disk, boot


def _start(cmd: list[str], errors: Path) -> subprocess.Popen[bytes]:
    with errors.open("wb") as err:  # QEMU keeps its own copy of the descriptor
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err)  # fmt: skip


def boot_virt(disk: Path, boot: Path, work: Path, dongle: Path | None = None) -> Guest:
    """QEMU's generic arm64 machine: virtio disk and network (the quick boot).

    With ``dongle`` (a serial device on this machine, e.g. the simulator's pty), the guest
    gets QEMU's emulated FTDI USB-serial adapter (0403:6001) on an xHCI bus, connected to
    it, with the id "dongle" so that a test can unplug and replug it (``Guest.qmp``).
    """
    port = free_port()
    kernel = next(boot.glob("vmlinuz-*"))
    initrd = next(boot.glob("initrd.img-*"))
    serial = work / "serial-virt.log"
    cmd = [
        "qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "1024",
        "-nographic", "-monitor", "none", "-serial", f"file:{serial}",
        "-kernel", str(kernel), "-initrd", str(initrd),
        "-append", "root=LABEL=rootfs rw rootwait console=ttyAMA0 net.ifnames=0",
        "-drive", f"file={disk},if=virtio,format=raw",
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:8780",
        "-device", "virtio-net-pci,netdev=n0,romfile=",
    ]  # fmt: skip
    qmp = None
    if dongle is not None:
        qmp = work / "qmp.sock"
        cmd += [
            "-qmp", f"unix:{qmp},server=on,wait=off", "-device", "qemu-xhci,id=xhci",
            "-chardev", f"serial,id=dongle-line,path={dongle}",
            "-device", ",".join(f"{k}={v}" for k, v in USB_DONGLE.items()),
        ]  # fmt: skip
    return Guest(_start(cmd, work / "qemu-virt.err"), port, [serial], qmp_socket=qmp)


def boot_raspi3b(disk: Path, boot: Path, work: Path) -> Guest:
    """QEMU's Raspberry Pi 3B: the real SD-card layout, the Pi's device tree, USB network."""
    port = free_port()
    kernel = next(boot.glob("vmlinuz-*"))
    initrd = next(boot.glob("initrd.img-*"))
    cmdline = (boot / "cmdline.txt").read_text().strip()
    serials = [work / "serial-raspi-pl011.log", work / "serial-raspi-mini.log"]
    cmd = [
        "qemu-system-aarch64", "-M", "raspi3b", "-m", "1024", "-nographic", "-monitor", "none",
        "-serial", f"file:{serials[0]}", "-serial", f"file:{serials[1]}",
        "-kernel", str(kernel), "-initrd", str(initrd), "-dtb", str(boot / "bcm2837-rpi-3-b.dtb"),
        "-append", cmdline,
        "-drive", f"file={disk},if=sd,format=raw",
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:8780",
        "-device", "usb-net,netdev=n0",
    ]  # fmt: skip
    return Guest(_start(cmd, work / "qemu-raspi3b.err"), port, serials)
