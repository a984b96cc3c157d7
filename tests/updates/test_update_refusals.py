"""Bundles that must not be applied are refused with one line saying why; nothing changes."""

from __future__ import annotations

import shutil
import tarfile

import pytest

from tests.support.update_host import Keys, checkout_version, make_bundle, version

pytestmark = pytest.mark.e2e


def refused(stack, *args: str) -> str:
    out = stack.smartmeterctl("update", *args)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("update refused: "), out.stderr
    assert "Traceback" not in out.stderr
    return lines[0].removeprefix("update refused: ")


def rewritten(src, dst, change) -> None:
    """The bundle with one member's bytes changed by ``change`` (same tar layout)."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tout:
        for m in tin:
            data = tin.extractfile(m).read()
            data = change(m.name, data)
            m.size = len(data)
            import io

            tout.addfile(m, io.BytesIO(data))


def test_tampered_foreign_truncated_wrong_arch_and_older_bundles_are_refused(
    appliance, bundles, tmp_path
):
    stack = appliance
    a = checkout_version()
    pid = stack.supervisord_pid()
    b = bundles.b

    # --check says what it would do and changes nothing
    out = stack.smartmeterctl("update", "--check", str(b))
    assert out.returncode == 0, out.stderr
    assert "signed" in out.stdout and f"replace {a}" in out.stdout

    # a wheel altered after signing
    evil = tmp_path / "evil.bundle"
    rewritten(b, evil, lambda n, d: d[:-1] + b"x" if n.endswith(".whl") and "click" in n else d)
    assert "does not match its checksum" in refused(stack, str(evil))
    # a manifest altered after signing (min_from, say)
    forged = tmp_path / "forged.bundle"
    rewritten(b, forged, lambda n, d: d.replace(b'"min_from"', b'"min_from" ') if
              n == "manifest.json" else d)  # fmt: skip
    assert refused(stack, str(forged)).startswith("bad signature")
    # signed by someone else's key
    other = Keys.make(tmp_path / "other")
    foreign = make_bundle(tmp_path / "foreign", other)
    assert refused(stack, str(foreign)).startswith("bad signature")
    # cut short, as a download that stopped
    cut = tmp_path / "cut.bundle"
    cut.write_bytes(b.read_bytes()[: b.stat().st_size // 2])
    assert "truncated" in refused(stack, str(cut))
    # for the image's arm64, not this machine
    assert refused(stack, str(bundles.a_aarch64)).startswith("the bundle is for aarch64")
    # not a bundle at all, and no file
    junk = tmp_path / "junk.bundle"
    junk.write_bytes(b"PK\x03\x04 not a tar")
    assert "not a smartmeter update bundle" in refused(stack, str(junk)) or "damaged" in \
        refused(stack, str(junk))  # fmt: skip
    assert "no such file" in refused(stack, str(tmp_path / "missing.bundle"))
    # the same version again
    assert refused(stack, str(bundles.a)) == f"{a} is already running"
    # older than what runs
    assert "is older than the running" in refused(stack, str(bundles.older))

    assert stack.supervisord_pid() == pid
    assert [p.name for p in (stack.opt / "releases").iterdir()] == [a]
    assert version(stack)["last_update"]["result"] == "confirmed"  # the first install's

    # ... unless the user asks for it
    shutil.copy(bundles.older, tmp_path / "older.bundle")
    out = stack.smartmeterctl("update", "--allow-downgrade", str(tmp_path / "older.bundle"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert stack.running() == "0.0.1"
    assert version(stack)["previous"] == a

    # and back by hand, through the same gate
    out = stack.smartmeterctl("update", "--rollback")
    assert out.returncode == 0, out.stdout + out.stderr
    assert stack.running() == a
    info = version(stack)
    assert (info["running"], info["previous"]) == (a, "0.0.1")
    assert info["last_update"]["result"] == "confirmed"
