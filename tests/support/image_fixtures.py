"""Shared by the image tests: where the recipe is, and the built image (slow tiers)."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

PROJECT = Path(__file__).resolve().parents[2]
IMAGE = PROJECT / "image"
OVERLAY = IMAGE / "overlay"
APPLIANCE = OVERLAY / "appliance"
if str(IMAGE) not in sys.path:
    sys.path.insert(0, str(IMAGE))  # image/build's own modules: imagebuild.*

app = importlib.import_module("imagebuild.app")
build = importlib.import_module("imagebuild.build")
disk = importlib.import_module("imagebuild.disk")
recipe = importlib.import_module("imagebuild.recipe")

SECTOR = 512


def load_script(path: Path, name: str) -> ModuleType:
    """Import a script that has no .py suffix (the first-boot importer)."""
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Built:
    """What image/build left in SMARTMETER_IMAGE_DIR (see its build-info.json)."""

    out: Path
    info: dict
    image: Path
    rootfs: Path

    def partitions(self) -> list[dict]:
        table = subprocess.run(
            ["sfdisk", "--json", str(self.image)], capture_output=True, text=True, check=True
        ).stdout
        return json.loads(table)["partitiontable"]["partitions"]

    def offset(self, number: int) -> int:
        return int(self.partitions()[number - 1]["start"]) * SECTOR


def built_image() -> Built:
    """The build output, or a clear failure when SMARTMETER_IMAGE=1 promised one."""
    wanted = os.environ.get("SMARTMETER_IMAGE") == "1"
    where = os.environ.get("SMARTMETER_IMAGE_DIR", "/var/tmp/smartmeter-image/out")
    info_file = Path(where) / "build-info.json"
    problem = None
    if not info_file.is_file():
        problem = f"no built image: {info_file} does not exist"
    else:
        info = json.loads(info_file.read_text())
        image, rootfs = Path(info["image"]), Path(info["rootfs"])
        if not image.is_file():
            problem = f"{info_file} names {image}, which does not exist"
        elif not (rootfs / "etc").is_dir():
            problem = f"{info_file} names the root file system {rootfs}, which is gone"
    if problem:
        hint = "; run `image/build --flavour debian --out DIR` and set SMARTMETER_IMAGE_DIR=DIR"
        if wanted:
            pytest.fail(problem + hint, pytrace=False)
        pytest.skip(problem + hint)
    if os.geteuid() != 0:
        pytest.fail("the image tests run as root (chroot, debugfs on the image)", pytrace=False)
    return Built(Path(where), info, image, rootfs)
