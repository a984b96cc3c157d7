"""acquisition.backfill and acquisition.backfill_requests_per_minute (common/config/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import DEFAULTS, ConfigError, load_config
from tests.config.test_config import setup

REAL_PORT = {"SERIAL_PORT": "/dev/ttyUSB0"}


def test_backfill_is_on_by_default_at_six_requests_a_minute(tmp_path: Path) -> None:
    cfg = load_config(setup(tmp_path), {})
    assert cfg.backfill is True
    assert cfg.backfill_requests_per_minute == 6.0
    assert DEFAULTS["acquisition"]["backfill"] is True


def test_backfill_can_be_switched_off_and_paced(tmp_path: Path) -> None:
    text = "acquisition:\n  backfill: false\n  backfill_requests_per_minute: 2.5\n"
    cfg = load_config(setup(tmp_path, text), REAL_PORT)
    assert cfg.backfill is False
    assert cfg.backfill_requests_per_minute == 2.5


@pytest.mark.parametrize("value", ["yes", 1, "true", None])
def test_backfill_must_be_true_or_false(tmp_path: Path, value: object) -> None:
    text = f"acquisition:\n  backfill: {'null' if value is None else repr(value)}\n"
    with pytest.raises(ConfigError) as info:
        load_config(setup(tmp_path, text), {})
    assert info.value.problems == [
        f"settings.yml: 'acquisition.backfill' must be true or false, not {value!r}"
    ]


@pytest.mark.parametrize("value", ["0", "0.5", "61", "-3", "'fast'", "true", ".nan", "[6]"])
def test_a_real_meter_gets_1_to_60_history_requests_a_minute(tmp_path: Path, value: str) -> None:
    text = f"acquisition:\n  backfill_requests_per_minute: {value}\n"
    with pytest.raises(ConfigError) as info:
        load_config(setup(tmp_path, text), REAL_PORT)
    (problem,) = info.value.problems
    assert problem.startswith(
        "settings.yml: 'acquisition.backfill_requests_per_minute' must be a number of history "
        "requests from 1 to 60, not "
    )
    assert "\n" not in problem


def test_the_simulator_may_be_read_back_faster(tmp_path: Path) -> None:
    text = "acquisition:\n  backfill_requests_per_minute: 6000\n"
    assert load_config(setup(tmp_path, text), {}).backfill_requests_per_minute == 6000
    with pytest.raises(ConfigError):
        load_config(setup(tmp_path, text), REAL_PORT)


def test_a_typo_is_named_with_the_key_it_resembles(tmp_path: Path) -> None:
    text = "acquisition:\n  backfil: false\n"
    with pytest.raises(ConfigError) as info:
        load_config(setup(tmp_path, text), {})
    assert info.value.problems == [
        "settings.yml: unknown setting 'acquisition.backfil'; did you mean 'acquisition.backfill'?"
    ]
