"""Figure 6: process start → first reading on the bus, cold (no PAN cache) and warm (cache).

The simulator runs with ``--realistic`` (scan 0.0096 s × (2^D + 1) × 28 channels, join 3 s,
answer 0.8 s, instance list 3 s) and a control socket; the radio is pointed at its pty as at
a USB dongle (``SERIAL_PORT`` = the path), so it keeps a real meter's timings and 10 s floor.
A subscriber process (``common.bus.CatchUpSubscriber``) is started first; the time is from
the radio's Popen to the first reading the subscriber receives.  Between the runs the
runtime dir is emptied as a reboot would (tmpfs: journal, SKTERM time); the data dir keeps
``radio-pan.json``.  The simulator's ``scans`` counter (SKSCANs it was sent) says whether a
run scanned.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from scripts.benchmarks.figure import Figure, say, table
from scripts.benchmarks.stack import PROJECT, Stack, wait_for

FIRST = """
import sys, time
from common.bus import CatchUpSubscriber, Cursor
sub = CatchUpSubscriber(sys.argv[1], sys.argv[2], Cursor())
while True:
    got = sub.poll(1000)
    if got:
        print(f"{time.time():.6f} {got[0].epc}", flush=True)
        break
"""


def _clear_runtime(stack: Stack) -> None:
    """What a reboot clears of the radio's (the runtime dir is tmpfs); the simulator stays."""
    for p in stack.runtime_dir.iterdir():
        if p.name.startswith(("journal.sqlite", "radio", "readings.sock", "replay.sock")):
            p.unlink(missing_ok=True)


def _one(stack: Stack, control, label: str) -> dict:
    from services.simulator.control import SimulatorControl

    assert isinstance(control, SimulatorControl)
    _clear_runtime(stack)
    cached = (stack.data_dir / "radio-pan.json").exists()
    scans_before = control.status()["scans"]
    env = stack.environ()
    sub = subprocess.Popen(
        [sys.executable, "-c", FIRST, stack.readings_endpoint, stack.replay_endpoint],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # the subscriber is connected before the radio binds
    log = open(stack.log_dir / f"radio-{label}.log", "w")  # noqa: SIM115
    t0 = time.time()
    radio = subprocess.Popen(
        [sys.executable, "-m", "services.radio"],
        cwd=PROJECT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        assert sub.stdout is not None
        line = sub.stdout.readline()
        if not line:
            raise RuntimeError(f"{label}: no reading (see {log.name})")
        t_first, epc = line.split()
        scans = control.status()["scans"] - scans_before
    finally:
        sub.kill()
        sub.wait()
        radio.send_signal(signal.SIGTERM)
        radio.wait(timeout=60)
        log.close()
    say(f"startup {label}: {float(t_first) - t0:.1f} s, {scans} SKSCAN(s)")
    return {"seconds": float(t_first) - t0, "scans": scans, "cached": cached, "first_epc": epc}


def measure() -> dict:
    from services.simulator.control import SimulatorControl

    stack = Stack(
        "startup", settings={"acquisition": {"interval_seconds": 10, "properties": ["E7"]}}
    )
    link = stack.runtime_dir / "simulator-tty"
    stack.env_values["SERIAL_PORT"] = str(link)  # a "real" dongle: no simulator shortcuts
    stack.write_config()
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    sock = stack.runtime_dir / "simulator-control.sock"
    sim_log = open(stack.log_dir / "simulator.log", "w")  # noqa: SIM115
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.simulator",
            "--link",
            str(link),
            "--realistic",
            "--control",
            str(sock),
            "--served-log",
            str(stack.log_dir / "served.jsonl"),
        ],
        cwd=PROJECT,
        env=stack.environ(),
        stdout=sim_log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: link.exists() and sock.exists(), 20, "the simulator")
        control = SimulatorControl(sock)
        cold = _one(stack, control, "cold")
        warm = _one(stack, control, "warm")
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=20)
        sim_log.close()
        stack.cleanup()
    return {"cold": cold, "warm": warm}


def run(quick: bool) -> Figure:
    r = measure()
    cold, warm = r["cold"], r["warm"]
    body = [
        ["cold (no radio-pan.json)", f"{cold['seconds']:.1f}", str(cold["scans"])],
        ["warm (radio-pan.json from the cold run)", f"{warm['seconds']:.1f}", str(warm["scans"])],
    ]
    details = [
        "Simulator `--realistic`, radio on its pty as on a USB dongle; radio start → first "
        "reading received by a subscriber:",
        "",
        *table(["start", "seconds", "SKSCANs the simulator saw"], body),
    ]
    met = warm["scans"] == 0 and cold["scans"] > 0 and warm["cached"]
    return Figure(
        6,
        "Start to first reading",
        f"cold {cold['seconds']:.1f} s ({cold['scans']} scan(s)), warm {warm['seconds']:.1f} s "
        f"({warm['scans']} scans)",
        "no rescan when the cache is valid",
        met,
        details,
        data=r,
    )
