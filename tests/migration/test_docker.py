"""Dockerfile, compose.yaml and .dockerignore refer only to things that exist.

These are the checks by reading, in every run of the suite (the container tier,
tests/containers/test_compose.py, builds and runs them under podman): every file the image
copies exists and passes .dockerignore, every command it runs is one the project installs,
every path variable it sets is one common/paths.py reads and lands where compose.yaml puts a
volume or tmpfs, every ${VAR} is documented or defaulted, the healthcheck asks a route the
health service serves, and the settings the entrypoint writes give the same configuration
with the health endpoint on the published port.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml

from common import config as config_module
from common.config import ConfigError, load_config
from common.paths import Paths
from tests.support.stack import PROJECT

DOCKERFILE = PROJECT / "Dockerfile"
COMPOSE = PROJECT / "compose.yaml"
SIMULATOR_OVERRIDE = PROJECT / "deploy" / "docker" / "compose.simulator.yaml"
ENTRYPOINT = PROJECT / "deploy" / "docker" / "entrypoint.py"
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+][^}]*)?\}")
HAS_HEALTH_SETTINGS = "health" in config_module.DEFAULTS


# --- reading the files -----------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        word, _, rest = (pending + line).partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    assert not pending, "Dockerfile ends in a continuation line"
    return out


def of(kind: str) -> list[str]:
    return [args for word, args in instructions() if word == kind]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in of("ENV"):
        for item in shlex.split(args):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def workdir() -> PurePosixPath:
    (path,) = of("WORKDIR")
    return PurePosixPath(path)


def copies() -> list[tuple[str, PurePosixPath]]:
    """(source in the project, where it lands in the image) for every COPY."""
    out = []
    for args in of("COPY"):
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
        *sources, dest = parts
        into_dir = dest.endswith("/") or dest in (".", "./") or len(sources) > 1
        target = PurePosixPath(dest)
        target = target if target.is_absolute() else workdir() / target
        for source in sources:
            out.append((source, target / PurePosixPath(source).name if into_dir else target))
    return out


def ignored(path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent wins."""
    rules = []
    for raw in (PROJECT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            negate = line.startswith("!")
            rules.append((negate, line.lstrip("!").strip("/")))
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negate, pattern in rules:
        if any(_match(pattern, c) for c in candidates):
            result = not negate
    return result


def _match(pattern: str, path: str) -> bool:
    if pattern.startswith("**/"):
        tail = pattern[3:]
        return any(_match(tail, "/".join(path.split("/")[i:])) for i in range(len(path.split("/"))))
    p_parts, parts = pattern.split("/"), path.split("/")
    return len(p_parts) == len(parts) and all(
        fnmatch.fnmatchcase(s, p) for s, p in zip(parts, p_parts, strict=True)
    )


class _ComposeLoader(yaml.SafeLoader):
    """PyYAML plus Compose's !reset tag."""


_ComposeLoader.add_constructor("!reset", lambda loader, node: ("!reset", node.value))


def compose(path: Path = COMPOSE) -> dict:
    return yaml.load(path.read_text(), Loader=_ComposeLoader)  # a SafeLoader subclass


def documented_env_keys() -> set[str]:
    return {
        line.split("=", 1)[0].strip()
        for line in (PROJECT / ".env.example").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }


def short_volume(spec: str) -> tuple[str, str, str]:
    source, target, *mode = spec.split(":")
    return source, target, (mode[0] if mode else "rw")


def interpolate(text: str, env: dict[str, str]) -> str:
    def one(m: re.Match) -> str:
        name, rule = m.group(1), m.group(2) or ""
        if env.get(name):
            return env[name]
        return rule[2:] if rule.startswith(":-") else ""

    return VAR.sub(one, text)


def under(path: str, top: str) -> bool:
    return PurePosixPath(path) == PurePosixPath(top) or PurePosixPath(top) in PurePosixPath(
        path
    ).parents


# --- the Dockerfile ----------------------------------------------------------------------------


def test_every_copied_file_exists_and_passes_dockerignore():
    assert copies(), "the Dockerfile copies nothing"
    for source, _ in copies():
        assert (PROJECT / source).exists(), f"COPY {source}: no such file in the project"
        assert not ignored(source), f"COPY {source}: excluded by .dockerignore"
        for f in (PROJECT / source).rglob("*.py") if (PROJECT / source).is_dir() else []:
            rel = f.relative_to(PROJECT).as_posix()
            assert not ignored(rel) or "__pycache__" in rel, f"{rel} would be left out"


def test_dockerignore_keeps_secrets_and_local_state_out():
    for path in (".env", "logs/20261126-smartmeter.csv", "var/lib/influx_queue.sqlite",
                 ".venv/bin/python", ".git/config", "keilog/.git/HEAD", "tests/stack.py",
                 "image/build"):  # fmt: skip
        assert ignored(path), f"{path} would be sent to the image build"
    # the optional keilog checkout is taken in (Dockerfile's bind mount of the context)
    assert not ignored("keilog/keilib/broute.py")


def test_the_command_and_entrypoint_are_what_the_project_installs():
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    (cmd,) = [exec_form(a) for a in of("CMD")]
    (entry,) = [exec_form(a) for a in of("ENTRYPOINT")]
    assert cmd[0] in pyproject["project"]["scripts"], f"{cmd[0]} is not a console script"
    from services.ctl.cli import main

    assert cmd[1] in main.commands, f"smartmeterctl has no '{cmd[1]}' command"
    # The entrypoint script is copied to the path the ENTRYPOINT runs.
    assert entry[0] == "python"
    copied = {dest: source for source, dest in copies()}
    assert copied.get(PurePosixPath(entry[1])) == ENTRYPOINT.relative_to(PROJECT).as_posix()
    # Without arguments the entrypoint runs the same command.
    sys.path.insert(0, str(ENTRYPOINT.parent))
    try:
        import entrypoint
    finally:
        sys.path.remove(str(ENTRYPOINT.parent))
    assert "smartmeterctl" in ENTRYPOINT.read_text() and entrypoint.PORT == 8780
    # The venv's bin is on PATH and the console script is there after uv sync.
    assert image_env()["PATH"].startswith("/app/.venv/bin:")
    assert any("uv sync" in a and "--frozen" in a and "--no-dev" in a for a in of("RUN"))


def test_the_path_variables_are_the_ones_paths_py_reads():
    env = image_env()
    ours = {k: v for k, v in env.items() if k.startswith("SMARTMETER_")}
    read = set(re.findall(r'"(SMARTMETER_[A-Z_]+)"', (PROJECT / "common" / "paths.py").read_text()))
    assert set(ours) <= read, f"set but never read: {set(ours) - read}"
    paths = Paths.from_environ(ours)
    assert str(paths.home) == env["SMARTMETER_HOME"] == str(workdir())
    assert str(paths.config_file) == env["SMARTMETER_CONFIG"]
    assert str(paths.runtime_dir) == env["SMARTMETER_RUNTIME_DIR"]
    assert str(paths.data_dir) == env["SMARTMETER_DATA_DIR"]
    assert str(paths.log_dir) == env["SMARTMETER_LOG_DIR"]
    # smartmeterctl supervise finds supervisord.conf next to the code (editable install).
    assert ("supervisord.conf", workdir() / "supervisord.conf") in copies()
    # and the packages next to it, where pyproject.toml's wheel packages are
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    for package in pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]:
        assert (package, workdir() / package) in copies()


