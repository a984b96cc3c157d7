"""image/build: base root file system (cached) -> appliance layer -> SD-card image.

One progress line per stage with its duration; ``build-info.json`` in the output folder
tells the image tests where everything is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from imagebuild import app, bundle, disk, host, updatekey
from imagebuild.recipe import IMAGE_DIR, REPO_ROOT, Flavour, all_packages, base_cache_key
from imagebuild.recipe import read_flavour as read_flavour_file

DEFAULT_OUT = Path("/var/tmp/smartmeter-image/out")
DEFAULT_WORK = Path("/var/tmp/smartmeter-image/work")


def default_cache() -> Path:
    if env := os.environ.get("SMARTMETER_IMAGE_CACHE"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/smartmeter-image")
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "smartmeter-image"


class Progress:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str, what: str) -> Iterator[list[str]]:
        note: list[str] = []  # a stage may add a word ("cached")
        print(f"[image] {name}: {what} ...", flush=True)
        start = time.monotonic()
        yield note
        took = time.monotonic() - start
        self.times[name] = round(took, 1)
        extra = f" ({note[0]})" if note else ""
        print(f"[image] {name}: done in {took:.1f} s{extra}", flush=True)


def build_base(flavour: Flavour, cache: Path) -> tuple[Path, bool]:
    """The flavour's packages on Debian, with overlay/base; reused while its key is unchanged."""
    key = base_cache_key(flavour)
    done = cache / key / "rootfs"
    if (cache / key / "complete").exists():
        return done, True
    tmp = cache / f".building-{key}"
    host.remove_tree(tmp)
    tmp.mkdir(parents=True)
    overlay = IMAGE_DIR / "overlay" / "base"
    cmd = [
        "mmdebstrap", "--mode=root", "--arch=arm64", "--variant=minbase",
        f"--components={','.join(flavour.components)}",
        f"--include={','.join(all_packages(flavour))}",
        f'--essential-hook=cp -rT --preserve=mode,timestamps {overlay} "$1"',
    ]  # fmt: skip
    if flavour.keyrings:
        cmd.append(f"--keyring={fetch_keyrings(flavour, cache)}")
    cmd += [flavour.suite, tmp / "rootfs", *flavour.sources]
    host.run(cmd, env=host.clean_env())
    (tmp / "packages.txt").write_text("\n".join(all_packages(flavour)) + "\n")
    (tmp / "complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%S%z\n"))
    host.remove_tree(cache / key)
    tmp.rename(cache / key)
    return done, False


