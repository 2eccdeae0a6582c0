"""A repository of many teams: each stack reads its own manifest folders (`amlctl:manifests`), so
its render loads, checks and dates only them (benchmarks/many_stacks_bench.py times it), and a
problem in another team's folder is that team's, not every plan's."""
from __future__ import annotations

from conftest import amlctl, git

STACK = """config:
  amlctl:target: azure
  amlctl:subscriptionId: 33333333-3333-3333-3333-333333333333
  amlctl:resourceGroup: rg-{team}
  amlctl:location: westeurope
  amlctl:defaultWorkspace: mlw-{team}
  amlctl:manifests: [teams/{team}]
"""
WS = "apiVersion: amlctl.dev/v1alpha1\nkind: Workspace\nmetadata:\n  name: mlw-{team}\nspec:\n  location: westeurope\n"


def _estate(repo):
    files = {"Pulumi.yaml": "name: many\nruntime: python\nstackConfigDir: stacks\n"}
    for team in ("alpha", "beta"):
        files[f"stacks/Pulumi.{team}.yaml"] = STACK.format(team=team)
        files[f"teams/{team}/workspace.yaml"] = WS.format(team=team)
    root = repo(files)
    (root / ".git").rmdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "two teams")
    return root


def test_a_broken_manifest_of_one_team_stops_only_that_teams_stacks(repo):
    root = _estate(repo)
    (root / "teams/beta/compute.yaml").write_text("apiVersion: amlctl.dev/v1alpha1\nkind: Compute\n"
                                                  "metadata:\n  name: cpu\nspec:\n  type: amlcompute\n  sise: x\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "beta: a typo")
    r = amlctl("plan", "--stack", "alpha", "--base", "HEAD~1", "--head", "HEAD", cwd=root)
    assert r.code == 0, r.err
    assert "No changes" in r.out or "0 to create" in r.out, r.out
    r = amlctl("plan", "--stack", "beta", "--base", "HEAD~1", "--head", "HEAD", cwd=root)
    assert r.code == 1 and "teams/beta/compute.yaml" in r.err, r.err
    r = amlctl("changed", "--base", "HEAD~1", "--head", "HEAD", "-o", "json", cwd=root)
    assert r.code == 0 and r.json()["stacks"] == ["beta"], r.out + r.err


def test_a_change_in_one_teams_folder_changes_only_its_stack(repo):
    root = _estate(repo)
    path = root / "teams/alpha/workspace.yaml"
    path.write_text(path.read_text() + "  description: alpha's own\n")
    git(root, "commit", "-qam", "alpha: describe the workspace")
    r = amlctl("changed", "--base", "HEAD~1", "--head", "HEAD", "-o", "json", cwd=root)
    assert r.code == 0 and r.json()["stacks"] == ["alpha"], r.out + r.err
