"""Standalone jobs (kind Job): command, sweep and Spark jobs as `az ml job create -f` takes them,
checked against their schema, compiled by azure-ai-ml, and rendered as one run named after its
content, with ARM ids where MLClient would resolve them."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, write_tree
from controller.render import render
from controller.render.context import short_hash
from controller.render.graph import canonical
from controller.validate import validate
from test_render_assets import BASE, ML, WS_ID, envelope

CONFORMANCE = REPO.parent / "shared" / "tools" / "conformance.py"

ENVIRONMENT = envelope("Environment", "train-env",
                       'version: "3"\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04')
COMPUTE = envelope("Compute", "cpu-cluster", "type: amlcompute\nsize: Standard_DS3_v2\nmin_instances: 0\n"
                   "max_instances: 2")
ESTATE = {**BASE, "manifests/env.yaml": ENVIRONMENT, "manifests/compute.yaml": COMPUTE,
          "manifests/jobs/src/train.py": "print('training')\n"}

COMMAND = """$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: python train.py --lr ${{inputs.lr}} --data ${{inputs.data}} --model ${{outputs.model}}
code: src
environment: azureml:train-env:3
compute: azureml:cpu-cluster
inputs:
  lr: 0.1
  data:
    type: uri_file
    path: https://azuremlexamples.blob.core.windows.net/datasets/iris.csv
outputs:
  model:
    type: mlflow_model
resources:
  instance_count: 2
distribution:
  type: pytorch
  process_count_per_instance: 2
limits:
  timeout: 900
experiment_name: credit
"""

SWEEP = """$schema: https://azuremlschemas.azureedge.net/latest/sweepJob.schema.json
type: sweep
trial:
  command: python train.py --lr ${{search_space.lr}} --booster ${{search_space.booster}}
  code: src
  environment: azureml:train-env:3
  resources:
    instance_count: 1
compute: azureml:cpu-cluster
sampling_algorithm: random
search_space:
  lr: {type: loguniform, min_value: -6, max_value: -1}
  booster: {type: choice, values: [gbdt, dart]}
objective: {goal: minimize, primary_metric: loss}
limits: {max_total_trials: 8, max_concurrent_trials: 2, timeout: 3600}
early_termination: {type: bandit, slack_factor: 0.1, evaluation_interval: 1}
"""

SPARK = """$schema: https://azuremlschemas.azureedge.net/latest/sparkJob.schema.json
type: spark
code: ./src
entry:
  file: train.py
conf:
  spark.driver.cores: 1
  spark.driver.memory: 2g
  spark.executor.cores: 2
  spark.executor.memory: 2g
  spark.executor.instances: 2
  spark.hadoop.fs.azure.account.key.stdata.blob.core.windows.net: {secret_config: "amlctl:dataKey"}
inputs:
  raw:
    type: uri_file
    path: azureml://datastores/workspaceblobstore/paths/raw/titanic.csv
    mode: direct
args: --raw ${{inputs.raw}}
identity:
  type: user_identity
resources:
  instance_type: standard_e4s_v3
  runtime_version: "3.4"
"""


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch):
    """Each test compiles with azure-ai-ml itself rather than reading another run's cache."""
    monkeypatch.setenv("AMLCTL_CACHE_DIR", str(tmp_path / "cache"))


def estate(tmp_path: Path, files: dict[str, str]) -> Path:
    return write_tree(tmp_path / "repo", {**ESTATE, **files})


def diagnostics(root: Path) -> list:
    """validate's problems (validate renders each stack, so render's errors are among them)."""
    return validate(root=root, cwd=root).diagnostics


def errors(root: Path) -> list:
    return [d for d in diagnostics(root) if d.severity.value == "error"]