def fetch_keyrings(flavour: Flavour, cache: Path) -> Path:
    """Debian's keyring plus each @keyring, checked against its pinned fingerprint."""
    import urllib.request

    ring = cache / f"keyrings-{flavour.name}"
    ring.mkdir(parents=True, exist_ok=True)
    shutil.copy2("/usr/share/keyrings/debian-archive-keyring.gpg", ring)
    for k in flavour.keyrings:
        target = ring / f"{k.fingerprint}.asc"
        try:
            with urllib.request.urlopen(k.url, timeout=60) as answer:
                target.write_bytes(answer.read())
        except OSError as exc:
            host_name = k.url.split("/")[2]
            raise host.HostError(
                f"cannot fetch {k.url} ({exc}); the {flavour.name} flavour is built on a "
                f"machine that reaches {host_name}"
            ) from exc
        shown = subprocess.run(
            ["gpg", "--show-keys", "--with-colons", "--with-fingerprint", target],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        fprs = [ln.split(":")[9] for ln in shown.splitlines() if ln.startswith("fpr:")]
        if k.fingerprint not in fprs:
            target.unlink()
            raise host.HostError(f"{k.url}: key fingerprint {fprs} is not {k.fingerprint}")
    return ring


def build_rootfs(base: Path, rootfs: Path, flavour: Flavour, bundle: Path) -> None:
    host.remove_tree(rootfs)
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    host.run(["cp", "-a", base, rootfs])
    # The shared appliance layer first, then what the flavour must do on top of it.
    hooks = [IMAGE_DIR / "hooks" / "appliance.sh"]
    hooks += [IMAGE_DIR / "hooks" / h for h in flavour.hooks]
    env = host.clean_env(
        SMARTMETER_FLAVOUR=flavour.name,
        SMARTMETER_APP_BUNDLE=str(bundle),
        SMARTMETER_IMAGE_OVERLAY=str(IMAGE_DIR / "overlay"),
    )
    host.run_hooks(rootfs, hooks, env)


def kernel_version(rootfs: Path) -> str:
    modules = sorted(p.name for p in (rootfs / "usr/lib/modules").iterdir())
    return modules[-1] if modules else ""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="image/build", description=__doc__)
    p.add_argument("--flavour", choices=("debian", "raspios"), default="debian")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the image goes")
    p.add_argument("--work", type=Path, help="scratch folder (default: next to --out)")
    p.add_argument("--cache", type=Path, default=None, help="base root file system cache")
    p.add_argument("--source", type=Path, default=REPO_ROOT, help="project to put in the image")
    p.add_argument("--compress", choices=("xz", "zstd", "none"), default="xz")
    p.add_argument("--rebuild-base", action="store_true", help="ignore the cached base")
    p.add_argument("--update-key", type=Path, default=None,
                   help="minisign secret key that signs update bundles (default: "
                        "$SMARTMETER_UPDATE_KEY, ~/.minisign/smartmeter-update.key, else a new "
                        "key for this build in OUT/update-key/)")  # fmt: skip
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out.resolve()
    work: Path = (args.work or out.parent / f"work-{args.flavour}").resolve()
    cache: Path = (args.cache or default_cache()).resolve()
    compress = "" if args.compress == "none" else args.compress
    progress = Progress()
    started = time.monotonic()
    try:
        with progress.stage("host", "tools and aarch64 emulation"):
            host.check_tools(compress)
            host.ensure_aarch64_emulation()
            flavour = read_flavour_file(args.flavour)
        out.mkdir(parents=True, exist_ok=True)
        work.mkdir(parents=True, exist_ok=True)
        with progress.stage("app", "project wheel and aarch64 dependency wheels"):
            version = app.build_bundle(args.source.resolve(), work / "app")
            update_key = updatekey.secret_key(args.update_key, out)
            updatekey.public_key(update_key, work / "app" / "update.pub")
        with progress.stage("bundle", "the same release as a signed update bundle"):
            update_bundle = bundle.build(args.source.resolve(), out, bundle.IMAGE_TARGET,
                                         update_key, "0", bundle.DEFAULT_CACHE)  # fmt: skip
        key = base_cache_key(flavour)
        with progress.stage("base", f"{flavour.suite} root file system ({key})") as note:
            if args.rebuild_base:
                host.remove_tree(cache / key)
            base, cached = build_base(flavour, cache)
            note.append(f"cached in {cache}" if cached else f"built, now cached in {cache}")
        rootfs = work / "rootfs"
        with progress.stage("rootfs", "copy the base, run the flavour and appliance hooks"):
            build_rootfs(base, rootfs, flavour, work / "app")
        name = f"smartmeter-{version}-{flavour.name}-arm64.img"
        image = out / name
        with progress.stage("disk", f"genimage -> {image}"):
            disk.make_image(rootfs, work, image)
        artefact = image
        if compress:
            with progress.stage("compress", f"{compress} and sha256"):
                artefact = disk.compress(image, compress)
                disk.write_sha256(artefact)
    except (
        host.HostError,
        subprocess.CalledProcessError,
        RuntimeError,
        ValueError,
        OSError,
    ) as exc:
        print(f"[image] FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    total = round(time.monotonic() - started, 1)
    info = {
        "flavour": flavour.name,
        "suite": flavour.suite,
        "version": version,
        "image": str(image),
        "artefact": str(artefact),
        "rootfs": str(rootfs),
        "base_key": key,
        "base_cached": cached,
        "kernel": kernel_version(rootfs),
        "bundle": str(update_bundle),
        "update_key": str(update_key),
        "stages": progress.times,
        "total_seconds": total,
    }
    (out / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"[image] built {artefact} in {total:.1f} s", flush=True)
    return 0
