"""Asset versions and the release loop, without the engine: several versions of one asset as
manifests, `@latest`, identity rules, system datastores, manifest folders, orphaned deployments
and the dirty check of files outside manifests/."""
from __future__ import annotations

from pathlib import Path

from conftest import amlctl, git, write_tree
from controller import plan as P
from controller.manifests.versions import highest, order_key
from controller.render.graph import Graph, Resource
from test_render_assets import BASE, ML, envelope, graph_of, stack

WS = "mlw-test"


def model(version: str | None, description: str = "") -> str:
    spec = "type: custom_model\npath: model\n" + (f'version: "{version}"\n' if version else "")
    return envelope("Model", "scorer", spec + (f"description: {description}\n" if description else ""))


DEPLOYMENT = """$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: {name}
endpoint_name: ep-score
model: {model}
instance_type: Standard_DS3_v2
instance_count: 1
environment:
  image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:latest
"""
ENDPOINT = envelope("OnlineEndpoint", "ep-score", "auth_mode: key\ntraffic: {blue: 100}")


def estate(tmp_path: Path, files: dict[str, str]) -> Path:
    return write_tree(tmp_path / "repo", {**BASE, "manifests/model/weights.bin": "w", **files})


def test_versions_order_as_people_number_them():
    assert order_key("2") < order_key("10") < order_key("10.1")
    assert order_key("1.9") < order_key("1.10")
    assert highest(["7", "8", "10", "9"]) == "10"
    assert highest([]) is None


def test_two_versions_of_one_model_are_both_manifests_and_latest_is_the_highest(tmp_path: Path):
    root = estate(tmp_path, {
        "manifests/m7.yaml": model("7", "old"), "manifests/m10.yaml": model("10", "new"),
        "manifests/ep.yaml": ENDPOINT,
        "manifests/blue.yaml": DEPLOYMENT.format(name="blue", model="azureml:scorer@latest"),
        "manifests/green.yaml": DEPLOYMENT.format(name="green", model="azureml:scorer:7")})
    g = graph_of(root).by_name()
    assert {f"{WS}/model/scorer@7", f"{WS}/model/scorer@10"} <= set(g)
    # One container, described by the highest version.
    assert g[f"{WS}/model/scorer"].inputs["properties"]["description"] == "new"
    blue = g[f"{WS}/online-endpoint/ep-score/deployments/blue"]
    green = g[f"{WS}/online-endpoint/ep-score/deployments/green"]
    assert blue.inputs["properties"]["model"].endswith("/models/scorer/versions/10")
    assert f"{WS}/model/scorer@10" in blue.depends_on
    assert green.inputs["properties"]["model"].endswith("/models/scorer/versions/7")
    assert f"{WS}/model/scorer@7" in green.depends_on


def test_a_version_twice_or_versions_left_unnamed_are_errors(tmp_path: Path):
    root = estate(tmp_path, {"manifests/a.yaml": model("3"), "manifests/b.yaml": model("3")})
    run = amlctl("validate", cwd=root)
    assert run.code == 1 and "M001" in run.out and "version 3 is defined twice" in run.out
    root = estate(tmp_path / "2", {"manifests/a.yaml": model("3"), "manifests/b.yaml": model(None)})
    run = amlctl("validate", cwd=root)
    assert run.code == 1 and "each must name its version" in run.out


def test_bare_pipelines_colliding_by_file_name_are_told_to_take_a_name(tmp_path: Path):
    pipeline = ("$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\ntype: pipeline\n"
                "jobs:\n  hello:\n    command: echo hi\n    environment: azureml:env:1\n")
    root = estate(tmp_path, {"manifests/a/pipeline.yml": pipeline, "manifests/b/pipeline.yml": pipeline})
    run = amlctl("validate", cwd=root)
    assert run.code == 1 and "M001" in run.out and "give each a top-level 'name:'" in run.out


def test_a_label_other_than_latest_and_an_unresolvable_reference_name_the_field(tmp_path: Path):
    root = estate(tmp_path, {"manifests/m.yaml": model("1"), "manifests/ep.yaml": ENDPOINT,
                             "manifests/blue.yaml": DEPLOYMENT.format(name="blue", model="azureml:scorer@prod")})
    run = amlctl("validate", cwd=root)
    assert run.code == 1 and "R003" in run.out and "model:" in run.out and "azureml:scorer@latest" in run.out


WORKSPACEBLOBSTORE = """$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json
name: workspaceblobstore
type: azure_blob
description: Default workspace blob datastore with identity-based authentication
account_name: stmlwtest
container_name: azureml-blobstore
"""


def test_a_system_datastore_file_updates_the_existing_datastore(tmp_path: Path):
    root = estate(tmp_path, {"manifests/datastores/workspaceblobstore.yml": WORKSPACEBLOBSTORE})
    g = graph_of(root).by_name()
    ds = g[f"{WS}/datastore/workspaceblobstore"]
    assert ds.type == "amlctl:azureml:SystemDatastore"
    assert ds.inputs["datastoreId"].endswith("/workspaces/mlw-test/datastores/workspaceblobstore")
    assert ds.inputs["properties"]["datastoreType"] == "AzureBlob"
    reserved = estate(tmp_path / "2", {"manifests/ds.yml": WORKSPACEBLOBSTORE.replace(
        "workspaceblobstore", "workspaceartifactstore")})
    assert amlctl("validate", cwd=reserved).code == 1


def test_deleting_an_endpoint_but_keeping_its_deployment_is_an_error_naming_both():
    ep = Resource("w/online-endpoint/ep-score", ML + "OnlineEndpoint", {"endpointName": "ep"}, "OnlineEndpoint/ep")
    dep = Resource("w/online-endpoint/ep-score/deployments/blue", ML + "OnlineDeployment", {"deploymentName": "blue"},
                   "OnlineDeployment/blue")
    plan = P.diff(Graph("s", (ep, dep)), Graph("s", (dep,)))
    [error] = plan.errors
    assert error.code == "P003" and "OnlineEndpoint/ep" in error.message and "OnlineDeployment/blue" in error.message


MLOPS_STACK = stack("  amlctl:manifests: [infrastructure, mlops/azureml]\n")


def test_manifest_folders_of_the_stack_are_what_validate_plan_and_apply_read(tmp_path: Path):
    component = ("$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\n"
                 "name: train\nversion: '1'\ntype: command\ncode: ../../../data-science/src\ncommand: python train.py\n"
                 "environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu:1\n")
    root = write_tree(tmp_path / "repo", {
        **MLOPS_STACK, "infrastructure/workspace.yml": envelope("Workspace", WS, "location: westeurope"),
        "mlops/azureml/train/train.yml": component, "data-science/src/train.py": "print('train')\n",
        "Pulumi.yaml": "name: t\nruntime: python\n", ".gitignore": ".amlctl/\n"})
    run = amlctl("validate", "-o", "json", cwd=root)
    assert run.code == 0, run.out + run.err
    run = amlctl("render", "--stack", "dev", "--output", "json", cwd=root)
    assert run.code == 0, run.err
    names = [r["name"] for r in run.json()["resources"]]
    assert f"{WS}/component/train@1" in names and any("/code/" in n for n in names)
    # Dirty means every file the render reads: the code folder outside the manifest folders too.
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "estate")
    (root / "data-science/src/train.py").write_text("print('train harder')\n")
    refused = amlctl("apply", "--stack", "dev", "--yes", cwd=root)
    assert refused.code == 1 and "data-science/src/train.py" in refused.err, refused.err
