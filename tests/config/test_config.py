"""settings.yml + .env loading and checking (common/config/); `smartmeterctl config check`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.config import DEFAULTS, Config, ConfigError, Secret, load_config
from common.paths import PROJECT_ROOT, Paths

GOOD_ID = "0123456789abcdefABCDEF0123456789"  # 32 letters and digits
GOOD_PASSWORD = "Zq7Pw3Xk9Lm2"  # 12
GOOD_TOKEN = "tok-3f9a7c1e-influx-secret"
GOOD_ENV = f"BROUTE_ID={GOOD_ID}\nBROUTE_PASSWORD={GOOD_PASSWORD}\n"
INFLUX_ENV = (
    f"INFLUXDB_URL=http://192.168.1.10:8086\nINFLUXDB_TOKEN={GOOD_TOKEN}\n"
    "INFLUXDB_ORG=home\nINFLUXDB_BUCKET=meter\n"
)


def make_paths(tmp_path: Path) -> Paths:
    return Paths(
        home=tmp_path,
        config_file=tmp_path / "settings.yml",
        env_file=tmp_path / ".env",
        runtime_dir=tmp_path / "run",
        data_dir=tmp_path / "lib",
        log_dir=tmp_path / "log",
    )


def setup(tmp_path: Path, settings_yml: str | None = None, env: str | None = None) -> Paths:
    paths = make_paths(tmp_path)
    if settings_yml is not None:
        paths.config_file.write_text(settings_yml, encoding="utf-8")
    if env is not None:
        paths.env_file.write_text(env, encoding="utf-8")
    return paths


def problems(
    tmp_path: Path,
    settings_yml: str | None = None,
    env: str | None = None,
    environ: dict[str, str] | None = None,
    **need: bool,
) -> list[str]:
    paths = setup(tmp_path, settings_yml, env)
    with pytest.raises(ConfigError) as info:
        load_config(paths, environ or {}, **need)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def only_problem(tmp_path: Path, settings_yml: str | None = None, **kw: object) -> str:
    found = problems(tmp_path, settings_yml, **kw)  # type: ignore[arg-type]
    assert len(found) == 1, found
    return found[0]


# --- defaults ---------------------------------------------------------------------------


def _assert_defaults(cfg: Config, tmp_path: Path) -> None:
    assert cfg.unitid == "smartmeter"
    assert cfg.timezone == ZoneInfo("Asia/Tokyo")
    assert cfg.interval_seconds == 30.0
    assert cfg.properties == (0xD3, 0xD7, 0xE1, 0xE7, 0xE0, 0xE3)
    assert cfg.log_level == "INFO"
    assert cfg.csv.enabled is True
    assert cfg.csv.directory == tmp_path / "logs"
    assert cfg.dongle_model == "auto"
    assert cfg.serial_port == "simulator"
    assert cfg.uses_simulator
    assert cfg.serial_device == tmp_path / "run" / "simulator-tty"
    assert cfg.influx.enabled is False


def test_defaults_when_settings_missing(tmp_path: Path) -> None:
    paths = setup(tmp_path)
    assert not paths.config_file.exists()
    cfg = load_config(paths, {})
    _assert_defaults(cfg, tmp_path)
    assert cfg.paths == paths
    assert cfg.broute_id == ""
    assert cfg.broute_password == ""
    assert cfg.secrets() == []


@pytest.mark.parametrize("text", ["", "# only comments\n", "---\n"])
def test_defaults_when_settings_empty(tmp_path: Path, text: str) -> None:
    _assert_defaults(load_config(setup(tmp_path, text), {}), tmp_path)


def test_sections_with_every_key_commented_out(tmp_path: Path) -> None:
    text = "acquisition:\n  # interval_seconds: 60\ncsv:\ninfluxdb:\ndongle:\nlogging:\n"
    _assert_defaults(load_config(setup(tmp_path, text), {}), tmp_path)


def test_shipped_settings_file_is_valid_and_matches_defaults(tmp_path: Path) -> None:
    text = (PROJECT_ROOT / "config" / "settings.yml").read_text(encoding="utf-8")
    _assert_defaults(load_config(setup(tmp_path, text), {}), tmp_path)


def test_full_settings(tmp_path: Path) -> None:
    text = """
