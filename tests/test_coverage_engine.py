"""Issue 14's kinds (monitoring, data import, feature store, more compute, datastores and assets)
applied on the local target with the real engine: one estate of all of them (tests/estates/coverage),
applied from nothing, then applied again with nothing to do, then one manifest of each area changed
in place and applied (updates only, nothing deleted)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import REPO, amlctl, git

COVERAGE = REPO / "tests" / "estates" / "coverage"


def areas() -> list[Path]:
    wanted = {a for a in os.environ.get("COVERAGE_AREAS", "").split(",") if a}
    return sorted(p for p in COVERAGE.iterdir() if p.is_dir() and p.name != "base"
                  and (not wanted or p.name in wanted))


def estate(root: Path) -> Path:
    for part in [COVERAGE / "base", *areas()]:
        shutil.copytree(part, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("CHANGE.yaml"))
    (root / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    (root / ".gitignore").write_text(".amlctl/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "the estate")
    return root


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    monkeypatch.delenv("AMLCTL_STATE_DIR", raising=False)


def apply(root: Path):
    run = amlctl("apply", "--stack", "local", "--yes", "-o", "json", cwd=root)
    assert run.code == 0, run.out + run.err
    return run.json()


def test_every_new_kind_applies_converges_and_updates_in_place(tmp_path: Path) -> None:
    import yaml
    root = estate(tmp_path / "estate")
    assert amlctl("validate", "--strict", cwd=root).code == 0
    first = apply(root)
    assert first["changes"].get("create", 0) > 0, first
    git(root, "commit", "-qam", "the stack's salt")
    second = apply(root)
    assert second["changes"] == {}, second
    # Each area's CHANGE.yaml names one file and one text replacement in it: an update in place.
    changed = 0
    for area in areas():
        spec = area / "CHANGE.yaml"
        if spec.exists():
            change = yaml.safe_load(spec.read_text())
            path = root / change["file"]
            text = path.read_text()
            assert change["old"] in text, (area.name, change)
            path.write_text(text.replace(change["old"], change["new"]))
            changed += 1
    if changed:
        git(root, "commit", "-qam", "one change per area")
        third = apply(root)
        assert set(third["changes"]) <= {"update", "create"}, third
        assert third["changes"].get("update", 0) + third["changes"].get("create", 0) >= changed, third
