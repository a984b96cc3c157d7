"""A secret from .env (B-route ID and password, InfluxDB token) that never shows itself."""

from __future__ import annotations


class Secret(str):
    """A string that never shows itself in repr(), logs or tracebacks."""

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"

    def reveal(self) -> str:
        return str.__str__(self)

    def __str__(self) -> str:
        return "***" if self else ""

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)
