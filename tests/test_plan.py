"""`amlctl plan` between git revisions of a copy of the example estate, through the real CLI and the
Python API; the replace table; the markdown limit; determinism of render."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import REPO, amlctl, git, git_estate
from controller import plan as P
from controller.plan import output as plan_output
from controller.plan.immutable import forces_replace
from controller.render.graph import Graph, Resource

ML = "azure-native:machinelearningservices:"



@pytest.fixture
def estate(tmp_path: Path) -> Path:
    root = git_estate(tmp_path / "estate")
    git(root, "checkout", "-q", "-b", "change")
    return root


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


def plan_json(root: Path, *args: str) -> tuple[int, dict]:
    run = amlctl("plan", "--stack", "dev", "--output", "json", *args, cwd=root)
    assert run.code in (0, 1, 2), run.err
    return run.code, json.loads(run.out) if run.out.strip() else {}


def change(data: dict, name: str) -> dict:
    found = [c for c in data["changes"] if c["name"] == name]
    assert found, [c["name"] for c in data["changes"]]
    return found[0]


def test_no_change_is_no_change(estate: Path):
    run = amlctl("plan", "--stack", "dev", "--detailed-exitcode", cwd=estate)
    assert run.code == 0, run.err
    assert "No changes." in run.out


def test_scaling_a_cluster_is_an_in_place_update_pointing_at_the_manifest(estate: Path):
    edit(estate, "manifests/compute.yaml", "max_instances: 2\n  idle_time_before_scale_down: 1800",
         "max_instances: 3\n  idle_time_before_scale_down: 1800")
    code, data = plan_json(estate, "--detailed-exitcode")
    assert code == 2
    c = change(data, "mlw-credit/compute/gpu-cluster")
    assert c["action"] == "update" and c["label"] == "in-place update"
    assert [(p["path"], p["before"], p["after"]) for p in c["properties"]] == [
        ("properties.properties.scaleSettings.maxNodeCount", 2, 3)]
    assert c["source"].startswith("manifests/compute.yaml:")
    assert data["summary"]["update"] == 1 and data["summary"]["create"] == 0


def test_new_instance_type_is_released_beside_the_deployment_that_serves(estate: Path):
    edit(estate, "manifests/endpoints/online-green.yaml", "instance_type: Standard_DS3_v2",
         "instance_type: Standard_DS4_v2")
    code, data = plan_json(estate)
    replaced = [c for c in data["changes"] if c["action"] == "replace"]
    assert len(replaced) == 1 and replaced[0]["release"]
    # green takes 10% of the traffic: a new deployment, named by its content, beside it, through the
    # endpoint's rollout policy; no --allow-delete.
    assert re.fullmatch(r"released beside green: new deployment green-[0-9a-f]{7} \(through the rollout's steps: "
                        r"mirror 20% -> canary 10% -> canary 50% -> all\); green is deleted once it takes no traffic",
                        replaced[0]["label"]), replaced[0]["label"]
    assert data["apply"]["needs_allow_delete"] == [] and code == 0
    assert any(p["path"] == "properties.instanceType" and p["forces_replace"] for p in replaced[0]["properties"])


def test_changing_an_existing_version_asks_for_a_bump(estate: Path):
    (estate / "manifests/models/credit-model/README.txt").write_text("retrained\n")
    run = amlctl("plan", "--stack", "dev", cwd=estate)
    assert run.code == 1
    assert "P001" in run.out and "bump the version" in run.out
    assert "manifests/models/credit-model.yaml" in run.out


def test_a_derived_version_changes_with_content(estate: Path):
    mltable = estate / "manifests/data/credit-mltable/MLTable"
    mltable.write_text(mltable.read_text() + "\n# new column\n")
    code, data = plan_json(estate)
    created = [c for c in data["changes"] if c["action"] == "create" and c["type"] == ML + "DataVersion"]
    kept = [c for c in data["changes"] if c["action"] == "keep" and c["type"] == ML + "DataVersion"]
    # Append-only: the old version stays in Azure, beside the new one; nothing is deleted.
    assert len(created) == 1 and len(kept) == 1
    assert not [c for c in data["changes"] if c["action"] == "delete"]
    assert data["summary"]["delete"] == 0 and data["summary"]["keep"] >= 1
    assert created[0]["label"] == "new asset version"
    assert kept[0]["label"] == "kept in Azure (asset versions are immutable)"
    assert created[0]["name"].startswith("mlw-credit/data/credit-features@v")


def test_removing_a_role_assignment_shows_in_the_rbac_section(estate: Path):
    text = (estate / "manifests/platform/rbac.yaml").read_text()
    (estate / "manifests/platform/rbac.yaml").write_text(text.split("---\n", 1)[1])
    run = amlctl("plan", "--stack", "dev", cwd=estate)
    assert run.code == 0, run.err
    assert "Role assignments:" in run.out
    assert "- AzureML Data Scientist for Group 3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b on workspaces/mlw-credit" in run.out


def test_removing_a_protected_resource_is_flagged_in_prod(estate: Path):
    os.remove(estate / "manifests/platform/registry.yaml")
    run = amlctl("plan", "--stack", "prod", "--output", "markdown", cwd=estate)
    assert run.code == 1, run.err  # apply will refuse it: plan says so and exits 1
    assert "apply will refuse: it deletes or replaces 1 protected resource(s)" in run.out
    assert "deletes a protected resource" in run.out


def test_plan_between_two_commits_ignores_the_working_tree(estate: Path):
    edit(estate, "manifests/compute.yaml", "max_instances: 4", "max_instances: 5")
    git(estate, "commit", "-qam", "scale cpu")
    head = git(estate, "rev-parse", "HEAD")
    edit(estate, "manifests/compute.yaml", "max_instances: 5", "max_instances: 6")  # uncommitted
    code, data = plan_json(estate, "--base", "main", "--head", head)
    c = change(data, "mlw-credit/compute/cpu-cluster")
    # dev's overlay caps CPU clusters at 2, so the change shows as tags only: the commit tag moved.
    assert all(p["path"].startswith("tags.") for p in c["properties"]), c["properties"]
    assert "scale cpu" in data["head"]


def test_bad_revision_is_a_usage_error(estate: Path):
    run = amlctl("plan", "--stack", "dev", "--base", "no-such-rev", cwd=estate)
    assert run.code == 2
    assert "no-such-rev" in run.err


def test_invalid_head_fails_with_the_diagnostic(estate: Path):
    edit(estate, "manifests/compute.yaml", "max_instances: 4", "max_instances: many")
    run = amlctl("plan", "--stack", "dev", cwd=estate)
    assert run.code == 1
    assert "manifests/compute.yaml:" in run.err and "max_instances" in run.err


# -- the replace table --------------------------------------------------------------------------------
@pytest.mark.parametrize("type_, path, replaces", [
    (ML + "OnlineDeployment", "properties.instanceType", True),
    (ML + "OnlineDeployment", "sku.capacity", False),
    (ML + "OnlineDeployment", "properties.requestSettings.requestTimeout", False),
    (ML + "Compute", "properties.properties.vmSize", True),
    (ML + "Compute", "properties.properties.scaleSettings.maxNodeCount", False),
    (ML + "Compute", "computeName", True),
    (ML + "Workspace", "hbiWorkspace", True),
    (ML + "Workspace", "publicNetworkAccess", False),
    (ML + "ModelVersion", "properties.modelUri", True),
    (ML + "ModelVersion", "properties.description", False),
    (ML + "ModelVersion", "properties.tags.stage", False),
    ("azure-native:storage:StorageAccount", "sku.name", True),
    ("azure-native:storage:StorageAccount", "tags.team", False),
    ("azure-native:authorization:RoleAssignment", "roleDefinitionId", True),
    ("amlctl:azureml:EndpointTraffic", "traffic.blue", False),
])
def test_replace_table(type_, path, replaces):
    assert forces_replace(type_, path) is replaces


# -- plan output ----------------------------------------------------------------------------------------
def _graph(n: int, value: str) -> Graph:
    return Graph("big", tuple(Resource(f"ws/compute/c{i:05d}", ML + "Compute",
                                       {"computeName": f"c{i:05d}", "properties": {"description": value * 20}},
                                       f"Compute/c{i:05d}") for i in range(n)))


def test_markdown_stays_under_the_comment_limit_and_says_what_it_left_out():
    plan = P.diff(_graph(3000, "a"), _graph(3000, "b"))
    md = plan_output.markdown(plan)
    assert len(md) < 65_000
    assert md.startswith("<!-- amlctl-plan stack=big -->\n### amlctl plan: stack `big`")
    assert "| **big** | 0 | 3000 | 0 | 0 | 0 |" in md
    assert "more change(s)" in md and "do not fit in a comment" in md


def test_secrets_show_as_references_never_values():
    g1 = Graph("s", (Resource("c", ML + "WorkspaceConnection", {"properties": {"credentials": {"key": {"$secret": {"config": "amlctl:k1"}}}}}, "Connection/c"),))
    g2 = Graph("s", (Resource("c", ML + "WorkspaceConnection", {"properties": {"credentials": {"key": {"$secret": {"config": "amlctl:k2"}}}}}, "Connection/c"),))
    text = plan_output.text(P.diff(g1, g2))
    assert "(secret from amlctl:k1) -> (secret from amlctl:k2)" in text


def test_render_is_byte_identical_whatever_the_file_order():
    from controller.render import render
    from controller.validate import validate
    report = validate(root=REPO, cwd=REPO)
    stack = next(s for s in report.stacks if s.name == "prod")
    manifests = report.overlaid["prod"]
    a = render(manifests, stack, root=REPO, commits={}).graph.to_json()
    b = render(list(reversed(manifests)), stack, root=REPO, commits={}).graph.to_json()
    assert a == b
    run1 = amlctl("render", "--stack", "prod", "--output", "json", cwd=REPO)
    run2 = amlctl("render", "--stack", "prod", "--output", "json", cwd=REPO)
    assert run1.code == 0 and run1.out == run2.out


def test_each_changed_property_points_at_the_line_that_set_it_a_stack_file_for_an_overlay(estate: Path):
    edit(estate, "stacks/Pulumi.prod.yaml", "spec: {max_instances: 8, tier: dedicated}",
         "spec: {max_instances: 12, tier: dedicated}")
    edit(estate, "manifests/endpoints/online-blue.yaml", "instance_type: Standard_DS3_v2",
         "instance_type: Standard_DS4_v2")
    run = amlctl("plan", "--stack", "prod", "--output", "json", cwd=estate)
    data = json.loads(run.out)
    gpu = change(data, "mlw-credit/compute/gpu-cluster")["properties"]
    overlay_line = next(i for i, line in enumerate((estate / "stacks/Pulumi.prod.yaml").read_text().splitlines(), 1)
                        if "max_instances: 12" in line)
    assert [(p["path"], p["source"].rsplit(":", 1)[0]) for p in gpu] == [
        ("properties.properties.scaleSettings.maxNodeCount", f"stacks/Pulumi.prod.yaml:{overlay_line}")]
    blue = change(data, "mlw-credit/online-endpoint/credit-online/deployments/blue")["properties"]
    line = next(i for i, text in enumerate((estate / "manifests/endpoints/online-blue.yaml").read_text().splitlines(), 1)
                if "instance_type" in text)
    assert blue[0]["source"].startswith(f"manifests/endpoints/online-blue.yaml:{line}:")
    text = amlctl("plan", "--stack", "prod", cwd=estate).out
    assert f"maxNodeCount = 8 -> 12  (stacks/Pulumi.prod.yaml:{overlay_line}:" in text
    md = amlctl("plan", "--stack", "prod", "--output", "markdown", cwd=estate).out
    assert f"(stacks/Pulumi.prod.yaml:{overlay_line}:" in md
    row = next(line for line in md.splitlines() if line.startswith("| ~ ") and "gpu-cluster" in line)
    assert f"via `stacks/Pulumi.prod.yaml:{overlay_line}:" in row  # in the table, not only the folded details


def test_moving_lines_or_editing_comments_changes_no_stack(estate: Path):
    edit(estate, "manifests/compute.yaml", "\n", "\n# Clusters scale to zero when idle.\n\n")
    edit(estate, "stacks/Pulumi.prod.yaml", "description: prod trains on dedicated GPUs, up to 8 nodes",
         "description: prod trains on dedicated GPUs (quota approved in Q3), up to 8 nodes")
    git(estate, "commit", "-qam", "comments only")
    run = amlctl("changed", "--base", "main", "--head", "HEAD", "--output", "json", cwd=estate)
    assert run.code == 0 and json.loads(run.out)["stacks"] == [], run.out
    # The plan still tells the lines apart: the resource now points at its new line.
    shown = amlctl("plan", "--stack", "dev", "--base", "main", "--head", "HEAD", "--detailed-exitcode", cwd=estate)
    assert shown.code == 0 and "No changes." in shown.out
