"""Fine-tuning and distillation jobs, and what serves the model a run registers ({output_of: ...}).

Render-level tests run through the Python API; one test runs the whole chain (fine-tune, wait,
serve, a new run while the old model keeps serving) on the real engine with the local target."""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CORPUS, REPO, git, write_tree
from controller import runs
from controller.render import render
from controller.render.graph import Graph, Resource
from controller.validate import validate

ML = "azure-native:machinelearningservices:"
SUB = "11111111-1111-1111-1111-111111111111"
STACK = {"stacks/Pulumi.dev.yaml": (
    "config:\n  amlctl:target: azure\n"
    f"  amlctl:subscriptionId: {SUB}\n  amlctl:resourceGroup: rg-dev\n  amlctl:location: eastus2\n"
    "  amlctl:defaultWorkspace: mlw-genai\n  amlctl:production: false\n")}
WORKSPACE = ("apiVersion: amlctl.dev/v1alpha1\nkind: Workspace\nmetadata:\n  name: mlw-genai\n"
             "spec:\n  location: eastus2\n")
FINETUNE = """type: finetuning
name: phi3-support
task: chat_completion
model_provider: custom
model:
  path: azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/14
  type: mlflow_model
training_data: data/train.jsonl
hyperparameters:
  num_train_epochs: "1"
outputs:
  registered_model:
    name: phi3-support
    type: mlflow_model
"""
SERVE = """apiVersion: amlctl.dev/v1alpha1
kind: ServerlessEndpoint
metadata:
  name: phi3-support
spec:
  model_id:
    output_of: FineTuningJob/phi3-support
"""
TEACHER = """apiVersion: amlctl.dev/v1alpha1
kind: Connection
metadata:
  name: llama-405b-teacher
spec:
  type: serverless
  endpoint: https://llama-405b.eastus2.models.ai.azure.com/chat/completions
  api_key:
    secret_config: amlctl:teacherKey
"""
DISTILL = """type: distillation
name: llama-math
data_generation_type: label_generation
data_generation_task_type: math
training_data: data/train.jsonl
validation_data: data/train.jsonl
teacher_model_endpoint_connection: azureml:llama-405b-teacher
student_model: azureml://registries/azureml-meta/models/Meta-Llama-3.1-8B-Instruct/versions/2
outputs:
  registered_model:
    name: llama-math
    type: mlflow_model
"""
DATA = {"manifests/data/train.jsonl": '{"messages": []}\n'}


def estate(tmp_path: Path, files: dict[str, str]) -> Path:
    return write_tree(tmp_path / "repo", {**STACK, "manifests/workspace.yaml": WORKSPACE, **DATA, **files})


def rendered(root: Path):
    report = validate(root=root, cwd=root, render=False)
    errors = [d.format() for d in report.diagnostics if d.severity.value == "error"]
    assert not errors, errors
    st = next(s for s in report.stacks if s.name == "dev")
    return render(report.overlaid["dev"], st, root=root)


def graph(root: Path) -> Graph:
    out = rendered(root)
    assert out.graph is not None, [d.format() for d in out.diagnostics]
    return out.graph


def online(endpoint: str, model: str, traffic: bool = False) -> str:
    """An online endpoint and its deployment `blue` serving `model` (YAML flow text)."""
    return (f"apiVersion: amlctl.dev/v1alpha1\nkind: OnlineEndpoint\nmetadata:\n  name: {endpoint}\nspec:\n"
            "  auth_mode: key\n" + ("  traffic:\n    blue: 100\n" if traffic else "") +
            "---\napiVersion: amlctl.dev/v1alpha1\nkind: OnlineDeployment\nmetadata:\n  name: blue\nspec:\n"
            f"  endpoint_name: {endpoint}\n  model: {model}\n  instance_type: Standard_NC24ads_A100_v4\n"
            "  instance_count: 1\n")


def run_of(g: Graph, job: str) -> Resource:
    found = [r for r in g.resources if r.subject == f"FineTuningJob/{job}" and "/runs/" in r.name]
    assert len(found) == 1, [r.name for r in g.resources]
    return found[0]


