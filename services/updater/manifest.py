"""What an update bundle is: a tar of wheels + manifest.json + its detached signature.

The manifest names the version, the Python ABI and architecture the wheels are for, the
oldest version it may update, and the sha256 and size of every other member.  Only the
manifest is signed (minisign); every member is then checked against it, so one signature
covers the whole bundle and a truncated or altered member is named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

FORMAT = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.minisig"
BUNDLE_GLOB = "smartmeter-update-*.bundle"
PACKAGE = "smartmeter-logger"


class BundleError(Exception):
    """A bundle that must not be applied; the message is the one-line reason."""


def version_key(version: str) -> tuple[int, ...]:
    """Release numbers compared as numbers: 0.10.0 > 0.9.3 (a PEP 440 release segment)."""
    head = re.match(r"^\s*v?(\d+(?:\.\d+)*)", version)
    if head is None:
        raise BundleError(f"{version!r} is not a version number such as 1.2.3")
    parts = [int(p) for p in head.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def bundle_name(version: str, arch: str) -> str:
    return f"smartmeter-update-{version}-{arch}.bundle"


@dataclass(frozen=True)
class Manifest:
    version: str
    python: str  # the CPython ABI tag the wheels are for: cp313
    arch: str  # platform.machine() of the target: aarch64, x86_64
    min_from: str  # the oldest running version this bundle may update
    files: dict[str, dict[str, Any]]  # member -> {"sha256": ..., "size": ...}
    state_formats: dict[str, int]
    built: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "package": PACKAGE,
            "version": self.version,
            "python": self.python,
            "arch": self.arch,
            "min_from": self.min_from,
            "built": self.built,
            "state_formats": self.state_formats,
            "files": self.files,
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        if not isinstance(data, dict) or data.get("package") != PACKAGE:
            raise BundleError("not a smartmeter update bundle (its manifest names no package)")
        if data.get("format") != FORMAT:
            raise BundleError(f"bundle format {data.get('format')!r}; this updater reads {FORMAT}")
        try:
            files = {str(k): {"sha256": str(v["sha256"]), "size": int(v["size"])}
                     for k, v in data["files"].items()}  # fmt: skip
            m = cls(
                version=str(data["version"]),
                python=str(data["python"]),
                arch=str(data["arch"]),
                min_from=str(data.get("min_from") or "0"),
                files=files,
                state_formats={str(k): int(v) for k, v in data.get("state_formats", {}).items()},
                built=str(data.get("built", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"the bundle's manifest is malformed ({exc})") from exc
        version_key(m.version)
        for name in m.files:
            if name.startswith("/") or ".." in name.split("/") or name in (MANIFEST, SIGNATURE):
                raise BundleError(f"the bundle's manifest names an unsafe member {name!r}")
        return m
