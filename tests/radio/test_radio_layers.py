"""The radio's layers import only downwards (services/radio/__init__.py names them).

An import from a lower layer into a higher one is a defect: the link must work without the
meter, the meter without the backfill, and nothing but the loop on top may tie them together.
Imports inside functions count too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RADIO = Path(__file__).resolve().parents[2] / "services" / "radio"

# rank of each part of services.radio; a module may import parts of a lower rank or its own
RANKS = {
    "condition": 0,
    "timing": 0,
    "link": 1,
    "bus": 1,
    "meter": 2,
    "backfill": 3,
    "poller": 4,
    "__main__": 5,
}


def part_of(module: str) -> str:
    """``services.radio.link.session`` → ``link``."""
    return module.split(".")[2]


def radio_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                pytest.fail(f"{path}: relative import; write services.radio.… in full")
            names = [node.module]
            if node.module == "services.radio":
                names = [f"services.radio.{a.name}" for a in node.names]
            found += [(node.lineno, n) for n in names if n.startswith("services.radio.")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names
                      if a.name.startswith("services.radio.")]
    return found


def modules() -> list[Path]:
    return sorted(p for p in RADIO.rglob("*.py") if p.name != "__init__.py" or p.parent != RADIO)


def test_every_module_belongs_to_a_named_layer():
    for path in modules():
        rel = path.relative_to(RADIO).parts
        part = rel[0].removesuffix(".py")
        assert part in RANKS, f"services/radio/{'/'.join(rel)} is in no layer: name it in RANKS"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(RADIO)))
def test_no_import_goes_up_a_layer(path: Path):
    own = path.relative_to(RADIO).parts[0].removesuffix(".py")
    for line, target in radio_imports(path):
        other = part_of(target)
        assert other in RANKS, f"{path.name}:{line} imports unknown radio part {target}"
        if other == own:
            continue
        assert RANKS[other] < RANKS[own], (
            f"services/radio/{path.relative_to(RADIO)}:{line} imports {target}: "
            f"{own} (rank {RANKS[own]}) may not import {other} (rank {RANKS[other]})"
        )


def test_the_walker_sees_an_upward_import(tmp_path: Path):
    """The check itself can fail: a link module that imports the meter is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from services.radio.meter.client import MeterClient\n")
    assert radio_imports(bad) == [(2, "services.radio.meter.client")]
    assert RANKS[part_of("services.radio.meter.client")] > RANKS["link"]
