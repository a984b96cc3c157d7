"""scripts/get_uv.py: uv for a bare system from PyPI, with only the standard library.

The wheel choice is checked against the file names PyPI lists for a real uv release; the
download against a PyPI on loopback (the real one is not a test's to call)."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from tests.support.stack import PROJECT

sys.path.insert(0, str(PROJECT / "scripts"))
import get_uv

# What https://pypi.org/pypi/uv/json lists for uv 0.13.9.
RELEASE = [
    "uv-0.13.9-py3-none-linux_armv6l.whl",
    "uv-0.13.9-py3-none-macosx_10_12_x86_64.whl",
    "uv-0.13.9-py3-none-macosx_11_0_arm64.whl",
    "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl",
    "uv-0.13.9-py3-none-manylinux_2_17_armv7l.manylinux2014_armv7l.musllinux_1_1_armv7l.whl",
    "uv-0.13.9-py3-none-manylinux_2_17_armv7l.manylinux2014_armv7l.whl",
    "uv-0.13.9-py3-none-manylinux_2_17_i686.manylinux2014_i686.whl",
    "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "uv-0.13.9-py3-none-manylinux_2_28_aarch64.whl",
    "uv-0.13.9-py3-none-musllinux_1_1_i686.whl",
    "uv-0.13.9-py3-none-musllinux_1_1_x86_64.whl",
    "uv-0.13.9-py3-none-win_amd64.whl",
    "uv-0.13.9.tar.gz",
]


def chosen(arch: str, lib: str, version: tuple[int, int]) -> str:
    files = [{"filename": f, "url": f, "digests": {"sha256": ""}} for f in RELEASE]
    return get_uv.pick({"urls": files}, arch, (lib, version))["filename"]


@pytest.mark.parametrize(("arch", "lib", "version", "expected"), [
    # Debian 12 / Ubuntu 24.04 on a PC
    ("x86_64", "glibc", (2, 36), "manylinux_2_17_x86_64.manylinux2014_x86_64"),
    # Raspberry Pi OS 64-bit (bookworm): the newer aarch64 build fits glibc 2.36
    ("aarch64", "glibc", (2, 36), "manylinux_2_28_aarch64"),
    # Ubuntu 18.04 on arm64 (glibc 2.27): only the 2.17 build runs
    ("aarch64", "glibc", (2, 27), "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux"),
    # Raspberry Pi OS 32-bit on a Pi 3/4
    ("armv7l", "glibc", (2, 36), "manylinux_2_17_armv7l.manylinux2014_armv7l."),
    # Pi Zero / Pi 1 (ARMv6)
    ("armv6l", "glibc", (2, 36), "linux_armv6l"),
    # Alpine on a PC: musl, never a manylinux build
    ("x86_64", "musl", (1, 2), "musllinux_1_1_x86_64"),
    ("armv7l", "musl", (1, 2), "musllinux_1_1_armv7l"),
])  # fmt: skip
def test_the_wheel_built_for_this_machine_is_chosen(arch, lib, version, expected):
    assert expected in chosen(arch, lib, version)


def test_a_machine_no_build_exists_for_is_told_where_else_to_get_uv():
    with pytest.raises(get_uv.Failed, match=r"no uv build for this machine.*installation"):
        chosen("x86_64", "glibc", (2, 12))  # older than every manylinux build
    with pytest.raises(get_uv.Failed, match="no uv build"):
        chosen("mips", "glibc", (2, 36))


def _wheel(binary: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("uv-9.9.9.dist-info/METADATA", "Name: uv\n")
        z.writestr("uv-9.9.9.data/scripts/uvx", b"not this one")
        z.writestr("uv-9.9.9.data/scripts/uv", binary)
    return buf.getvalue()


@pytest.fixture
def loopback_pypi():
    """A PyPI JSON API and file host on 127.0.0.1 serving one uv release."""
    arch, lib = get_uv.machine(), get_uv.libc()
    tag = f"musllinux_1_1_{arch}" if lib[0] == "musl" else f"manylinux_2_17_{arch}"
    name = f"uv-9.9.9-py3-none-{tag}.whl"
    served: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = served.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def publish(wheel: bytes, sha256: str) -> str:
        served[f"/files/{name}"] = wheel
        files = [{"filename": name, "url": f"/files/{name}", "yanked": False,
                  "digests": {"sha256": sha256}}]  # fmt: skip
        served["/pypi/uv/json"] = json.dumps({"info": {"version": "9.9.9"}, "urls": files}).encode()
        return f"http://127.0.0.1:{server.server_address[1]}/pypi/uv/json"

    yield publish
    server.shutdown()
    server.server_close()


def test_the_checked_wheel_gives_an_executable_uv(loopback_pypi, tmp_path):
    binary = b"#!/bin/sh\necho uv 9.9.9\n"
    wheel = _wheel(binary)
    index = loopback_pypi(wheel, hashlib.sha256(wheel).hexdigest())
    dest = tmp_path / ".tools" / "bin" / "uv"
    assert "uv 9.9.9" in get_uv.install(str(dest), index)
    assert dest.read_bytes() == binary
    assert subprocess.run([dest], capture_output=True, text=True).stdout == "uv 9.9.9\n"


def test_a_wheel_that_does_not_match_pypis_sha256_is_not_installed(loopback_pypi, tmp_path):
    wheel = _wheel(b"#!/bin/sh\necho tampered\n")
    index = loopback_pypi(wheel, hashlib.sha256(b"what PyPI published").hexdigest())
    dest = tmp_path / "uv"
    with pytest.raises(get_uv.Failed, match="does not match the sha256 PyPI publishes"):
        get_uv.install(str(dest), index)
    assert not dest.exists() and not os.listdir(tmp_path)


def test_an_unreachable_index_is_one_line_naming_the_network(tmp_path):
    env = {**os.environ, "SMARTMETER_UV_INDEX": "http://127.0.0.1:9/pypi/uv/json"}
    done = subprocess.run(
        [sys.executable, "-I", "-c",
         "import sys; sys.path.insert(0, 'scripts'); import get_uv; "
         f"sys.exit(get_uv.main(['get_uv.py', {str(tmp_path / 'uv')!r}]))"],
        capture_output=True, text=True, cwd=PROJECT, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "cannot reach 127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


def _checkout(root: Path) -> Path:
    """What scripts/demo and scripts/test source, copied as a fresh clone has it."""
    (root / "scripts").mkdir(parents=True)
    for name in ("_bootstrap.sh", "get_uv.py"):
        shutil.copy(PROJECT / "scripts" / name, root / "scripts" / name)
    shutil.copytree(PROJECT / "scripts" / "packages", root / "scripts" / "packages")
    return root


def _bare_shell(root: Path, index: str) -> dict[str, str]:
    """No uv anywhere (PATH has only the system's directories, HOME is empty)."""
    assert not any(Path(d, "uv").exists() for d in ("/usr/bin", "/bin")), "uv in /usr/bin"
    (root / "home").mkdir(exist_ok=True)
    certs = os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    return {"PATH": "/usr/bin:/bin", "HOME": str(root / "home"), "SMARTMETER_UV_INDEX": index,
            "SSL_CERT_FILE": certs}  # fmt: skip


def test_the_bootstrap_fetches_uv_and_lets_it_make_the_venv(loopback_pypi, tmp_path):
    """A stand-in uv (the real one would need PyPI for the dependencies) records how the
    bootstrap calls it."""
    root = _checkout(tmp_path / "checkout")
    fake_uv = f'#!/bin/sh\necho "$@" >> {root}/uv-calls\n'.encode()
    wheel = _wheel(fake_uv)
    env = _bare_shell(tmp_path, loopback_pypi(wheel, hashlib.sha256(wheel).hexdigest()))
    command = ["bash", "-c", 'source scripts/_bootstrap.sh --no-dev && echo "UV=$UV"']
    first = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert f"UV={root}/.tools/bin/uv" in first.stdout
    assert "fetching it from PyPI" in first.stderr
    assert (root / "uv-calls").read_text() == "sync --frozen --quiet --no-dev\n"
    again = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "fetching" not in again.stderr  # it is there now


def test_the_bootstrap_stops_with_one_line_when_pypi_cannot_be_reached(tmp_path):
    root = _checkout(tmp_path / "checkout")
    env = _bare_shell(tmp_path, "http://127.0.0.1:9/pypi/uv/json")
    done = subprocess.run(["bash", "-c", "source scripts/_bootstrap.sh"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith("uv could not be installed: cannot reach")
    assert "Traceback" not in done.stderr and not (root / ".tools" / "bin" / "uv").exists()
