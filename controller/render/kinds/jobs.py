"""Standalone jobs (command, sweep and Spark): azure-ai-ml compiles the job YAML, amlctl places the run.

As with pipelines (controller/render/kinds/pipelines.py), azure-ai-ml knows these jobs best, so the
whole body goes through `load_job(...)`, after amlctl has resolved what MLClient would resolve before
it submits: every reference (compute, data, models, the environment) becomes the ARM id of what the
graph holds, a local `code` folder the code asset amlctl uploads, an inline environment its
anonymous version, a local input the URI of its upload (pipelines._resolved_spec). The REST body is
then what `MLClient.jobs.create_or_update` sends: the job's `_to_rest_object()` (for command and
Spark jobs, of the job the loaded builder stands for, as azure-ai-ml's `to_rest_job_object` does),
with `codeId` and `environmentId` ARM ids. Compilations are cached by content, beside the pipelines'.

Each run is a resource of its own, named after its content (as pipelines' runs are): a changed job
is a new run beside the kept ones, an unchanged one is the same resource (nothing to do), and a run
that leaves the graph stays in Azure (it is history).
"""
from __future__ import annotations

import copy
import io
from pathlib import Path, PurePosixPath
from typing import Any

from controller import schemas as S
from controller.checks import refs
from controller.manifests.model import Manifest
from controller.render import arm
from controller.render.context import Context
from controller.render.kinds import anonymous, compiled, pipelines, refusal, renders, resolve_hook

# Where each job type keeps its code and its environment.
_CODE = {"command": ("code",), "sweep": ("trial", "code"), "spark": ("code",)}
_ENVIRONMENT = {"command": ("environment",), "sweep": ("trial", "environment"), "spark": ("environment",)}
# Spark credentials (x-amlctl-secret in job.schema.json#/$defs/sparkConf) go through azure-ai-ml as
# this stand-in, and become amlctl's secret marker in the compiled body.
_SECRET_STAND_IN = "<amlctl secret>"
# Fields azure-ai-ml sends that the Job of pulumi-azure-native (REST API 2025-12-01, the version the
# program deploys with) has no property for: the provider would drop them, and the run would not be
# what the manifest says. Manifest paths, by job type.
PROVIDER_API = "2025-12-01"
_UNDEPLOYABLE = {
    "command": (("parent_job_name",), ("queue_settings", "priority"), ("resources", "locations"),
                ("resources", "max_instance_count")),
    "sweep": (("resources",), ("queue_settings", "priority"), ("trial", "resources", "locations"),
              ("trial", "resources", "max_instance_count")),
    "spark": (),
}
# Distributions the provider's Job knows (its union has no Ray member).
_DISTRIBUTIONS = {"mpi", "pytorch", "tensorflow"}


