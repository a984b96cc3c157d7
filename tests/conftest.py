"""Settings every test process (and every service a test starts) inherits."""

from __future__ import annotations

import os

# Services send their status every 15 s on the appliance (common/status.py); the suite's
# stacks check counters and details through health, and every 5 s keeps those waits short.
os.environ.setdefault("SMARTMETER_STATUS_INTERVAL", "5")
