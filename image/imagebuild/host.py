"""The build machine: its tools, aarch64 emulation, and commands run in a clean environment."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

# Every emulated step: trixie's binaries use pointer authentication, which QEMU's default
# CPU emulates slowly; a Cortex-A72 has none (a rootfs build takes 312 s instead of 806 s).
QEMU_CPU = "cortex-a72"
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")

# Debian package that brings each tool (for the message when one is missing).
TOOLS = {
    "mmdebstrap": "mmdebstrap",
    "genimage": "genimage",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "mke2fs": "e2fsprogs",
    "sfdisk": "fdisk",
    "update-binfmts": "binfmt-support",
    "unshare": "util-linux",
    "systemctl": "systemd",
    "xz": "xz-utils",
    "zstd": "zstd",
}
APT_LINE = (
    "apt-get install -y --no-install-recommends mmdebstrap genimage qemu-user-static "
    "binfmt-support arch-test dosfstools mtools fdisk e2fsprogs qemu-system-arm xz-utils zstd"
)


class HostError(RuntimeError):
    """The build machine lacks something; the message says what to install or do."""


def clean_env(**extra: str) -> dict[str, str]:
    """No PIP_*, PYTHON* or proxy settings of this machine may leak into the image."""
    env = {"PATH": CLEAN_PATH, "LC_ALL": "C.UTF-8", "HOME": "/root", "QEMU_CPU": QEMU_CPU}
    env.update(extra)
    return env


def run(cmd: Sequence[str | Path], env: dict[str, str] | None = None, **kw: object) -> None:
    args = [str(c) for c in cmd]
    result = subprocess.run(args, env=env, **kw)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, args)


def check_tools(compress: str) -> None:
    if os.geteuid() != 0:
        raise HostError("image/build runs as root (mmdebstrap --mode=root, chroot, mknod)")
    wanted = [t for t in TOOLS if t not in ("xz", "zstd")] + ([compress] if compress else [])
    missing = sorted({TOOLS[t] for t in wanted if shutil.which(t, path=CLEAN_PATH) is None})
    if missing:
        raise HostError(f"missing tools ({', '.join(missing)}); install them: {APT_LINE}")


def ensure_aarch64_emulation() -> None:
    """Register qemu-aarch64 with binfmt_misc if this machine has not (a fresh CI machine)."""
    entry = BINFMT_DIR / "qemu-aarch64"
    if entry.exists() and entry.read_text().startswith("enabled"):
        return
    if not (BINFMT_DIR / "register").exists():
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT_DIR])
    if not entry.exists() or not entry.read_text().startswith("enabled"):
        run(["update-binfmts", "--enable", "qemu-aarch64"], env=clean_env())
    if not entry.exists():
        raise HostError("qemu-aarch64 is not registered with binfmt_misc; install qemu-user-static")
    flags = next((ln for ln in entry.read_text().splitlines() if ln.startswith("flags:")), "")
    if "F" not in flags:  # without F the emulator would have to be copied into every chroot
        raise HostError(f"{entry} lacks the F flag ({flags}); use Debian's qemu-user-static")


def mounts_under(path: Path) -> list[str]:
    """Mount points inside ``path``: a failed run may leave some; never rm -rf through them."""
    prefix = str(path.resolve()) + "/"
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point.startswith(prefix) or point == prefix[:-1]:
            points.append(point)
    return points


def remove_tree(path: Path) -> None:
    if not path.exists():
        return
    left = mounts_under(path)
    for point in sorted(left, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False)
    if mounts_under(path):
        raise HostError(f"{path} still has mounts ({', '.join(left)}); unmount them first")
    shutil.rmtree(path)


# Runs the hooks in a private mount namespace: /proc, /sys and /dev are mounted into the
# root file system for them and vanish with the namespace, whatever happens to the hooks.
_HOOK_RUNNER = r"""
set -eu
root=$1; shift
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/run"
for hook in "$@"; do
    "$hook" "$root"
done
"""


def run_hooks(root: Path, hooks: Sequence[Path], env: dict[str, str]) -> None:
    """Run mmdebstrap-style hooks (``hook ROOT``) against an existing root file system."""
    cmd = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", _HOOK_RUNNER]
    run([*cmd, "hooks", root, *hooks], env=env)
