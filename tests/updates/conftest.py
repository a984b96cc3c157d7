"""Bundles built once per session from this checkout (see tests/support/update_host.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.update_host import (
    CONFIG_UNREADABLE,
    LEDGER_FORMAT_2,
    RADIO_EXITS,
    RADIO_NEVER_JOINS,
    Keys,
    bumped,
    checkout_version,
    make_bundle,
)


@dataclass(frozen=True)
class Bundles:
    keys: Keys
    a: Path  # this checkout as it is
    b: Path  # the next version, nothing else changed
    formats: Path  # the next version with the ledger in a new format (and its migration)
    radio_exits: Path
    never_joins: Path
    bad_config: Path
    a_aarch64: Path  # for the image, not this machine


@pytest.fixture(scope="session")
def bundles(tmp_path_factory) -> Bundles:
    out = tmp_path_factory.mktemp("bundles")
    keys = Keys.make(out / "keys")
    v = checkout_version()
    return Bundles(
        keys=keys,
        a=make_bundle(out, keys),
        b=make_bundle(out, keys, bumped(v, 1)),
        formats=make_bundle(out, keys, bumped(v, 2), LEDGER_FORMAT_2),
        radio_exits=make_bundle(out, keys, bumped(v, 3), RADIO_EXITS),
        never_joins=make_bundle(out, keys, bumped(v, 4), RADIO_NEVER_JOINS),
        bad_config=make_bundle(out, keys, bumped(v, 5), CONFIG_UNREADABLE),
        a_aarch64=make_bundle(out / "arm", keys, aarch64=True),
    )
