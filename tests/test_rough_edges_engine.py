"""The engine commands' rough edges (issue 17), on the real engine with the local target:
apply and destroy with --output json, and history's times with their time zone."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import amlctl, git

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def small(tmp_path: Path, monkeypatch) -> Path:
    """`amlctl init`'s repository, committed: its local stack is small, so the engine is quick."""
    from controller import scaffold
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    root = tmp_path / "small"
    scaffold.write(root, scaffold.files("small", "mlw-small", "westeurope", ()))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "amlctl init")
    return root


def test_apply_destroy_and_history_speak_json_with_progress_on_stderr_and_times_in_utc(small: Path):
    first = amlctl("apply", "--stack", "local", "--yes", "--output", "json", cwd=small)
    assert first.code == 0, first.err
    doc = json.loads(first.out)  # stdout is the document alone: the progress went to stderr
    assert doc["format"] == "amlctl.dev/apply/v1" and doc["stack"] == "local" and doc["started_engine"]
    assert doc["changes"]["create"] > 0 and "amlctl apply" in doc["message"]
    assert {c["action"] for c in doc["plan"]["changes"]} == {"create"}
    assert "created" in first.err

    again = json.loads(amlctl("apply", "--stack", "local", "--yes", "-o", "json", cwd=small).out)
    assert not again["started_engine"] and again["changes"] == {} and again["plan"] is None
    assert again["message"].startswith("no changes")

    history = amlctl("history", "--stack", "local", "-o", "json", cwd=small)
    assert history.code == 0, history.err
    assert [ISO_UTC.match(u["started"]) is not None for u in json.loads(history.out)] == [True]
    text = amlctl("history", "--stack", "local", cwd=small).out
    assert ISO_UTC.match(text.split()[1]), text

    gone = amlctl("destroy", "--stack", "local", "--yes-destroy-stack", "local", "-o", "json", cwd=small)
    assert gone.code == 0, gone.err
    doc = json.loads(gone.out)
    assert doc["format"] == "amlctl.dev/destroy/v1" and doc["started_engine"]
    assert doc["changes"]["delete"] == json.loads(first.out)["changes"]["create"]
    assert "deleted" in gone.err
