"""The SD-card image: genimage's configuration, the image, its compressed copy and checksum."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from imagebuild.host import clean_env, remove_tree, run
from imagebuild.recipe import BOOT_LABEL, BOOT_MOUNT, IMAGE_DIR, ROOT_LABEL

BOOT_SIZE = "256M"
# 1.5 GiB of root: the whole image stays under 2 GiB, the size the raspi3b boot test pads
# it to, and first boot grows the root partition to fill the card.
ROOT_SIZE = "1536M"
COMPRESSORS = {
    "xz": (["xz", "-T0", "-6", "--keep", "--force"], ".xz"),
    "zstd": (["zstd", "-T0", "-10", "--quiet", "--force"], ".zst"),
}


def render_genimage(image_name: str, template: Path | None = None) -> str:
    text = (template or IMAGE_DIR / "genimage.cfg.in").read_text()
    values = {
        "BOOT_LABEL": BOOT_LABEL,
        "ROOT_LABEL": ROOT_LABEL,
        "BOOT_MOUNT": BOOT_MOUNT,
        "BOOT_SIZE": BOOT_SIZE,
        "ROOT_SIZE": ROOT_SIZE,
        "IMAGE_NAME": image_name,
    }
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    if "@" in text.replace("\n#", ""):
        left = [w for w in text.split() if w.startswith("@") and w.endswith("@")]
        if left:
            raise ValueError(f"genimage.cfg.in: no value for {', '.join(left)}")
    return text


def make_image(rootfs: Path, work: Path, image: Path) -> None:
    """genimage: boot.vfat from rootfs/boot/firmware, rootfs.ext4 from the rest, one MBR image."""
    cfg = work / "genimage.cfg"
    cfg.write_text(render_genimage(image.name))
    tmp, out = work / "genimage-tmp", work / "genimage-out"
    for d in (tmp, out):
        remove_tree(d)
    out.mkdir(parents=True)
    (work / "genimage-in").mkdir(exist_ok=True)
    run(
        ["genimage", "--loglevel", "0", "--rootpath", rootfs, "--tmppath", tmp,
         "--inputpath", work / "genimage-in", "--outputpath", out, "--config", cfg],
        env=clean_env(),
    )  # fmt: skip
    image.unlink(missing_ok=True)
    shutil.move(out / image.name, image)
    remove_tree(tmp)
    remove_tree(out)


def compress(image: Path, method: str) -> Path:
    cmd, suffix = COMPRESSORS[method]
    run([*cmd, image], env=clean_env(), stdout=subprocess.DEVNULL)
    return image.with_name(image.name + suffix)


def write_sha256(path: Path) -> Path:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    out = path.with_name(path.name + ".sha256")
    out.write_text(f"{h.hexdigest()}  {path.name}\n")  # the format sha256sum -c reads
    return out
