"""deploy/telegraf/telegraf.conf turns the CSV the logger really writes into the writer's points.

Telegraf cannot run here.  So the config is parsed as TOML, and its declarations are applied,
the way Telegraf's csv parser and line-protocol output apply them, to the CSV of a short run
of the real stack (simulator → radio → csv_rotator); the points must be the ones the built-in
writer (services/influx_writer/line_protocol.py) renders for the same readings.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml

from common.reading import Reading
from services.csv_rotator import daily_csv
from services.influx_writer import line_protocol
from tests.support.stack import PROJECT, Stack, wait_for

CONF = PROJECT / "deploy" / "telegraf" / "telegraf.conf"

# Go reference-time tokens → strptime, longest first (Go's layouts are made of these).
GO_TOKENS = [
    ("Z07:00", "%z"), ("-07:00", "%z"), ("2006", "%Y"), ("01", "%m"), ("02", "%d"),
    ("15", "%H"), ("04", "%M"), ("05", "%S"),
]  # fmt: skip
RFC3339_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")
ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}")


def go_layout_to_strptime(layout: str) -> str:
    out, i = "", 0
    while i < len(layout):
        for token, directive in GO_TOKENS:
            if layout.startswith(token, i):
                out, i = out + directive, i + len(token)
                break
        else:
            if layout[i].isdigit():
                raise ValueError(f"Go layout element at {layout[i:]!r} not translated")
            out, i = out + layout[i], i + 1
    return out


def tail_input() -> dict:
    conf = tomllib.loads(CONF.read_text())
    (tail,) = conf["inputs"]["tail"]
    return tail


def telegraf_point(record: list[str], tail: dict) -> tuple[str, dict[str, str], dict, datetime]:
    """What Telegraf's csv parser makes of one record, as its line-protocol output sends it."""
    names, types = tail["csv_column_names"], tail["csv_column_types"]
    tags: dict[str, str] = {}
    fields: dict[str, object] = {}
    stamp = None
    for i, name in enumerate(names):
        value = record[i]
        if value in tail.get("csv_skip_values", []):
            continue
        if name in tail["csv_tag_columns"]:
            tags[name] = value
        elif name == tail["csv_timestamp_column"]:
            stamp = value
        else:
            fields[name] = {"float": float, "int": int, "bool": bool, "string": str}[types[i]](
                value
            )
    assert stamp is not None, "no timestamp in the record"
    when = datetime.strptime(stamp, go_layout_to_strptime(tail["csv_timestamp_format"]))
    # The influx serializer leaves out empty tag values (line protocol has none).
    return tail["name_override"], {k: v for k, v in tags.items() if v}, fields, when


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, float], int]:
    series, field_text, ts = line.split(" ")
    measurement, *tag_items = series.split(",")
    tags = dict(item.split("=", 1) for item in tag_items)
    fields = {k: float(v) for k, v in (f.split("=", 1) for f in field_text.split(","))}
    return measurement, tags, fields, int(ts)


# --- the config on its own ------------------------------------------------------------------


def test_the_config_is_toml_and_writes_the_writers_schema():
    conf = tomllib.loads(CONF.read_text())
    tail = tail_input()
    assert tail["data_format"] == "csv"
    assert tail["name_override"] == line_protocol.MEASUREMENT
    assert tail["csv_header_row_count"] == 1
    # The columns, in order, are exactly csv_rotator's header.
    assert tail["csv_column_names"] == daily_csv.HEADER.strip().split(",")
    assert len(tail["csv_column_types"]) == len(tail["csv_column_names"])
    names = tail["csv_column_names"]
    assert tail["csv_column_types"][names.index(line_protocol.FIELD)] == "float"
    # Tags are the writer's tag keys, every other column but the time is the one field.
    tag_keys = {"unitid", "epc", "dataid"}
    reading = Reading(1, "e", "2026-11-26T17:44:23+09:00", "u", "E8", "R", 1.5)
    assert set(parse_line(line_protocol.render(reading)[0])[1]) == tag_keys
    assert set(tail["csv_tag_columns"]) == tag_keys
    assert tail["csv_timestamp_column"] in names
    assert set(names) - tag_keys - {tail["csv_timestamp_column"]} == {line_protocol.FIELD}
    # Nothing Telegraf would add on its own: no file-name tag, no host tag.
    assert tail["path_tag"] == ""
    assert conf["agent"]["omit_hostname"] is True
    assert "" in tail["csv_skip_values"]
    # Read each file whole (a saved offset would make the parser take a row for the header).
    assert tail["initial_read_offset"] == "beginning"
    (out,) = conf["outputs"]["influxdb_v2"]
    assert out["urls"] == ["${INFLUXDB_URL}"]
    assert (out["token"], out["organization"], out["bucket"]) == (
        "${INFLUXDB_TOKEN}", "${INFLUXDB_ORG}", "${INFLUXDB_BUCKET}"
    )  # fmt: skip


