"""Fetch uv from PyPI with the Python standard library alone: scripts/get_uv.py DEST

For a bare Debian/Ubuntu/Raspberry Pi OS system whose python3 has neither pip nor the venv
module: asks PyPI's JSON API for the newest uv, picks the wheel built for this machine (CPU,
and glibc or musl), checks it against the sha256 PyPI publishes, and unpacks the `uv`
binary to DEST (e.g. .tools/bin/uv).  uv then makes the project's venv itself; it does not
need python3-venv.

Runs on any python3 a supported system ships (3.7 and newer), so no newer syntax here.
Exit 0 on success; otherwise one line on stderr saying what to do, exit 1.
"""

import hashlib
import json
import os
import platform
import re
import shutil
import ssl
import stat
import struct
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile

# A PyPI mirror with the same JSON API can stand in (SMARTMETER_UV_INDEX=https://.../pypi/uv/json).
INDEX = os.environ.get("SMARTMETER_UV_INDEX") or "https://pypi.org/pypi/uv/json"
TIMEOUT = 60

# A wheel's platform tag, e.g. manylinux_2_17_x86_64, manylinux2014_aarch64,
# musllinux_1_1_armv7l, linux_armv6l.
TAG = re.compile(r"^(?:(manylinux|musllinux)_(\d+)_(\d+)|(manylinux)(2014|2010|1)|linux)_(\w+)$")
LEGACY_MANYLINUX = {"2014": (2, 17), "2010": (2, 12), "1": (2, 5)}


class Failed(Exception):
    """Something a person has to fix; the message says what."""


def machine() -> str:
    """The CPU the Python that runs uv is built for (not the kernel's: a 32-bit Raspberry
    Pi OS on a 64-bit kernel says aarch64 in uname, but its programs are armv7l)."""
    m = platform.machine().lower()
    m = {"amd64": "x86_64", "arm64": "aarch64", "armv8l": "armv7l", "i386": "i686"}.get(m, m)
    if struct.calcsize("P") == 4:
        m = {"x86_64": "i686", "aarch64": "armv7l"}.get(m, m)
    return m


def libc() -> "tuple[str, tuple[int, int]]":
    """('glibc', (2, 36)) or ('musl', (1, 2)); musl's version is not needed for uv."""
    try:
        name, _, ver = (os.confstr("CS_GNU_LIBC_VERSION") or "").partition(" ")
        if name == "glibc":
            major, minor = ver.split(".")[:2]
            return "glibc", (int(major), int(minor))
    except (ValueError, OSError):
        pass
    return "musl", (1, 1)


def compatible(filename: str, arch: str, lib: "tuple[str, tuple[int, int]]") -> int:
    """How well a wheel fits this machine: 0 not at all, higher is better."""
    if not filename.endswith(".whl"):
        return 0
    fits = {arch: 2}
    if arch == "armv7l":
        fits["armv6l"] = 1  # runs on an armv7 CPU; the armv7 build is preferred
    best = 0
    for tag in filename[:-4].split("-")[-1].split("."):
        m = TAG.match(tag)
        if not m or m.group(6) not in fits:
            continue
        kind, need = m.group(1) or m.group(4), None
        if m.group(2):
            need = (int(m.group(2)), int(m.group(3)))
        elif m.group(5):
            need = LEGACY_MANYLINUX[m.group(5)]
        if kind == "manylinux" and not (lib[0] == "glibc" and lib[1] >= need):
            continue
        if kind == "musllinux" and lib[0] != "musl":
            continue
        # A wheel needing a newer glibc is built for newer systems: prefer it when it fits.
        score = fits[m.group(6)] * 1000 + (need[0] * 100 + need[1] if need else 0)
        best = max(best, score)
    return best


def fetch(url: str) -> bytes:
    host = urllib.parse.urlparse(url).netloc or url
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
            return answer.read()
    except urllib.error.URLError as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise Failed(
                f"cannot verify {host}'s certificate ({reason.verify_message}); install "
                "the CA certificates: sudo apt-get install ca-certificates"
            ) from None
        raise Failed(
            f"cannot reach {host} ({reason}); check the network (a proxy goes in https_proxy=...)"
        ) from None
    except (OSError, ValueError) as exc:
        raise Failed(f"cannot reach {host} ({exc}); check the network") from None


def pick(release: dict, arch: str, lib: "tuple[str, tuple[int, int]]") -> dict:
    files = [f for f in release.get("urls", []) if not f.get("yanked")]
    scored = sorted(((compatible(f["filename"], arch, lib), f) for f in files),
                    key=lambda pair: pair[0])  # fmt: skip
    if not scored or scored[-1][0] == 0:
        raise Failed(
            "PyPI has no uv build for this machine ({}, {} {}); install uv another way: "
            "https://docs.astral.sh/uv/getting-started/installation/".format(
                arch, lib[0], ".".join(map(str, lib[1]))
            )
        )
    return scored[-1][1]


def unpack(wheel_path: str, dest: str) -> None:
    with zipfile.ZipFile(wheel_path) as wheel:
        names = [n for n in wheel.namelist() if re.match(r"^uv-[^/]+\.data/scripts/uv$", n)]
        if not names:
            raise Failed("the uv wheel has no uv binary in it; try again later")
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
        tmp = dest + ".part"
        with wheel.open(names[0]) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out)
    os.chmod(tmp, os.stat(tmp).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(tmp, dest)  # never a half-written uv at DEST


def install(dest: str, index: "str | None" = None) -> str:
    index = index or INDEX
    try:
        release = json.loads(fetch(index).decode("utf-8"))
    except ValueError:
        raise Failed(f"{index} did not answer with JSON; try again later") from None
    arch, lib = machine(), libc()
    chosen = pick(release, arch, lib)
    want = chosen["digests"]["sha256"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, chosen["filename"])
        data = fetch(urllib.parse.urljoin(index, chosen["url"]))
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            raise Failed(
                "{} does not match the sha256 PyPI publishes ({} != {}); not installed, "
                "try again".format(chosen["filename"], got[:16], want[:16])
            )
        with open(path, "wb") as f:
            f.write(data)
        unpack(path, dest)
    return "uv {} ({})".format(release.get("info", {}).get("version", "?"), chosen["filename"])


def main(argv: "list[str]") -> int:
    if len(argv) != 2:
        print("usage: get_uv.py DEST (where to put the uv binary)", file=sys.stderr)
        return 2
    try:
        what = install(argv[1])
    except Failed as exc:
        print(f"uv could not be installed: {exc}", file=sys.stderr)
        return 1
    print(f"installed {what} to {argv[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
