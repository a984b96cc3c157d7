"""python -m services.simulator --link PATH: a Wi-SUN dongle and smart meter on a pty."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from common.service import Stopper, setup_logging
from services.simulator.dialects import DIALECTS
from services.simulator.dongle import SkStackDongle, Timing
from services.simulator.meter import MeterModel, SimulatedMeter
from services.simulator.pty_link import PtyLink


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m services.simulator",
        description="Simulated B-route dongle + smart meter on a pseudo-terminal.",
    )
    p.add_argument("--link", type=Path, required=True, help="symlink to create to the pty")
    p.add_argument("--dialect", choices=sorted(DIALECTS), default="rl7023-ips")
    p.add_argument(
        "--rbid",
        default=os.environ.get("SIMULATOR_BROUTE_ID"),
        help="B-route ID the meter accepts (default: any; env SIMULATOR_BROUTE_ID)",
    )
    p.add_argument(
        "--password",
        default=os.environ.get("SIMULATOR_BROUTE_PASSWORD"),
        help="password the meter accepts (default: any; env SIMULATOR_BROUTE_PASSWORD)",
    )
    p.add_argument("--served-log", type=Path, help="append every served property (JSON lines)")
    p.add_argument("--refuse-d3", action="store_true", help="answer D3 with Get_SNA")
    p.add_argument("--seed", type=int, default=1, help="random seed of the power curve")
    p.add_argument("--realistic", action="store_true", help="hardware-like scan/join/answer delays")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("simulator", os.environ.get("SIMULATOR_LOG_LEVEL", "INFO"))
    stopper = Stopper()
    link = PtyLink(args.link)
    meter = SimulatedMeter(MeterModel(seed=args.seed), args.served_log, refuse_d3=args.refuse_d3)
    dongle = SkStackDongle(
        DIALECTS[args.dialect],
        meter,
        output=link.write,
        schedule=link.schedule,
        rbid=args.rbid,
        password=args.password,
        timing=Timing.realistic() if args.realistic else Timing(),
    )
    print(f"simulator ready: {args.dialect} at {args.link} -> {link.slave_name}", flush=True)
    logging.getLogger("simulator").info("serving %s on %s", args.dialect, args.link)
    try:
        link.serve(dongle.feed, lambda: stopper.stopped)
    finally:
        link.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
