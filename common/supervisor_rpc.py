"""supervisord's XML-RPC API over its unix socket, with the standard library only."""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from pathlib import Path
from typing import Any


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__()
        self._path = path
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixConnection(self._path, self._timeout)


class SupervisorUnavailable(Exception):
    pass


def supervisor(socket_path: Path, timeout: float = 5.0) -> Any:
    """A proxy whose ``.supervisor.getAllProcessInfo()`` etc. talk to supervisord."""
    return xmlrpc.client.ServerProxy(
        "http://localhost/RPC2", transport=_UnixTransport(str(socket_path), timeout)
    )


def process_info(socket_path: Path) -> list[dict[str, Any]]:
    if not socket_path.exists():
        raise SupervisorUnavailable(f"supervisord is not running (no socket at {socket_path})")
    try:
        return supervisor(socket_path).supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Error) as exc:
        raise SupervisorUnavailable(f"supervisord does not answer at {socket_path}: {exc}") from exc
