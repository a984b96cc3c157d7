"""Loaded by every Python process of a benchmarked stack (PYTHONPATH points here).

With SMARTMETER_BENCH_MODULES set to a directory, a process answers the signal SIGRTMIN+7 by
writing the names of the modules it has imported to ``<dir>/<pid>.modules``: what a service
imports lazily while running (not only at import time) is part of its memory floor.  A
handler and nothing else: no thread, no allocation until asked.
"""

import os
import signal
import sys

_DIR = os.environ.get("SMARTMETER_BENCH_MODULES")

if _DIR:

    def _dump(_signum, _frame):
        path = os.path.join(_DIR, f"{os.getpid()}.modules")
        with open(path + ".tmp", "w") as f:
            f.write("\n".join(sorted(sys.modules)))
        os.replace(path + ".tmp", path)

    signal.signal(signal.SIGRTMIN + 7, _dump)
