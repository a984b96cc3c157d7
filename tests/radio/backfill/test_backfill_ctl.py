"""`smartmeterctl backfill` and the backfill line of `smartmeterctl status` (services/ctl)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from common.paths import Paths
from services.ctl import backfill
from services.ctl.cli import main
from services.ctl.status_report import OK, Report, render


def paths(tmp_path: Path) -> Paths:
    return Paths(home=tmp_path, config_file=tmp_path / "settings.yml", env_file=tmp_path / ".env",
                 runtime_dir=tmp_path / "run", data_dir=tmp_path / "data",
                 log_dir=tmp_path / "log")  # fmt: skip


def health(**b: object) -> dict:
    return {"status": "pass", "checks": {"radio:link": [{"cause": "joined",
                                                         "details": {"backfill": b}}]}}  # fmt: skip


def test_the_request_is_a_whole_file_for_the_radio(tmp_path):
    p = paths(tmp_path)
    ident = backfill.request(p, 3)
    assert json.loads(p.backfill_request.read_text()) | {"at": None} == {
        "id": ident, "days": 3, "at": None}  # fmt: skip
    assert not list(p.runtime_dir.glob("*.tmp"))
    assert backfill.request(p, None) != ident  # a new request replaces it, with its own id
    assert json.loads(p.backfill_request.read_text())["days"] is None


def test_progress_is_followed_until_the_radio_is_done(capsys):
    answers = iter([
        {},  # health not ready yet
        health(state="idle", missing=0, done=0),  # the radio has not taken it yet
        health(state="running", missing=96, done=0, request="r1"),
        health(state="running", missing=40, done=56, request="r1"),
        health(state="paused-midnight", missing=40, done=56, request="r1"),
        health(state="idle", missing=0, done=96, nodata=2, unrecoverable=48, request="r1"),
    ])  # fmt: skip
    assert backfill.follow("r1", lambda: next(answers), take_timeout=5, poll=0) == 0
    out = capsys.readouterr().out
    assert "paused around the meter's midnight" in out
    assert "done: 96 half-hours read back; 2 the meter has no value for; 48 older than" in out


def test_a_request_nobody_takes_is_said_to_stay_queued(capsys):
    code = backfill.follow("r1", lambda: health(state="idle", missing=0, done=0),
                           take_timeout=0.05, poll=0.01)  # fmt: skip
    assert code == 1
    assert "stays queued" in capsys.readouterr().out


def test_a_meter_without_history_is_said_so(capsys):
    code = backfill.follow("r1", lambda: health(state="unsupported", missing=5, request="r1"),
                           take_timeout=1, poll=0)  # fmt: skip
    assert code == 1
    assert "no 30-minute history" in capsys.readouterr().out


def test_status_shows_the_backfill_while_it_runs_and_what_was_lost():
    def line(**b: object) -> list[str]:
        text = render(Report(OK, health=health(**b)))
        return [s.strip() for s in text.splitlines() if s.strip().startswith("backfill")]

    assert line(state="idle", missing=0, done=10) == []
    assert line(state="running", missing=40, done=56) == [
        "backfill       running: 40 half-hours to read back, 56 done"
    ]
    assert line(state="idle", missing=0, done=0, unrecoverable=48) == [
        "backfill       48 half-hours older than the meter's history were lost"
    ]


def test_the_command_refuses_when_backfill_is_off(tmp_path, monkeypatch):
    p = paths(tmp_path)
    p.config_file.write_text("acquisition:\n  backfill: false\n")
    monkeypatch.setenv("SMARTMETER_CONFIG", str(p.config_file))
    monkeypatch.setenv("SMARTMETER_RUNTIME_DIR", str(p.runtime_dir))
    monkeypatch.setenv("SMARTMETER_ENV_FILE", str(p.env_file))
    result = CliRunner().invoke(main, ["backfill", "--days", "2"])
    assert result.exit_code == 2
    assert "acquisition.backfill is false" in result.output
    assert not p.backfill_request.exists()


def test_the_command_leaves_a_request_and_can_return_at_once(tmp_path, monkeypatch):
    p = paths(tmp_path)
    monkeypatch.setenv("SMARTMETER_CONFIG", str(p.config_file))
    monkeypatch.setenv("SMARTMETER_RUNTIME_DIR", str(p.runtime_dir))
    monkeypatch.setenv("SMARTMETER_ENV_FILE", str(p.env_file))
    result = CliRunner().invoke(main, ["backfill", "--days", "7", "--no-wait"])
    assert result.exit_code == 0, result.output
    assert json.loads(p.backfill_request.read_text())["days"] == 7
    assert "the last 7 days" in result.output
    assert CliRunner().invoke(main, ["backfill", "--days", "100"]).exit_code == 2
