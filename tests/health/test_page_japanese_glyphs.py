"""The status page's Japanese labels, as a person sees them: glyphs, not boxes (tofu).

Chromium draws a character no installed font has as the same empty box every time, so the
check looks at the screenshot itself: every Japanese character of the page is wrapped in a
span by a small script (inline, so nothing moves), chromium reports where each one is drawn,
and the ink inside each box is measured in the screenshot.  Real glyphs differ (ー has a
fraction of 新's strokes); boxes are all alike.  The same page drawn with the Japanese fonts
hidden from fontconfig shows the check fails on tofu here, so it cannot pass by accident.

The screenshots stay in test-output/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.support.browser import Chromium
from tests.support.png import Image, read_png
from tests.support.stack import PROJECT, Stack, wait_for

pytestmark = pytest.mark.e2e

OUTPUT = PROJECT / "test-output"
JAPANESE = r"[\u3040-\u30ff\u4e00-\u9fff]"
PROBE = """<script>
(() => {
  const ja = /JAPANESE/;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const node of nodes.filter((n) => ja.test(n.data))) {
    const parts = document.createDocumentFragment();
    for (const ch of node.data) {
      if (!ja.test(ch)) { parts.append(ch); continue; }
      const span = document.createElement("span");
      span.className = "ja-glyph";
      span.textContent = ch;
      parts.append(span);
    }
    node.replaceWith(parts);
  }
  const boxes = [...document.querySelectorAll("span.ja-glyph")].map((s) => {
    const r = s.getBoundingClientRect();
    return [s.textContent, r.left, r.top, r.right, r.bottom, getComputedStyle(s).fontWeight];
  });
  const out = document.createElement("pre");
  out.id = "ja-boxes";
  out.hidden = true;
  out.textContent = JSON.stringify(boxes);
  document.body.append(out);
})();
</script>""".replace("JAPANESE", JAPANESE)
# Every font that has Japanese glyphs hidden: what a machine without fonts-noto-cjk shows.
NO_JAPANESE_FONTS = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <selectfont><rejectfont>
    <glob>*CJK*</glob>
    <pattern><patelt name="lang"><string>ja</string></patelt></pattern>
  </rejectfont></selectfont>
</fontconfig>
"""
SIZE = "1000,3000"  # the whole page: the energy part (issue 19) comes first, the status below
ALIKE = 0.6  # different characters overlapping more than this are boxes, not glyphs


Glyph = tuple[str, str, frozenset[tuple[int, int]]]  # character, its size and weight, its ink


def ink(image: Image, x0: int, y0: int, x1: int, y1: int) -> frozenset[tuple[int, int]]:
    """Where in the box the pixels differ from its background (its most common colour)."""
    background = Counter(image.crop(x0, y0, x1, y1)).most_common(1)[0][0]
    return frozenset(
        (x - x0, y - y0) for y in range(y0, y1) for x in range(x0, x1)
        if max(abs(a - b) for a, b in zip(image.pixel(x, y), background, strict=True)) > 64
    )  # fmt: skip


def glyphs(chromium: Chromium, page: Path, shot: Path) -> list[Glyph]:
    """Every Japanese character on the page as chromium draws it."""
    dom = chromium.dom(page.as_uri(), SIZE)
    boxes = json.loads(html.unescape(dom.split('id="ja-boxes" hidden="">', 1)[1].split("<", 1)[0]))
    image = read_png(chromium.screenshot(page.as_uri(), shot, SIZE))
    # Inside each box only: a neighbour's stroke must not count.
    inside = [(ch, math.ceil(x0), math.ceil(y0), math.floor(x1), math.floor(y1), weight)
              for ch, x0, y0, x1, y1, weight in boxes if y1 < image.height]  # fmt: skip
    return [(ch, f"{y1 - y0} px, weight {weight}", ink(image, x0, y0, x1, y1))
            for ch, x0, y0, x1, y1, weight in inside]  # fmt: skip


def alike(a: frozenset, b: frozenset) -> float:
    """How much two inks overlap (1 the same shape, 0 nothing in common), the better of the
    alignments a pixel apart: boxes at fractional positions are drawn a pixel off."""
    return max(len(a & moved) / max(len(a | moved), 1)
               for moved in ({(x + dx, y + dy) for x, y in b} for dx in (-1, 0, 1)
                             for dy in (-1, 0, 1)))  # fmt: skip


def sameness(found: list[Glyph]) -> float:
    """The mean overlap of different characters drawn at the same size.  Glyphs of different
    characters share little (ー and ガ); boxes are one shape, whatever the character."""
    first: dict[tuple[str, str], frozenset] = {}
    for ch, style, shape in found:
        first.setdefault((ch, style), shape)
    by_style: dict[str, list[frozenset]] = {}
    for (_, style), shape in first.items():
        by_style.setdefault(style, []).append(shape)
    pairs = [alike(a, b) for shapes in by_style.values() for i, a in enumerate(shapes)
             for b in shapes[i + 1 :]]  # fmt: skip
    return sum(pairs) / len(pairs)


def _page_with_readings(stack: Stack) -> str:
    try:
        code, body = stack.get("/")
    except OSError:
        return ""  # not listening yet
    return body.decode() if code == 200 and "e7-value" in body.decode() else ""


def test_the_japanese_labels_render_as_glyphs_not_boxes(tmp_path):
    chromium = Chromium(tmp_path / "profile")
    stack = Stack(
        tmp_path / "s",
        settings={"acquisition": {"interval_seconds": 0.5, "properties": ["E7", "E0", "E3"]}},
    )
    try:
        stack.start()
        served = str(wait_for(lambda: _page_with_readings(stack), 60, "the page with a reading"))
    finally:
        stack.stop()
    page = tmp_path / "status.html"
    page.write_text(served.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    labels = set(re.findall(JAPANESE, served.split("<body>", 1)[1]))
    assert {"瞬", "時", "電", "力", "状", "態"} <= labels  # the page still has Japanese labels

    OUTPUT.mkdir(exist_ok=True)
    seen = glyphs(chromium, page, OUTPUT / "status-page-ja.png")
    print(f"\nthe status page as chromium draws it: {OUTPUT / 'status-page-ja.png'}")
    assert {ch for ch, _, _ in seen} == labels, "chromium did not draw every Japanese character"
    fonts = tmp_path / "fonts.conf"
    fonts.write_text(NO_JAPANESE_FONTS)
    blind = Chromium(tmp_path / "profile-tofu", env={**os.environ, "FONTCONFIG_FILE": str(fonts)})
    tofu = glyphs(blind, page, OUTPUT / "status-page-tofu.png")

    print(f"overlap of different characters: {sameness(seen):.2f} on the page, "
          f"{sameness(tofu):.2f} as boxes")  # fmt: skip
    assert all(shape for _, _, shape in seen), "a Japanese character drawn without ink"
    assert sameness(tofu) > ALIKE, "the check cannot tell boxes from glyphs here"
    assert sameness(seen) < ALIKE, (
        f"the Japanese labels are drawn as boxes (install fonts-noto-cjk); see "
        f"{OUTPUT / 'status-page-ja.png'}"
    )