@renders("Job")
def job(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    file = ctx.schemas.kinds["Job"].file
    spec = copy.deepcopy({k: v for k, v in m.spec.items() if k != "name"})
    kind = spec.get("type", "command")
    if not _deployable(m, ctx, kind):
        return
    _environment(m, ctx, spec, deps)
    _code(m, ctx, spec, deps, kind)
    secrets = _secrets(m, ctx, spec, deps)
    body = _compiled(m, spec, ctx, deps, file)
    for key, marker in secrets.items():
        body.setdefault("conf", {})[key] = marker
    if kind == "sweep" and "resources" not in m.spec:
        # azure-ai-ml copies trial.resources up to the sweep (a wire-level stand-in for a field the
        # 2025-12-01 SweepJob dropped); the provider's SweepJob has no such property, and the trial
        # keeps its own.
        body.pop("resources", None)
    if kind == "sweep" and isinstance((body.get("objective") or {}).get("goal"), str):
        # azure-ai-ml sends the CLI's `minimize`; the provider's Goal enum is Minimize/Maximize.
        body["objective"]["goal"] = arm.CONVERTERS["pascal"](body["objective"]["goal"], None)
    pipelines.run(m, ctx, body, deps, what="job")


def _get(doc: Any, path: tuple) -> Any:
    for p in path:
        if not isinstance(doc, dict) or p not in doc:
            return None
        doc = doc[p]
    return doc


def _deployable(m: Manifest, ctx: Context, kind: str) -> bool:
    """Whether every field of the job reaches Azure through the provider; each one that would not
    is an error (R001) at its line: amlctl does not run something other than the manifest says."""
    provider = f"the Job of pulumi-azure-native (Azure ML REST API {PROVIDER_API})"
    found = [(path, f"{provider} has no such property, so Azure would never see it; remove it")
             for path in _UNDEPLOYABLE.get(kind, ()) if _get(m.spec, path) is not None]
    for path in (("distribution",), ("trial", "distribution")):
        dist = _get(m.spec, path)
        if isinstance(dist, dict) and dist.get("type") not in _DISTRIBUTIONS:
            found.append((path + ("type",), f"{provider} takes only {', '.join(sorted(_DISTRIBUTIONS))} "
                          "distributions"))
    for name, output in sorted((m.spec.get("outputs") or {}).items()):
        if isinstance(output, dict) and output.get("version") is not None:
            found.append((("outputs", name, "version"), f"{provider} has no version for job outputs; remove it"))
    for path, why in found:
        ctx.diagnostics.append(ctx.error(m, path, "R001", f"{S.dotted(path)}: not rendered: {why}").diagnostic)
    return not found


def _environment(m: Manifest, ctx: Context, spec: dict[str, Any], deps: set[str]) -> None:
    """The job's (or the sweep trial's) environment as the ARM id of what the graph holds: an
    Environment manifest (by reference, or by its file, `file:../env.yaml`), or, for an inline
    environment (`environment: {image: ..., conda_file: ...}`), its anonymous version, registered as
    azure-ai-ml registers it (controller.render.kinds.anonymous). A registry URI or a curated
    environment passes through, as azure-ai-ml sends it."""
    path = _ENVIRONMENT.get(spec.get("type", "command"), ("environment",))
    value = _get(spec, path)
    if isinstance(value, dict):
        pipelines._set(spec, path, "azureml:" + anonymous.environment(m, ctx, path, value, deps))
        return
    if not isinstance(value, str):
        return
    if refs.parse(value, "Environment") is None and refs.local_path(value) is not None:  # its YAML file
        arm_id, node = _environment_file(m, value, ctx, path)
    else:
        arm_id, node = ctx.resolve_ref(m, "Environment", value, path)
    if node:
        deps.add(node)
    if arm_id != value:
        pipelines._set(spec, path, "azureml:" + arm_id)


def _environment_file(m: Manifest, value: str, ctx: Context, path: tuple) -> tuple[str, str]:
    return pipelines.manifest_file(m, value, ctx, path, "Environment", "write the environment inline, ")


def _code(m: Manifest, ctx: Context, spec: dict[str, Any], deps: set[str], kind: str) -> None:
    """A local code folder: uploaded and registered as a code asset named by its content (as
    azure-ai-ml does), whose ARM id becomes the job's codeId; `azureml:<name>:<version>` is that
    code asset's ARM id; a URI (git, registry) passes through."""
    path = _CODE.get(kind, ("code",))
    value = _get(spec, path)
    if not isinstance(value, str):
        return
    resolved = resolve_hook("code-id", m, path, value, ctx, deps)
    if isinstance(resolved, str) and resolved.startswith("/subscriptions/"):
        pipelines._set(spec, path, "azureml:" + resolved)


def _secrets(m: Manifest, ctx: Context, spec: dict[str, Any], deps: set[str]) -> dict[str, Any]:
    """Spark configuration credentials ({secret_config: ...} / {key_vault_secret: ...}): replaced by
    a stand-in for azure-ai-ml, returned as amlctl's secret markers by key."""
    out: dict[str, Any] = {}
    for a in S.annotations(ctx.schemas, ctx.schemas.kinds["Job"].file, m.spec):
        if a.key == "secret" and a.path[:1] == ("conf",) and len(a.path) == 2 and isinstance(a.instance, dict):
            out[a.path[1]] = resolve_hook("secret", m, a.path, a.instance, ctx, deps)
            spec["conf"][a.path[1]] = _SECRET_STAND_IN
    return out


# -- azure-ai-ml -----------------------------------------------------------------------------------
def compile_job(spec: dict[str, Any], origin: Path, shown: str) -> dict[str, Any]:
    """The REST body (`properties`) azure-ai-ml builds for a command, sweep or Spark job spec, as
    MLClient submits it; cached by content (see pipelines.compile_pipeline, whose cache it shares).

    pipelines.compile_pipeline calls `load_job(...)._to_rest_object()`, which is right for pipeline
    and sweep jobs; for command and Spark jobs `load_job` returns a pipeline-node builder, whose
    `_to_rest_object()` is the node's dict, so the job it stands for (`_to_job()`) is compiled instead,
    as azure-ai-ml's `to_rest_job_object` does. Its `generate_defaults` (a random name, the working
    folder as experiment) is left out: a render must not depend on where it runs."""
    def compile_() -> dict[str, Any]:
        import yaml
        with compiled.quiet():
            from azure.ai.ml import load_job
            loaded = load_job(io.StringIO(yaml.safe_dump(spec, sort_keys=True)), relative_origin=str(origin))
            entity = loaded._to_job() if hasattr(loaded, "_to_job") else loaded
            return entity._to_rest_object().as_dict()["properties"]
    return compiled.cached(["job", shown, spec], compile_)


def _compiled(m: Manifest, spec: dict[str, Any], ctx: Context, deps: set[str], file: str) -> dict[str, Any]:
    resolved = pipelines._resolved_spec(m, spec, ctx, deps, file)
    origin = ctx.root / PurePosixPath(m.path)
    try:
        return compile_job(resolved, origin, m.path)
    except Exception as e:  # azure-ai-ml's own validation: report it against the manifest
        raise ctx.error(m, (), "R010", f"azure-ai-ml cannot compile this job: {refusal.reason(e)}")
