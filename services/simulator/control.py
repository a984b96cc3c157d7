"""The control socket: a test in another process switches faults while the simulator runs.

Protocol: a unix stream socket (``--control PATH``); each request is one JSON object on one
line, each answer one JSON line (``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``):

    {"fault": "drop-responses", "on": true}          switch a fault (parameters alongside)
    {"fault": "slow", "seconds": 5, "count": 2}      "on" defaults to true
    {"do": "reauth", "result": "fail"}               a one-shot action
    {"set": {"notify": "infc"}}                      change a setting
    {"set": {"skreset_registers": "keep"}}           … or what SKRESET/power leave (dongle_memory)
    {"get": "status"}                                faults, session, meter time, INFC records

:class:`SimulatorControl` is the client a test imports.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.simulator.loop import Loop

log = logging.getLogger("simulator.control")


class ControlServer:
    def __init__(self, path: Path, loop: Loop, handle: Callable[[dict[str, Any]], dict]) -> None:
        self.path = path
        self.loop = loop
        self.handle = handle
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self._clients: dict[int, tuple[socket.socket, bytearray]] = {}
        loop.add_reader(self.sock.fileno(), self._accept)

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        fd = conn.fileno()
        self._clients[fd] = (conn, bytearray())
        self.loop.add_reader(fd, lambda: self._readable(fd))

    def _readable(self, fd: int) -> None:
        conn, buf = self._clients[fd]
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(fd)
            return
        buf += data
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            if line.strip():
                self._reply(conn, self._answer(line))

    def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
            answer = self.handle(request)
            return {"ok": True, **answer}
        except Exception as exc:  # the test sees why, the simulator keeps running
            log.info("control request %r refused: %s", line[:200], exc)
            return {"ok": False, "error": str(exc)}

    @staticmethod
    def _reply(conn: socket.socket, answer: dict[str, Any]) -> None:
        data = (json.dumps(answer) + "\n").encode()
        conn.setblocking(True)  # answers are small; the client is waiting for this one
        try:
            conn.sendall(data)
        except OSError:
            pass
        finally:
            conn.setblocking(False)

    def _drop(self, fd: int) -> None:
        conn, _ = self._clients.pop(fd)
        self.loop.remove_reader(fd)
        conn.close()

    def close(self) -> None:
        for fd in list(self._clients):
            self._drop(fd)
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self.path.unlink(missing_ok=True)


class ControlError(RuntimeError):
    pass


class SimulatorControl:
    """Client: ``SimulatorControl(path).fault("drop-responses")``."""

    def __init__(self, path: str | os.PathLike[str], timeout: float = 10.0) -> None:
        self.path = str(path)
        self.timeout = timeout

    def request(self, **request: Any) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:  # the simulator may still be starting
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(self.timeout)
                    s.connect(self.path)
                    s.sendall((json.dumps(request) + "\n").encode())
                    data = b""
                    while not data.endswith(b"\n"):
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        answer = json.loads(data)
        if not answer.get("ok"):
            raise ControlError(answer.get("error", "refused"))
        return answer

    def fault(self, name: str, on: bool = True, **params: Any) -> dict[str, Any]:
        return self.request(fault=name, on=on, **params)

    def clear(self, name: str) -> dict[str, Any]:
        return self.fault(name, on=False)

    def do(self, action: str, **params: Any) -> dict[str, Any]:
        return self.request(do=action, **params)

    def set(self, **settings: Any) -> dict[str, Any]:
        return self.request(set=settings)

    def status(self) -> dict[str, Any]:
        return self.request(get="status")["status"]
