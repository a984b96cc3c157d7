"""A wall clock that jumps on demand, for the processes of a test stack (test_faults_clock.py).

Python loads ``sitecustomize`` at start from ``sys.path``; the test puts this folder on
``PYTHONPATH`` and names a file in ``SMARTMETER_TEST_CLOCK``.  The file holds the clock's
setting: ``+S`` / ``-S`` (seconds off the real clock) or ``@S`` (set to POSIX time S, running
on from there), re-read when it changes.  ``time.time``, ``time.time_ns`` and
``datetime.datetime.now/utcnow/today`` follow it; ``time.monotonic`` does not, as when NTP or
a person steps the system clock.

Why not libfaketime (Debian ``faketime``): 0.9.10 breaks Python 3.11 here.  With
``FAKETIME_DONT_FAKE_MONOTONIC=1`` every ``time.sleep`` fails with EINVAL
(wolfcw/libfaketime#426); with the monotonic clock faked, ``threading.Event.wait`` hangs
(#142, #390).  Every service sleeps and waits on events.
"""

from __future__ import annotations

import datetime as _datetime
import os
import time as _time

_PATH = os.environ.get("SMARTMETER_TEST_CLOCK", "")

if _PATH:
    _real_time, _real_time_ns, _monotonic = _time.time, _time.time_ns, _time.monotonic
    _state = {"checked": -1.0, "stamp": None, "offset": 0.0}

    def _offset() -> float:
        now = _monotonic()
        if now - _state["checked"] >= 0.1:
            _state["checked"] = now
            try:
                stamp = os.stat(_PATH).st_mtime_ns
                if stamp != _state["stamp"]:
                    with open(_PATH) as f:
                        text = f.read().strip()
                    _state["stamp"] = stamp
                    if text.startswith("@"):
                        _state["offset"] = float(text[1:]) - _real_time()
                    else:
                        _state["offset"] = float(text or 0)
            except (OSError, ValueError):
                pass
        return float(_state["offset"])

    def _fake_time() -> float:
        return _real_time() + _offset()

    def _fake_time_ns() -> int:
        return _real_time_ns() + int(_offset() * 1e9)

    class _Datetime(_datetime.datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return cls.fromtimestamp(_fake_time(), tz)

        @classmethod
        def utcnow(cls):  # type: ignore[override]
            return cls.fromtimestamp(_fake_time(), _datetime.UTC).replace(tzinfo=None)

        @classmethod
        def today(cls):  # type: ignore[override]
            return cls.fromtimestamp(_fake_time())

    _time.time = _fake_time
    _time.time_ns = _fake_time_ns
    _datetime.datetime = _Datetime  # type: ignore[misc]
