"""`amlctl blame`: a resource's audit trail from git (its own lines only), the pull request that
brought each change, and the update that deployed it (the real engine, local target)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import amlctl, git, git_estate


def as_author(root: Path, name: str, email: str, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
           "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


def pull_request(root: Path, number: int, branch: str, author: tuple[str, str], edits: dict[str, tuple[str, str]],
                 message: str) -> str:
    """A branch with one commit, merged with --no-ff as GitHub's merge button does."""
    git(root, "checkout", "-qb", branch)
    for rel, (old, new) in edits.items():
        text = (root / rel).read_text()
        assert old in text, (rel, old)
        (root / rel).write_text(text.replace(old, new, 1))
    as_author(root, *author, "commit", "-qam", message)
    sha = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "main")
    git(root, "merge", "-q", "--no-ff", branch, "-m", f"Merge pull request #{number} from team/{branch}")
    return sha


@pytest.fixture
def estate(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    monkeypatch.delenv("AMLCTL_STATE_DIR", raising=False)
    return git_estate(tmp_path / "estate")


PROD_GPU = ("spec: {max_instances: 8, tier: dedicated}", "spec: {max_instances: 12, tier: dedicated}")


def test_blame_follows_the_manifest_document_and_the_stack_overlay_and_names_the_pull_request(estate: Path):
    first = git(estate, "rev-parse", "HEAD")
    # Another resource in the same file: not this one's history.
    pull_request(estate, 3, "cpu", ("Cy Dev", "cy@example.com"),
                 {"manifests/compute.yaml": ("max_instances: 4", "max_instances: 6")}, "CPU cluster up to 6")
    gpu = pull_request(estate, 7, "prod-gpu", ("Ben Ops", "ben@example.com"),
                       {"stacks/Pulumi.prod.yaml": PROD_GPU}, "prod GPU cluster: up to 12 nodes")
    run = amlctl("blame", "Compute/gpu-cluster", "--output", "json", cwd=estate)
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert [r["via"] for r in doc["regions"]] == ["manifest", "overlay of stack prod"]
    edits = [(e["commit"], [c["via"] for c in e["changed"]], e["author"], e["pull_request"]) for e in doc["edits"]]
    assert edits[0] == (gpu, ["overlay of stack prod"], "Ben Ops <ben@example.com>", "#7")
    # One entry per commit, naming each of the resource's places it changed.
    assert edits[1] == (first, ["manifest", "overlay of stack prod"], "Ada Reviewer <ada@example.com>", None)
    assert len(edits) == 2  # the CPU cluster's commit, in the same file, is not blamed on the GPU cluster
    text = amlctl("blame", "Compute/gpu-cluster", cwd=estate).out
    assert "prod GPU cluster: up to 12 nodes (#7)" in text and "stacks/Pulumi.prod.yaml:" in text
    cpu = amlctl("blame", "compute/cpu-cluster", "--output", "json", cwd=estate).json()
    assert any(e["pull_request"] == "#3" and e["author"] == "Cy Dev <cy@example.com>" for e in cpu["edits"])


def test_blame_says_which_update_deployed_each_change(estate: Path):
    assert amlctl("apply", "--stack", "local", "--yes", cwd=estate).code == 0
    sha = pull_request(estate, 9, "gpu", ("Ben Ops", "ben@example.com"),
                       {"manifests/compute.yaml": ("max_instances: 2", "max_instances: 3")}, "GPU cluster up to 3")
    pending = amlctl("blame", "Compute/gpu-cluster", "--stack", "local", "--output", "json", cwd=estate).json()
    assert pending["edits"][0]["commit"] == sha and pending["edits"][0]["deployed"] == []
    assert pending["edits"][1]["deployed"][0]["version"] == 1  # the first apply deployed the initial commit
    assert amlctl("apply", "--stack", "local", "--yes", cwd=estate).code == 0
    done = amlctl("blame", "Compute/gpu-cluster", "--stack", "local", "--output", "json", cwd=estate).json()
    [deployed] = done["edits"][0]["deployed"]
    assert deployed["stack"] == "local" and deployed["version"] == 2
    assert deployed["commit"] == git(estate, "rev-parse", "HEAD")  # the merge commit that was applied
    text = amlctl("blame", "Compute/gpu-cluster", "--stack", "local", cwd=estate).out
    assert "deployed to local by update #2" in text


def test_blame_errors_name_what_exists(estate: Path):
    run = amlctl("blame", "Compute/nope", cwd=estate)
    assert run.code == 2 and "Compute/cpu-cluster" in run.err and "Traceback" not in run.err
    assert amlctl("blame", "gpu-cluster", cwd=estate).code == 2
    run = amlctl("blame", "Compute/gpu-cluster", "--stack", "staging", cwd=estate)
    assert run.code == 2 and "no stack 'staging'" in run.err


def test_blame_in_a_shallow_clone_says_the_history_is_cut(estate: Path, tmp_path: Path):
    as_author(estate, "Grace Hopper", "grace@example.com", "commit", "-q", "--allow-empty", "-m", "unrelated")
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{estate}", str(shallow)], check=True)
    cut = amlctl("blame", "Compute/cpu-cluster", cwd=shallow)
    assert cut.code == 0, cut.err
    head = git(shallow, "rev-parse", "HEAD")
    assert f"history is cut at {head[:12]} (a shallow clone)" in cut.out and "git fetch --unshallow" in cut.out
    assert amlctl("blame", "Compute/cpu-cluster", "-o", "json", cwd=shallow).json()["history_cut_at"] == [head]
    whole = amlctl("blame", "Compute/cpu-cluster", cwd=estate)
    assert whole.code == 0 and "history is cut" not in whole.out
