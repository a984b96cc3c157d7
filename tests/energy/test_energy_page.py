"""The energy page in chromium, at a phone's 390×844 and a desktop's 1280×800.

A month and a half of CSV history is written directly (scripts/benchmarks/energy_history.py),
today's up to the current minute; the health service runs on its own over it.  The page
must show the kWh this test sums from the CSV itself (the E0/E3 counter at one midnight
minus the counter at the one before, modulo the wrap), and a bar for every half-hour the
CSV covers.  Screenshots are kept in test-output/energy/ (gitignored); their paths are printed.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from scripts.benchmarks.energy_history import JST, History
from tests.support.browser import Chromium
from tests.support.stack import PROJECT, Stack, wait_for

pytestmark = pytest.mark.e2e

WRAP = 1000.0  # kWh: the history's D7 = 7 digits of 0.0001 kWh
OUTPUT = PROJECT / "test-output" / "energy"  # gitignored: screenshots for a person to look at
BUDGET = 8000  # ms of the page's virtual time: its fetches and drawing are done


class Dom(HTMLParser):
    """Attributes by id, and the bars (rects) of each chart."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str]] = {}
        self.bars: dict[str, list[dict[str, str]]] = {}
        self._svg = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.by_id[a["id"]] = a
        if tag == "svg":
            self._svg = a.get("id", "")
        elif tag == "rect" and self._svg:
            self.bars.setdefault(self._svg, []).append(a)

    def kwh(self, ident: str) -> float:
        return float(self.by_id[ident]["data-kwh"])

    def slots(self, chart: str, kind: str) -> set[int]:
        return {int(b["data-i"]) for b in self.bars.get(chart, []) if kind in b["class"].split()}


def own_sums(csv_dir: Path) -> tuple[dict[date, dict[str, float]], int]:
    """Each day's kWh from the CSV alone: the counter at the next midnight minus the counter
    at this one; today's up to its last reading.  Also the minute of today's last E0."""
    midnight: dict[date, dict[str, float]] = {}
    last: dict[str, tuple[str, float]] = {}
    for path in sorted(csv_dir.glob("*-smartmeter.csv")):
        for row in path.read_text().splitlines()[1:]:
            ts, _, epc, _, value = row.split(",")
            if epc not in ("E0", "E3"):
                continue
            direction = "import" if epc == "E0" else "export"
            if ts[11:19] == "00:00:00":
                midnight.setdefault(date.fromisoformat(ts[:10]), {})[direction] = float(value)
            last[direction] = (ts, float(value))
    days = sorted(midnight)
    out = {}
    for a, b in itertools.pairwise(days):
        out[a] = {d: (midnight[b][d] - midnight[a][d]) % WRAP for d in ("import", "export")}
    today = days[-1]
    out[today] = {d: (last[d][1] - midnight[today][d]) % WRAP for d in ("import", "export")}
    t = datetime.fromisoformat(last["import"][0])
    return out, t.hour * 60 + t.minute


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    now = datetime.now(JST).replace(second=0, microsecond=0)
    start = now.date() - timedelta(days=45)
    h = History(start, 46, start_import_kwh=900.0)  # wraps at 1000 kWh within the history
    h.cuts.append((now, datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), JST)))
    stack = Stack(root)
    h.write(stack.csv_dir)
    stack.write_config()
    log = open(root / "health.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "services.health"], cwd=PROJECT,
                            env=stack.environ(), stdout=log, stderr=subprocess.STDOUT)  # fmt: skip

    def ready() -> bool:
        try:
            return not json.loads(stack.get("/api/energy/summary")[1])["building"]
        except (OSError, ValueError):
            return False

    try:
        wait_for(ready, 60, "the energy book built")
        yield stack, root
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.mark.parametrize("width,height", [(390, 844), (1280, 800)])
def test_the_page_shows_the_csvs_kwh_and_a_bar_for_every_half_hour(page, width, height):
    stack, root = page
    sums, last_minute = own_sums(stack.csv_dir)
    today = max(sums)
    chromium = Chromium(root / f"chromium-{width}")
    dom = Dom(chromium.dom(stack.url + "/", f"{width},{height}", BUDGET))
    assert dom.by_id["energy"] and dom.by_id["health"]  # the health part stays, below
    raw = stack.get("/")[1].decode()
    assert 'http-equiv="refresh"' not in raw  # redrawn in place by its script, never reloaded
    # nothing fetched from elsewhere (a CDN, a web font): the only URL is the SVG namespace
    assert "https://" not in raw and raw.count("http://") == raw.count("http://www.w3.org/")
    assert dom.by_id["hh-date"].get("data-date") == today.isoformat()

    def month(first: date) -> dict[str, float]:
        days = [d for d in sums if d.replace(day=1) == first]
        return {k: sum(sums[d][k] for d in days) for k in ("import", "export")}

    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    expected = {"today": sums[today], "yesterday": sums[today - timedelta(days=1)],
                "this_month": month(this_month), "last_month": month(last_month)}  # fmt: skip
    for key, want in expected.items():
        for d in ("import", "export"):
            assert dom.kwh(f"{key}-{d}") == pytest.approx(want[d], abs=2e-3), (key, d)
    # today: a bar for every half-hour the CSV covers so far, the one in progress marked
    # as such (its energy up to the last reading), none after
    now_slot = last_minute // 30
    assert dom.slots("halfhours", "imp") == set(range(now_slot + 1))
    assert dom.slots("halfhours", "partial") == {now_slot}
    daily = dom.bars["daily"]
    assert {b["class"].split()[0] for b in daily} >= {"imp", "exp"}
    assert len(dom.slots("daily", "imp")) == 31
    shots = [chromium.screenshot(stack.url + "/", OUTPUT / f"energy-{width}.png",
                                 f"{width},{height}", BUDGET)]  # fmt: skip
    if width > 1000:  # the whole page in one picture
        shots.append(chromium.screenshot(stack.url + "/", OUTPUT / "energy-full.png",
                                         f"{width},2600", BUDGET))  # fmt: skip
    for s in shots:
        assert s.stat().st_size > 10_000
        print(f"screenshot: {s}")


def test_a_past_day_shows_all_its_half_hours_with_their_source(page):
    stack, root = page
    sums, _ = own_sums(stack.csv_dir)
    day = max(sums) - timedelta(days=3)
    chromium = Chromium(root / "chromium-past")
    dom = Dom(chromium.dom(f"{stack.url}/#{day.isoformat()}", "390,844", BUDGET))
    assert dom.by_id["hh-date"]["data-date"] == day.isoformat()
    assert dom.slots("halfhours", "imp") == set(range(48))
    assert all("counter" in b["class"] for b in dom.bars["halfhours"] if "imp" in b["class"])
    total = sum(float(b["data-kwh"]) for b in dom.bars["halfhours"] if "imp" in b["class"])
    assert total == pytest.approx(sums[day]["import"], abs=2e-3)


def test_the_page_redraws_itself_in_place(page):
    """After two of its 30 s refreshes (virtual time) everything is still there: the energy
    part redrawn from the API, the health part swapped in from a fresh "/"."""
    stack, root = page
    html = Chromium(root / "chromium-refresh").dom(stack.url + "/", "1280,800", 65_000)
    assert 'data-energy="ready"' in html  # every request of the last redraw succeeded
    dom = Dom(html)
    assert dom.by_id["verdict"] and dom.by_id["checks"]
    assert dom.by_id["today-import"].get("data-kwh")
    assert len(dom.slots("daily", "imp")) == 31
