"""The B-route ID and password (BROUTE_ID, BROUTE_PASSWORD in .env), checked when the caller
talks to the meter; they never appear in settings.yml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.config.inputs import Checked, Inputs
from common.config.secret import Secret

DEFAULTS: dict[str, Any] = {}


def check(inputs: Inputs) -> Checked:
    broute_id = Secret(inputs.env.get("BROUTE_ID", "").strip())
    broute_password = Secret(inputs.env.get("BROUTE_PASSWORD", "").strip())
    problems: list[str] = []
    if inputs.need_broute:
        problems = _problems(broute_id.reveal(), broute_password.reveal(), inputs.paths.env_file)
    return {"broute_id": broute_id, "broute_password": broute_password}, problems


def _problems(rbid: str, pwd: str, env_file: Path) -> list[str]:
    problems = []
    where = f"in {env_file} (or the environment)"
    for key, value, length, what, on_the_letter in (
        ("BROUTE_ID", rbid, 32, "B-route ID", "認証ID"),
        ("BROUTE_PASSWORD", pwd, 12, "password", "パスワード"),
    ):
        if not value:
            problems.append(f"{key} is not set; put the {length}-character {what} {where}")
        elif len(value) != length or not value.isascii() or not value.isalnum():
            problems.append(
                f"{key} must be {length} letters and digits (it has {len(value)} characters); "
                f"copy the {on_the_letter} from the power company's letter exactly {where}"
            )
    return problems
