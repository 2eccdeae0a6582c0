"""The release loop on the real engine (local target, file backend): a production stack takes a new
model version, changed scoring code and a new environment version with a plain `apply --yes`; the
versions it supersedes stay in the (simulated) workspace, because Azure ML asset versions are
append-only."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import amlctl, git, git_estate

ML = "Microsoft.MachineLearningServices"


@pytest.fixture
def estate(tmp_path: Path, monkeypatch) -> Path:
    root = git_estate(tmp_path / "estate")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    monkeypatch.delenv("AMLCTL_STATE_DIR", raising=False)
    stack = root / "stacks/Pulumi.local.yaml"
    stack.write_text(stack.read_text().replace("amlctl:production: false", "amlctl:production: true"))
    git(root, "commit", "-qam", "local is production-like: protection on")
    return root


def sim_ids(root: Path) -> set[str]:
    out = set()
    for f in (root / ".amlctl" / "local" / "sim").rglob("*.json"):
        d = json.loads(f.read_text())
        if "id" in d:
            out.add(d["id"].lower())
    return out


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new))


def test_a_production_release_needs_no_delete_and_keeps_the_old_versions(estate: Path):
    first = amlctl("apply", "--stack", "local", "--yes", cwd=estate)
    assert first.code == 0, first.err
    before = sim_ids(estate)
    assert any(i.endswith("/models/credit-default/versions/7") for i in before)
    assert any(i.endswith("/models/credit-default/versions/8") for i in before)  # two versions in git
    old_code = {i for i in before if "/codes/" in i and "/versions/" in i}

    # The release: model 9 (a new manifest beside 7 and 8), a new environment version and a
    # changed scoring script; blue moves to model 9 and environment 3.
    (estate / "manifests/models/credit-model-v9.yaml").write_text(
        (estate / "manifests/models/credit-model-v8.yaml").read_text().replace('version: "8"', 'version: "9"'))
    edit(estate, "manifests/environments/score-env.yaml", 'version: "2"', 'version: "3"')
    edit(estate, "manifests/environments/score-conda.yaml", "pandas==2.2.3", "pandas==2.2.4")
    score = estate / "manifests/src/score/score.py"
    score.write_text(score.read_text() + "\n# release 2026.12: log the model version\n")
    for rel in ("manifests/endpoints/online-blue.yaml", "manifests/endpoints/online-green.yaml"):
        edit(estate, rel, "azureml:credit-score-env:2", "azureml:credit-score-env:3")
    edit(estate, "manifests/endpoints/online-blue.yaml", "azureml:credit-default:7", "azureml:credit-default:9")
    git(estate, "add", "-A")
    git(estate, "commit", "-qm", "release: model 9, environment 3, scoring logs the version")

    plan = amlctl("plan", "--stack", "local", "--base", "HEAD~1", "--output", "json", cwd=estate)
    assert plan.code == 0, plan.err
    data = plan.json()
    assert data["summary"]["delete"] == 0 and data["summary"]["replace"] == 0
    kept = {c["name"]: c["label"] for c in data["changes"] if c["action"] == "keep"}
    assert kept["mlw-credit/environment/credit-score-env@2"] == "kept in Azure (asset versions are immutable)"
    assert any("/code/" in n for n in kept)  # the old scoring code version stays too

    run = amlctl("apply", "--stack", "local", "--yes", cwd=estate)  # no --allow-delete
    assert run.code == 0, run.err
    after = sim_ids(estate)
    for version in ("/models/credit-default/versions/7", "/models/credit-default/versions/8",
                    "/models/credit-default/versions/9", "/environments/credit-score-env/versions/2",
                    "/environments/credit-score-env/versions/3"):
        assert any(i.endswith(version) for i in after), version
    assert old_code <= after  # the superseded code version is still there
    assert len({i for i in after if "/codes/" in i and "/versions/" in i}) > len(old_code)


def test_a_stack_that_archives_superseded_versions_keeps_them_archived(estate: Path):
    stack = estate / "stacks/Pulumi.local.yaml"
    stack.write_text(stack.read_text().replace("  amlctl:production: true\n",
                                               "  amlctl:production: true\n  amlctl:supersededVersions: archive\n"))
    git(estate, "commit", "-qam", "local archives superseded versions")
    assert amlctl("apply", "--stack", "local", "--yes", cwd=estate).code == 0
    edit(estate, "manifests/environments/score-env.yaml", 'version: "2"', 'version: "3"')
    for rel in ("manifests/endpoints/online-blue.yaml", "manifests/endpoints/online-green.yaml"):
        edit(estate, rel, "azureml:credit-score-env:2", "azureml:credit-score-env:3")
    git(estate, "commit", "-qam", "environment 3")
    plan = amlctl("plan", "--stack", "local", "--base", "HEAD~1", "--output", "json", cwd=estate).json()
    [archived] = [c for c in plan["changes"] if c["name"] == "mlw-credit/environment/credit-score-env@2"]
    assert archived["action"] == "update" and archived["label"].startswith("archived")
    assert [p["path"] for p in archived["properties"]] == ["properties.isArchived"]
    assert amlctl("apply", "--stack", "local", "--yes", cwd=estate).code == 0
    doc = next(json.loads(f.read_text()) for f in (estate / ".amlctl/local/sim").rglob("2.json")
               if "/environments/credit-score-env/versions/2" in json.loads(f.read_text()).get("id", ""))
    assert doc["properties"]["properties"]["isArchived"] is True
    again = amlctl("apply", "--stack", "local", "--yes", cwd=estate)  # stays archived: nothing to do
    assert again.code == 0 and "engine was not started" in again.out
