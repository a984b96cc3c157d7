"""What the dongle keeps across ``SKRESET`` and across a power cycle: the unsettled part.

Nothing public we have read says whether ``SKRESET`` puts the virtual registers (SA2, S02,
S03, …) back to their factory values or leaves them as the host set them, whether the echo
flag SFE follows the other registers, or whether the payload format written with ``WOPT``
lives in flash or only until the module loses power.  A logger must work either way, so
each is a switch (``--skreset-registers``, ``--skreset-echo``, ``--wopt-memory``, or the
control socket's ``set``) and the tests run under both settings.

What is not in doubt, and not a switch: a power cycle (USB unplug) brings every register
and the echo flag back to the factory values and ends the PANA session; ``SKRESET`` ends the
session and clears the B-route ID and password.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

# setting -> (choices, default first, what it decides)
SETTINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "skreset_registers": (
        ("factory", "keep"),
        "SKRESET puts the registers other than SFE back to factory values, or keeps them",
    ),
    "skreset_echo": (("factory", "keep"), "SKRESET puts SFE (echo) back to 1, or keeps it"),
    "wopt_memory": (
        ("flash", "ram"),
        "WOPT's payload format is kept in flash, or lost (back to the factory format) "
        "on SKRESET and on power-off",
    ),
}


@dataclass(frozen=True)
class DongleMemory:
    skreset_registers: str = "factory"
    skreset_echo: str = "factory"
    wopt_memory: str = "flash"

    def __post_init__(self) -> None:
        for name, (choices, _) in SETTINGS.items():
            value = getattr(self, name)
            if value not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")

    def with_settings(self, **settings: Any) -> DongleMemory:
        unknown = set(settings) - set(SETTINGS)
        if unknown:
            raise ValueError(f"unknown setting {', '.join(sorted(unknown))}")
        return replace(self, **settings)

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in SETTINGS}
