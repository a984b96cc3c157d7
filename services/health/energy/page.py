"""The energy part of the status page: page.html (the frame), drawn by page.js from the
JSON API.  Japanese first, English alongside; no CDN, no external font; from 390 px wide.
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