def test_the_timestamp_layout_is_rfc3339_to_the_second():
    layout = tail_input()["csv_timestamp_format"]
    assert go_layout_to_strptime(layout) == "%Y-%m-%dT%H:%M:%S%z"
    # and a row the rotator writes for a reading parses back to the same instant
    reading = Reading(1, "e", "2026-11-26T08:44:23.456+00:00", "u", "E7", "", 396.0)
    stamp = daily_csv.row(reading, _tokyo()).split(",")[0]
    assert stamp == "2026-11-26T17:44:23+09:00"
    parsed = datetime.strptime(stamp, go_layout_to_strptime(layout))
    assert parsed == reading.time.replace(microsecond=0)


def test_every_variable_is_in_env_example_or_has_a_default():
    documented = {
        line.split("=", 1)[0].strip()
        for line in (PROJECT / ".env.example").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    for name, default in ENV_REF.findall(CONF.read_text()):
        assert name in documented or default.startswith((":-", "-")), name


def test_the_files_glob_follows_daily_files_and_leaves_gzipped_days():
    (pattern,) = tail_input()["files"]
    folder, glob = pattern.rsplit("/", 1)
    name = daily_csv.file_for(Path("/x"), date(2026, 11, 26)).name
    assert fnmatch.fnmatch(name, glob)
    assert not fnmatch.fnmatch(name + ".gz", glob)
    # The default folder is where the Raspberry Pi image keeps the CSV files.
    default = ENV_REF.fullmatch(folder).group(2).removeprefix(":-")
    settings = yaml.safe_load((PROJECT / "config" / "settings.yml").read_text())
    environment = PROJECT / "image/overlay/appliance/usr/lib/smartmeter/environment"
    if environment.exists():
        home = dict(
            line.split("=", 1) for line in environment.read_text().splitlines() if "=" in line
        )["SMARTMETER_HOME"]
        assert default == f"{home}/{settings['csv']['directory']}"


def _tokyo():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Tokyo")


# --- the CSV of a real run -------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_csv(tmp_path_factory) -> list[Path]:
    stack = Stack(
        tmp_path_factory.mktemp("telegraf") / "s",
        settings={
            "acquisition": {
                "interval_seconds": 0.5,
                "properties": ["D3", "D7", "E1", "E7", "E0", "E3", "E8"],
            }
        },
    )
    try:
        stack.start()

        def enough() -> bool:
            rows = stack.csv_rows()
            return sum(r["epc"] == "E7" for r in rows) >= 3 and any(r["dataid"] for r in rows)

        wait_for(enough, 60, "E7 and E8 rows in the CSV")
    finally:
        stack.stop()
    return stack.csv_files()


@pytest.mark.e2e
def test_the_header_is_exactly_the_declared_columns(real_csv):
    tail = tail_input()
    for path in real_csv:
        lines = path.read_text().splitlines()
        assert lines[0].split(",") == tail["csv_column_names"]
        assert lines.count(lines[0]) == 1
        assert all(len(line.split(",")) == len(tail["csv_column_names"]) for line in lines)


@pytest.mark.e2e
def test_every_timestamp_parses_with_the_declared_layout(real_csv):
    layout = go_layout_to_strptime(tail_input()["csv_timestamp_format"])
    for path in real_csv:
        for line in path.read_text().splitlines()[1:]:
            stamp = line.split(",")[0]
            assert RFC3339_SECONDS.match(stamp), stamp
            assert datetime.strptime(stamp, layout).utcoffset() is not None


@pytest.mark.e2e
def test_rows_become_the_points_the_writer_makes(real_csv):
    tail = tail_input()
    seen_dataid = seen_plain = 0
    for path in real_csv:
        for record in [line.split(",") for line in path.read_text().splitlines()[1:]]:
            name, tags, fields, when = telegraf_point(record, tail)
            ts, unitid, epc, dataid, value = record
            reading = Reading(0, "e", ts, unitid, epc, dataid, float(value))
            w_name, w_tags, w_fields, w_ms = parse_line(line_protocol.render(reading)[0])
            assert (name, tags, fields) == (w_name, w_tags, w_fields), record
            assert int(when.timestamp()) == w_ms // 1000
            assert isinstance(fields[line_protocol.FIELD], float)
            seen_dataid += "dataid" in tags
            seen_plain += "dataid" not in tags
    assert seen_dataid and seen_plain, "the run had no E8 (dataid) rows or no plain rows"
