"""The energy JSON API and the CSV downloads, over the health service's real HTTP server."""

from __future__ import annotations

import gzip
import json
import os
import threading
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta

import pytest

from scripts.benchmarks.energy_history import JST, History
from services.health.energy.api import EnergyApi
from services.health.energy.book import EnergyBook
from services.health.server import HealthServer
from services.health.state import HealthState

D0 = date(2026, 6, 1)
NOW = datetime(2026, 7, 3, 9, 0, tzinfo=JST)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    h = History(D0, 32)  # June 1 .. July 2
    h.write(root / "csv", gzip_before=D0 + timedelta(days=20))
    (root / "outside.csv").write_text("secret,row\n")
    os.symlink(root / "outside.csv", root / "csv" / "20260703-smartmeter.csv")
    book = EnergyBook(JST, root / "data", root / "csv", clock=lambda: NOW.timestamp())
    book.first_build()
    routes = EnergyApi(book, HealthState(tz=JST), root / "csv").routes()
    server = HealthServer("127.0.0.1", 0, routes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", h, root
    server.shutdown()


def get(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_days_halfhours_and_months_agree_with_the_history(served):
    url, h, _ = served
    code, body, _ = get(url + "/api/energy/days?from=2026-06-01&to=2026-06-30")
    assert code == 200
    days = json.loads(body)["days"]
    assert len(days) == 30
    for d in days:
        t = h.day_truth(date.fromisoformat(d["date"]))
        assert d["import_kwh"] == pytest.approx(t.total("import"), abs=1e-3)
        assert d["export_kwh"] == pytest.approx(t.total("export"), abs=1e-3)
        assert d["complete"] and d["gap_halfhours"] == 0
    hh = json.loads(get(url + "/api/energy/halfhours?date=2026-06-10")[1])
    assert len(hh["slots"]) == 48 and hh["slots"][0]["start"] == "2026-06-10T00:00+09:00"
    t = h.day_truth(date(2026, 6, 10))
    assert [s["import_kwh"] for s in hh["slots"]] == pytest.approx(t.slot_kwh("import"), abs=1e-3)
    assert {s["source"] for s in hh["slots"]} == {"counter"}
    months = json.loads(get(url + "/api/energy/months?from=2026-06&to=2026-07")[1])["months"]
    june = sum(t.total("import") for t in h.truth[:30])
    assert months[0] == {"month": "2026-06", "import_kwh": pytest.approx(june, abs=1e-3),
                         "export_kwh": pytest.approx(sum(t.total("export") for t in h.truth[:30]),
                                                     abs=1e-3),
                         "days": 30, "days_with_data": 30}  # fmt: skip
    summary = json.loads(get(url + "/api/energy/summary")[1])
    assert summary["yesterday"]["date"] == "2026-07-02"
    assert summary["last_month"]["import_kwh"] == pytest.approx(june, abs=1e-3)


def test_a_wrong_query_gets_a_one_line_reason(served):
    url = served[0]
    for path, words in (("/api/energy/days?from=yesterday", "'from' must be a date"),
                        ("/api/energy/days?from=2020-01-01&to=2026-01-01", "at most 400 days"),
                        ("/api/energy/halfhours?date=2026-13-01", "'date' must be a date"),
                        ("/api/energy/months?from=2026", "'from' must be a month")):  # fmt: skip
        code, body, _ = get(url + path)
        assert code == 400 and words in json.loads(body)["error"], path


def test_downloads_are_the_files_as_they_are_and_nothing_else(served):
    url, _, root = served
    csv = root / "csv"
    code, body, headers = get(url + "/download/20260625-smartmeter.csv")
    assert code == 200 and body == (csv / "20260625-smartmeter.csv").read_bytes()
    assert headers["Content-Type"].startswith("text/csv")
    assert 'filename="20260625-smartmeter.csv"' in headers["Content-Disposition"]
    code, body, headers = get(url + "/download/20260601-smartmeter.csv.gz")
    assert code == 200 and body == (csv / "20260601-smartmeter.csv.gz").read_bytes()
    assert gzip.decompress(body).startswith(b"timestamp,unitid,epc,dataid,value\n")
    files = json.loads(get(url + "/api/energy/files")[1])["files"]
    assert {f["name"] for f in files} >= {"20260601-smartmeter.csv.gz", "20260625-smartmeter.csv"}
    for path in ("/download/../outside.csv", "/download/%2e%2e/outside.csv",
                 "/download/..%2foutside.csv", "/download/20260703-smartmeter.csv",  # a symlink
                 "/download/20260699-smartmeter.csv", "/download/x/../20260625-smartmeter.csv",
                 "/download/20260625-smartmeter.csv%00", "/download/"):  # fmt: skip
        code, body, _ = get(url + path)
        assert code == 404 and b"secret" not in body, path