# -- fidelity: the body azure-ai-ml sends, field by field ------------------------------------------
FINETUNING_FILES = sorted(str(p.relative_to(CORPUS)) for p in (CORPUS / "jobs" / "finetuning").rglob("*.yaml"))


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, path + (k,))
    else:
        yield path, value


@pytest.mark.parametrize("rel", FINETUNING_FILES)
def test_a_corpus_finetuning_job_renders_the_body_azure_ai_ml_sends(tmp_path: Path, rel: str) -> None:
    """Field by field against azure-ai-ml's `_to_rest_object()` of the same file. The differences,
    each what MLClient itself changes when it submits: local data is uploaded (amlctl's upload is
    content-addressed in its own datastore; MLClient's is under LocalUpload/ of workspaceblobstore),
    and a compute name becomes its ARM id."""
    from azure.ai.ml import load_job
    source = CORPUS / rel
    expected = load_job(source)._to_rest_object().as_dict()["properties"]
    files = {"manifests/job.yaml": source.read_text(), "manifests/train.jsonl": "{}\n",
             "manifests/validation.jsonl": "{}\n"}
    root = estate(tmp_path, files)
    body = run_of(graph(root), load_job(source).name).inputs["properties"]
    differences = {path for (path, a) in _leaves(body) if dict(_leaves(expected)).get(path, object()) != a}
    differences |= {path for (path, _) in _leaves(expected) if path not in dict(_leaves(body))}
    allowed = {("fineTuningDetails", "trainingData", "uri"), ("fineTuningDetails", "validationData", "uri"),
               ("computeId",)}
    assert differences <= allowed, differences
    details = body["fineTuningDetails"]
    for field, name in (("trainingData", "train.jsonl"), ("validationData", "validation.jsonl")):
        assert details[field]["uri"].startswith("azureml://datastores/amlctl_assets/paths/")
        assert details[field]["uri"].endswith("/" + name)
    if "computeId" in expected:
        assert body["computeId"].endswith(f"/workspaces/mlw-genai/computes/{expected['computeId']}")


def test_a_run_is_named_after_its_content_and_kept_when_it_changes(tmp_path: Path) -> None:
    root = estate(tmp_path, {"manifests/ft.yaml": FINETUNE})
    first = run_of(graph(root), "phi3-support")
    assert first.type == "azure-native:resources:Resource" and first.retain_on_delete
    assert {k: first.inputs[k] for k in ("resourceProviderNamespace", "parentResourcePath", "resourceType",
                                         "apiVersion")} == {
        "resourceProviderNamespace": "Microsoft.MachineLearningServices",
        "parentResourcePath": "workspaces/mlw-genai", "resourceType": "jobs", "apiVersion": "2025-12-01"}
    assert first.inputs["properties"]["jobType"] == "FineTuning"
    (root / "manifests/ft.yaml").write_text(FINETUNE.replace('"1"', '"2"'))
    second = run_of(graph(root), "phi3-support")
    assert second.name != first.name and second.inputs["resourceName"].startswith("phi3-support-")
    (root / "manifests/data/train.jsonl").write_text('{"messages": [1]}\n')  # new data: a new run too
    assert run_of(graph(root), "phi3-support").name not in (first.name, second.name)


def test_the_envelope_form_is_the_same_job(tmp_path: Path) -> None:
    bare = run_of(graph(estate(tmp_path / "a", {"manifests/ft.yaml": FINETUNE})), "phi3-support")
    body = "".join(f"  {line}\n" for line in FINETUNE.replace("name: phi3-support\n", "", 1).splitlines())
    env = ("apiVersion: amlctl.dev/v1alpha1\nkind: FineTuningJob\nmetadata:\n  name: phi3-support\nspec:\n" + body)
    enveloped = run_of(graph(estate(tmp_path / "b", {"manifests/ft.yaml": env})), "phi3-support")
    assert enveloped.name == bare.name and enveloped.inputs == bare.inputs