def test_the_image_runs_as_a_user_in_dialout():
    (user,) = of("USER")
    assert user not in ("root", "0")
    assert any("useradd" in a and "dialout" in a and user in a for a in of("RUN"))
    args = {a.split("=")[0] for a in of("ARG")}
    build_args = compose()["services"]["smartmeter"]["build"]["args"]
    assert set(build_args) <= args, "compose passes a build arg the Dockerfile does not take"


def test_the_healthcheck_asks_the_health_route_on_the_exposed_port():
    (hc,) = of("HEALTHCHECK")
    cmd = exec_form(hc.split(" CMD ", 1)[1])
    assert cmd[:2] == ["python", "-c"]
    url = re.search(r"https?://[^'\"]+", cmd[2]).group(0)
    assert url == "http://127.0.0.1:8780/health"
    assert of("EXPOSE") == ["8780"]
    # compose.yaml's healthcheck is the same command
    assert compose()["services"]["smartmeter"]["healthcheck"]["test"] == ["CMD", *cmd]
    health_main = PROJECT / "services" / "health" / "__main__.py"
    if not health_main.exists():
        pytest.skip("services/health is not on this branch yet")
    assert re.search(r'"/health"\s*:', health_main.read_text()), "no /health route"


# --- compose.yaml ------------------------------------------------------------------------------


