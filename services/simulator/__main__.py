"""python -m services.simulator --link PATH: a Wi-SUN dongle and smart meter on a pty."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from common.service import Stopper, setup_logging
from services.simulator.dialects import DIALECTS
from services.simulator.dongle_memory import SETTINGS as MEMORY_SETTINGS
from services.simulator.dongle_memory import DongleMemory
from services.simulator.faults import FAULTS, FaultError, parse_spec
from services.simulator.meter_model import JST, UNIT_CODES
from services.simulator.notifications import MODES
from services.simulator.pana import Timing
from services.simulator.simulator import Options, Simulator


def _start(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=JST)


def _fault(text: str) -> tuple[str, dict]:
    try:
        name, params = parse_spec(text)
    except FaultError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if name not in FAULTS:
        raise argparse.ArgumentTypeError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
    return name, params


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
    g = p.add_argument_group("faults and control")
    g.add_argument("--control", type=Path, help="unix socket for fault switching (JSON lines)")
    g.add_argument("--fault", type=_fault, action="append", default=[], metavar="NAME[:k=v,...]",
                   help=f"a fault on from the start (repeatable): {', '.join(FAULTS)}")  # fmt: skip
    g = p.add_argument_group("dialect details the research notes are unsure of")
    g.add_argument("--wopt", choices=("absent", "ascii", "binary"),
                   help="ROPT/WOPT absent, or present with this factory format")  # fmt: skip
    g.add_argument("--rssi-format", choices=("lqi", "dbm"),
                   help="ERXUDP RSSI token (SA2 1): 2 hex digits or signed dBm")  # fmt: skip
    for name, (choices, what) in MEMORY_SETTINGS.items():
        g.add_argument("--" + name.replace("_", "-"), choices=choices, default=choices[0],
                       help=f"{what} (default {choices[0]})")  # fmt: skip
    g = p.add_argument_group("time")
    g.add_argument("--time-scale", type=float, default=1.0, help="meter time runs N× faster")
    g.add_argument("--start", type=_start, help="meter time at start (default: now), ISO 8601")
    g.add_argument("--session-lifetime", type=float, default=86400.0,
                   help="PANA session lifetime in meter seconds (then EVENT 29)")  # fmt: skip
    g.add_argument("--notify", choices=sorted(MODES), default="inf",
                   help="EA/EB announcement after :00/:30 as INF, INFC or not at all")  # fmt: skip
    g.add_argument("--notify-delay", type=float,
                   help="meter seconds after :00/:30 (default: random 5…290)")  # fmt: skip
    g = p.add_argument_group("meter")
    g.add_argument("--unit", type=Decimal, choices=sorted(UNIT_CODES), default=Decimal("0.1"),
                   help="E1 energy unit in kWh")  # fmt: skip
    g.add_argument("--coefficient", type=int, default=1, help="D3 coefficient")
    g.add_argument("--digits", type=int, choices=range(1, 9), default=6, help="D7 digits")
    g.add_argument("--import-kwh", type=float, default=12345.6, help="E0 at start, kWh")
    g.add_argument("--export-kwh", type=float, default=4321.0, help="E3 at start, kWh")
    g.add_argument("--single-phase", action="store_true", help="1φ2W: E8 T phase is 7FFE")
    g.add_argument("--no-solar", action="store_true", help="no export, E7 never negative")
    g.add_argument("--generation", type=int, choices=(1, 2), default=1,
                   help="2: a next-generation (Release R) meter with C0, D0, EE/EF")  # fmt: skip
    return p.parse_args(argv)


def options(args: argparse.Namespace) -> Options:
    faults = list(args.fault)
    if args.refuse_d3:
        faults.append(("refuse-d3", {}))
    return Options(
        link=args.link,
        dialect=DIALECTS[args.dialect].with_options(args.wopt, args.rssi_format),
        rbid=args.rbid,
        password=args.password,
        served_log=args.served_log,
        control=args.control,
        seed=args.seed,
        timing=Timing.realistic() if args.realistic else Timing(),
        start=args.start,
        time_scale=args.time_scale,
        session_lifetime=args.session_lifetime,
        notify=args.notify,
        notify_delay=args.notify_delay,
        unit_kwh=args.unit,
        coefficient=args.coefficient,
        digits=args.digits,
        import_kwh=args.import_kwh,
        export_kwh=args.export_kwh,
        single_phase=args.single_phase,
        second_generation=args.generation == 2,
        solar=not args.no_solar,
        faults=faults,
        memory=DongleMemory(**{name: getattr(args, name) for name in MEMORY_SETTINGS}),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("simulator", os.environ.get("SIMULATOR_LOG_LEVEL", "INFO"))
    stopper = Stopper()
    sim = Simulator(options(args))
    print(f"simulator ready: {args.dialect} at {args.link} -> {sim.link.slave_name}", flush=True)
    logging.getLogger("simulator").info(
        "serving %s on %s%s", args.dialect, args.link,
        f", control socket {args.control}" if args.control else "",
    )  # fmt: skip
    try:
        sim.run(lambda: stopper.stopped)
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
