"""One radio per runtime dir: a second PUB bind on the same ipc path would silently take over.

The serial port itself is opened with ``exclusive=True`` (flock), which refuses a second
radio pointed at the same dongle from another runtime dir.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AlreadyRunning(Exception):
    pass


def take_lock(runtime_dir: Path) -> int:
    """Hold ``radio.lock`` for the life of the process (the fd is never closed)."""
    runtime_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(runtime_dir / "radio.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(f"another radio holds {runtime_dir / 'radio.lock'}") from None
    return fd
