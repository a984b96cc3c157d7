"""Run commands in the built root file system without changing it (aarch64, qemu-user).

An overlay mount in a private mount namespace: the image's tree is the read-only lower
layer, everything a test writes lands in its own upper folder (where the test can look),
and every mount disappears with the namespace.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

_RUNNER = r"""
set -eu
lower=$1 upper=$2 work=$3 merged=$4; shift 4
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$merged"
mount -t proc proc "$merged/proc"
mount --rbind /dev "$merged/dev"
mount -t tmpfs tmpfs "$merged/run"
mkdir -p "$merged/run/smartmeter"
exec chroot "$merged" /usr/bin/env -i PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LC_ALL=C.UTF-8 HOME=/root QEMU_CPU=cortex-a72 "$@"
"""


@dataclass
class RootfsSandbox:
    lower: Path
    scratch: Path

    def __post_init__(self) -> None:
        for name in ("upper", "work", "merged"):
            (self.scratch / name).mkdir(parents=True, exist_ok=True)

    @property
    def upper(self) -> Path:
        """What the commands changed, as files (deleted files are whiteout devices)."""
        return self.scratch / "upper"

    def put(self, path: str, text: str, mode: int = 0o644) -> None:
        target = self.upper / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)

    def run(self, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        cmd = [
            "unshare", "--mount", "--propagation", "private", "--",
            "/bin/sh", "-c", _RUNNER, "sandbox",
            str(self.lower), str(self.upper), str(self.scratch / "work"),
            str(self.scratch / "merged"), *argv,
        ]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
