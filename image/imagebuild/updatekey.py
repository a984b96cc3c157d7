"""The minisign key pair that signs update bundles for an image.

The secret key stays with whoever releases the image (never in the repository, the image
or a bundle); its public half goes into the image as /usr/share/smartmeter/update.pub.
A build with no key given makes a key of its own next to the image, without a password,
so a developer can sign bundles for that image: fine for tests, not for releases.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from imagebuild.host import HostError

DEFAULT = Path.home() / ".minisign" / "smartmeter-update.key"


def secret_key(given: Path | None, out: Path) -> Path:
    if shutil.which("minisign") is None:
        raise HostError("minisign is not installed (apt-get install minisign)")
    for candidate in (given, os.environ.get("SMARTMETER_UPDATE_KEY"), DEFAULT):
        if candidate:
            path = Path(candidate)
            if path.is_file():
                return path
            if given is not None:
                raise HostError(f"--update-key {given}: no such file")
    local = out / "update-key" / "smartmeter-update.key"
    if not local.exists():
        local.parent.mkdir(parents=True, exist_ok=True)
        local.parent.chmod(0o700)
        subprocess.run(["minisign", "-G", "-W", "-p", str(local.with_suffix(".pub")),
                        "-s", str(local)], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        print(f"[image] no update key given: made {local} (no password; for this build's "
              "tests only - release images use a key kept offline)", flush=True)  # fmt: skip
    return local


def public_key(secret: Path, dest: Path) -> None:
    """The public half: the .pub beside the key, else recomputed from it (minisign -R)."""
    beside = secret.with_suffix(".pub")
    if beside.is_file():
        shutil.copy2(beside, dest)
        return
    subprocess.run(["minisign", "-R", "-s", str(secret), "-p", str(dest)], check=True)
