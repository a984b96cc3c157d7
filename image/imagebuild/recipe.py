"""What an image is made of: the package lists, a flavour's settings, the base cache key.

Read by the build and by the static tests; nothing here runs a command.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_DIR = Path(__file__).resolve().parent.parent  # <repo>/image
REPO_ROOT = IMAGE_DIR.parent
FLAVOURS = ("debian", "raspios")
DIRECTIVES = ("suite", "components", "source", "keyring", "hook")
PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")  # Debian policy 5.6.1
FINGERPRINT = re.compile(r"^[0-9A-F]{40}$")

# The labels that genimage gives the partitions, fstab mounts and cmdline.txt boots from.
BOOT_LABEL = "bootfs"
ROOT_LABEL = "rootfs"
BOOT_MOUNT = "/boot/firmware"


class RecipeError(ValueError):
    """A package list or flavour file that cannot be used, with the file and line."""


@dataclass(frozen=True)
class Keyring:
    url: str
    fingerprint: str


@dataclass
class Flavour:
    name: str
    suite: str = ""
    components: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # one-line apt sources ("deb URL ...")
    keyrings: list[Keyring] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)  # file names in image/hooks
    packages: list[str] = field(default_factory=list)  # on top of packages/base.txt


def read_package_list(path: Path) -> list[str]:
    """One package a line, '#' comments; names must be valid and not repeated."""
    return _package_names(enumerate(path.read_text().splitlines(), 1), path)


def _package_names(lines: Iterable[tuple[int, str]], path: Path) -> list[str]:
    names: list[str] = []
    for number, raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not PACKAGE_NAME.match(line):
            raise RecipeError(f"{path}:{number}: {line!r} is not a Debian package name")
        if line in names:
            raise RecipeError(f"{path}:{number}: {line} is listed twice")
        names.append(line)
    return names


def read_flavour(name: str, image_dir: Path = IMAGE_DIR) -> Flavour:
    path = image_dir / "flavours" / f"{name}.txt"
    if name not in FLAVOURS or not path.is_file():
        raise RecipeError(f"unknown flavour {name!r}; choose one of {', '.join(FLAVOURS)}")
    flavour = Flavour(name)
    package_lines: list[tuple[int, str]] = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("@"):
            package_lines.append((number, line))
            continue
        key, _, value = line[1:].partition(" ")
        value = value.strip()
        where = f"{path}:{number}"
        if key not in DIRECTIVES or not value:
            raise RecipeError(f"{where}: '@{key}' needs one of @{', @'.join(DIRECTIVES)} + value")
        if key == "suite":
            flavour.suite = value
        elif key == "components":
            flavour.components = value.split()
        elif key == "source":
            if not re.match(r"^deb (\[[^]]*\] )?https?://\S+ \S+( \S+)+$", value):
                raise RecipeError(f"{where}: '@source' must be 'deb URL SUITE COMPONENT...'")
            flavour.sources.append(value)
        elif key == "keyring":
            parts = value.split()
            if len(parts) != 2 or not parts[0].startswith("https://"):
                raise RecipeError(f"{where}: '@keyring' must be 'https://URL FINGERPRINT'")
            if not FINGERPRINT.match(parts[1]):
                raise RecipeError(f"{where}: {parts[1]!r} is not a 40-digit key fingerprint")
            flavour.keyrings.append(Keyring(parts[0], parts[1]))
        elif key == "hook":
            if not (image_dir / "hooks" / value).is_file():
                raise RecipeError(f"{where}: hook {value} is not in {image_dir / 'hooks'}")
            flavour.hooks.append(value)
    flavour.packages = _package_names(package_lines, path)
    if not flavour.suite or not flavour.sources or not flavour.components:
        raise RecipeError(f"{path}: needs @suite, @components and at least one @source")
    return flavour


def all_packages(flavour: Flavour, image_dir: Path = IMAGE_DIR) -> list[str]:
    base = read_package_list(image_dir / "packages" / "base.txt")
    twice = sorted(set(base) & set(flavour.packages))
    if twice:
        raise RecipeError(f"{flavour.name}: already in base.txt: {', '.join(twice)}")
    return sorted(base + flavour.packages)


def base_cache_key(flavour: Flavour, image_dir: Path = IMAGE_DIR) -> str:
    """Changes whenever the base root file system would come out differently."""
    h = hashlib.sha256()
    h.update(f"arch=arm64\nsuite={flavour.suite}\n".encode())
    h.update(" ".join(flavour.components).encode() + b"\n")
    for line in flavour.sources + [f"{k.url} {k.fingerprint}" for k in flavour.keyrings]:
        h.update(line.encode() + b"\n")
    h.update("\n".join(all_packages(flavour, image_dir)).encode() + b"\n")
    overlay = image_dir / "overlay" / "base"
    for path in sorted(p for p in overlay.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(overlay)).encode() + b"\0")
        h.update(f"{path.stat().st_mode & 0o777:o}".encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return f"{flavour.name}-{flavour.suite}-{h.hexdigest()[:16]}"