unitid: house-1
timezone: Europe/Berlin
acquisition:
  interval_seconds: 10
  properties: [E7, 0xE8, e0, instantaneous_power, cumulative_energy_reverse, EA]
logging:
  level: debug
csv:
  enabled: false
  directory: /srv/meter-csv
dongle:
  model: BP35A1
"""
    env = GOOD_ENV + "SERIAL_PORT=/dev/ttyUSB0\n"
    cfg = load_config(setup(tmp_path, text, env), {}, need_broute=True)
    assert cfg.unitid == "house-1"
    assert cfg.timezone == ZoneInfo("Europe/Berlin")
    assert cfg.interval_seconds == 10.0
    # YAML reads a bare 0xE8 as the int 232; duplicates (E7 twice) are dropped, order kept
    assert cfg.properties == (0xE7, 0xE8, 0xE0, 0xE3, 0xEA)
    assert cfg.log_level == "DEBUG"
    assert cfg.csv.enabled is False
    assert cfg.csv.directory == Path("/srv/meter-csv")
    assert cfg.dongle_model == "bp35a1"
    assert cfg.serial_port == "/dev/ttyUSB0"
    assert not cfg.uses_simulator
    assert cfg.serial_device == Path("/dev/ttyUSB0")
    assert cfg.broute_id.reveal() == GOOD_ID
    assert cfg.broute_password.reveal() == GOOD_PASSWORD


def test_relative_csv_directory_is_under_home(tmp_path: Path) -> None:
    cfg = load_config(setup(tmp_path, "csv:\n  directory: data/csv\n"), {})
    assert cfg.csv.directory == tmp_path / "data" / "csv"


@pytest.mark.parametrize("value", ["null", '""', "'  '", "5", "[a]"])
def test_bad_csv_directory(tmp_path: Path, value: str) -> None:
    msg = only_problem(tmp_path, f"csv:\n  directory: {value}\n")
    assert "'csv.directory'" in msg


def test_csv_directory_of_unknown_user(tmp_path: Path) -> None:
    msg = only_problem(tmp_path, "csv:\n  directory: ~no-such-user-xyz/csv\n")
    assert "'csv.directory'" in msg


def test_paths_from_environ_when_paths_not_given(tmp_path: Path) -> None:
    setup(tmp_path, "unitid: from-env\n", GOOD_ENV)
    environ = {
        "SMARTMETER_HOME": str(tmp_path),
        "SMARTMETER_CONFIG": str(tmp_path / "settings.yml"),
        "SMARTMETER_ENV_FILE": str(tmp_path / ".env"),
    }
    cfg = load_config(None, environ, need_broute=True)
    assert cfg.unitid == "from-env"
    assert cfg.paths.home == tmp_path
    assert cfg.broute_id.reveal() == GOOD_ID


# --- B-route credentials ----------------------------------------------------------------


def test_broute_not_needed_by_default(tmp_path: Path) -> None:
    cfg = load_config(setup(tmp_path, env="BROUTE_ID=short\n"), {})
    assert cfg.broute_id.reveal() == "short"


def test_broute_missing(tmp_path: Path) -> None:
    found = problems(tmp_path, need_broute=True)
    assert len(found) == 2
    assert "BROUTE_ID" in found[0] and "32" in found[0] and "not set" in found[0]
    assert "BROUTE_PASSWORD" in found[1] and "12" in found[1] and "not set" in found[1]


@pytest.mark.parametrize(
    ("rbid", "length"),
    [
        (GOOD_ID[:31], 31),
        (GOOD_ID + "0", 33),
        (GOOD_ID[:31] + "-", 32),
        (GOOD_ID[:31] + "!", 32),
        ("０" * 32, 32),  # full-width digits are alphanumeric but not ASCII
        ("0123456789ABCDEF 0123456789ABCDE", 32),
    ],
)
def test_bad_broute_id(tmp_path: Path, rbid: str, length: int) -> None:
    msg = only_problem(tmp_path, env=f"BROUTE_ID={rbid}\nBROUTE_PASSWORD={GOOD_PASSWORD}\n",
                       need_broute=True)  # fmt: skip
    assert msg.startswith("BROUTE_ID")
    assert "32" in msg
    assert f"it has {length} characters" in msg
    assert str(tmp_path / ".env") in msg
    assert rbid not in msg


def test_broute_id_whitespace_is_trimmed(tmp_path: Path) -> None:
    env = f"BROUTE_ID='  {GOOD_ID}  '\nBROUTE_PASSWORD={GOOD_PASSWORD}\n"
    cfg = load_config(setup(tmp_path, env=env), {}, need_broute=True)
    assert cfg.broute_id.reveal() == GOOD_ID


@pytest.mark.parametrize(
    "password", [GOOD_PASSWORD[:11], GOOD_PASSWORD + "A", "Zq7Pw3Xk9Lm!", "Zq7Pw3Xk9Lmé"]
)
def test_bad_broute_password(tmp_path: Path, password: str) -> None:
    msg = only_problem(tmp_path, env=f"BROUTE_ID={GOOD_ID}\nBROUTE_PASSWORD={password}\n",
                       need_broute=True)  # fmt: skip
    assert msg.startswith("BROUTE_PASSWORD")
    assert "12" in msg
    assert f"it has {len(password)} characters" in msg
    assert password not in msg


# --- acquisition ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["5", "9.99", "0", "-30"])
def test_interval_below_floor(tmp_path: Path, value: str) -> None:
    msg = only_problem(
        tmp_path,
        f"acquisition:\n  interval_seconds: {value}\n",
        environ={"SERIAL_PORT": "/dev/ttyUSB0"},
    )
    assert "'acquisition.interval_seconds'" in msg
    assert "10" in msg


def test_simulator_may_be_polled_faster_than_a_meter(tmp_path: Path) -> None:
    # The 10 s floor protects a real meter; the built-in simulator is not one.
    cfg = load_config(setup(tmp_path, "acquisition:\n  interval_seconds: 0.5\n"), {})
    assert cfg.uses_simulator and cfg.interval_seconds == 0.5
    msg = only_problem(tmp_path, "acquisition:\n  interval_seconds: 0.1\n")
    assert "'acquisition.interval_seconds'" in msg


@pytest.mark.parametrize(("value", "seconds"), [("10", 10.0), ("10.5", 10.5), ("3600", 3600.0)])
def test_interval_at_or_above_floor(tmp_path: Path, value: str, seconds: float) -> None:
    cfg = load_config(setup(tmp_path, f"acquisition:\n  interval_seconds: {value}\n"), {})
    assert cfg.interval_seconds == seconds


@pytest.mark.parametrize(
    "value", ['"30"', "thirty", "true", "null", "[30]", ".nan", ".inf", "-.inf", "1" + "0" * 400]
)
def test_interval_not_a_number(tmp_path: Path, value: str) -> None:
    msg = only_problem(tmp_path, f"acquisition:\n  interval_seconds: {value}\n")
    assert "'acquisition.interval_seconds'" in msg
    assert "number" in msg


@pytest.mark.parametrize(
    ("item", "shown"),
    [("bogus", "'bogus'"), ("ZZ", "'ZZ'"), ("E7X", "'E7X'"), ("'80'", "'80'"), ("0x80", "128")],
)
def test_unknown_epc(tmp_path: Path, item: str, shown: str) -> None:
    msg = only_problem(tmp_path, f"acquisition:\n  properties: [E7, {item}]\n")
    assert "'acquisition.properties'" in msg
    assert f"has {shown}," in msg
    assert "E7" in msg  # lists what is allowed


@pytest.mark.parametrize("value", ["[]", "E7", "null", "{E7: 1}"])
def test_properties_not_a_list(tmp_path: Path, value: str) -> None:
    msg = only_problem(tmp_path, f"acquisition:\n  properties: {value}\n")
    assert "'acquisition.properties' must be a list" in msg


# --- unknown keys and types -------------------------------------------------------------


def test_unknown_top_level_key_suggests(tmp_path: Path) -> None:
    msg = only_problem(tmp_path, "acquisiton:\n  interval_seconds: 60\n")
    assert "unknown setting 'acquisiton'" in msg
    assert "did you mean 'acquisition'?" in msg


def test_unknown_top_level_key_without_match(tmp_path: Path) -> None:
    msg = only_problem(tmp_path, "zzzzzz: 1\n")
    assert "unknown setting 'zzzzzz'" in msg
    assert "remove it" in msg


def test_unknown_nested_key(tmp_path: Path) -> None:
    msg = only_problem(tmp_path, "csv:\n  enabeld: true\n")
    assert "unknown setting 'csv.enabeld'" in msg
    assert "did you mean 'csv.enabled'?" in msg
    msg = only_problem(tmp_path, "acquisition:\n  interval: 60\n")
    assert "unknown setting 'acquisition.interval'" in msg
    assert "'acquisition.interval_seconds'" in msg


SEED_SETTINGS = """\
broute:
  id: "0123456789ABCDEF0123456789ABCDEF"
  password: "SEEDPASSWORD"
