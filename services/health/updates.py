"""What /health, the page and `smartmeterctl status` say about updates.

- ``update:last``: the last update of the logger (the updater's ``last-update.json`` in
  SMARTMETER_RELEASE_ROOT); a rollback is a warning for a week, then history.
- ``os:reboot``: Debian's unattended-upgrades installed something that needs a reboot
  (``/run/reboot-required``); the appliance reboots only in a window the user enabled.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROLLBACK_WARN_SECONDS = 7 * 86400
REBOOT_FLAG = Path("/run/reboot-required")


def _outcome() -> dict[str, Any] | None:
    root = os.environ.get("SMARTMETER_RELEASE_ROOT")
    if not root:
        return None  # a checkout, not an installed appliance
    try:
        data = json.loads((Path(root) / "last-update.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _age(stamp: str) -> float:
    try:
        return time.time() - datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except (TypeError, ValueError):
        return 0.0


def checks(check: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    last = _outcome()
    if last is not None:
        when = str(last.get("time", ""))
        if last.get("result") == "confirmed":
            c = check("pass", "confirmed", f"updated to {last.get('version')} at {when}",
                      last.get("version"), ctype="system")  # fmt: skip
        else:
            recent = _age(when) < ROLLBACK_WARN_SECONDS
            text = f"{last.get('reason') or 'update rolled back'} (at {when}; running " \
                   f"{last.get('running')})"  # fmt: skip
            c = check("warn" if recent else "pass", "rolled-back", text, last.get("version"),
                      ctype="system")  # fmt: skip
        out["update:last"] = [c]
    flag = Path(os.environ.get("SMARTMETER_REBOOT_FLAG") or REBOOT_FLAG)
    if flag.exists():
        pkgs = flag.with_name(flag.name + ".pkgs")
        names = pkgs.read_text().split() if pkgs.exists() else []
        what = f" ({', '.join(names[:5])})" if names else ""
        out["os:reboot"] = [check("warn", "reboot-pending",
                                  f"security updates wait for a reboot{what}; reboot when "
                                  "convenient, or enable a reboot window (docs/image.md)",
                                  True, ctype="system")]  # fmt: skip
    return out
