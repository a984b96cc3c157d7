"""README's commands on a bare Debian 12: only python3 and git, as Debian installs them
(no pip, no venv module), made with mmdebstrap and run under podman as a newcomer would use
it: ``git clone``, ``scripts/demo --for 60`` (CSV rows), ``smartmeterctl status`` beside the
demo, and ``scripts/test`` setting itself up (uv from PyPI, the Debian packages the suite
needs) with no manual step.

The suite is not run a second time: the tests that need what scripts/test installs
(VictoriaMetrics, Chromium, the CJK fonts, mosquitto) prove the set-up.  The container is
root (apt as root, as on a fresh VM) and reaches PyPI and Debian through podman's default
network.  What is cloned is the checkout's HEAD (committed work only).
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.support.containers import BARE_DEBIAN, PROJECT, Podman, cert_env, say

pytestmark = [pytest.mark.containers, pytest.mark.timeout(2400)]

NAME = "smartmeter-bare-debian"
HOME = "/root/smartmeter"
# What scripts/test must have installed and set up for these to pass: a test for each
# package of scripts/packages/suite.txt.
SUBSET = [
    "tests/writers/test_influx_stack.py",  # victoria-metrics
    "tests/health/test_health_stack.py::test_page_in_chromium_shows_power_and_todays_curve",
    "tests/health/test_page_japanese_glyphs.py",  # chromium + fonts-noto-cjk
    # mosquitto + openssl
    "tests/mqtt/test_mqtt_failures.py::test_tls_needs_the_brokers_ca_and_works_with_it",
]


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=PROJECT, capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


class Bare:
    def __init__(self, podman: Podman) -> None:
        self.podman = podman

    def sh(self, script: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """``script`` in bash inside the container, from the clone (timed in the output)."""
        t0 = time.monotonic()
        done = self.podman.run("exec", "--workdir", HOME, NAME, "bash", "-c", script,
                               check=False, timeout=timeout)  # fmt: skip
        say(f"bare Debian: {script.splitlines()[0][:70]} -> exit {done.returncode} "
            f"in {time.monotonic() - t0:.0f} s")  # fmt: skip
        return done


@pytest.fixture(scope="module")
def bare():
    podman = Podman()
    image = podman.image(BARE_DEBIAN)
    # The checkout read-only at its own path (and, for a git worktree, its common git dir).
    mounts = ["-v", f"{PROJECT}:{PROJECT}:ro"]
    common = (PROJECT / git("rev-parse", "--git-common-dir")).resolve()
    if PROJECT not in common.parents:
        mounts += ["-v", f"{common}:{common}:ro"]
    env = [a for k, v in cert_env().items() for a in ("-e", f"{k}={v}")]
    podman.run("rm", "-f", "-t", "0", NAME, check=False)
    podman.run("run", "-d", "--name", NAME, "--shm-size", "512m", *mounts, *env, image,
               "sleep", "infinity")  # fmt: skip
    try:
        # No pip and no venv module: the newcomer's machine, not one that already has them.
        probe = podman.run("exec", NAME, "python3", "-c", "import pip", check=False)
        assert probe.returncode != 0, "the bare image has pip"
        probe = podman.run("exec", NAME, "python3", "-c", "import ensurepip", check=False)
        assert probe.returncode != 0, "the bare image has the venv module's ensurepip"
        podman.run("exec", NAME, "git", "-c", f"safe.directory={PROJECT}", "clone", "--quiet",
                   str(PROJECT), HOME)  # fmt: skip
        say(f"bare Debian: cloned {git('rev-parse', '--short', 'HEAD')} into {HOME}")
        yield Bare(podman)
    finally:
        podman.run("rm", "-f", "-t", "0", NAME, check=False)


def test_demo_writes_csv_rows_and_status_beside_it_exits_0(bare):
    # The demo in the background; once its /health says pass, smartmeterctl status beside it.
    done = bare.sh(
        """scripts/demo --for 60 >/tmp/demo.log 2>&1 &
demo=$!
for _ in $(seq 600); do
    python3 -c "import json, sys, urllib.request as u
sys.exit(json.load(u.urlopen('http://127.0.0.1:8780/health'))['status'] != 'pass')" \
        2>/dev/null && break
    kill -0 $demo 2>/dev/null || break
    sleep 1
done
.venv/bin/smartmeterctl status >/tmp/status.log 2>&1
echo "status exit $?" >>/tmp/status.log
wait $demo
echo "demo exit $?" >>/tmp/demo.log
cat /tmp/demo.log /tmp/status.log""",
        timeout=900,
    )
    out = done.stdout + done.stderr
    assert "demo exit 0" in out, out[-4000:]
    rows = bare.sh("cat logs/*-smartmeter.csv | grep -vc ^timestamp", timeout=60)
    assert int(rows.stdout.strip() or 0) >= 6, out[-4000:]
    assert "status exit 0" in out, out[-4000:]


def test_scripts_test_sets_itself_up_and_passes_the_tests_that_need_it(bare):
    done = bare.sh(f"scripts/test -p no:cacheprovider {' '.join(SUBSET)}", timeout=1800)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    assert " passed" in out and " skipped" not in out, out[-3000:]
