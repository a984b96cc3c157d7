"""The previous logger is called what its users know it as: "the keilog + Telegraf logger",
"the previous logger" (前身), never "the seed" (a word from the project's own history).

"seed" in its other meaning (the random seed of the simulator's power curve, of the fault
tests' SIGKILL schedule) stays."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

from tests.support.stack import PROJECT

SEED = re.compile(r"seed", re.IGNORECASE)
# The random-number meaning: --seed N, SMARTMETER_FAULT_SEED, "seeded random", "seed 1795692143".
RANDOM = re.compile(r"random seed|seeded|--seed|_SEED\b|seed \d|a seed picks|\(seed, ", re.I)

TEXT = ["README.md", "Dockerfile", "compose.yaml", "config", "deploy", "docs", "image", "scripts"]


def _files(entries: list[str]) -> list[Path]:
    out: list[Path] = []
    for entry in entries:
        path = PROJECT / entry
        out += [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [p for p in out if "__pycache__" not in p.parts]


def _offending(lines: list[tuple[int, str]]) -> list[str]:
    return [f"{n}: {text.strip()}" for n, text in lines if SEED.search(text)
            and not RANDOM.search(text)]  # fmt: skip


def _words_of_python(path: Path) -> list[tuple[int, str]]:
    """The strings and comments of a Python file: what a person reads (a ``seed`` variable of a
    random generator is code, not a name for the previous logger)."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    return [(t.start[0] + i, line) for t in tokens
            if t.type in (tokenize.STRING, tokenize.COMMENT)
            for i, line in enumerate(t.string.splitlines())]  # fmt: skip


def test_readme_docs_and_what_users_edit_say_previous_logger():
    found = {}
    for path in _files(TEXT):
        if path.suffix == ".py":
            bad = _offending(_words_of_python(path))
            if bad:
                found[str(path.relative_to(PROJECT))] = bad
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        bad = _offending(list(enumerate(text.splitlines(), 1)))
        if bad:
            found[str(path.relative_to(PROJECT))] = bad
    assert not found, found


def test_messages_docstrings_and_comments_of_the_services_say_previous_logger():
    found = {}
    for path in _files(["services", "common"]):
        rel = str(path.relative_to(PROJECT))
        if path.suffix != ".py":
            continue
        bad = _offending(_words_of_python(path))
        if bad:
            found[rel] = bad
    assert not found, found


def test_the_check_finds_the_old_word():
    assert _offending([(1, "# drive it through the seed's keilog library")])
    assert _offending([(1, '"Moving from the Seed"')])
    assert not _offending([(1, "--seed N  random seed of the power curve")])
