"""deploy/grafana/smartmeter-dashboard.json asks InfluxDB for what the writer stores.

Grafana and InfluxDB do not run here: the dashboard must be valid JSON, every Flux query must
name the writer's measurement, filter on its tags and field (the names are taken from
services/influx_writer/line_protocol.py, so a rename there fails here), read the bucket from
the dashboard variable, and use no variable the dashboard does not define.  The queue-depth
panel reads the health service's Prometheus metric, which must exist.
"""

from __future__ import annotations

import json
import re

import pytest

from services.influx_writer import line_protocol
from tests.support.stack import PROJECT

DASHBOARD = PROJECT / "deploy" / "grafana" / "smartmeter-dashboard.json"
TAGS = {"unitid", "epc", "dataid"}  # what line_protocol.render writes
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def targets(kind: str) -> list[tuple[dict, dict]]:
    return [
        (panel, target)
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
        if (target.get("datasource") or panel["datasource"])["type"] == kind
    ]


def variables() -> dict[str, dict]:
    return {v["name"]: v for v in dashboard()["templating"]["list"]}


def test_it_is_a_dashboard_model():
    d = dashboard()
    assert d["uid"] and d["title"] and d["schemaVersion"] >= 36
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for p in d["panels"]:
        assert {"h", "w", "x", "y"} <= set(p["gridPos"]), p["title"]
        assert p["targets"], f"{p['title']}: no query"
    titles = " ".join(p["title"].lower() for p in d["panels"])
    for wanted in ("power now", "power today", "daily energy", "queue depth"):
        assert wanted in titles


def test_every_flux_query_names_the_writers_measurement_tags_and_field():
    flux = targets("influxdb")
    assert len(flux) >= 3
    for panel, target in flux:
        q = target["query"]
        where = panel["title"]
        assert f'r._measurement == "{line_protocol.MEASUREMENT}"' in q, where
        assert f'r._field == "{line_protocol.FIELD}"' in q, where
        assert re.search(r"\br\.epc\s*(==|=~)", q), f"{where}: no filter on epc"
        assert 'from(bucket: "${bucket}")' in q, f"{where}: bucket is not the variable"
        # r._time, r._value ...: InfluxDB's own columns; anything else is a tag
        used = {c for c in re.findall(r"\br\.([A-Za-z_]\w*)", q) if not c.startswith("_")}
        assert used <= TAGS, f"{where}: filters on {used - TAGS}, which the writer never writes"
        assert q.count("(") == q.count(")") and q.count("{") == q.count("}"), where


def test_the_panels_read_the_properties_they_show():
    by_title = {p["title"]: t["query"] for p, t in targets("influxdb")}
    assert 'r.epc == "E7"' in by_title["Power now"] and "last()" in by_title["Power now"]
    assert 'r.epc == "E7"' in by_title["Power today"]
    daily = by_title["Daily energy: import and export"]
    assert "r.epc =~ /^(${energy})$/" in daily
    options = {o["value"] for o in variables()["energy"]["options"]}
    assert options == {"E0|E3", "EA|EB"}  # import|export from the counters, or the meter's
    assert "every: 1d" in daily and "difference(" in daily


def test_the_bucket_and_datasources_are_variables():
    v = variables()
    assert v["bucket"]["type"] == "query" and "buckets()" in v["bucket"]["query"]
    assert v["DS_INFLUXDB"]["type"] == "datasource" and v["DS_INFLUXDB"]["query"] == "influxdb"
    assert v["DS_PROMETHEUS"]["query"] == "prometheus"
    for panel in dashboard()["panels"]:
        for source in [panel["datasource"]] + [t["datasource"] for t in panel["targets"]]:
            assert source["uid"] in ("${DS_INFLUXDB}", "${DS_PROMETHEUS}"), panel["title"]


def test_every_variable_used_is_defined():
    defined = set(variables()) | {"__interval", "__range", "__from", "__to"}
    text = DASHBOARD.read_text(encoding="utf-8")
    used = {a or b for a, b in VARIABLE.findall(text)}
    assert used <= defined, f"undefined: {used - defined}"


def test_queue_depth_comes_from_the_health_metrics():
    (panel, target), *_ = targets("prometheus")
    metric = re.search(r"smartmeter_\w+", target["expr"]).group(0)
    assert metric == "smartmeter_queue_depth"
    assert "metrics" in panel["description"] and "Prometheus" in panel["description"]
    exposition = PROJECT / "services" / "health" / "metrics.py"
    if not exposition.exists():
        pytest.skip("services/health is not on this branch yet")
    assert f'"{metric}"' in exposition.read_text()
