"""Checking a bundle before anything is changed: signature, members, target, version."""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from services.updater.manifest import MANIFEST, SIGNATURE, BundleError, Manifest, version_key

DEFAULT_PUBKEY = Path("/usr/share/smartmeter/update.pub")


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    if f is None:
        raise BundleError(f"bundle member {member.name} is not a file")
    return f.read()


def check_signature(manifest: bytes, signature: bytes, pubkey: Path) -> None:
    if shutil.which("minisign") is None:
        raise BundleError("minisign is not installed: bundles cannot be verified")
    if not pubkey.is_file():
        raise BundleError(f"no update public key at {pubkey}: this machine accepts no bundle")
    with tempfile.TemporaryDirectory(prefix="smartmeter-verify-") as tmp:
        m, s = Path(tmp) / MANIFEST, Path(tmp) / SIGNATURE
        m.write_bytes(manifest)
        s.write_bytes(signature)
        result = subprocess.run(
            ["minisign", "-V", "-q", "-p", str(pubkey), "-m", str(m), "-x", str(s)],
            capture_output=True, text=True,
        )  # fmt: skip
    if result.returncode != 0:
        raise BundleError("bad signature: the bundle is not signed by this machine's update key")


def open_bundle(path: Path, pubkey: Path, into: Path | None = None) -> Manifest:
    """The bundle's manifest once its signature and (with ``into``) every member check out.

    With ``into``, the members are written there as they are checked; a bundle that fails
    leaves that folder for the caller to remove.
    """
    if not path.is_file():
        raise BundleError(f"{path}: no such file")
    try:
        with tarfile.open(path, "r:") as tar:
            head = [tar.next(), tar.next()]
            names = [m.name if m else None for m in head]
            if names != [MANIFEST, SIGNATURE] or head[0] is None or head[1] is None:
                raise BundleError("not a smartmeter update bundle (no signed manifest first)")
            raw_manifest = _read_member(tar, head[0])
            check_signature(raw_manifest, _read_member(tar, head[1]), pubkey)
            try:
                manifest = Manifest.from_json(json.loads(raw_manifest))
            except ValueError as exc:
                raise BundleError(f"the bundle's manifest is not JSON ({exc})") from exc
            if into is not None:
                _extract_checked(tar, manifest, into)
                (into / MANIFEST).write_bytes(raw_manifest)
    except (tarfile.ReadError, EOFError) as exc:
        raise BundleError(f"truncated or damaged bundle ({exc})") from exc
    return manifest


def _extract_checked(tar: tarfile.TarFile, manifest: Manifest, into: Path) -> None:
    seen: set[str] = set()
    for index, member in enumerate(tar):
        if index < 2:
            continue  # the manifest and its signature, already checked
        expect = manifest.files.get(member.name)
        if expect is None or not member.isfile():
            raise BundleError(f"the bundle holds {member.name!r}, which its manifest does not list")
        data = _read_member(tar, member)
        if len(data) != expect["size"]:
            raise BundleError(f"truncated bundle: {member.name} has {len(data)} of "
                              f"{expect['size']} bytes")  # fmt: skip
        if hashlib.sha256(data).hexdigest() != expect["sha256"]:
            raise BundleError(f"bundle member {member.name} does not match its checksum")
        target = into / member.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        seen.add(member.name)
    missing = sorted(set(manifest.files) - seen)
    if missing:
        raise BundleError(f"truncated bundle: {len(missing)} member(s) missing, first {missing[0]}")


def python_abi(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "import sys; print('cp%d%d' % sys.version_info[:2])"],
        capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode != 0:
        raise BundleError(f"cannot run this machine's Python {python}")
    return out.stdout.strip()


def check_target(manifest: Manifest, python: str, running: str | None,
                 allow_downgrade: bool) -> None:  # fmt: skip
    """Refuse a bundle made for another machine, or older than what runs (one line each)."""
    machine = platform.machine()
    if manifest.arch != machine:
        raise BundleError(f"the bundle is for {manifest.arch}; this machine is {machine}")
    abi = python_abi(python)
    if manifest.python != abi:
        raise BundleError(f"the bundle's wheels are for {manifest.python}; this machine has {abi}")
    if running is None:
        return
    if version_key(running) < version_key(manifest.min_from):
        raise BundleError(f"{manifest.version} updates {manifest.min_from} or later; "
                          f"this machine runs {running} (apply an older bundle first)")  # fmt: skip
    if version_key(manifest.version) < version_key(running) and not allow_downgrade:
        raise BundleError(f"{manifest.version} is older than the running {running} "
                          "(--allow-downgrade to go back)")  # fmt: skip