serial:
  port: /dev/ttyUSB0
  baudrate: 115200
  timeout: 5
unit_id: smartmeter01
acquisition:
  interval_seconds: 30
  properties: [D3, D7, E1, E7, E0, E3]
csv:
  enabled: true
  output_dir: logs
  filename_format: "%Y%m%d-smartmeter.csv"
influxdb:
  enabled: false
  url: http://localhost:8086
  token: "seed-token-value"
  org: home
  bucket: power
  measurement: smartmeter_power
  tags: {host: pi, location: home}
logging:
  level: INFO
  file: logs/smartmeter.log
  max_bytes: 1048576
  backup_count: 3
"""


def test_the_previous_loggers_settings_say_what_to_change_key_by_key(tmp_path: Path) -> None:
    found = problems(tmp_path, SEED_SETTINGS)
    told = {p.split("'")[1]: p for p in found}
    assert set(told) == {
        "broute", "serial", "unit_id", "csv.output_dir", "csv.filename_format",
        "influxdb.url", "influxdb.token", "influxdb.org", "influxdb.bucket",
        "influxdb.measurement", "influxdb.tags", "logging.file", "logging.max_bytes",
        "logging.backup_count",
    }  # fmt: skip
    assert "rename it to 'unitid'" in told["unit_id"]
    assert "rename it to 'csv.directory'" in told["csv.output_dir"]
    assert "BROUTE_ID and BROUTE_PASSWORD" in told["broute"]
    assert "INFLUXDB_TOKEN" in told["influxdb.token"]
    assert all("previous logger" in p and "did you mean" not in p for p in found)
    text = "\n".join(found)
    assert "SEEDPASSWORD" not in text and "seed-token-value" not in text


def test_section_not_a_mapping(tmp_path: Path) -> None:
    msg = only_problem(tmp_path, "csv: 5\n")
    assert "'csv' must be a section" in msg


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('csv:\n  enabled: "yes"\n', "csv.enabled"),
        ("csv:\n  enabled: 1\n", "csv.enabled"),
        ("csv:\n  enabled: null\n", "csv.enabled"),
        ('influxdb:\n  enabled: "true"\n', "influxdb.enabled"),
    ],
)
def test_wrong_boolean(tmp_path: Path, text: str, key: str) -> None:
    msg = only_problem(tmp_path, text)
    assert f"'{key}' must be true or false" in msg


def test_yaml_yes_is_a_boolean(tmp_path: Path) -> None:
    assert load_config(setup(tmp_path, "csv:\n  enabled: no\n"), {}).csv.enabled is False


@pytest.mark.parametrize("value", ["a,b", '""', "123", "null", "[x]"])
def test_bad_unitid(tmp_path: Path, value: str) -> None:
    assert "'unitid'" in only_problem(tmp_path, f"unitid: {value}\n")


def test_bad_log_level(tmp_path: Path) -> None:
    msg = only_problem(tmp_path, "logging:\n  level: verbose\n")
    assert "'logging.level'" in msg and "'verbose'" in msg and "DEBUG" in msg


# --- bad files --------------------------------------------------------------------------


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    text = "unitid: x\nacquisition:\n  interval_seconds: 30\n   properties: [E7]\n"
    msg = only_problem(tmp_path, text)
    assert msg.startswith(str(tmp_path / "settings.yml"))
    assert "not valid YAML at line 4" in msg


def test_unclosed_bracket_names_a_line(tmp_path: Path) -> None:
    text = "acquisition:\n  interval_seconds: 30\n  properties: [E7\nlogging: {level: INFO}\n"
    assert "not valid YAML at line 4" in only_problem(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("unitid: x\ntimezone: 2024-13-01\n", 2),  # looks like a date, is not one
        ("unitid: x\n\nacquisition:\n  interval_seconds: !!float abc\n", 4),
        ("csv:\n  enabled: !!bool maybe\n", 2),
        ("unitid: !!int x\n", 1),
        ("unitid: !!timestamp x\n", 1),
        ("unitid: !!python/object:os.system x\n", 1),
        ("? [a, b]\n: c\n", 1),
    ],
)
def test_yaml_values_that_cannot_be_built(tmp_path: Path, text: str, line: int) -> None:
    msg = only_problem(tmp_path, text)
    assert f"not valid YAML at line {line}" in msg


def test_deeply_nested_yaml(tmp_path: Path) -> None:
    assert "not valid YAML" in only_problem(tmp_path, "unitid: " + "[" * 5000 + "]" * 5000)


def test_env_file_not_utf8(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    paths.env_file.write_bytes(b"BROUTE_ID=\xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        load_config(paths, {})
    (msg,) = info.value.problems
    assert str(paths.env_file) in msg and "UTF-8" in msg


def test_settings_not_utf8(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    paths.config_file.write_bytes(b"unitid: \xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        load_config(paths, {})
    assert "UTF-8" in str(info.value)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_settings_not_a_mapping(tmp_path: Path, text: str) -> None:
    assert "must be a mapping" in only_problem(tmp_path, text)


def test_settings_is_a_directory(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    paths.config_file.mkdir()
    with pytest.raises(ConfigError) as info:
        load_config(paths, {})
    (msg,) = info.value.problems
    assert "cannot read it" in msg and str(paths.config_file) in msg


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_settings_unreadable(tmp_path: Path) -> None:
    paths = setup(tmp_path, "unitid: x\n")
    paths.config_file.chmod(0o000)
    try:
        with pytest.raises(ConfigError) as info:
            load_config(paths, {})
    finally:
        paths.config_file.chmod(0o600)
    assert "cannot read it" in str(info.value)


def test_env_file_is_a_directory(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    paths.env_file.mkdir()
    with pytest.raises(ConfigError) as info:
        load_config(paths, {})
    (msg,) = info.value.problems
    assert "cannot read it" in msg and str(paths.env_file) in msg


def test_config_path_under_a_file(tmp_path: Path) -> None:
    paths = make_paths(tmp_path)
    (tmp_path / "afile").write_text("x")
    paths = Paths(
        home=tmp_path,
        config_file=tmp_path / "afile" / "settings.yml",
        env_file=tmp_path / ("e" * 300),
        runtime_dir=tmp_path,
        data_dir=tmp_path,
        log_dir=tmp_path,
    )
    with pytest.raises(ConfigError) as info:
        load_config(paths, {})
    assert len(info.value.problems) == 2


# --- timezone and dongle ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["Mars/Olympus", "Asia", '""', "/etc/localtime", "../Asia/Tokyo", "A" * 300]
)
def test_bad_timezone(tmp_path: Path, value: str) -> None:
    msg = only_problem(tmp_path, f"timezone: {value}\n")
    assert "'timezone'" in msg and "Asia/Tokyo" in msg


@pytest.mark.parametrize("value", ["bp35x", "null", "''"])
def test_bad_dongle_model(tmp_path: Path, value: str) -> None:
    msg = only_problem(tmp_path, f"dongle:\n  model: {value}\n")
    assert "'dongle.model'" in msg and "rl7023-ips" in msg


# --- influxdb ---------------------------------------------------------------------------


def test_influx_enabled_without_settings(tmp_path: Path) -> None:
    found = problems(tmp_path, "influxdb:\n  enabled: true\n")
    assert len(found) == 4
    for key, line in zip(
        ("INFLUXDB_URL", "INFLUXDB_TOKEN", "INFLUXDB_ORG", "INFLUXDB_BUCKET"), found, strict=True
    ):
        assert line.startswith(key)
        assert str(tmp_path / ".env") in line


@pytest.mark.parametrize("missing", ["INFLUXDB_TOKEN", "INFLUXDB_ORG", "INFLUXDB_BUCKET"])
def test_influx_one_missing(tmp_path: Path, missing: str) -> None:
    env = "".join(line + "\n" for line in INFLUX_ENV.splitlines() if not line.startswith(missing))
    msg = only_problem(tmp_path, "influxdb:\n  enabled: true\n", env=env)
    assert msg.startswith(f"{missing} is not set")


@pytest.mark.parametrize("url", ["localhost:8086", "ftp://x", ""])
def test_influx_bad_url(tmp_path: Path, url: str) -> None:
    env = INFLUX_ENV.replace("http://192.168.1.10:8086", url)
    msg = only_problem(tmp_path, "influxdb:\n  enabled: true\n", env=env)
    assert msg.startswith("INFLUXDB_URL must start with http://")


def test_influx_needed_even_when_disabled(tmp_path: Path) -> None:
    assert len(problems(tmp_path, need_influx=True)) == 4


def test_influx_valid(tmp_path: Path) -> None:
    cfg = load_config(setup(tmp_path, "influxdb:\n  enabled: true\n", INFLUX_ENV), {})
    assert cfg.influx.enabled is True
    assert cfg.influx.url == "http://192.168.1.10:8086"
    assert isinstance(cfg.influx.token, Secret)
    assert cfg.influx.token.reveal() == GOOD_TOKEN
    assert (cfg.influx.org, cfg.influx.bucket) == ("home", "meter")
    assert GOOD_TOKEN not in repr(cfg.influx)


def test_influx_disabled_ignores_missing_values(tmp_path: Path) -> None:
    assert load_config(setup(tmp_path, "influxdb:\n  enabled: false\n"), {}).influx.enabled is False


# --- environment over .env --------------------------------------------------------------


def test_environment_overrides_env_file(tmp_path: Path) -> None:
    other_id = "F" * 32
    env_file = GOOD_ENV + "SERIAL_PORT=/dev/ttyUSB0\n" + INFLUX_ENV
    environ = {
        "BROUTE_ID": other_id,
        "SERIAL_PORT": "/dev/ttyACM0",
        "INFLUXDB_ORG": "office",
        "UNRELATED": "ignored",
        "SMARTMETER_CONFIG": "/nonexistent/settings.yml",  # paths were given explicitly
    }
    cfg = load_config(setup(tmp_path, None, env_file), environ, need_broute=True)
    assert cfg.broute_id.reveal() == other_id
    assert cfg.broute_password.reveal() == GOOD_PASSWORD  # only in .env
    assert cfg.serial_port == "/dev/ttyACM0"
    assert cfg.influx.org == "office"
    assert cfg.influx.bucket == "meter"


def test_environment_alone_is_enough(tmp_path: Path) -> None:
    environ = {"BROUTE_ID": GOOD_ID, "BROUTE_PASSWORD": GOOD_PASSWORD}
    cfg = load_config(setup(tmp_path), environ, need_broute=True)
    assert cfg.secrets() == [GOOD_ID, GOOD_PASSWORD]


def test_bad_environment_value_is_reported(tmp_path: Path) -> None:
    msg = only_problem(tmp_path, env=GOOD_ENV, environ={"BROUTE_PASSWORD": "short"},
                       need_broute=True)  # fmt: skip
    assert msg.startswith("BROUTE_PASSWORD") and "it has 5 characters" in msg


def test_real_environment_does_not_leak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROUTE_ID", "E" * 32)
    cfg = load_config(setup(tmp_path, env=GOOD_ENV), {}, need_broute=True)
    assert cfg.broute_id.reveal() == GOOD_ID


# --- secrets ----------------------------------------------------------------------------


def test_secret_hides_its_value() -> None:
    s = Secret("hunter2hunter2")
    assert repr(s) == "Secret('***')"
    assert str(s) == "***"
    assert f"{s}" == "***"
    assert f"{s!s}" == "***"
    assert f"{s!r}" == "Secret('***')"
    assert f"{s:>6}" == "   ***"
    assert "{}".format(s) == "***"  # noqa: UP032 - str.format must hide it too
    assert "%s" % s == "***"  # noqa: UP031 - the old formatting must hide it too
    assert "%r" % (s,) == "Secret('***')"  # noqa: UP031
    assert "hunter2" not in repr([s, {"k": s}])
    assert s.reveal() == "hunter2hunter2"
    assert type(s.reveal()) is str
    assert s == "hunter2hunter2"  # still compares as its value
    assert Secret("") .reveal() == ""  # fmt: skip
    assert repr(Secret("")) == "Secret('')"
    assert not Secret("")


def test_config_hides_secrets(tmp_path: Path) -> None:
    env = GOOD_ENV + INFLUX_ENV
    cfg = load_config(setup(tmp_path, "influxdb:\n  enabled: true\n", env), {}, need_broute=True)
    assert cfg.secrets() == [GOOD_ID, GOOD_PASSWORD, GOOD_TOKEN]
    text = f"{cfg!r} {cfg} {cfg.broute_id} {cfg.broute_password} {cfg.influx.token}"
    for secret in cfg.secrets():
        assert secret not in text


def test_secrets_skips_empty(tmp_path: Path) -> None:
    cfg = load_config(setup(tmp_path, env=f"BROUTE_PASSWORD={GOOD_PASSWORD}\n"), {})
    assert cfg.secrets() == [GOOD_PASSWORD]


# --- every problem at once --------------------------------------------------------------


def test_two_problems_two_lines(tmp_path: Path) -> None:
    text = "acquisition:\n  interval_seconds: 5\ndongle:\n  model: nope\n"
    paths = setup(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(paths, {"SERIAL_PORT": "/dev/ttyUSB0"})
    assert len(info.value.problems) == 2
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert "'acquisition.interval_seconds'" in lines[0]
    assert "'dongle.model'" in lines[1]


def test_many_problems_at_once(tmp_path: Path) -> None:
    text = """
