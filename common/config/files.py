"""Reading settings.yml and .env: what the files say, or a line saying why they cannot be read.

Nothing here checks a value; the sections do (common/config/sections/).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

from common.paths import Paths


class _Loader(yaml.SafeLoader):
    """SafeLoader whose value errors carry the line they come from.

    PyYAML's constructors raise plain ValueError/KeyError/... for values that look like a
    type but are not one (``2024-13-01``, ``!!float abc``, ``!!bool maybe``); turn those into
    a YAMLError with the node's position like every other syntax problem.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value ({exc})", node.start_mark
            ) from exc


def read_yaml(path: Path) -> tuple[dict[str, Any], list[str]]:
    """settings.yml as written (empty when there is none: every key has a default)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, []  # every key has a default
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return {}, [f"{path}: cannot read it ({reason}); check the file's permissions"]
    except UnicodeDecodeError as exc:
        return {}, [
            f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 with a text editor"
        ]
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return {}, [f"{path}: not valid YAML{where}; fix the indentation or quoting there"]
    except RecursionError:
        return {}, [f"{path}: not valid YAML (nested too deeply); fix the brackets"]
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        return {}, [f"{path}: must be a mapping of sections (acquisition:, csv:, ...)"]
    return data, []


def read_env(paths: Paths, environ: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The .env file's values, overridden by the environment's BROUTE_*, INFLUXDB_*, MQTT_*,
    SERIAL_PORT."""
    values: dict[str, str] = {}
    problems: list[str] = []
    # Read it here rather than in dotenv: dotenv silently returns nothing for a directory
    # (what docker creates when the bind-mounted .env is missing on the host).
    text: str | None = None
    try:
        text = paths.env_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        pass  # everything may come from the environment
    except OSError as exc:
        reason = exc.strerror or str(exc)
        problems.append(f"{paths.env_file}: cannot read it ({reason}); check its permissions")
    except UnicodeDecodeError as exc:
        problems.append(f"{paths.env_file}: not UTF-8 text (byte {exc.start}); save it as UTF-8")
    if text is not None:
        loaded = dotenv_values(stream=io.StringIO(text))
        values.update({k: v for k, v in loaded.items() if v is not None})
    # The real environment wins over the file, as with docker's env_file.
    secret = ("BROUTE_", "INFLUXDB_", "MQTT_")
    values.update({k: v for k, v in environ.items() if k.startswith(secret)})
    if "SERIAL_PORT" in environ:
        values["SERIAL_PORT"] = environ["SERIAL_PORT"]
    return values, problems


def read_settings_env(paths: Paths, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The .env values merged with the environment, unvalidated (for the launcher)."""
    return read_env(paths, dict(os.environ if environ is None else environ))[0]
