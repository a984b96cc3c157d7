"""The energy part of the status page: page.html (the frame in the body), drawn by page.js
(in the head) from the JSON API.  Japanese first, English alongside; no CDN, no external
font; from 390 px wide.  Every Japanese word in the body is shown (no hidden or collapsed
text): tests/health/test_page_japanese_glyphs.py checks each one is drawn as a glyph.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent


@cache
def section() -> str:
    return (_HERE / "page.html").read_text(encoding="utf-8")


@cache
def script() -> str:
    return "<script>\n" + (_HERE / "page.js").read_text(encoding="utf-8") + "</script>\n"
