"""Bundles built once per session from this checkout (see tests/support/update_host.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.influx_fixtures import victoria_fixture  # noqa: F401 - 'victoria'
from tests.support.stack import wait_for
from tests.support.update_host import (
    CONFIG_UNREADABLE,
    LEDGER_FORMAT_2,
    RADIO_EXITS,
    RADIO_NEVER_JOINS,
    ApplianceStack,
    Keys,
    bumped,
    checkout_version,
    joined,
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
    older: Path  # a version before this checkout's


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
        older=make_bundle(out, keys, "0.0.1"),
    )


@pytest.fixture(name="appliance")
def appliance_fixture(tmp_path, bundles, victoria):
    stack = ApplianceStack(tmp_path / "appliance", bundles.keys).use_influx(victoria)
    stack.settings["unitid"] = f"u{abs(hash(str(tmp_path))) % 10**8}"
    out = stack.install(bundles.a)
    assert out.returncode == 0, out.stdout + out.stderr
    wait_for(lambda: joined(stack), 60, "the radio joined on the first release")
    yield stack
    stack.stop()
