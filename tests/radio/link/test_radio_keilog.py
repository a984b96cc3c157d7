"""dongle.driver: keilog — never required, a clear message when missing, same readings when there.

The end-to-end test needs a keilog checkout (``git clone https://github.com/kjmat/keilog``):
at ``$KEILOG_CHECKOUT`` or next to the project as ``keilog/``; without one it is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from services.radio.link.keilog_driver import KeilogMissing, load_keilib
from tests.support.radio_harness import PROJECT, RadioRig, check_against_served

CHECKOUT = Path(os.environ.get("KEILOG_CHECKOUT") or PROJECT / "keilog")


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


@pytest.mark.e2e
@pytest.mark.skipif(not (CHECKOUT / "keilib" / "broute.py").is_file(), reason="no keilog checkout")
@pytest.mark.parametrize("dialect", ["rl7023-ips", "rl7023-dss", "bp35c2"])
def test_readings_through_keilog_are_the_same(tmp_path, dialect):
    settings = {
        "acquisition": {"interval_seconds": 0.3, "properties": ["E7", "E0", "E3"]},
        "dongle": {"driver": "keilog", "keilog_path": str(CHECKOUT)},
    }
    rig = RadioRig(tmp_path / "rig", dialect=dialect, settings=settings)
    try:
        rig.start()
        rig.wait_readings(6, timeout=30)
        assert rig.stop_radio() == 0
        rig.start_radio()  # again: the dongle's payload format is not written twice
        rig.wait_readings(3, since=rig.seen.readings[-1].at + 0.01, timeout=30)
        assert rig.stop_radio() == 0
    finally:
        rig.stop()
    check_against_served(rig.seen.since(0), rig.served())
    assert rig.log().count("> WOPT 01") == (1 if dialect == "bp35c2" else 0)
    assert (rig.paths.data_dir / "keilog" / "scancache.json").exists()  # not the working dir
    assert not (PROJECT / "scancache.json").exists()
    assert yaml.safe_load(rig.paths.config_file.read_text())["dongle"]["driver"] == "keilog"
