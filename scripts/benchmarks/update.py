"""Figure 8: a field update on the host stack: bundle build time and the E7 gap.

Two bundles of this checkout (the second with the next version) are made by image/bundle
(the first run downloads the dependency wheels into /var/tmp, later ones reuse them); the
first is installed the way the image does, the simulated meter joined, then
``smartmeterctl update`` applies the second through its health gate.  The E7 gap is the
largest interval between consecutive instantaneous-power readings in the radio's journal
around the update (the stop → start window plus the rejoin and the first poll); E7 is
polled every 10 s here.  Target on the image in QEMU: ≤ 30 s (tests/image/test_image_update.py
prints that one).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path

from scripts.benchmarks.figure import Figure, say, table
from tests.support.influx_fixtures import VictoriaMetrics
from tests.support.stack import wait_for
from tests.support.update_host import ApplianceStack, Keys, bumped, checkout_version, joined
from tests.support.update_host import make_bundle as bundle

TARGET = 30.0


def measure() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-update-") as tmp:
        root = Path(tmp)
        keys = Keys.make(root / "keys")
        t0 = time.monotonic()
        a = bundle(root / "b", keys)
        build_a = time.monotonic() - t0
        t0 = time.monotonic()
        b = bundle(root / "b", keys, bumped(checkout_version(), 1))
        build_b = time.monotonic() - t0
        size = b.stat().st_size
        vm = VictoriaMetrics(root / "vm").start()
        stack = ApplianceStack(root / "appliance", keys).use_influx(vm)
        try:
            out = stack.install(a)
            assert out.returncode == 0, out.stderr
            wait_for(lambda: joined(stack), 90, "joined")
            wait_for(lambda: len(stack.journal()) > 20, 90, "readings before")
            t0 = time.time()
            out = stack.smartmeterctl("update", str(b))
            took = time.time() - t0
            assert out.returncode == 0, out.stdout + out.stderr
            wait_for(lambda: any(r.epc == "E7" and r.time.timestamp() > t0 + took
                                 for r in stack.journal()), 60, "E7 after")  # fmt: skip
            e7 = sorted(r.time.timestamp() for r in stack.journal() if r.epc == "E7")
            stopped = [ln for ln in out.stdout.splitlines() if ln.startswith("started:")]
        finally:
            stack.stop()
            vm.stop()
    gaps = [y - x for x, y in itertools.pairwise(e7)]
    return {
        "bundle_seconds_first": round(build_a, 1),
        "bundle_seconds_next": round(build_b, 1),
        "bundle_bytes": size,
        "update_seconds": round(took, 1),
        "stop_to_start": stopped[0] if stopped else "",
        "e7_gap_seconds": round(max(gaps), 1),
        "e7_interval_seconds": round(sorted(gaps)[len(gaps) // 2], 1),
    }


def run(quick: bool) -> Figure:
    say("update: two bundles, install, update through the health gate")
    r = measure()
    body = [
        ["image/bundle (this checkout)", f"{r['bundle_seconds_first']} s"],
        ["image/bundle (next version)", f"{r['bundle_seconds_next']} s"],
        ["bundle size", f"{r['bundle_bytes'] / 1024 / 1024:.1f} MiB"],
        ["smartmeterctl update, verify → confirmed", f"{r['update_seconds']} s"],
        ["updater's own line", r["stop_to_start"]],
        ["largest E7 interval across the update", f"{r['e7_gap_seconds']} s"],
        ["usual E7 interval", f"{r['e7_interval_seconds']} s"],
    ]
    return Figure(
        8,
        "Field update",
        f"bundle {r['bundle_seconds_next']} s; E7 gap {r['e7_gap_seconds']} s "
        f"(usual {r['e7_interval_seconds']} s)",
        f"E7 gap ≤ {TARGET:g} s",
        r["e7_gap_seconds"] <= TARGET,
        table(["step", "measured"], body),
        data=r,
    )
