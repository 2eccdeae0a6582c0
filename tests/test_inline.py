"""Inline definitions render as azure-ai-ml registers them (anonymous versions with its names and
hashes), local job inputs are uploaded, `@latest` to what no manifest defines is read at deploy
time; and whatever render rejects, validate reports first (a table over the same inputs)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from conftest import write_tree
from controller.plan.output import show
from controller.render import render
from controller.render.kinds import anonymous
from controller.validate import validate
from test_render_assets import BASE, ML, envelope

WS = "mlw-test"

PIPELINE = """$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
experiment_name: taxi
settings:
  default_compute: azureml:serverless
inputs:
  raw:
    type: uri_file
    path: ../data/train.csv
jobs:
  prep_data:
    name: prep_data
    type: command
    code: ../src
    command: python prep.py --raw ${{inputs.raw}} --out ${{outputs.prepared}}
    environment:
      image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest
      conda_file: ../env/conda.yml
    inputs:
      raw: ${{parent.inputs.raw}}
    outputs:
      prepared:
        type: uri_folder
"""
CONDA = "name: prep\ndependencies:\n  - python=3.10\n  - pip:\n      - pandas\n"


def estate(tmp_path: Path, files: dict[str, str]) -> Path:
    return write_tree(tmp_path / "repo", {**BASE, **files})


def graph(root: Path):
    report = validate(root=root, cwd=root)
    errors = [d.format() for d in report.diagnostics if d.severity.value == "error"]
    assert not errors, errors
    out = render(report.overlaid["dev"], report.stacks[0], root=root)
    assert out.graph is not None, [d.format() for d in out.diagnostics]
    return out.graph.by_name()


def test_an_mlops_v2_inline_pipeline_registers_its_steps_code_environment_and_inputs(tmp_path: Path):
    root = estate(tmp_path, {"manifests/pipeline.yml": PIPELINE, "src/prep.py": "print('prep')\n",
                             "data/train.csv": "a,b\n1,2\n", "env/conda.yml": CONDA})
    g = graph(root)
    [run] = [r for r in g.values() if r.type == ML + "Job"]
    assert run.name == f"{WS}/pipeline/pipeline/runs/{run.inputs['id']}"
    job = run.inputs["properties"]
    step = job["jobs"]["prep_data"]
    # componentId is an ARM id of the anonymous component version the graph registers first.
    [component] = [r for r in g.values() if r.type == ML + "ComponentVersion"]
    assert component.inputs["name"] == "azureml_anonymous"
    assert step["componentId"].endswith(f"/workspaces/{WS}/components/azureml_anonymous/versions/"
                                        + component.inputs["version"])
    assert component.name in run.depends_on
    spec = component.inputs["properties"]["componentSpec"]
    assert component.inputs["properties"]["isAnonymous"] is True
    assert spec["code"].startswith(f"azureml:/subscriptions/") and "/codes/" in spec["code"]
    assert "/environments/CliV2AnonymousEnvironment/versions/" in spec["environment"]
    # The code folder and the local input are uploaded, content-addressed.
    blobs = {r.inputs["blobName"] for r in g.values() if r.type == "azure-native:storage:Blob"}
    assert any(b.endswith("/src/prep.py") for b in blobs) and any(b.endswith("/train.csv") for b in blobs)
    uri = job["inputs"]["raw"]["uri"]
    assert uri.startswith("azureml://datastores/amlctl_assets/paths/") and uri.endswith("/train.csv")
    assert uri.split("paths/", 1)[1] in blobs
    assert job["settings"]["default_compute"] == "serverless"  # as azure-ai-ml sends it
    # The environment's version is azure-ai-ml's own anonymous version of the same definition.
    [env] = [r for r in g.values() if r.type == ML + "EnvironmentVersion"]
    from azure.ai.ml.entities import Environment
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = Environment(image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest",
                             conda_file=str(root / "env/conda.yml"), is_anonymous=True)
    assert (env.inputs["name"], env.inputs["version"]) == (theirs.name, theirs.version)
    assert env.inputs["properties"]["isAnonymous"] is True


def test_a_changed_script_is_a_new_code_version_component_and_run_and_nothing_is_deleted(tmp_path: Path):
    files = {"manifests/pipeline.yml": PIPELINE, "src/prep.py": "print('prep')\n", "data/train.csv": "a\n1\n",
             "env/conda.yml": CONDA}
    before = graph(estate(tmp_path / "a", files))
    after = graph(estate(tmp_path / "b", {**files, "src/prep.py": "print('prep v2')\n"}))
    from controller import plan as P
    from controller.render.graph import Graph
    plan = P.diff(Graph("dev", tuple(before.values())), Graph("dev", tuple(after.values())))
    assert plan.count(P.DELETE) == 0 and plan.count(P.REPLACE) == 0
    kept = {c.type.rsplit(":", 1)[-1] for c in plan.changes if c.action == P.KEEP}
    assert {"CodeVersion", "ComponentVersion", "Job", "Blob"} <= kept


def test_object_hash_and_environment_versions_are_azure_ai_mls(tmp_path: Path):
    folder = write_tree(tmp_path / "model", {"MLmodel": "flavors: {}\n", "sub/Weights.bin": "xyz",
                                             "a.txt": "A"})
    from azure.ai.ml._utils._asset_utils import get_object_hash
    assert anonymous.object_hash(folder) == get_object_hash(folder)
    assert anonymous.object_hash(folder / "a.txt") == get_object_hash(folder / "a.txt")
    from azure.ai.ml.entities import Environment
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = Environment(image="img:1", conda_file={"dependencies": ["python=3.11"]},
                             inference_config={"liveness_route": {"port": 5001, "path": "/"}}, is_anonymous=True)
    assert anonymous.environment_version("img:1", "dependencies:\n- python=3.11\n",
                                         {"liveness_route": {"port": 5001, "path": "/"}}) == theirs.version


DEPLOYMENT = """$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: ep-inline
model: {model}
instance_type: Standard_DS3_v2
instance_count: 1
environment:
  image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:latest
  conda_file: ../env/conda.yml
