"""A pseudo-terminal that looks like the dongle's serial port, with a stable path to it.

``unplug`` behaves like pulling the USB stick: the pty is closed, so the host's open file
descriptor fails every read and write with EIO, and the link path disappears.  ``replug``
makes a new pty (a new /dev/pts/N, as a re-enumerated USB device gets) and points the same
link path at it.
"""

from __future__ import annotations

import logging
import os
import pty
import tty
from collections.abc import Callable
from pathlib import Path

from services.simulator.loop import Loop

log = logging.getLogger("simulator.pty")


class PtyLink:
    def __init__(self, link: Path, loop: Loop, on_input: Callable[[bytes], None]) -> None:
        self.link = link
        self.loop = loop
        self.on_input = on_input
        self.master = -1
        self.slave = -1
        self.slave_name = ""
        self._pending = bytearray()
        self.plug()

    @property
    def plugged(self) -> bool:
        return self.master >= 0

    def plug(self) -> None:
        if self.plugged:
            return
        self.master, self.slave = pty.openpty()
        # No echo, no CR/LF translation: bytes pass as on a UART.  The simulator keeps the
        # slave open itself so the master never sees EIO when the host closes and reopens.
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.slave_name = os.ttyname(self.slave)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link.with_name(self.link.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.slave_name)
        tmp.replace(self.link)  # atomic: a reader never sees a half-made link
        self.loop.add_reader(self.master, self._readable)
        log.info("link %s -> %s", self.link, self.slave_name)

    def unplug(self) -> None:
        if not self.plugged:
            return
        self.loop.remove_reader(self.master)
        self.loop.remove_writer(self.master)
        self._unlink()
        os.close(self.master)
        os.close(self.slave)
        self.master = self.slave = -1
        self._pending.clear()
        log.info("unplugged %s", self.link)

    def write(self, data: bytes) -> None:
        if not self.plugged:
            return
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        while self._pending:
            try:
                n = os.write(self.master, self._pending)
            except BlockingIOError:
                # The host is not reading; wait until the pty can take more.
                self.loop.add_writer(self.master, self._flush)
                return
            except OSError as exc:
                log.warning("pty write failed: %s", exc)
                self._pending.clear()
                return
            del self._pending[:n]
        self.loop.remove_writer(self.master)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("pty read failed: %s", exc)
            return
        if data:
            self.on_input(data)

    def _unlink(self) -> None:
        try:
            if self.link.is_symlink() and os.readlink(self.link) == self.slave_name:
                self.link.unlink()
        except OSError:
            pass

    def close(self) -> None:
        self.unplug()