def test_every_variable_is_documented_or_defaulted():
    documented = documented_env_keys()
    for path in (COMPOSE, SIMULATOR_OVERRIDE):
        for name, rule in VAR.findall(path.read_text()):
            assert name in documented or (rule or "").startswith((":-", "-")), (
                f"{path.name}: ${{{name}}} is neither in .env.example nor defaulted"
            )


def test_the_dongle_is_serial_port_on_the_host_and_a_fixed_path_inside():
    svc = compose()["services"]["smartmeter"]
    assert svc["env_file"] == ".env" and (PROJECT / ".env.example").exists()
    assert "SERIAL_PORT" in documented_env_keys()
    (device,) = svc["devices"]
    host, inside = interpolate(device, {"SERIAL_PORT": "/dev/ttyUSB0"}).split(":")
    assert host == "/dev/ttyUSB0"
    # The logger inside uses the container's path, whatever .env says (environment wins).
    assert svc["environment"]["SERIAL_PORT"] == inside
    # Without SERIAL_PORT compose stops with a message rather than passing an empty device.
    assert VAR.search(device).group(2).startswith(":?")


def test_volumes_and_tmpfs_hold_every_path_the_image_writes():
    svc = compose()["services"]["smartmeter"]
    env = image_env()
    mounts = {target: (source, mode) for source, target, mode in map(short_volume, svc["volumes"])}
    home = env["SMARTMETER_HOME"]
    # The user's config/ is what the entrypoint reads, read-only.
    assert mounts[f"{home}/config"] == ("./config", "ro")
    assert (PROJECT / "config" / "settings.yml").exists()
    # The CSV folder of the default settings is ./logs on the host.
    settings = yaml.safe_load((PROJECT / "config" / "settings.yml").read_text())
    assert mounts[f"{home}/{settings['csv']['directory']}"][0] == "./logs"
    # Queue, cursors and logs in the named volume; runtime dir and settings on the tmpfs.
    (state,) = [t for t, (s, _) in mounts.items() if not s.startswith(".")]
    assert mounts[state][0] in compose()["volumes"]
    assert under(env["SMARTMETER_DATA_DIR"], state) and under(env["SMARTMETER_LOG_DIR"], state)
    (tmpfs,) = svc["tmpfs"]
    assert under(env["SMARTMETER_RUNTIME_DIR"], tmpfs) and under(env["SMARTMETER_CONFIG"], tmpfs)
    # The runtime dir is a folder below the tmpfs: the service chmods it, and it cannot
    # chmod a tmpfs root that root owns.
    assert env["SMARTMETER_RUNTIME_DIR"] != tmpfs
    # The image creates the mount points its user must write to.
    made = " ".join(a for a in of("RUN") if a.startswith("install -d"))
    for path in (state, f"{home}/logs", tmpfs):
        assert path in made, f"the image does not create {path}"


def test_the_published_port_is_the_one_the_entrypoint_sets():
    svc = compose()["services"]["smartmeter"]
    (port,) = svc["ports"]
    assert port.rsplit(":", 1)[-1] == "8780"
    assert svc["build"]["context"] == "." and DOCKERFILE.exists()
    assert svc["restart"] == "unless-stopped"
    assert svc["init"] is True