# -- distillation: the teacher's key is a secret everywhere -----------------------------------------
def test_distillation_builds_azure_ai_mls_connection_information_with_the_key_as_a_secret(tmp_path: Path) -> None:
    from azure.ai.ml import load_job
    root = estate(tmp_path, {"manifests/distill.yaml": DISTILL, "manifests/teacher.yaml": TEACHER})
    run = run_of(graph(root), "llama-math")
    props = run.inputs["properties"]["properties"]
    info = props["azureml.connection_information"]
    assert set(info) == {"$json"}
    assert info["$json"]["api_key"] == {"$secret": {"config": "amlctl:teacherKey"}}
    assert info["$json"]["credentials"] == {"type": "api_key", "key": {"$secret": {"config": "amlctl:teacherKey"}}}
    # The rest is azure-ai-ml's, from the same job with the connection written inline.
    inline = DISTILL.replace("teacher_model_endpoint_connection: azureml:llama-405b-teacher\n",
                             "teacher_model_endpoint_connection:\n  type: serverless\n  name: llama-405b-teacher\n"
                             "  endpoint: https://llama-405b.eastus2.models.ai.azure.com/chat/completions\n"
                             "  api_key: stand-in\n")
    (tmp_path / "inline.yaml").write_text(inline)
    (tmp_path / "data").mkdir()
    (tmp_path / "data/train.jsonl").write_text("{}\n")
    expected = load_job(tmp_path / "inline.yaml")._to_rest_object().as_dict()["properties"]
    want = json.loads(expected["properties"].pop("azureml.connection_information"))
    got = info["$json"]
    assert {k: v for k, v in got.items() if k not in ("api_key", "credentials")} == \
        {k: v for k, v in want.items() if k not in ("api_key", "credentials")}
    body = copy.deepcopy(run.inputs["properties"])
    body["properties"].pop("azureml.connection_information")
    for field in ("trainingData", "validationData"):  # uploaded, as MLClient uploads them
        body["fineTuningDetails"][field]["uri"] = expected["fineTuningDetails"][field]["uri"]
    assert body == expected
    assert "stand-in" not in json.dumps(run.inputs)


# -- output_of: what serves the model a run registers ----------------------------------------------
def test_a_serverless_endpoint_of_a_fine_tuned_model_waits_for_its_run(tmp_path: Path) -> None:
    root = estate(tmp_path, {"manifests/ft.yaml": FINETUNE, "manifests/serve.yaml": SERVE})
    g = graph(root)
    run = run_of(g, "phi3-support")
    endpoint = next(r for r in g.resources if r.type == ML + "ServerlessEndpoint")
    marker = endpoint.inputs["properties"]["modelSettings"]["modelId"]["$runOutput"]
    assert marker["run"] == run.name and marker["asset"] == "phi3-support" and marker["form"] == "uri"
    assert not [r for r in g.resources if r.type == ML + "MarketplaceSubscription"]  # Phi is Microsoft's

    waiting = runs.settle(g, {run.name: runs.Outcome("Running")}, None)
    assert endpoint.name not in {r.name for r in waiting.graph.resources}
    assert [(w.resource, w.kept) for w in waiting.waiting] == [(endpoint.name, False)]
    assert "Running" in waiting.waiting[0].describe()

    done = runs.settle(g, {run.name: runs.Outcome("Completed", "3", "a1b2")}, None)
    served = next(r for r in done.graph.resources if r.name == endpoint.name)
    assert served.inputs["properties"]["modelSettings"]["modelId"] == \
        "azureml://locations/eastus2/workspaces/a1b2/models/phi3-support/versions/3"
    assert done.waiting == ()

    # A new run: the endpoint keeps what the last apply gave it until the new run completes.
    kept = runs.settle(g, {run.name: runs.Outcome("Running")}, done.graph)
    assert next(r for r in kept.graph.resources if r.name == endpoint.name) == served
    assert kept.waiting[0].kept


