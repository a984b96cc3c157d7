"""The container's entry point: the user's settings, with the health endpoint where Docker
publishes it, then the command (``smartmeterctl supervise``).

compose.yaml mounts the checkout's ``config/`` at ``$SMARTMETER_HOME/config``, so the user
edits ``config/settings.yml`` as on a PC.  Inside a container the health endpoint must listen
on every interface (``0.0.0.0``) at the port the image publishes, whatever ``health:`` the
file has (its default, ``127.0.0.1``, would be unreachable through the published port).  So
the file the services read (``$SMARTMETER_CONFIG``, on the tmpfs) is the user's file with
``health.bind`` and ``health.port`` set; every other key, and every mistake, is the user's,
and ``smartmeterctl config check`` reports it as usual.  The host side of the port is chosen
in compose.yaml (``ports:``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml

BIND = "0.0.0.0"
PORT = 8780  # Dockerfile EXPOSE and HEALTHCHECK, compose.yaml ports and healthcheck


def container_settings(text: str) -> str:
    """``text`` (settings.yml) with the container's health endpoint.

    Text that is not a YAML mapping is returned as it is: the services then name the mistake
    (with its line) exactly as they would for the user's own file.
    """
    try:
        data: Any = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError:
        return text
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return text
    health = data.get("health")
    data["health"] = {**(health if isinstance(health, dict) else {}), "bind": BIND, "port": PORT}
    header = (
        "# Written at container start from config/settings.yml (edit that file, then\n"
        "# `docker compose restart`): the same settings, with the health endpoint on\n"
        f"# {BIND}:{PORT} where the image publishes it.\n"
    )
    return header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def main(argv: list[str]) -> None:
    home = Path(os.environ.get("SMARTMETER_HOME", "/app"))
    source = home / "config" / "settings.yml"
    target = Path(os.environ["SMARTMETER_CONFIG"])
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""  # every setting has a default
    except (OSError, UnicodeDecodeError) as exc:
        # Let the services say it, in their words, from the file itself.
        print(f"entrypoint: cannot read {source} ({exc}); using it as it is", file=sys.stderr)
        target = source
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(container_settings(text), encoding="utf-8")
    os.environ["SMARTMETER_CONFIG"] = str(target)
    if not argv:
        argv = ["smartmeterctl", "supervise"]
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