acquisiton: {}
timezone: Nowhere/Land
acquisition:
  interval_seconds: 1
  properties: [E7, nope]
logging: {level: loud}
csv: {enabled: "yes", extra: 1}
influxdb: {enabled: true}
dongle: {model: x}
"""
    found = problems(
        tmp_path, text, env="BROUTE_ID=abc\nSERIAL_PORT=/dev/ttyUSB0\n", need_broute=True
    )
    for needle in (
        "'acquisiton'",
        "'csv.extra'",
        "'timezone'",
        "'acquisition.interval_seconds'",
        "'acquisition.properties'",
        "'logging.level'",
        "'csv.enabled'",
        "'dongle.model'",
        "BROUTE_ID must be 32",
        "BROUTE_PASSWORD is not set",
        "INFLUXDB_URL",
        "INFLUXDB_TOKEN",
        "INFLUXDB_ORG",
        "INFLUXDB_BUCKET",
    ):
        assert sum(needle in line for line in found) == 1, (needle, found)
    assert len(found) == 14


# --- fuzz: nothing but ConfigError -------------------------------------------------------

yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.text(max_size=20),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def settings_documents(draw: st.DrawFn) -> dict[str, object]:
    doc: dict[str, object] = {}
    for key, default in DEFAULTS.items():
        if not draw(st.booleans()):
            continue
        if isinstance(default, dict) and draw(st.booleans()):
            doc[key] = {
                sub: draw(yaml_values | st.just(value))
                for sub, value in default.items()
                if draw(st.booleans())
            }
        else:
            doc[key] = draw(yaml_values)
    return doc


fuzz = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@fuzz
@given(doc=settings_documents())
def test_structured_settings_only_raise_config_error(tmp_path: Path, doc: dict) -> None:
    paths = setup(tmp_path, yaml.safe_dump(doc), GOOD_ENV)
    try:
        cfg = load_config(paths, {}, need_broute=True)
    except ConfigError as exc:
        assert exc.problems
        assert all(isinstance(p, str) and p for p in exc.problems)
        return
    assert cfg.interval_seconds >= 10
    assert cfg.properties


@fuzz
@given(text=st.text(max_size=60) | st.text(alphabet=" \t\n:-[]{}!&*?|>'\"#,%@`abE7", max_size=60))
def test_arbitrary_settings_text_only_raises_config_error(tmp_path: Path, text: str) -> None:
    paths = setup(tmp_path, text)
    try:
        load_config(paths, {})
    except ConfigError as exc:
        assert exc.problems


@fuzz
@given(data=st.binary(max_size=60))
def test_arbitrary_env_file_only_raises_config_error(tmp_path: Path, data: bytes) -> None:
    paths = make_paths(tmp_path)
    paths.env_file.write_bytes(data)
    try:
        load_config(paths, {}, need_broute=True, need_influx=True)
    except ConfigError as exc:
        assert exc.problems


# --- smartmeterctl config check ---------------------------------------------------------


def run_config_check(tmp_path: Path, env_text: str) -> subprocess.CompletedProcess[str]:
    paths = setup(tmp_path, "unitid: test-unit\n", env_text)
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BROUTE_", "INFLUXDB_", "SMARTMETER_")) and k != "SERIAL_PORT"
    }
    environ.update(
        SMARTMETER_HOME=str(tmp_path),
        SMARTMETER_CONFIG=str(paths.config_file),
        SMARTMETER_ENV_FILE=str(paths.env_file),
        SMARTMETER_RUNTIME_DIR=str(paths.runtime_dir),
        SMARTMETER_DATA_DIR=str(paths.data_dir),
        SMARTMETER_LOG_DIR=str(paths.log_dir),
    )
    return subprocess.run(
        [sys.executable, "-m", "services.ctl", "config", "check"],
        cwd=PROJECT_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_config_check_reports_short_broute_id(tmp_path: Path) -> None:
    result = run_config_check(
        tmp_path, f"BROUTE_ID={GOOD_ID[:31]}\nBROUTE_PASSWORD={GOOD_PASSWORD}\n"
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "BROUTE_ID" in result.stderr
    assert "32" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "config OK" not in result.stdout
    for secret in (GOOD_PASSWORD, GOOD_ID[:31]):
        assert secret not in result.stdout
        assert secret not in result.stderr


def test_config_check_ok(tmp_path: Path) -> None:
    result = run_config_check(tmp_path, GOOD_ENV)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "config OK" in result.stdout
    assert "Traceback" not in result.stderr
    assert str(tmp_path / "settings.yml") in result.stdout  # it read the temporary files
    for secret in (GOOD_PASSWORD, GOOD_ID):
        assert secret not in result.stdout
        assert secret not in result.stderr