def test_a_deployment_of_a_fine_tuned_model_and_its_traffic_wait_together(tmp_path: Path) -> None:
    deploy = online("support", "{output_of: FineTuningJob/phi3-support, output: registered_model}",
                    traffic=True)
    root = estate(tmp_path, {"manifests/ft.yaml": FINETUNE, "manifests/online.yaml": deploy})
    g = graph(root)
    run = run_of(g, "phi3-support")
    waiting = runs.settle(g, {}, None)
    left_out = {w.resource for w in waiting.waiting}
    assert any(n.endswith("deployments/blue") for n in left_out) and any(n.endswith("/traffic") for n in left_out)
    done = runs.settle(g, {run.name: runs.Outcome("Completed", "1", "guid")}, None)
    dep = next(r for r in done.graph.resources if r.type == ML + "OnlineDeployment")
    assert dep.inputs["properties"]["model"] == (f"/subscriptions/{SUB}/resourceGroups/rg-dev/providers/"
                                                 "Microsoft.MachineLearningServices/workspaces/mlw-genai/models/"
                                                 "phi3-support/versions/1")


def test_a_fine_tuned_third_party_model_gets_the_marketplace_subscription_of_its_base_model(tmp_path: Path) -> None:
    llama = FINETUNE.replace("azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/14",
                             "azureml://registries/azureml-meta/models/Meta-Llama-3.1-8B-Instruct/versions/2")
    g = graph(estate(tmp_path, {"manifests/ft.yaml": llama, "manifests/serve.yaml": SERVE}))
    [sub] = [r for r in g.resources if r.type == ML + "MarketplaceSubscription"]
    assert sub.inputs["properties"]["modelId"] == "azureml://registries/azureml-meta/models/Meta-Llama-3.1-8B-Instruct"
    endpoint = next(r for r in g.resources if r.type == ML + "ServerlessEndpoint")
    assert sub.name in endpoint.depends_on


def test_serverless_fine_tuning_outside_its_regions_is_a_warning(tmp_path: Path) -> None:
    root = estate(tmp_path, {"manifests/ft.yaml": FINETUNE})
    assert not [d for d in rendered(root).diagnostics if d.code == "R013"]  # eastus2
    (root / "manifests/workspace.yaml").write_text(WORKSPACE.replace("eastus2", "westeurope"))
    [warning] = [d for d in rendered(root).diagnostics if d.code == "R013"]
    assert warning.path == "manifests/ft.yaml" and warning.line == 6 and "eastus2" in warning.message
    (root / "manifests/ft.yaml").write_text(FINETUNE + "compute: azureml:gpu-cluster\n")  # a cluster: anywhere
    assert not [d for d in rendered(root).diagnostics if d.code == "R013"]


# -- bad input: file, line and field ---------------------------------------------------------------
@pytest.mark.parametrize("name,files,code,where", [
    ("unknown run", {"manifests/serve.yaml": SERVE.replace("phi3-support\n", "nope\n", 1).replace(
        "FineTuningJob/phi3-support", "FineTuningJob/nope")}, "M003", ("manifests/serve.yaml", 7)),
    ("output that registers nothing", {"manifests/ft.yaml": FINETUNE, "manifests/serve.yaml": SERVE.replace(
        "FineTuningJob/phi3-support", "FineTuningJob/phi3-support\n    output: metrics")}, "M003",
     ("manifests/serve.yaml", 8)),
    ("inline teacher with its key", {"manifests/distill.yaml": DISTILL.replace(
        "teacher_model_endpoint_connection: azureml:llama-405b-teacher\n",
        "teacher_model_endpoint_connection:\n  type: serverless\n  name: t\n  api_key: abc123\n")}, "S003",
     ("manifests/distill.yaml", 8)),
    ("teacher that is no connection here", {"manifests/distill.yaml": DISTILL}, "M002", ("manifests/distill.yaml", 7)),
    ("teacher connection of another type", {"manifests/distill.yaml": DISTILL, "manifests/teacher.yaml": TEACHER.replace(
        "type: serverless\n  endpoint: https://llama-405b.eastus2.models.ai.azure.com/chat/completions\n",
        "type: azure_open_ai\n  azure_endpoint: https://aoai.openai.azure.com/\n")}, "M003", ("manifests/distill.yaml", 7)),
    ("a finetuning job without its task", {"manifests/ft.yaml": FINETUNE.replace("task: chat_completion\n", "")},
     "S005", ("manifests/ft.yaml", 1)),
    ("distillation fields on a finetuning job", {"manifests/ft.yaml": FINETUNE + "data_generation_type: label_generation\n"},
     "S003", ("manifests/ft.yaml", 15)),
])
def test_bad_fine_tuning_input_is_an_error_at_its_line(tmp_path: Path, name: str, files: dict, code: str,
                                                       where: tuple) -> None:
    root = estate(tmp_path, files)
    report = validate(root=root, cwd=root, render=False)  # errors without --strict: render would fail
    errors = [d for d in report.diagnostics if d.severity.value == "error"]
    assert any(d.code == code and (d.path, d.line) == where for d in errors), [d.format() for d in errors]


