"""acquisition.schedule: groups of properties with their own period, checked like every setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from common.config import INTERVAL_FLOOR_SECONDS, ConfigError, ScheduleGroup, load_config
from common.paths import Paths

ENV = "BROUTE_ID=0123456789abcdefABCDEF0123456789\nBROUTE_PASSWORD=Zq7Pw3Xk9Lm2\n"
REAL_PORT = {"SERIAL_PORT": "/dev/ttyUSB0"}


def paths(tmp_path: Path, acquisition: object) -> Paths:
    p = Paths(
        home=tmp_path,
        config_file=tmp_path / "settings.yml",
        env_file=tmp_path / ".env",
        runtime_dir=tmp_path / "run",
        data_dir=tmp_path / "lib",
        log_dir=tmp_path / "log",
    )
    p.config_file.write_text(yaml.safe_dump({"acquisition": acquisition}))
    p.env_file.write_text(ENV)
    return p


def problems(tmp_path: Path, acquisition: object, environ: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(paths(tmp_path, acquisition), environ or REAL_PORT)
    return info.value.problems


def test_flat_form_is_one_group(tmp_path):
    cfg = load_config(paths(tmp_path, {"interval_seconds": 20, "properties": ["E7", "E0"]}),
                      REAL_PORT)  # fmt: skip
    assert cfg.schedule == (ScheduleGroup((0xE7, 0xE0), 20.0),)
    assert cfg.properties == (0xE7, 0xE0)


def test_defaults_keep_the_previous_loggers_flat_form(tmp_path):
    cfg = load_config(paths(tmp_path, {}), REAL_PORT)
    assert cfg.schedule == (ScheduleGroup(cfg.properties, 30.0),)


def test_groups_with_their_own_periods(tmp_path):
    cfg = load_config(paths(tmp_path, {"schedule": [
        {"properties": ["E7"], "every_seconds": 30},
        {"properties": ["E0", "cumulative_energy_reverse"], "every_seconds": 300},
        {"properties": ["D3", "D7", "E1"], "every_seconds": 3600},
    ]}), REAL_PORT)  # fmt: skip
    assert cfg.schedule == (
        ScheduleGroup((0xE7,), 30.0),
        ScheduleGroup((0xE0, 0xE3), 300.0),
        ScheduleGroup((0xD3, 0xD7, 0xE1), 3600.0),
    )
    assert cfg.properties == (0xE7, 0xE0, 0xE3, 0xD3, 0xD7, 0xE1)


def test_a_group_without_a_period_takes_interval_seconds(tmp_path):
    cfg = load_config(paths(tmp_path, {"interval_seconds": 45, "schedule": [
        {"properties": ["E7"]},
    ]}), REAL_PORT)  # fmt: skip
    assert cfg.schedule == (ScheduleGroup((0xE7,), 45.0),)


def test_period_below_the_floor_names_the_key_and_the_fix(tmp_path):
    (line,) = problems(tmp_path, {"schedule": [{"properties": ["E7"], "every_seconds": 5}]})
    assert "'acquisition.schedule[0].every_seconds' is 5" in line
    assert f"set {INTERVAL_FLOOR_SECONDS:g} or more" in line


def test_the_simulator_may_be_read_faster(tmp_path):
    cfg = load_config(paths(tmp_path, {"schedule": [{"properties": ["E7"], "every_seconds": 0.5}]}),
                      {"SERIAL_PORT": "simulator"})  # fmt: skip
    assert cfg.schedule[0].every_seconds == 0.5 and cfg.interval_floor < 1


def test_both_forms_at_once_is_a_mistake(tmp_path):
    (line,) = problems(tmp_path, {"properties": ["E7"], "schedule": [{"properties": ["E0"]}]})
    assert "'acquisition.properties' and 'acquisition.schedule'" in line and "keep one" in line


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("E7 every 30", "'acquisition.schedule' must be a list of groups"),
        (["E7"], "'acquisition.schedule[0]' must be a group"),
        ([{"properties": []}], "'acquisition.schedule[0].properties' must be a list of EPCs"),
        ([{"properties": ["ZZ"]}], "'acquisition.schedule[0].properties' has 'ZZ'"),
        ([{"properties": ["E7"], "every_seconds": "often"}], "must be a number of seconds"),
        ([{"properties": ["E7"], "every_secs": 30}], "did you mean 'every_seconds'?"),
    ],
)
def test_each_mistake_is_one_line_naming_the_key(tmp_path, schedule, expected):
    found = problems(tmp_path, {"schedule": schedule})
    assert any(expected in line for line in found), found
    assert all("\n" not in line for line in found)


def test_one_minute_energy_is_named_like_any_property(tmp_path):
    # D0 (next-generation meters) is opt-in: named in the flat form or a group, by EPC or name.
    cfg = load_config(paths(tmp_path, {"properties": ["E7", "D0"]}), REAL_PORT)
    assert cfg.schedule[0].properties == (0xE7, 0xD0)
    schedule = [{"properties": ["E7"], "every_seconds": 30},
                {"properties": ["one_minute_energy"], "every_seconds": 60}]  # fmt: skip
    cfg = load_config(paths(tmp_path, {"schedule": schedule}), REAL_PORT)
    assert cfg.schedule[1] == ScheduleGroup((0xD0,), 60.0)
    assert 0xD0 not in load_config(paths(tmp_path, {}), REAL_PORT).schedule[0].properties
