"""The updater reads bundles from anywhere (a download, a card): arbitrary bytes never get
past it altered, and never make it fail with anything but a one-line refusal."""

from __future__ import annotations

import shutil
import sys
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.updater.manifest import BundleError, Manifest, version_key
from services.updater.verify import open_bundle
from tests.support.update_host import Keys

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "image"))
from imagebuild.bundle import sha256, write_bundle

FILES = {"requirements.txt": b"click==8.1\n", "supervisord.conf": b"[supervisord]\n",
         "wheels/x-1-py3-none-any.whl": bytes(range(256)) * 8}  # fmt: skip


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> tuple[Keys, bytes]:
    tmp = tmp_path_factory.mktemp("bytes")
    keys = Keys.make(tmp / "keys")
    staged = tmp / "staged"
    for name, data in FILES.items():
        (staged / name).parent.mkdir(parents=True, exist_ok=True)
        (staged / name).write_bytes(data)
    files = {n: {"sha256": sha256(staged / n), "size": len(d)} for n, d in FILES.items()}
    manifest = Manifest("9.9.9", "cp311", "x86_64", "0", files, {"queue": 1})
    path = write_bundle(staged, manifest, keys.secret, tmp / "out")
    return keys, path.read_bytes()


def _accepts_only_the_original(data: bytes, keys: Keys, where: Path) -> None:
    bundle = where / "b.bundle"
    bundle.write_bytes(data)
    out = where / "unpacked"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()
    try:
        open_bundle(bundle, keys.public, out)
    except BundleError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    for name, content in FILES.items():  # accepted: then it is exactly what was signed
        assert (out / name).read_bytes() == content


def test_the_signed_bundle_opens(signed, tmp_path):
    keys, data = signed
    _accepts_only_the_original(data, keys, tmp_path)
    assert (tmp_path / "unpacked" / "manifest.json").exists()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pos=st.integers(min_value=0), value=st.integers(min_value=1, max_value=255))
def test_a_changed_byte_is_refused_or_harmless(signed, tmp_path, pos, value):
    keys, data = signed
    pos %= len(data)
    changed = bytearray(data)
    changed[pos] ^= value
    _accepts_only_the_original(bytes(changed), keys, tmp_path)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=0))
def test_a_cut_bundle_is_refused_or_complete(signed, tmp_path, cut):
    keys, data = signed
    _accepts_only_the_original(data[: cut % len(data)], keys, tmp_path)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.binary(max_size=4096))
def test_random_bytes_are_refused(signed, tmp_path, junk):
    keys, _ = signed
    _accepts_only_the_original(junk, keys, tmp_path)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c,
                                                                        max_size=6)))  # fmt: skip
def test_any_manifest_json_is_read_or_refused(data):
    try:
        Manifest.from_json(data)
    except BundleError as exc:
        assert str(exc)


@given(st.text(max_size=30))
def test_any_version_text_is_read_or_refused(text):
    try:
        key = version_key(text)
    except BundleError as exc:
        assert "version" in str(exc)
        return
    assert key and all(isinstance(p, int) for p in key)


def test_an_extra_member_not_in_the_manifest_is_refused(signed, tmp_path):
    keys, data = signed
    (tmp_path / "good.bundle").write_bytes(data)
    with tarfile.open(tmp_path / "good.bundle", "a") as tar:
        extra = tmp_path / "evil.sh"
        extra.write_text("#!/bin/sh\n")
        tar.add(extra, arcname="evil.sh")
    with pytest.raises(BundleError, match=r"evil\.sh"):
        open_bundle(tmp_path / "good.bundle", keys.public, tmp_path / "x")
    assert not (tmp_path / "x" / "evil.sh").exists()
