"""The simulator started as its own process on a pty, as the tests of this folder use it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.simulator.harness import RunningSimulator


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., RunningSimulator]]:
    """``start(*args, dialect=...)``: a running simulator, stopped after the test."""
    sims: list[RunningSimulator] = []

    def _start(*args: str, dialect: str = "rl7023-ips") -> RunningSimulator:
        sim = RunningSimulator(tmp_path / f"sim{len(sims)}", *args, dialect=dialect)
        sims.append(sim)
        return sim

    yield _start
    for sim in sims:
        sim.stop()
