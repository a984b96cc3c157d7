"""dongle.driver: keilog — never required, a clear message when missing, same readings when there.

The end-to-end tests need a keilog checkout (``git clone https://github.com/kjmat/keilog``):
at ``$KEILOG_CHECKOUT`` or next to the project as ``keilog/``; without one they are skipped,
with one the output names its commit (``tests/support/keilog_checkout.py``).

keilog parses ERXUDP by counting tokens (DSS: exactly ten, so no RSSI token) and skips one
echo line after SKLL64, so it needs SA2 0, echo on and hex payloads.  Whether the dongle's
SKRESET keeps the registers, the echo flag or WOPT is not settled by anything public: the
readings must come through under every answer the simulator can give, from a dongle another
program (our built-in driver, momonga) left with echo off and SA2 1 (issue 21).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import yaml

from services.radio.link.keilog_driver import KeilogMissing, load_keilib
from tests.support import keilog_checkout
from tests.support.keilog_checkout import CHECKOUT
from tests.support.radio_harness import PROJECT, RadioRig, check_against_served

needs_checkout = pytest.mark.skipif(
    not keilog_checkout.present(), reason=f"no keilog checkout at {CHECKOUT} (KEILOG_CHECKOUT)"
)
# What SKRESET and a power cycle leave in the dongle (services/simulator/dongle_memory.py).
FACTORY: tuple[str, ...] = ()
KEEPS = ("--skreset-registers", "keep", "--skreset-echo", "keep")
FORGETS_WOPT = ("--wopt-memory", "ram")


def test_missing_checkout_names_the_setting_and_how_to_get_it(tmp_path):
    with pytest.raises(KeilogMissing) as info:
        load_keilib(tmp_path / "keilog")
    text = str(info.value)
    assert "dongle.keilog_path" in text
    assert "git clone https://github.com/kjmat/keilog" in text
    assert "\n" not in text


def test_checkout_that_does_not_import_is_named(tmp_path):
    (tmp_path / "k" / "keilib").mkdir(parents=True)
    (tmp_path / "k" / "keilib" / "__init__.py").write_text("")
    (tmp_path / "k" / "keilib" / "broute.py").write_text("this is not python\n")
    with pytest.raises(KeilogMissing, match="does not import"):
        load_keilib(tmp_path / "k")


def test_radio_refuses_to_start_with_one_line(tmp_path):
    rig = RadioRig(tmp_path / "rig", settings={
        "dongle": {"driver": "keilog", "keilog_path": str(tmp_path / "nowhere")},
    })  # fmt: skip
    rig.write_config()
    done = subprocess.run([sys.executable, "-m", "services.radio"], env=rig.environ(),
                          cwd=PROJECT, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if "config error" in line]
    assert len(lines) == 1 and "git clone https://github.com/kjmat/keilog" in lines[0]
    assert "Traceback" not in done.stderr


PROBE = """
import sys
from pathlib import Path
from services.radio.link.keilog_driver import load_keilib
cls = load_keilib(Path(sys.argv[1])).WiSunRL7023
used = ("open", "setup", "scan", "join", "sendto", "receive", "term", "close")
print(cls.IPS, cls.DSS, *(name for name in used if not callable(getattr(cls, name, None))))
"""


@needs_checkout
def test_checkout_has_what_the_adapter_uses():
    # In a process of its own: the tests above leave a bogus keilib in this one's modules.
    done = subprocess.run([sys.executable, "-c", PROBE, str(CHECKOUT)], cwd=PROJECT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "1"]  # IPS, DSS, and nothing missing
    assert keilog_checkout.describe().startswith(f"keilog: {CHECKOUT} at ")


KEILOG = {
    "acquisition": {"interval_seconds": 0.3, "properties": ["E7", "E0", "E3"]},
    "dongle": {"driver": "keilog", "keilog_path": str(CHECKOUT)},
}


@pytest.mark.e2e
@needs_checkout
@pytest.mark.parametrize(
    ("dialect", "memory"),
    [("rl7023-ips", FACTORY), ("bp35c2", FACTORY)]
    + [(d, m) for d in ("rl7023-dss", "rs-wsuha-p") for m in (FACTORY, KEEPS)]
    + [("bp35c2", KEEPS), ("bp35c2", FORGETS_WOPT)],
    ids=lambda v: v if isinstance(v, str) else " ".join(v[1::2]) or "factory",
)
def test_readings_through_keilog_are_the_same(tmp_path, dialect, memory):
    rig = RadioRig(tmp_path / "rig", dialect=dialect, settings=KEILOG, sim_args=memory)
    try:
        rig.start(before_radio=RadioRig.leave_dongle_used)
        rig.wait_readings(6, timeout=30)
        assert rig.stop_radio() == 0
        rig.start_radio()  # again: the dongle's payload format is not written twice
        rig.wait_readings(3, since=rig.seen.readings[-1].at + 0.01, timeout=30)
        assert rig.stop_radio() == 0
    finally:
        rig.stop()
    check_against_served(rig.seen.since(0), rig.served())
    assert "INVALID_ERXUDP" not in rig.log()
    assert rig.log().count("> WOPT 01") == (1 if dialect in ("bp35c2", "rs-wsuha-p") else 0)
    assert (rig.paths.data_dir / "keilog" / "scancache.json").exists()  # not the working dir
    assert not (PROJECT / "scancache.json").exists()
    assert yaml.safe_load(rig.paths.config_file.read_text())["dongle"]["driver"] == "keilog"


@pytest.mark.e2e
@needs_checkout
@pytest.mark.parametrize("memory", [FACTORY, FORGETS_WOPT], ids=["wopt-flash", "wopt-ram"])
def test_keilog_reads_on_after_a_power_cycle(tmp_path, memory):
    """A replugged BP35C2 whose WOPT lived in RAM prints raw payloads again: written again."""
    rig = RadioRig(tmp_path / "rig", dialect="bp35c2", settings=KEILOG, sim_args=memory)
    try:
        rig.start(before_radio=RadioRig.leave_dongle_used)
        rig.wait_readings(3, timeout=30)
        rig.control.fault("unplug", seconds=1)
        off = time.monotonic()
        rig.wait_readings(3, since=off + 1, timeout=30)
        assert rig.control.status()["binary_payloads"] is False
        assert rig.stop_radio() == 0
    finally:
        rig.stop()
    check_against_served(rig.seen.since(0), rig.served())
    assert rig.log().count("> WOPT 01") == (2 if memory else 1)