def graph(root: Path) -> dict:
    report = validate(root=root, cwd=root)
    problems = [d.format() for d in report.diagnostics if d.severity.value == "error"]
    assert not problems, problems
    out = render(report.overlaid["dev"], report.stacks[0], root=root)
    assert out.graph is not None, [d.format() for d in out.diagnostics]
    return out.graph.by_name()


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def run_of(g: dict, job: str):
    prefix = f"mlw-test/job/{job}/runs/"
    [run] = [r for name, r in g.items() if name.startswith(prefix)]
    assert run.name == prefix + run.inputs["id"]  # each run is a resource of its own
    return run


def test_a_bare_command_job_renders_one_run_with_arm_ids_and_its_code_uploaded(tmp_path: Path):
    root = estate(tmp_path, {"manifests/jobs/train.yml": COMMAND})
    report = validate(root=root, cwd=root)
    assert [d.format() for d in report.diagnostics] == []
    [job] = [m for m in report.manifests if m.kind == "Job"]
    assert (job.subject, job.form, job.workspace) == ("Job/train", "bare", "mlw-test")

    g = graph(root)
    run = run_of(g, "train")
    assert run.type == ML + "Job" and run.retain_on_delete and not run.protect
    body = run.inputs["properties"]
    assert run.inputs["resourceGroupName"] == "rg-dev" and run.inputs["workspaceName"] == "mlw-test"
    assert run.inputs["id"] == f"train-{short_hash(canonical(body), n=10)}"
    assert re.fullmatch(r"train-[0-9a-f]{10}", run.inputs["id"])
    assert body["jobType"] == "Command"
    assert body["command"].startswith("python train.py --lr ${{inputs.lr}}")
    # MLClient resolves references to ARM ids before it submits: so does amlctl.
    assert body["environmentId"] == f"{WS_ID}/environments/train-env/versions/3"
    assert body["computeId"] == f"{WS_ID}/computes/cpu-cluster"
    [code] = [r for r in g.values() if r.type == ML + "CodeVersion"]
    assert body["codeId"] == f"{WS_ID}/codes/{code.inputs['name']}/versions/1"
    [blob] = [r for r in g.values() if r.type == "azure-native:storage:Blob"]
    assert blob.inputs["blobName"].endswith("/src/train.py") and blob.name in code.depends_on
    assert {code.name, "mlw-test/environment/train-env@3", "mlw-test/compute/cpu-cluster",
            "workspace/mlw-test"} <= set(run.depends_on)
    # The rest is azure-ai-ml's own REST body.
    assert body["inputs"]["lr"] == {"jobInputType": "literal", "value": "0.1"}
    assert body["inputs"]["data"]["uri"] == "https://azuremlexamples.blob.core.windows.net/datasets/iris.csv"
    assert body["outputs"]["model"] == {"jobOutputType": "mlflow_model"}
    assert body["distribution"] == {"distributionType": "PyTorch", "processCountPerInstance": 2}
    assert body["limits"] == {"jobLimitsType": "Command", "timeout": "PT15M"}
    assert body["resources"]["instanceCount"] == 2 and body["experimentName"] == "credit"


def test_a_job_is_named_after_its_file_unless_it_says_its_name(tmp_path: Path):
    root = estate(tmp_path, {
        "manifests/jobs/nightly.retrain.yml": COMMAND,
        "manifests/jobs/other.yml": COMMAND + "name: credit-train\n",
        "manifests/jobs/envelope.yaml": envelope("Job", "scored", COMMAND.split("\n", 1)[1].replace(
            "code: src", "code: ./src")),
    })
    g = graph(root)
    names = sorted(r.inputs["id"].rsplit("-", 1)[0] for r in g.values() if r.type == ML + "Job")
    assert names == ["credit-train", "nightly-retrain", "scored"]


