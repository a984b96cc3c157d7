"""python -m services.updater: apply, check, version, recover, rollback, card, migrate.

Run as root on the appliance (through `smartmeterctl update`); every path comes from the
SMARTMETER_* environment (/usr/lib/smartmeter/environment), so tests use temporary folders.
Exit codes: 0 done, 1 rolled back, 2 refused (one line saying why).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.state_formats import migrate
from services.updater.card import import_from_card
from services.updater.manifest import BundleError
from services.updater.sequence import Settings, Updater


def _say(line: str) -> None:
    print(line, flush=True)


def version_info(u: Updater) -> dict:
    lay = u.layout
    pending = lay.pending()
    return {
        "running": lay.target("current"),
        "good": lay.target("good"),
        "previous": lay.target("previous"),
        "pending": pending.get("version") if pending else None,
        "last_update": lay.outcome(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.updater", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("apply", "check"):
        c = sub.add_parser(name)
        c.add_argument("bundle", type=Path)
        c.add_argument("--allow-downgrade", action="store_true")
    v = sub.add_parser("version")
    v.add_argument("--json", action="store_true")
    sub.add_parser("recover")
    sub.add_parser("rollback")
    c = sub.add_parser("card")
    c.add_argument("boot", type=Path, nargs="?", default=Path("/boot/firmware"))
    sub.add_parser("migrate")
    args = p.parse_args(argv)
    u = Updater(Settings.from_environ(_say))
    try:
        if args.cmd == "check":
            m = u.check(args.bundle, args.allow_downgrade)
            _say(f"OK: {args.bundle.name} is {m.version} for {m.python} {m.arch}, signed; "
                 f"applying it would replace {u.running() or 'nothing'} with {m.version}, "
                 f"keeping {u.running() or 'nothing'} to roll back to")  # fmt: skip
            return 0
        if args.cmd == "apply":
            return 0 if u.apply(args.bundle, args.allow_downgrade) else 1
        if args.cmd == "rollback":
            return 0 if u.restore_previous() else 1
        if args.cmd == "recover":
            done = u.recover()
            _say(done or "nothing to recover")
            return 0
        if args.cmd == "card":
            return import_from_card(u, args.boot)
        if args.cmd == "migrate":
            for line in migrate(u.s.paths.data_dir):
                _say(line)
            return 0
        info = version_info(u)
        if args.json:
            _say(json.dumps(info, indent=1))
        else:
            for key in ("running", "previous", "pending"):
                _say(f"{key + ':':10}{info[key] or '-'}")
            last = info["last_update"]
            if last:
                _say(f"{'last:':10}{last['result']} {last['version']} at {last['time']}"
                     + (f" ({last['reason']})" if last.get("reason") else ""))  # fmt: skip
        return 0
    except BundleError as exc:
        print(f"update refused: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
