"""image/bundle: one signed update file from this checkout, without building an image.

    image/bundle --out DIR [--arch aarch64 | --python /path/to/python3] [--key FILE]

Steps: the project's wheel (uv build) and every locked dependency as binary wheels for the
target (pip download, cached per lock + target), a manifest with the sha256 of each member,
a minisign signature of the manifest, and one tar: ``smartmeter-update-<ver>-<arch>.bundle``.
The secret key never enters the bundle or the image; see docs/image.md "Updating".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from imagebuild import app
from imagebuild.host import run
from imagebuild.recipe import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))
from common.state_formats import FORMATS
from services.updater.manifest import MANIFEST, SIGNATURE, Manifest, bundle_name

DEFAULT_KEY = Path.home() / ".minisign" / "smartmeter-update.key"
DEFAULT_CACHE = Path("/var/tmp/smartmeter-wheels")


@dataclass(frozen=True)
class Target:
    arch: str  # platform.machine() of the target
    python: str  # "3.13"
    glibc_minor: int

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    def platform_args(self) -> list[str]:
        args = ["--platform", f"manylinux2014_{self.arch}"]
        for minor in range(17, self.glibc_minor + 1):
            args += ["--platform", f"manylinux_2_{minor}_{self.arch}"]
        return args


IMAGE_TARGET = Target("aarch64", app.TARGET_PYTHON, app.TARGET_GLIBC_MINOR)


def target_of(python: str) -> Target:
    """The target a given interpreter is (a host test's releases run on this machine)."""
    probe = (
        "import platform,sys;"
        "print(platform.machine(), '%d.%d' % sys.version_info[:2], platform.libc_ver()[1])"
    )
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    arch, version, libc = out.stdout.split()
    return Target(arch, version, int(libc.split(".")[1]))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def dependency_wheels(requirements: Path, target: Target, cache: Path) -> Path:
    """The locked dependencies as wheels for ``target``; downloaded once per lock + target."""
    key = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    folder = cache / f"{target.abi}-{target.arch}-{key}"
    if (folder / "complete").exists():
        return folder
    tmp = Path(tempfile.mkdtemp(prefix=".dl-", dir=cache))
    run(
        [*app._pip(), "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--python-version", target.python, "--implementation", "cp",
         *target.platform_args(), "--dest", tmp, "-r", requirements],
        env=app._host_env(),
    )  # fmt: skip
    (tmp / "complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%S%z\n"))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def stage(repo: Path, target: Target, cache: Path, into: Path) -> str:
    """wheels/, requirements.txt and supervisord.conf for ``target`` in ``into``."""
    uv = app.find_uv()
    wheels = into / "wheels"
    wheels.mkdir(parents=True)
    env = app._host_env()
    requirements = into / "requirements.txt"
    run(
        [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project",
         "--format", "requirements-txt", "--output-file", requirements],
        env=env, cwd=repo, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    run([uv, "build", "--wheel", "--out-dir", wheels, repo], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for extra in wheels.glob(".*"):  # uv build leaves a .gitignore there
        extra.unlink()
    cache.mkdir(parents=True, exist_ok=True)
    for whl in dependency_wheels(requirements, target, cache).glob("*.whl"):
        shutil.copy2(whl, wheels / whl.name)
    shutil.copy2(repo / "supervisord.conf", into / "supervisord.conf")
    return app.project_version(repo)


def sign(manifest: Path, key: Path) -> Path:
    """minisign's detached signature; it asks for the key's password when it has one."""
    if shutil.which("minisign") is None:
        raise SystemExit("bundle: minisign is not installed (apt-get install minisign)")
    if not key.is_file():
        raise SystemExit(
            f"bundle: no signing key at {key}; make one with "
            f"`minisign -G -p smartmeter-update.pub -s {key}` (docs/image.md, Updating)"
        )
    sig = manifest.with_name(SIGNATURE)
    trusted = f"smartmeter-logger update manifest {time.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    run(["minisign", "-S", "-s", key, "-m", manifest, "-x", sig, "-t", trusted],
        stdout=subprocess.DEVNULL)  # fmt: skip
    return sig


def write_bundle(staged: Path, manifest: Manifest, key: Path, out: Path) -> Path:
    (staged / MANIFEST).write_text(json.dumps(manifest.as_json(), indent=1, sort_keys=True) + "\n")
    sign(staged / MANIFEST, key)
    out.mkdir(parents=True, exist_ok=True)
    final = out / bundle_name(manifest.version, manifest.arch)
    tmp = final.with_name(final.name + ".part")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        # manifest and signature first: a reader checks them before reading anything else
        for name in (MANIFEST, SIGNATURE, *sorted(manifest.files)):
            info = tar.gettarinfo(staged / name, arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o644
            with (staged / name).open("rb") as f:
                tar.addfile(info, f)
    os.replace(tmp, final)
    return final


def build(repo: Path, out: Path, target: Target, key: Path, min_from: str,
          cache: Path) -> Path:  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="smartmeter-bundle-") as tmp:
        staged = Path(tmp)
        version = stage(repo, target, cache, staged)
        members = sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file())
        files = {m: {"sha256": sha256(staged / m), "size": (staged / m).stat().st_size}
                 for m in members}  # fmt: skip
        manifest = Manifest(
            version=version, python=target.abi, arch=target.arch, min_from=min_from,
            files=files, state_formats=dict(FORMATS),
            built=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )  # fmt: skip
        return write_bundle(staged, manifest, key, out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="image/bundle", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the .bundle file")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--arch", choices=["aarch64"], help="the image's target (default)")
    which.add_argument("--python", help="wheels for this interpreter and machine instead")
    key = Path(os.environ.get("SMARTMETER_UPDATE_KEY") or DEFAULT_KEY)
    p.add_argument("--key", type=Path, default=key, help=f"minisign secret key (default {key})")
    p.add_argument("--min-from", default="0", help="oldest running version it may update")
    p.add_argument("--repo", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    p.add_argument("--wheel-cache", type=Path, default=DEFAULT_CACHE)
    args = p.parse_args(argv)
    target = target_of(args.python) if args.python else IMAGE_TARGET
    start = time.monotonic()
    try:
        path = build(args.repo.resolve(), args.out, target, args.key, args.min_from,
                     args.wheel_cache)  # fmt: skip
    except subprocess.CalledProcessError as exc:
        print(f"bundle: {Path(exc.cmd[0]).name} failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    print(f"{path} ({path.stat().st_size // 1024} KiB, {target.abi} {target.arch}, "
          f"{time.monotonic() - start:.1f} s)")  # fmt: skip
    return 0
