"""Settings every test process (and every service a test starts) inherits."""

from __future__ import annotations

import os

# Services send their status every 15 s on the appliance (common/status.py); the suite's
# stacks check counters and details through health, and every 5 s keeps those waits short.
os.environ.setdefault("SMARTMETER_STATUS_INTERVAL", "5")


def pytest_report_collectionfinish(config, start_path, items):
    """Which keilog the keilog driver's tests ran against, whenever they are collected."""
    if any("test_radio_keilog" in item.nodeid for item in items):
        from tests.support.keilog_checkout import describe

        return describe()
    return None