def test_an_unchanged_job_keeps_its_run_and_a_changed_one_is_a_new_run(tmp_path: Path):
    root = estate(tmp_path, {"manifests/jobs/train.yml": COMMAND})
    first = run_of(graph(root), "train")
    again = run_of(graph(root), "train")
    assert (again.name, again.inputs) == (first.name, first.inputs)

    job = root / "manifests/jobs/train.yml"
    job.write_text(COMMAND.replace("python train.py", "python train.py --seed 7"))
    changed = run_of(graph(root), "train")
    assert changed.inputs["id"] != first.inputs["id"] and changed.name != first.name
    assert changed.inputs["properties"]["command"].startswith("python train.py --seed 7")

    (root / "manifests/jobs/src/train.py").write_text("print('training, better')\n")
    new_code = run_of(graph(root), "train")
    assert new_code.inputs["properties"]["codeId"] != changed.inputs["properties"]["codeId"]
    assert new_code.inputs["id"] != changed.inputs["id"]


def test_a_sweep_job_renders(tmp_path: Path):
    g = graph(estate(tmp_path, {"manifests/jobs/tune.yml": SWEEP}))
    body = run_of(g, "tune").inputs["properties"]
    assert body["jobType"] == "Sweep"
    assert body["trial"]["environmentId"] == f"{WS_ID}/environments/train-env/versions/3"
    assert body["trial"]["codeId"].startswith(f"{WS_ID}/codes/")
    assert body["trial"]["resources"]["instanceCount"] == 1
    assert "resources" not in body  # azure-ai-ml's copy of the trial's: the provider's SweepJob has none
    assert body["computeId"] == f"{WS_ID}/computes/cpu-cluster"
    assert body["objective"] == {"goal": "Minimize", "primaryMetric": "loss"}
    assert body["searchSpace"]["booster"] == ["choice", [["gbdt", "dart"]]]
    assert body["samplingAlgorithm"] == {"samplingAlgorithmType": "Random"}
    assert body["limits"]["maxTotalTrials"] == 8 and body["earlyTermination"]["policyType"] == "Bandit"


def test_a_spark_job_renders_and_its_storage_key_is_a_secret_marker(tmp_path: Path):
    g = graph(estate(tmp_path, {"manifests/jobs/wrangle.yml": SPARK}))
    run = run_of(g, "wrangle")
    body = run.inputs["properties"]
    assert body["jobType"] == "Spark" and body["entry"]["file"] == "train.py"
    assert body["codeId"].startswith(f"{WS_ID}/codes/")
    assert body["conf"]["spark.executor.instances"] == "2"
    assert body["conf"]["spark.hadoop.fs.azure.account.key.stdata.blob.core.windows.net"] == \
        {"$secret": {"config": "amlctl:dataKey"}}
    assert body["resources"] == {"instanceType": "standard_e4s_v3", "runtimeVersion": "3.4"}
    assert body["inputs"]["raw"]["mode"] == "Direct" and body["identity"] == {"identityType": "UserIdentity"}


def test_a_storage_key_written_in_spark_conf_is_an_inline_secret(tmp_path: Path):
    job = SPARK.replace('{secret_config: "amlctl:dataKey"}', "c2VjcmV0LWtleQ==")
    root = estate(tmp_path, {"manifests/jobs/wrangle.yml": job})
    [found] = [d for d in errors(root) if d.code == "M007"]
    assert found.line == line_of(job, "fs.azure.account.key") and "c2VjcmV0LWtleQ==" not in found.message


def test_a_typo_is_an_unknown_field_with_a_hint(tmp_path: Path):
    job = COMMAND.replace("experiment_name:", "experimnt_name:")
    root = estate(tmp_path, {"manifests/jobs/train.yml": job})
    [found] = errors(root)
    assert (found.code, found.path, found.line, found.col) == \
        ("S004", "manifests/jobs/train.yml", line_of(job, "experimnt_name"), 1)
    assert "unknown field 'experimnt_name' (did you mean 'experiment_name'?)" in found.message
    root = estate(tmp_path, {"manifests/jobs/train.yml": SWEEP.replace("objective:", "command: x\nobjective:")})
    [found] = errors(root)
    assert found.code == "S004" and "field 'command' does not apply when type is 'sweep'" in found.message


