"""load_config: read settings.yml and .env, run every section's check, and either hand back
a Config or raise ConfigError with every problem found.
"""

from __future__ import annotations

import os
from typing import Any

from common.config.files import read_env, read_yaml
from common.config.inputs import Inputs
from common.config.keys import merged, unknown_keys
from common.config.sections import SECTIONS
from common.config.shape import DEFAULTS, Config
from common.paths import Paths


class ConfigError(Exception):
    """One or more problems with the configuration, each a line a person can act on."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_config(
    paths: Paths | None = None,
    environ: dict[str, str] | None = None,
    *,
    need_broute: bool = False,
    need_influx: bool = False,
) -> Config:
    """Load and check everything; raise ConfigError listing every problem found."""
    env = dict(os.environ if environ is None else environ)
    paths = paths or Paths.from_environ(env)
    given, problems = read_yaml(paths.config_file)
    problems += unknown_keys(given, DEFAULTS)
    secrets, env_problems = read_env(paths, env)
    problems += env_problems
    inputs = Inputs(
        given=given,
        settings=merged(given, DEFAULTS),
        env=secrets,
        paths=paths,
        need_broute=need_broute,
        need_influx=need_influx,
    )
    fields: dict[str, Any] = {}
    for section in SECTIONS:
        values, found = section.check(inputs)
        fields.update(values)
        problems += found
    if problems:
        raise ConfigError(problems)
    return Config(paths=paths, **fields)