def test_the_telegraf_service_reads_the_loggers_csv_folder():
    conf = tomllib.loads((PROJECT / "deploy" / "telegraf" / "telegraf.conf").read_text())
    (tail,) = conf["inputs"]["tail"]
    default_dir = VAR.match(tail["files"][0]).group(2).removeprefix(":-")
    svc = compose()["services"]["telegraf"]
    assert svc["profiles"] == ["telegraf"]
    mounts = {target: source for source, target, _ in map(short_volume, svc["volumes"])}
    assert (PROJECT / mounts["/etc/telegraf/telegraf.conf"]).is_file()
    logger = {t: s for s, t, _ in map(short_volume, compose()["services"]["smartmeter"]["volumes"])}
    assert mounts[default_dir] == logger["/app/logs"]
    used = {name for name, _ in VAR.findall(json.dumps(conf["outputs"]))}
    assert used <= set(svc["environment"])


def test_the_simulator_override_drops_the_device_and_uses_the_simulator():
    override = compose(SIMULATOR_OVERRIDE)["services"]["smartmeter"]
    assert override["devices"] == ("!reset", [])
    assert override["environment"]["SERIAL_PORT"] == config_module.SIMULATOR


# --- the entrypoint ----------------------------------------------------------------------------


def _entrypoint_module():
    sys.path.insert(0, str(ENTRYPOINT.parent))
    try:
        import entrypoint

        return entrypoint
    finally:
        sys.path.remove(str(ENTRYPOINT.parent))


def _paths(tmp_path: Path, config_file: Path) -> Paths:
    return Paths(tmp_path, config_file, tmp_path / "none.env", tmp_path / "run",
                 tmp_path / "lib", tmp_path / "log")  # fmt: skip


@pytest.mark.skipif(not HAS_HEALTH_SETTINGS, reason="health settings are not on this branch yet")
def test_container_settings_are_the_users_with_the_health_endpoint_published(tmp_path):
    ep = _entrypoint_module()
    original = (PROJECT / "config" / "settings.yml").read_text()
    (tmp_path / "user.yml").write_text(original)
    (tmp_path / "container.yml").write_text(ep.container_settings(original))
    env = {"SERIAL_PORT": "simulator"}
    mine = load_config(_paths(tmp_path, tmp_path / "user.yml"), env)
    theirs = load_config(_paths(tmp_path, tmp_path / "container.yml"), env)
    assert (theirs.health.bind, theirs.health.port) == ("0.0.0.0", 8780)
    assert {**vars(theirs), "health": None, "paths": None} == {
        **vars(mine), "health": None, "paths": None
    }


def test_a_file_with_a_mistake_reaches_the_services_unchanged(tmp_path):
    ep = _entrypoint_module()
    broken = "acquisition:\n  interval_seconds: [\n"
    assert ep.container_settings(broken) == broken
    (tmp_path / "c.yml").write_text(ep.container_settings(broken))
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(_paths(tmp_path, tmp_path / "c.yml"), {})
    # a key of the previous logger is kept, so the services name it
    previous = "unit_id: smartmeter01\n"
    assert yaml.safe_load(ep.container_settings(previous))["unit_id"] == "smartmeter01"


def test_the_entrypoint_writes_the_settings_then_runs_the_command(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "settings.yml").write_text("unitid: meter1\n")
    target = tmp_path / "run" / "settings.yml"
    env = {**os.environ, "SMARTMETER_HOME": str(tmp_path), "SMARTMETER_CONFIG": str(target)}
    probe = "import os; print(os.environ['SMARTMETER_CONFIG'])"
    done = subprocess.run([sys.executable, str(ENTRYPOINT), sys.executable, "-c", probe],
                          env=env, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(target)
    written = yaml.safe_load(target.read_text())
    assert written == {"unitid": "meter1", "health": {"bind": "0.0.0.0", "port": 8780}}