@pytest.mark.parametrize("job, why", [
    (SPARK.replace("resources:\n  instance_type: standard_e4s_v3\n  runtime_version: \"3.4\"\n", ""),
     "One of either compute or resources must be specified for Spark job"),
], ids=["spark-without-compute"])
def test_what_azure_ai_ml_refuses_is_R010_in_its_own_words(tmp_path: Path, job: str, why: str):
    root = estate(tmp_path, {"manifests/jobs/job.yml": job})
    [found] = errors(root)
    assert (found.code, found.path, found.subject) == ("R010", "manifests/jobs/job.yml", "Job/job")
    assert found.message.startswith("azure-ai-ml cannot compile this job: ")
    assert why in found.message


def test_an_inline_environment_is_its_anonymous_version(tmp_path: Path):
    inline = COMMAND.replace("environment: azureml:train-env:3",
                             "environment:\n  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04")
    g = graph(estate(tmp_path, {"manifests/jobs/train.yml": inline}))
    run = run_of(g, "train")
    [env] = [name for name in run.depends_on if "/environment/CliV2AnonymousEnvironment@" in name]
    version = env.rsplit("@", 1)[1]
    assert run.inputs["properties"]["environmentId"] == \
        f"{WS_ID}/environments/CliV2AnonymousEnvironment/versions/{version}"


def test_a_field_the_provider_cannot_carry_is_an_error_not_a_silent_drop(tmp_path: Path):
    job = COMMAND + "queue_settings:\n  job_tier: standard\n  priority: high\n"
    root = estate(tmp_path, {"manifests/jobs/train.yml": job})
    [found] = errors(root)
    assert (found.code, found.line) == ("R001", line_of(job, "priority: high"))
    assert found.message.startswith("queue_settings.priority: not rendered: the Job of pulumi-azure-native")


@pytest.mark.skipif(not CONFORMANCE.exists(), reason="../shared/tools/conformance.py is not beside the repository")
def test_rendered_jobs_conform_to_pulumi_azure_native(tmp_path: Path):
    root = estate(tmp_path, {"manifests/jobs/train.yml": COMMAND + (
        "services:\n  vs: {type: vs_code}\n  tb: {type: tensor_board, log_dir: outputs/tb}\n"
        "identity: {type: user_identity}\nenvironment_variables: {MODE: fast}\nqueue_settings: {job_tier: standard}\n"
        "tags: {team: risk}\n"),
        "manifests/jobs/tune.yml": SWEEP, "manifests/jobs/wrangle.yml": SPARK})
    report = validate(root=root, cwd=root)
    out = render(report.overlaid["dev"], report.stacks[0], root=root)
    path = tmp_path / "graph.json"
    path.write_text(out.graph.to_json())
    checked = subprocess.run([sys.executable, str(CONFORMANCE), str(path), "--no-warnings"],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert re.search(r"conformance: (\d+)/\1 resources conform, \d+ problems \(0 errors", checked.stdout)
    jobs = [r for r in json.loads(path.read_text())["resources"] if r["type"] == ML + "Job"]
    assert sorted(r["inputs"]["properties"]["jobType"] for r in jobs) == ["Command", "Spark", "Sweep"]


@pytest.mark.parametrize("field", ["resource_id", "msi_resource_id"])
def test_an_identity_field_azure_ai_ml_cannot_load_is_refused_by_validate(tmp_path: Path, field: str):
    """azure-ai-ml 1.35 loads a job's managed identity by client_id or object_id only: a resource id
    is refused where it is written, before render would fail in azure-ai-ml."""
    root = estate(tmp_path, {"manifests/jobs/job.yml": COMMAND + f"identity:\n  type: managed\n  {field}: /subscriptions/x/uami\n"})
    report = validate(root=root, cwd=root, render=False)
    found = [(d.code, d.path) for d in report.diagnostics if d.severity.value == "error"]
    assert found == [("S004", "manifests/jobs/job.yml")]  # an unknown field
