"""Serverless compute: a job or a pipeline step without compute (or on `azureml:serverless`) renders
as azure-ai-ml sends it, sized by `resources` and `queue_settings`; a managed identity there that Azure
ML does not support (serverless has no system-assigned identity: a managed identity is the workspace's
user-assigned one) is a warning, M012, at the identity's line (Python API; one CLI run)."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import amlctl, write_tree
from controller.render import render
from controller.validate import validate
from test_render_assets import BASE, ML, envelope

UAI = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ml-runner"
ENV = "azureml://registries/azureml/environments/sklearn-1.5/labels/latest"
JOB = f"""$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: echo hello
environment: {ENV}
resources:
  instance_type: Standard_E4s_v3
  instance_count: 2
queue_settings:
  job_tier: spot
identity:
  type: managed
"""
PIPELINE = f"""$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
settings:
  default_compute: azureml:serverless
jobs:
  train:
    command: echo train
    environment: {ENV}
    resources:
      instance_type: Standard_NC24
      instance_count: 1
    queue_settings:
      job_tier: standard
    identity:
      type: managed
  score:
    command: echo score
    environment: {ENV}
"""
UAI_WORKSPACE = envelope("Workspace", "mlw-test", f"""location: westeurope
identity:
  type: system_assigned,user_assigned
  user_assigned_identities:
    - resource_id: {UAI}
      client_id: 11111111-2222-3333-4444-555555555555
primary_user_assigned_identity: {UAI}""")


def estate(tmp_path: Path, files: dict[str, str]) -> Path:
    return write_tree(tmp_path / "repo", {**BASE, **files})


def warnings(root: Path) -> list[tuple[str, int, str]]:
    report = validate(root=root, cwd=root)
    assert report.ok, [d.format() for d in report.diagnostics]
    return [(d.path, d.line, d.message) for d in report.diagnostics if d.code == "M012"]


def body(root: Path, kind: str) -> dict:
    report = validate(root=root, cwd=root)
    out = render(report.overlaid["dev"], report.stacks[0], root=root)
    assert out.graph is not None, [d.format() for d in out.diagnostics]
    [run] = [r for r in out.graph.resources if r.type == ML + "Job" and f"/{kind}/" in r.name]
    return run.inputs["properties"]


def test_a_job_without_compute_runs_serverless_sized_as_written_and_its_managed_identity_is_warned(tmp_path: Path):
    root = estate(tmp_path, {"manifests/job.yml": JOB})
    job = body(root, "job")
    assert "computeId" not in job  # no compute: serverless, as azure-ai-ml sends it
    assert job["resources"] == {"instanceCount": 2, "instanceType": "Standard_E4s_v3", "properties": {}}
    assert job["queueSettings"] == {"jobTier": "Spot"}
    [(path, line, message)] = warnings(root)
    assert (path, line) == ("manifests/job.yml", 10)  # identity.type
    assert message.startswith("identity.type: managed on serverless compute is the workspace's user-assigned")
    assert "'mlw-test' has none" in message and "how-to-use-serverless-compute" in message


def test_a_job_on_azureml_serverless_sends_the_literal_and_a_user_identity_is_fine(tmp_path: Path):
    job = JOB.replace("command: echo hello", "command: echo hello\ncompute: azureml:serverless").replace(
        "type: managed", "type: user_identity")
    root = estate(tmp_path, {"manifests/job.yml": job})
    assert body(root, "job")["computeId"] == "serverless"
    assert warnings(root) == []


def test_a_pipeline_step_on_the_serverless_default_is_sized_as_written_and_its_identity_warned(tmp_path: Path):
    root = estate(tmp_path, {"manifests/pipeline.yml": PIPELINE})
    pipeline = body(root, "pipeline")
    assert pipeline["settings"]["default_compute"] == "serverless"
    step = pipeline["jobs"]["train"]
    assert "compute" not in step
    assert step["resources"] == {"instance_count": 1, "instance_type": "Standard_NC24"}
    assert step["queue_settings"] == {"job_tier": "Standard"}
    [(path, line, message)] = warnings(root)
    assert (path, line) == ("manifests/pipeline.yml", 15)
    assert message.startswith("jobs.train.identity.type: managed on serverless compute")


@pytest.mark.parametrize("change, expected", [
    # The pipeline's own identity is the one its serverless steps without one run as.
    ({"manifests/pipeline.yml": PIPELINE.replace("    identity:\n      type: managed\n", "") +
      "identity:\n  type: managed\n"}, [("manifests/pipeline.yml", 18, "identity.type")]),
    # A step on a cluster is not serverless.
    ({"manifests/pipeline.yml": PIPELINE.replace("      type: managed\n", "      type: managed\n    compute: azureml:cpu\n")},
     []),
    # The workspace's user-assigned identity is supported, and naming it too.
    ({"manifests/ws.yaml": UAI_WORKSPACE}, []),
    ({"manifests/ws.yaml": UAI_WORKSPACE, "manifests/pipeline.yml": PIPELINE.replace(
        "type: managed", "type: managed\n      client_id: 11111111-2222-3333-4444-555555555555")}, []),
    # Another user-assigned identity is not the workspace's.
    ({"manifests/ws.yaml": UAI_WORKSPACE, "manifests/pipeline.yml": PIPELINE.replace(
        "type: managed", "type: managed\n      client_id: 99999999-2222-3333-4444-555555555555")},
     [("manifests/pipeline.yml", 16, "jobs.train.identity.client_id")]),
], ids=["pipeline-identity", "on-a-cluster", "workspace-uai", "names-the-workspace-uai", "another-uai"])
def test_which_identities_are_warned_on_serverless(tmp_path: Path, change, expected):
    root = estate(tmp_path, {"manifests/pipeline.yml": PIPELINE, "manifests/compute.yaml": (
        "$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\nname: cpu\n"
        "type: amlcompute\nsize: Standard_DS3_v2\nmax_instances: 1\n"), **change})
    found = [(path, line, message.split(":", 1)[0]) for path, line, message in warnings(root)]
    assert found == expected


def test_a_pipeline_identity_beside_a_pipeline_component_step_is_warned(tmp_path: Path):
    component = ("$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json\n"
                 "name: inner\nversion: '1'\ntype: pipeline\njobs:\n  a:\n    type: command\n"
                 f"    command: echo a\n    environment: {ENV}\n")
    pipeline = PIPELINE.replace("    identity:\n      type: managed\n", "") + (
        "  inner:\n    type: pipeline\n    component: ./inner.yml\nidentity:\n  type: user_identity\n")
    root = estate(tmp_path, {"manifests/pipeline.yml": pipeline, "manifests/inner.yml": component})
    [(path, line, message)] = warnings(root)
    assert (path, line) == ("manifests/pipeline.yml", 21)
    assert "Identity set at the root pipeline or pipeline component level won't function" in message


def test_the_cli_shows_the_warning_with_file_line_and_code_and_passes(tmp_path: Path):
    root = estate(tmp_path, {"manifests/job.yml": JOB})
    run = amlctl("validate", cwd=root)
    assert run.code == 0, (run.out, run.err)
    assert "manifests/job.yml:10:9: warning[M012] Job/job: identity.type: managed on serverless" in run.out
