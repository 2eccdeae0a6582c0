"""Pipelines and schedules: azure-ai-ml compiles the pipeline YAML, amlctl places the result.

azure-ai-ml knows pipeline jobs best (component resolution, input and output bindings), so the
pipeline's whole body goes through `load_job(...)._to_rest_object()`, after amlctl has replaced
every reference (components, compute, data) with the ARM id of the resource the graph holds.
The result is cached by content: azure-ai-ml costs about a second to import, and an unchanged
pipeline should cost nothing on the next render.

A pipeline renders as one job run named after its content (a changed pipeline or component is a
new run; an unchanged one is the same resource, so nothing happens), plus, when it has a
`schedule`, an Azure ML schedule whose job definition is the same compiled body.
"""
from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

from controller import schemas as S
from controller.checks import refs
from controller.manifests.model import Manifest
from controller.render import arm
from controller.render.context import ML, Context, resource_name, short_hash
from controller.render.graph import canonical
from controller.render.kinds import renders, scope, workspace_dep

CACHE_FORMAT = "1"


def cache_dir() -> Path:
    base = os.environ.get("AMLCTL_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "amlctl")
    return Path(base) / "pipelines"


def _resolved_spec(m: Manifest, spec: dict[str, Any], ctx: Context, deps: set[str], file: str) -> dict[str, Any]:
    """The spec with every reference replaced by the ARM id of what the graph holds."""
    out = copy.deepcopy(spec)
    for a in S.annotations(ctx.schemas, file, spec):
        if a.key == "ref" and isinstance(a.instance, str):
            value = a.instance
            if a.value == "Component" and refs.local_path(value) is not None:
                arm_id, node = _component_file(m, value, ctx, a.path)
            else:
                arm_id, node = ctx.resolve_ref(m, a.value, value, a.path)
            if node:
                deps.add(node)
            if arm_id != value:
                _set(out, a.path, "azureml:" + arm_id)
        elif a.key == "path" and isinstance(a.instance, str) and a.path[-1] == "component" \
                and refs.local_path(a.instance) is not None:
            arm_id, node = _component_file(m, a.instance, ctx, a.path)
            deps.add(node)
            _set(out, a.path, "azureml:" + arm_id)
    return out


def _component_file(m: Manifest, value: str, ctx: Context, path: tuple) -> tuple[str, str]:
    """A step's `component: ./file.yaml` must be a Component manifest of the estate: amlctl then
    refers to the version the graph registers, so a changed component means a changed pipeline."""
    local = str(ctx.local(m, value))
    for c in ctx.manifests:
        if c.kind == "Component" and c.path == local and c.workspace == m.workspace:
            version = ctx.version_of(c)
            return ctx.child_id(c.workspace or "", "Component", c.name, version), resource_name(c, version)
    raise ctx.error(m, path, "R004", f"{S.dotted(path)}: {local} is not a Component manifest of this estate "
                    "(inline and anonymous components are not rendered): put it under the manifests "
                    "folder so amlctl registers it, or refer to a registered one as azureml:<name>:<version>")


def _set(doc: Any, path: tuple, value: Any) -> None:
    for p in path[:-1]:
        doc = doc[p]
    doc[path[-1]] = value


def compile_pipeline(spec: dict[str, Any], origin: Path, shown: str) -> dict[str, Any]:
    """The REST body (`properties`) azure-ai-ml builds for a pipeline job spec; cached by content.
    `origin` is the manifest file (azure-ai-ml's relative_origin); the cache key uses its
    repository-relative path `shown`, so both sides of a plan (one read from a scratch copy of a
    git revision) share entries."""
    import importlib.metadata
    version = importlib.metadata.version("azure-ai-ml")
    key = hashlib.sha256(canonical([CACHE_FORMAT, version, shown, spec]).encode()).hexdigest()
    cached = cache_dir() / f"{key}.json"
    if cached.exists():
        try:
            return json.loads(cached.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass  # a torn cache file: compile again
    import logging
    import yaml
    # azure-ai-ml logs "experimental class" notices at import: noise for the user, so silence
    # warnings for the duration, and restore whatever logging the caller had.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from azure.ai.ml import load_job
            job = load_job(io.StringIO(yaml.safe_dump(spec, sort_keys=True)), relative_origin=str(origin))
            body = job._to_rest_object().as_dict()["properties"]
    finally:
        logging.disable(previous)
    body = json.loads(json.dumps(body, default=str))
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(canonical(body), encoding="utf-8")
        tmp.replace(cached)  # atomic: a concurrent render never reads half a file
    except OSError:
        pass  # a read-only cache only costs time
    return body


def _compiled(m: Manifest, spec: dict[str, Any], ctx: Context, deps: set[str], file: str,
              at: tuple = ()) -> dict[str, Any]:
    resolved = _resolved_spec(m, spec, ctx, deps, file)
    origin = ctx.root / PurePosixPath(m.path)  # azure-ai-ml resolves relative paths against its parent
    try:
        return compile_pipeline(resolved, origin, m.path)
    except Exception as e:  # azure-ai-ml's own validation: report it against the manifest
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ctx.error(m, at, "R010", f"azure-ai-ml cannot compile this pipeline: {first}")


def _job(m: Manifest, ctx: Context, body: dict[str, Any], deps: set[str]) -> str:
    name = f"{m.name}-{short_hash(canonical(body), n=10)}"
    node = f"{resource_name(m)}/run"
    ctx.add(m, node, ML + "Job", {**scope(m, ctx), "id": name, "properties": body},
            depends_on=deps | {workspace_dep(m, ctx)}, label=f"run {name} of pipeline {m.name}",
            # A run is history: changing or removing the pipeline must not delete past runs.
            retain_on_delete=True)
    return node


def _schedule(m: Manifest, ctx: Context, name: str, trigger: dict[str, Any], enabled: bool, body: dict[str, Any],
              deps: set[str], display_name: str | None, description: str | None, tags: dict | None,
              node: str, at: tuple) -> None:
    props: dict[str, Any] = {"trigger": arm.CONVERTERS["trigger"](trigger, None), "isEnabled": enabled,
                             "action": {"actionType": "CreateJob", "jobDefinition": body}}
    if display_name:
        props["displayName"] = display_name
    if description:
        props["description"] = description
    if tags:
        props["tags"] = {str(k): str(v) for k, v in sorted(tags.items())}
    ctx.add(m, node, ML + "Schedule", {**scope(m, ctx), "name": name, "properties": props},
            depends_on=deps | {workspace_dep(m, ctx)}, spec_path=at, label=f"schedule {name}")


@renders("Pipeline")
def pipeline(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    file = ctx.schemas.kinds["Pipeline"].file
    spec = {k: v for k, v in m.spec.items() if k not in ("schedule", "name")}
    body = _compiled(m, spec, ctx, deps, file)
    _job(m, ctx, body, deps)
    sched = m.spec.get("schedule")
    if sched:
        _schedule(m, ctx, m.name, sched["trigger"], sched.get("state", "enabled") == "enabled", body, deps,
                  m.spec.get("display_name"), m.spec.get("description"), None, f"{resource_name(m)}/schedule",
                  ("schedule",))


@renders("Schedule")
def schedule(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    create = m.spec["create_job"]
    overrides: dict[str, Any] = {}
    if isinstance(create, dict):
        overrides = {k: v for k, v in create.items() if k not in ("type", "job")}
        create = create["job"]
    if create.startswith("azureml:"):
        target = ctx.find("Pipeline", create[len("azureml:"):], m.workspace)
        if target is None:
            raise ctx.error(m, ("create_job",), "R004", f"create_job: {create} is not a Pipeline manifest of this "
                            "estate; amlctl schedules only pipelines it renders")
    else:
        local = str(ctx.local(m, create))
        target = next((p for p in ctx.manifests if p.kind == "Pipeline" and p.path == local), None)
        if target is None:
            raise ctx.error(m, ("create_job",), "R004", f"create_job: {local} is not a Pipeline manifest of this "
                            "estate (is it under the manifests folder?)")
    spec = {k: v for k, v in target.spec.items() if k not in ("schedule", "name")}
    spec.update(overrides)
    body = _compiled(target, spec, ctx, deps, ctx.schemas.kinds["Pipeline"].file, ())
    _schedule(m, ctx, m.name, m.spec["trigger"], True, body, deps, m.spec.get("display_name"),
              m.spec.get("description"), m.spec.get("tags"), resource_name(m), ())
