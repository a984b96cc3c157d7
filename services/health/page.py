"""GET /: the page a person opens: energy bought and sold on top, the health status below.

Self-contained (no CDN, no external font): the energy part is drawn by a small inline script
from the JSON API (energy/page.js) and the power curve is an inline SVG drawn here.  The
script redraws both in place every 30 s, so the page never reloads (no flicker).  Labels in
Japanese and English.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from services.health.energy import page as energy_page
from services.health.state import HealthState

COLOURS = {"pass": "#1b7f3b", "warn": "#b26a00", "fail": "#b3261e"}
WORDS = {"pass": "正常 OK", "warn": "注意 Warning", "fail": "異常 Failure"}
PROPERTIES = [
    ("E7", "", "瞬時電力 Power", "W"),
    ("E0", "", "積算 買電 Energy import", "kWh"),
    ("E3", "", "積算 売電 Energy export", "kWh"),
    ("E8", "R", "電流 R相 Current R", "A"),
    ("E8", "T", "電流 T相 Current T", "A"),
    ("EA", "", "定時 買電 Fixed-time import", "kWh"),
    ("EB", "", "定時 売電 Fixed-time export", "kWh"),
    ("D0", "forward", "1分 買電 1-minute import", "kWh"),
    ("D0", "reverse", "1分 売電 1-minute export", "kWh"),
]
W, H, PAD = 720, 220, 40


def _curve_svg(points: list[tuple[float, float]], tz: ZoneInfo) -> str:
    if not points:
        return '<p id="curve-empty">まだデータがありません / No readings today yet.</p>'
    day = datetime.fromtimestamp(points[0][0], tz).replace(hour=0, minute=0, second=0)
    t0 = day.timestamp()
    values = [v for _, v in points]
    lo, hi = min(0.0, min(values)), max(100.0, max(values))
    span = hi - lo or 1.0

    def xy(t: float, v: float) -> str:
        x = PAD + (t - t0) / 86400 * (W - 2 * PAD)
        y = H - PAD - (v - lo) / span * (H - 2 * PAD)
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(t, v) for t, v in points)
    zero_y = H - PAD - (0 - lo) / span * (H - 2 * PAD)
    ticks = "".join(
        f'<text x="{PAD + h / 24 * (W - 2 * PAD):.0f}" y="{H - PAD + 16}" '
        f'font-size="11" text-anchor="middle">{h}:00</text>'
        for h in range(0, 25, 3)
    )
    return (
        f'<svg id="curve" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" '
        f'aria-label="今日の瞬時電力 / power today" data-points="{len(points)}">'
        f'<rect x="{PAD}" y="{PAD}" width="{W - 2 * PAD}" height="{H - 2 * PAD}" fill="#f6f6f6"/>'
        f'<line x1="{PAD}" x2="{W - PAD}" y1="{zero_y:.1f}" y2="{zero_y:.1f}" stroke="#999"/>'
        f'<text x="4" y="{PAD}" font-size="11">{hi:.0f} W</text>'
        f'<text x="4" y="{H - PAD}" font-size="11">{lo:.0f} W</text>{ticks}'
        f'<polyline id="curve-line" fill="none" stroke="#1565c0" stroke-width="1.5" '
        f'points="{line}"/></svg>'
    )


def _cause(check: dict) -> str:
    """The named cause of a check that does not pass: what docs/operations.md explains."""
    cause = check.get("cause")
    return f" ({escape(str(cause))})" if check["status"] != "pass" and cause else ""


def _meter_line(verdict: dict[str, Any]) -> str:
    """Which meter: its maker and, on a Release R meter, its B-route ID (masked by the radio:
    only the maker code and the last 4 characters; the rest identifies a household)."""
    link = verdict.get("checks", {}).get("radio:link") or [{}]
    details = link[0].get("details") or {}
    parts = []
    if details.get("meter_maker"):
        parts.append(f"メーカー Maker {escape(str(details['meter_maker']))}")
    if details.get("meter_id"):
        parts.append(f"Bルート識別番号 B-route ID <span id='meter-id'>"
                     f"{escape(str(details['meter_id']))}</span>")  # fmt: skip
    return f"<p id='meter'>メーター Meter: {', '.join(parts)}</p>" if parts else ""


def render(state: HealthState, verdict: dict[str, Any]) -> str:
    tz = state.tz
    status = verdict["status"]
    with state.lock:
        latest = dict(state.latest)
    rows = []
    for epc, dataid, label, unit in PROPERTIES:
        item = latest.get((epc, dataid))
        if item is None:
            continue
        when = datetime.fromisoformat(item.ts).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
        ident = f"{epc.lower()}{dataid.lower()}-value"
        rows.append(
            f"<tr><td>{escape(label)} ({epc})</td><td id='{ident}' class='num'>"
            f"{item.value:g}</td><td>{unit}</td><td>{when}</td></tr>"
        )
    checks = "".join(
        f"<tr><td>{escape(key)}</td><td style='color:{COLOURS[c[0]['status']]}'>"
        f"{c[0]['status']}{_cause(c[0])}</td><td>{escape(str(c[0].get('output', '')))}</td></tr>"
        for key, c in verdict["checks"].items()
    )
    curve = _curve_svg(state.today_curve(), tz)
    meter = _meter_line(verdict)
    now = datetime.now(tz).strftime("%Y-%m-%d %H:%M:%S %Z")
    return f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>スマートメーター / Smart meter — {WORDS[status]}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
#verdict {{ display: inline-block; padding: .3em .8em; color: #fff; border-radius: .3em;
  background: {COLOURS[status]}; font-weight: bold; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .25em .8em; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
#curve {{ max-width: 100%; height: auto; }}
</style>
{energy_page.script()}</head><body>
<h1>スマートメーター ロガー / Smart-meter logger</h1>
{energy_page.section()}
<section id="health">
<h2>状態 / Status</h2>
<p>状態 Status: <span id="verdict" data-status="{status}">{WORDS[status]}</span>
 <small>({now})</small></p>
{meter}
<h2>最新の値 / Latest readings</h2>
<table id="latest"><tr><th>項目 Property</th><th>値 Value</th><th>単位 Unit</th>
<th>時刻 Time</th></tr>{"".join(rows)}</table>
<h2>今日の電力 / Power today</h2>
{curve}
<h2>各部の状態 / Components</h2>
<table id="checks"><tr><th>項目 Check</th><th>状態 Status</th><th>説明 Detail</th></tr>
{checks}</table>
<p><a href="/health">/health</a> · <a href="/metrics">/metrics</a>
 · <a href="/api/energy/summary">/api/energy/summary</a></p>
</section>
</body></html>
"""