# -- the chain on the real engine ------------------------------------------------------------------
def test_fine_tune_wait_and_serve_on_the_local_target(tmp_path: Path) -> None:
    """apply 1 starts the runs and creates nothing that serves their models; apply 2 (the runs
    completed) serves version 1; a changed job is a new run, and while it runs the endpoint keeps
    serving version 1. The teacher's key of a distillation job is in no file the engine or the
    simulation writes."""
    secret = "teacher-key-do-not-leak-7f3a"
    local = ("config:\n  amlctl:target: local\n  amlctl:subscriptionId: 00000000-0000-0000-0000-00000000beef\n"
             "  amlctl:resourceGroup: rg-genai\n  amlctl:manageResourceGroup: true\n  amlctl:location: eastus2\n"
             "  amlctl:defaultWorkspace: mlw-genai\n  amlctl:production: false\n")
    root = write_tree(tmp_path / "repo", {"stacks/Pulumi.local.yaml": local, "manifests/workspace.yaml": WORKSPACE,
                                          **DATA, "manifests/ft.yaml": FINETUNE, "manifests/serve.yaml": SERVE,
                                          "manifests/distill.yaml": DISTILL, "manifests/teacher.yaml": TEACHER,
                                          "Pulumi.yaml": (REPO / "Pulumi.yaml").read_text(),
                                          ".gitignore": ".amlctl/\n"})
    shutil.rmtree(root / ".git")
    git(root, "init", "-q", "-b", "main")
    env = {**{k: v for k, v in os.environ.items() if k != "AMLCTL_DEBUG"}, "PULUMI_CONFIG_PASSPHRASE": ""}

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess:
        p = subprocess.run([sys.executable, "-m", "controller", *args], cwd=root, capture_output=True, text=True,
                           env={**env, **extra}, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        return p

    cli("pulumi", "--stack", "local", "--", "config", "set", "--secret", "amlctl:teacherKey", secret)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "fine-tune phi-3")
    first = json.loads(cli("apply", "--stack", "local", "--yes", "-o", "json").stdout)
    assert [w["resource"] for w in first["waiting"]] == ["mlw-genai/serverless-endpoint/phi3-support"]
    assert first["waiting"][0]["status"] == runs.NOT_STARTED and not first["waiting"][0]["kept"]
    sim = root / ".amlctl" / "local" / "sim"
    assert not list(sim.rglob("serverlessendpoints/*.json"))

    second = cli("apply", "--stack", "local", "--yes")
    assert "waiting" not in second.stdout
    [doc] = [json.loads(p.read_text()) for p in sim.rglob("serverlessendpoints/*.json")]
    model = doc["properties"]["properties"]["modelSettings"]["modelId"]
    assert model.startswith("azureml://locations/eastus2/workspaces/") and model.endswith(
        "/models/phi3-support/versions/1")

    (root / "manifests/ft.yaml").write_text(FINETUNE.replace('"1"', '"3"'))
    git(root, "commit", "-qam", "three epochs")
    third = json.loads(cli("apply", "--stack", "local", "--yes", "-o", "json", AMLCTL_SIM_RUN_SECONDS="3600").stdout)
    assert [(w["resource"], w["kept"], w["status"]) for w in third["waiting"]] == [
        ("mlw-genai/serverless-endpoint/phi3-support", True, runs.NOT_STARTED)]
    [doc] = [json.loads(p.read_text()) for p in sim.rglob("serverlessendpoints/*.json")]
    assert doc["properties"]["properties"]["modelSettings"]["modelId"] == model  # still serving version 1
    assert len(list(sim.rglob("jobs/phi3-support-*.json"))) == 2  # the old run is kept: history
    assert "No drift" in cli("drift", "--stack", "local").stdout

    leaked = [str(p) for p in (root / ".amlctl").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaked == []
    [job] = [json.loads(p.read_text()) for p in sim.rglob("jobs/llama-math-*.json")]
    assert "$secret" in json.dumps(job["properties"]["properties"]["properties"]["azureml.connection_information"])


def test_a_deployment_may_serve_the_model_a_pipeline_output_registers(tmp_path: Path) -> None:
    pipeline = """$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
name: train
settings:
  default_compute: azureml:serverless
outputs:
  model:
    type: mlflow_model
    name: credit-retrained
jobs:
  fit:
    type: command
    command: echo ${{outputs.model}}
    environment: azureml:AzureML-sklearn-1.5@latest
    outputs:
      model: ${{parent.outputs.model}}
"""
    deploy = online("credit", "{output_of: Pipeline/train, output: model}")
    g = graph(estate(tmp_path, {"manifests/train.yaml": pipeline, "manifests/online.yaml": deploy}))
    [run] = [r for r in g.resources if r.subject == "Pipeline/train" and "/runs/" in r.name]
    assert run.inputs["properties"]["outputs"]["model"]["assetName"] == "credit-retrained"
    dep = next(r for r in g.resources if r.type == ML + "OnlineDeployment")
    assert dep.inputs["properties"]["model"]["$runOutput"]["run"] == run.name
    # An output that registers nothing is refused where it is named.
    (tmp_path / "repo/manifests/online.yaml").write_text(deploy.replace("output: model", "output: metrics"))
    report = validate(root=tmp_path / "repo", cwd=tmp_path / "repo", render=False)
    assert [(d.code, d.line) for d in report.diagnostics if d.severity.value == "error"] == [("M003", 14)]


def test_plan_says_what_a_changed_job_means_for_what_serves_its_model(tmp_path: Path) -> None:
    from controller import plan as P
    root = estate(tmp_path, {"manifests/ft.yaml": FINETUNE, "manifests/serve.yaml": SERVE})
    before = graph(root)
    first = {c.name: c for c in P.diff(None, before).changes}
    assert first[run_of(before, "phi3-support").name].label == "new fine-tuning run"
    assert "waits for run phi3-support-" in first["mlw-genai/serverless-endpoint/phi3-support"].label
    (root / "manifests/ft.yaml").write_text(FINETUNE.replace('"1"', '"2"'))
    after = graph(root)
    changes = {c.name: c for c in P.diff(before, after).changes}
    old = changes[run_of(before, "phi3-support").name]
    assert (old.action, old.label) == (P.KEEP, "kept in Azure (a past run is history)")
    # A serverless endpoint's model cannot change in place: serving the new run's model replaces it,
    # once that run has completed (apply then needs --allow-delete; until then it keeps serving).
    endpoint = changes["mlw-genai/serverless-endpoint/phi3-support"]
    assert endpoint.action == P.REPLACE and run_of(after, "phi3-support").name.rsplit("/", 1)[-1] in endpoint.label
    assert [c.name for c in P.needs_allow_delete(P.diff(before, after))] == [endpoint.name]  # the run deletes nothing


def test_a_distilled_model_served_by_its_uri_gets_the_subscription_of_its_student_base_model(tmp_path: Path) -> None:
    """The corpus's distillation samples serve the result by URI (azureml://locations/.../models/<name>/...):
    the job of this workspace that registers that name says which catalog model it came from."""
    serve = ("apiVersion: amlctl.dev/v1alpha1\nkind: ServerlessEndpoint\nmetadata:\n  name: llama-math\nspec:\n"
             "  model_id: azureml://locations/eastus2/workspaces/0d1e/models/llama-math/versions/1\n")
    g = graph(estate(tmp_path, {"manifests/distill.yaml": DISTILL, "manifests/teacher.yaml": TEACHER,
                                "manifests/serve.yaml": serve}))
    [sub] = [r for r in g.resources if r.type == ML + "MarketplaceSubscription"]
    assert sub.inputs["properties"]["modelId"] == "azureml://registries/azureml-meta/models/Meta-Llama-3.1-8B-Instruct"
