"""Microsoft's mlops-v2 project templates (classical, nlp, cv), brought over unchanged
(tests/estates/mlops-v2, see its README): each validates, plans and applies on the local target
with the real engine, and a release of the training code applies on its production-protected stack
with a plain `apply --yes`."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import REPO, amlctl, git

ESTATES = REPO / "tests" / "estates" / "mlops-v2"


@pytest.fixture
def project(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    monkeypatch.delenv("AMLCTL_STATE_DIR", raising=False)

    def make(name: str) -> Path:
        root = tmp_path / name
        shutil.copytree(ESTATES / name, root)
        (root / ".gitignore").write_text(".amlctl/\n")
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-qm", f"mlops-v2 {name}, as the template has it")
        return root
    return make


def sim_ids(root: Path) -> set[str]:
    return {json.loads(f.read_text()).get("id", "").lower() for f in (root / ".amlctl/local/sim").rglob("*.json")}


@pytest.mark.parametrize("name", ["classical", "nlp", "cv"])
def test_an_mlops_v2_project_validates_plans_and_applies_unchanged(project, name: str):
    root = project(name)
    checked = amlctl("validate", "-o", "json", cwd=root)
    assert checked.code == 0, checked.out
    plan = amlctl("plan", "--stack", "local", "--from-scratch", "--output", "json", cwd=root)
    assert plan.code == 0, plan.err + plan.out
    changes = plan.json()["changes"]
    jobs = [c for c in changes if c["type"].endswith(":Job")]
    assert jobs, "the training pipeline is a run"
    applied = amlctl("apply", "--stack", "local", "--yes", cwd=root)
    assert applied.code == 0, applied.err + applied.out
    ids = sim_ids(root)
    # Inline steps are anonymous components; nothing is left as a local path in what was sent.
    assert any("/components/azureml_anonymous/versions/" in i for i in ids) or name == "cv"
    for f in (root / ".amlctl/local/sim").rglob("*.json"):
        text = f.read_text()
        assert '"../' not in text and '"./' not in text, f


def test_a_release_of_the_training_code_applies_on_the_protected_stack(project):
    root = project("classical")
    assert amlctl("apply", "--stack", "local", "--yes", cwd=root).code == 0
    before = {i for i in sim_ids(root) if "/codes/" in i}
    train = root / "data-science/src/train.py"
    train.write_text(train.read_text() + "\n# release: a deeper forest\n")
    refused = amlctl("apply", "--stack", "local", "--yes", cwd=root)  # uncommitted code outside mlops/
    assert refused.code == 1 and "data-science/src/train.py" in refused.err
    git(root, "commit", "-qam", "train: a deeper forest")
    released = amlctl("apply", "--stack", "local", "--yes", cwd=root)
    assert released.code == 0, released.err
    after = {i for i in sim_ids(root) if "/codes/" in i}
    assert before < after  # a new code version beside the old one