code_configuration:
  code: ../src
  scoring_script: score.py
"""
ENDPOINT = envelope("OnlineEndpoint", "ep-inline", "auth_mode: key\ntraffic: {blue: 100}")


def test_a_deployment_with_an_inline_model_and_environment_registers_both_anonymously(tmp_path: Path):
    root = estate(tmp_path, {"manifests/ep.yml": ENDPOINT, "manifests/blue.yml": DEPLOYMENT.format(
        model="\n  path: ../model"), "model/MLmodel": "flavors: {}\n", "src/score.py": "def run(x): return x\n",
        "env/conda.yml": CONDA})
    g = graph(root)
    dep = g[f"{WS}/online-endpoint/ep-inline/deployments/blue"]
    [model] = [r for r in g.values() if r.type == ML + "ModelVersion"]
    name = anonymous.sha256(anonymous.object_hash(root / "model"))
    assert (model.inputs["name"], model.inputs["version"]) == (name, "1")
    assert model.inputs["properties"]["isAnonymous"] is True
    assert dep.inputs["properties"]["model"].endswith(f"/models/{name}/versions/1")
    assert "/environments/CliV2AnonymousEnvironment/versions/" in dep.inputs["properties"]["environmentId"]
    assert model.name in dep.depends_on


def test_latest_of_a_model_no_manifest_defines_is_read_at_deploy_time(tmp_path: Path):
    root = estate(tmp_path, {"manifests/ep.yml": ENDPOINT, "src/score.py": "x = 1\n", "env/conda.yml": CONDA,
                             "manifests/blue.yml": DEPLOYMENT.format(model="azureml:taxi-model@latest")})
    g = graph(root)
    marker = g[f"{WS}/online-endpoint/ep-inline/deployments/blue"].inputs["properties"]["model"]
    assert marker == {"$latest": {"kind": "Model", "name": "taxi-model",
                                  "container": marker["$latest"]["container"]}}
    assert marker["$latest"]["container"].endswith(f"/workspaces/{WS}/models/taxi-model")
    assert show(marker) == "(the latest version of Model taxi-model in Azure, read at deploy time)"


# -- validate reports whatever render rejects -------------------------------------------------------
COMPONENT = """$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: prep
version: "1"
type: command
command: python prep.py
environment: {env}
"""
CASES = [
    ("R003-label", {"manifests/c.yml": COMPONENT.format(env="azureml:my-env@prod")}, "R003"),
    ("R003-no-version", {"manifests/c.yml": COMPONENT.format(env="azureml:my-env")}, "R003"),
    ("R004-schedule", {"manifests/s.yml": "$schema: https://azuremlschemas.azureedge.net/latest/schedule.schema.json\n"
                       "name: nightly\ntrigger: {type: cron, expression: '0 1 * * *'}\ncreate_job: azureml:nope\n"},
     "R004"),
    ("R006-no-workspace", {"manifests/ws.yaml": envelope("Workspace", "other", "location: westeurope"),
                           "manifests/m.yml": envelope("Model", "m", "path: ./w.bin\nworkspace_placeholder: 1")
                           .replace("  workspace_placeholder: 1\n", "").replace("  name: m\n",
                                                                                 f"  name: m\n  workspace: {WS}\n"),
                           "manifests/w.bin": "w"}, "R006"),
    ("R001-additional-includes", {"manifests/c.yml": COMPONENT.format(env="azureml:AzureML-minimal:1")
                                  + "code: ../src\nadditional_includes: [../shared]\n", "src/prep.py": "x = 1\n",
                                  "shared/util.py": "y = 2\n"}, "R001"),
    ("R010-azure-ai-ml", {"manifests/p.yml": "$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob."
                          "schema.json\ntype: pipeline\njobs:\n  a:\n    type: command\n    command: echo hi\n"
                          "    environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu:1\n"
                          "    compute: azureml:serverless\n    inputs:\n      x: ${{parent.inputs.nope}}\n"}, "R010"),
]


@pytest.mark.parametrize("name,files,code", CASES, ids=[c[0] for c in CASES])
def test_validate_reports_what_render_rejects(tmp_path: Path, name: str, files: dict[str, str], code: str):
    root = estate(tmp_path, files)
    report = validate(root=root, cwd=root, render=False)
    stack = report.stacks[0]
    rendered = render(report.overlaid["dev"], stack, root=root)
    render_codes = {d.code for d in rendered.diagnostics if d.severity.value == "error"}
    assert code in render_codes, [d.format() for d in rendered.diagnostics]
    checked = validate(root=root, cwd=root)
    validate_codes = {d.code for d in checked.diagnostics if d.severity.value == "error"}
    assert render_codes <= validate_codes
    found = next(d for d in checked.diagnostics if d.code == code)
    assert found.path.startswith("manifests/") and found.line > 0
    if code == "R010":
        # azure-ai-ml's own reason, not only "cannot compile"
        assert "Failed to find top level definition for input binding" in found.message


def test_an_inline_build_environment_is_versioned_by_its_context_as_azure_ai_ml_does(tmp_path: Path):
    deployment = DEPLOYMENT.replace("""environment:
  image: mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:latest
  conda_file: ../env/conda.yml
""", """environment:
  build:
    path: ../docker
""").format(model="azureml:taxi-model@latest")
    root = estate(tmp_path, {"manifests/ep.yml": ENDPOINT, "manifests/blue.yml": deployment, "src/score.py": "x = 1\n",
                             "docker/Dockerfile": "FROM python:3.11\n", "docker/requirements.txt": "pandas\n"})
    g = graph(root)
    [env] = [r for r in g.values() if r.type == ML + "EnvironmentVersion"]
    from azure.ai.ml.entities import BuildContext, Environment
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = Environment(build=BuildContext(path=str(root / "docker")), is_anonymous=True)
    assert (env.inputs["name"], env.inputs["version"]) == (theirs.name, theirs.version)
    assert env.inputs["properties"]["build"]["contextUri"].startswith("https://")
    assert any(r.type == "azure-native:storage:Blob" and r.inputs["blobName"].endswith("/docker/Dockerfile")
               for r in g.values())
