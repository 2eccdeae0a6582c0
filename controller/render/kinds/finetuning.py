"""Fine-tuning and distillation runs: azure-ai-ml compiles the job, amlctl places the run.

azure-ai-ml knows these jobs best (task names, hyperparameter shapes, the distillation property
bag), so the body is `load_job(...)._to_rest_object()` of the manifest's spec, as
`MLClient.jobs.create_or_update` sends it, after amlctl has resolved what MLClient resolves before
it submits: a local training or validation file becomes the URI of its content-addressed upload, a
reference to a Data or Model manifest the ARM id of the version the graph holds, a compute its ARM
id. Each run is a resource of its own named after its content (as pipeline runs are), kept in Azure
when it leaves the graph: a run is history.

Why `azure-native:resources:Resource`: pulumi-azure-native 3.29's typed Job takes only AutoML,
Command, Pipeline, Spark and Sweep bodies (`JobType` has no FineTuning), and the provider drops
what its schema does not type. The generic resource PUTs `properties` exactly as given, at an
explicit API version, through the same engine, credentials, preview and state as every other
resource; an amlctl dynamic step would need Azure credentials inside the engine's Python host and
would show nothing in a preview.

Distillation's teacher is a Connection manifest (never inline): azure-ai-ml serialises the whole
connection, key included, into the job property `azureml.connection_information`; amlctl builds the
same JSON from the Connection manifest with the key as a secret marker, so no output holds it.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import PurePosixPath
from typing import Any

from controller import schemas as S
from controller.checks import refs
from controller.diagnostics import Diagnostic, Severity
from controller.manifests.model import Manifest
from controller.render.context import Context, resource_name, short_hash
from controller.render.graph import canonical
from controller.render.kinds import jobs, pipelines, renders, resolve_hook, workspace_dep

JOB_API = "2025-12-01"  # the Azure ML REST version azure-ai-ml 1.35 builds FineTuningJob bodies for
RUN_TYPE = "azure-native:resources:Resource"
_DATA_FIELDS = ("training_data", "validation_data")
_KEY_STAND_IN = "<amlctl secret: teacher connection key>"
_CONNECTION_INFO = "azureml.connection_information"
# Models-as-a-Service fine-tuning (no compute, no instance types) runs only in some regions:
# "Llama models can only be finetuned in westus3 ... all other in eastus2" (azureml-examples,
# cli/jobs/finetuning/standalone/finetuning-job-cliv2-readme.md).
MAAS_REGIONS = {"azureml-meta": ("westus3",)}
MAAS_DEFAULT_REGIONS = ("eastus2",)
_REGISTRY = re.compile(r"^azureml://registries/([^/]+)/models/([^/]+)")


@renders("FineTuningJob")
def finetuning_job(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    spec = copy.deepcopy({k: v for k, v in m.spec.items() if k != "name"})
    _local_data(m, ctx, spec, deps)
    teacher = spec.pop("teacher_model_endpoint_connection", None)
    resolved = pipelines._resolved_spec(m, spec, ctx, deps, ctx.schemas.kinds["FineTuningJob"].file)
    secret = None
    if teacher is not None:
        resolved["teacher_model_endpoint_connection"], secret, node = _teacher(m, ctx, teacher)
        deps.add(node)
    body = _compiled(m, ctx, resolved)
    if secret is not None:
        _secret_connection(body, secret)
    _region_warning(m, ctx)
    name = f"{m.name}-{short_hash(canonical(body), n=10)}"
    ctx.add(m, run_node(m, name), RUN_TYPE, {
        "resourceGroupName": ctx.resource_group, "resourceProviderNamespace": "Microsoft.MachineLearningServices",
        "parentResourcePath": f"workspaces/{m.workspace}", "resourceType": "jobs", "resourceName": name,
        "apiVersion": JOB_API, "properties": body,
    }, depends_on=deps | {workspace_dep(m, ctx)}, label=f"run {name} of {m.spec.get('type')} job {m.name}",
        retain_on_delete=True)  # a run is history: a changed or removed job leaves it in Azure


def run_node(m: Manifest, run: str) -> str:
    return f"{resource_name(m)}/runs/{run}"


def _local_data(m: Manifest, ctx: Context, spec: dict[str, Any], deps: set[str]) -> None:
    """A local training or validation file (`training_data: ./train.jsonl`, or {type, path}): uploaded
    content-addressed, as MLClient uploads it before it submits; the input reads the upload."""
    for field in _DATA_FIELDS:
        value = spec.get(field)
        path: tuple = (field,)
        if isinstance(value, dict):
            value, path = value.get("path"), (field, "path")
        if not isinstance(value, str) or refs.local_path(value) is None:
            continue
        uri, folder = pipelines.uploaded_input(m, ctx, value, deps, path)
        if isinstance(spec[field], dict):
            spec[field]["path"] = uri
        else:
            spec[field] = {"type": "uri_folder" if folder else "uri_file", "path": uri}


def _teacher(m: Manifest, ctx: Context, value: str) -> tuple[dict[str, Any], Any, str]:
    """The inline connection azure-ai-ml serialises, built from the Connection manifest the
    teacher reference names, with a stand-in for its key; (connection, key's secret marker, node)."""
    path = ("teacher_model_endpoint_connection",)
    name = value.removeprefix("azureml:")
    conn = ctx.find("Connection", name, m.workspace)
    if conn is None:
        raise ctx.error(m, path, "R004", f"{S.dotted(path)}: {value!r} is not a Connection manifest of workspace "
                        f"{m.workspace!r}: add one (type: serverless, endpoint, api_key from secret_config or "
                        "key_vault_secret) so the teacher's key never sits in the job")
    key = conn.spec.get("api_key")
    if conn.spec.get("type") != "serverless" or not isinstance(key, dict) or not conn.spec.get("endpoint"):
        raise ctx.error(m, path, "R004", f"{S.dotted(path)}: Connection {name!r} ({conn.path}) must be a serverless "
                        "connection with an endpoint and an api_key, as azure-ai-ml's distillation takes them")
    marker = resolve_hook("secret", conn, ("api_key",), key, ctx, set())
    inline = {"type": "serverless", "name": conn.name, "endpoint": conn.spec["endpoint"], "api_key": _KEY_STAND_IN}
    return inline, marker, resource_name(conn)


def _secret_connection(body: dict[str, Any], secret: Any) -> None:
    """azure-ai-ml's connection JSON with the key's secret marker where its stand-in was: the program
    serialises it once the secret is known (a secret output, redacted everywhere)."""
    props = body.get("properties") or {}
    info = json.loads(props[_CONNECTION_INFO])

    def swap(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        return secret if v == _KEY_STAND_IN else v
    props[_CONNECTION_INFO] = {"$json": swap(info)}


def _compiled(m: Manifest, ctx: Context, spec: dict[str, Any]) -> dict[str, Any]:
    origin = ctx.root / PurePosixPath(m.path)
    try:
        return copy.deepcopy(jobs.compile_job(spec, origin, m.path))
    except Exception as e:  # azure-ai-ml's own validation: report it against the manifest
        from controller.render.kinds import refusal
        raise ctx.error(m, (), "R010", f"azure-ai-ml cannot compile this {m.spec.get('type')} job: "
                        f"{refusal.reason(e)}")


def maas(spec: dict[str, Any]) -> bool:
    """Whether a fine-tuning job runs as Models-as-a-Service (no cluster, no instance types)."""
    return spec.get("type") == "finetuning" and "compute" not in spec and \
        not (spec.get("resources") or {}).get("instance_types")


def base_model(spec: dict[str, Any]) -> str | None:
    """The catalog model a job fine-tunes (its `model.path`, or a distillation's student)."""
    model = spec.get("model") if spec.get("type") == "finetuning" else spec.get("student_model")
    value = model.get("path") if isinstance(model, dict) else model
    return value if isinstance(value, str) else None


def _region_warning(m: Manifest, ctx: Context) -> None:
    if not maas(m.spec):
        return
    model = base_model(m.spec) or ""
    match = _REGISTRY.match(model)
    regions = MAAS_REGIONS.get(match.group(1), MAAS_DEFAULT_REGIONS) if match else MAAS_DEFAULT_REGIONS
    location = ctx.workspace_location(m.workspace).replace(" ", "").lower()
    if location in regions:
        return
    src = m.where(("model",))
    ctx.diagnostics.append(Diagnostic(
        src.path, src.line, src.col, "R013", Severity.WARNING,
        f"serverless (Models-as-a-Service) fine-tuning of {match.group(2) if match else model} runs only in "
        f"{', '.join(regions)} (azureml-examples' fine-tuning readme), and workspace {m.workspace!r} is in "
        f"{location}: put the job in a workspace there, or give it compute or resources.instance_types",
        m.subject, ctx.stack.name))
