"""Pipelines and schedules: azure-ai-ml compiles the pipeline YAML, amlctl places the result.

azure-ai-ml knows pipeline jobs best (component resolution, input and output bindings), so the
pipeline's whole body goes through `load_job(...)._to_rest_object()`, after amlctl has replaced
every reference (components, compute, data) with the ARM id of the resource the graph holds.
The result is cached by content: azure-ai-ml costs about a second to import, and an unchanged
pipeline should cost nothing on the next render.

A pipeline renders as one job run named after its content (a changed pipeline or component is a
new run; an unchanged one is the same resource, so nothing happens), plus, when it has a
`schedule`, an Azure ML schedule whose job definition is the same compiled body. A step that runs a
prompt flow (`component: ./flow.dag.yaml` or a Run file) is an anonymous component too, whose code
is the flow's folder (controller.render.kinds.flows).
"""
from __future__ import annotations

import copy
import io
from pathlib import Path, PurePosixPath
from typing import Any

from controller import schemas as S
from controller.checks import refs
from controller.diagnostics import Diagnostic, Severity
from controller.manifests.model import Manifest
from controller.render import arm
from controller.render.context import APPEND_ONLY, ASSETS_DATASTORE, ML, Context, resource_name, short_hash
from controller.render.graph import canonical
from controller.render.kinds import (anonymous, code_version, compiled, flows, refusal, renders, scope, upload,
                                     workspace_dep)


def _resolved_spec(m: Manifest, spec: dict[str, Any], ctx: Context, deps: set[str], file: str,
                   at: tuple = ()) -> dict[str, Any]:
    """The spec with every reference replaced by the ARM id of what the graph holds, every local
    code folder by its code version, every inline environment by its anonymous version, and every
    local input file or folder by the URI of its upload (as MLClient resolves a job before it
    submits it). `at` is where the spec sits in the manifest (a Schedule's job overrides). A step's
    prompt flow stays the file it names: azure-ai-ml loads it (flows.register registers its code)."""
    out = copy.deepcopy(spec)
    for path, value in _inline_environments(spec):
        arm_id = anonymous.environment(m, ctx, at + path, value, deps)
        _set(out, path, "azureml:" + arm_id)
    flow_steps = flows.flow_steps(m, ctx, spec)
    for a in S.annotations(ctx.schemas, file, spec):
        if a.path in flow_steps:
            continue
        if a.key == "path" and isinstance(a.instance, str) and refs.local_path(a.instance) is not None \
                and a.path[-1] in ("code", "path") and not _under_inline_environment(a.path, spec):
            if a.path[-1] == "code":
                _set(out, a.path, "azureml:" + code_version(m, a.instance, ctx, deps, at + a.path))
            else:  # a local input: uploaded content-addressed, like code; the input reads the upload
                _set(out, a.path, uploaded_input(m, ctx, a.instance, deps, at + a.path)[0])
            continue
        if a.key == "ref" and isinstance(a.instance, str):
            value = a.instance
            if a.value == "Component" and refs.local_path(value) is not None:
                arm_id, node = _component_file(m, value, ctx, a.path)
                spark_step_fields(m, value, ctx, a.path, out)
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


def uploaded_input(m: Manifest, ctx: Context, value: str, deps: set[str], path: tuple) -> tuple[str, bool]:
    """(the URI a job reads a local input file or folder from, whether it is a folder): uploaded
    content-addressed to amlctl's datastore, as MLClient uploads a local input before it submits;
    a folder's URI ends in '/', as azure-ai-ml writes it."""
    local = ctx.local(m, value)
    digest = upload(m, local, ctx, deps, path)
    deps.add(f"{m.workspace}/datastore/{ASSETS_DATASTORE}")
    folder = (ctx.root / local).is_dir()
    return f"azureml://datastores/{ASSETS_DATASTORE}/paths/{digest[:32]}/{local.name}" + ("/" if folder else ""), folder


def _inline_environments(spec: dict[str, Any]) -> list[tuple[tuple, dict[str, Any]]]:
    """(path, body) of every inline environment of a job spec, of its steps, and of their inline
    components and sweep trials."""
    nodes: list[tuple[tuple, Any]] = [((), spec)]
    jobs = spec.get("jobs")
    for name, step in sorted(jobs.items()) if isinstance(jobs, dict) else ():
        if isinstance(step, dict):
            nodes += [(("jobs", name) + sub, node) for sub, node in
                      (((), step), (("component",), step.get("component")), (("trial",), step.get("trial")))]
    return [(where + ("environment",), node["environment"]) for where, node in nodes
            if isinstance(node, dict) and isinstance(node.get("environment"), dict)]


def _under_inline_environment(path: tuple, spec: Any) -> bool:
    """Whether a spec path lies inside an inline environment (whose own files it renders itself)."""
    node = spec
    for part in path[:-1]:
        if part == "environment" and isinstance(node, dict) and isinstance(node.get(part), dict):
            return True
        node = node.get(part) if isinstance(node, dict) else None
    return False


def _component_file(m: Manifest, value: str, ctx: Context, path: tuple) -> tuple[str, str]:
    """A step's `component: ./file.yaml` must be a Component manifest of the estate: amlctl then
    refers to the version the graph registers, so a changed component means a changed pipeline.
    (A pipeline job's prompt flow steps never come here: _resolved_spec leaves them to azure-ai-ml;
    a pipeline component's are refused, R004.)"""
    flows.nested(m, ctx, value, path)
    return manifest_file(m, value, ctx, path, "Component", "")


# What a Spark or parallel step takes from its component when azure-ai-ml loads the component's file
# (azure.ai.ml.entities._builders.spark.Spark.__init__, .parallel.Parallel.__init__): az ml sends them on
# the node, beside the registered component's id, so amlctl's step carries them too.
SPARK_NODE_FIELDS = ("entry", "py_files", "jars", "files", "archives", "args")
# The conf keys azure-ai-ml promotes to fields (parameterized_spark.CONF_KEY_MAP): a step's own conf
# wins, and each of these the step's conf lacks comes from the component's.
SPARK_PROMOTED_CONF = ("spark.driver.cores", "spark.driver.memory", "spark.executor.cores", "spark.executor.memory",
                       "spark.executor.instances", "spark.dynamicAllocation.enabled",
                       "spark.dynamicAllocation.minExecutors", "spark.dynamicAllocation.maxExecutors")
# A parallel step's own value wins; one it lacks (or leaves empty) comes from the component.
PARALLEL_NODE_FIELDS = ("resources", "retry_settings", "input_data", "max_concurrency_per_instance",
                        "mini_batch_error_threshold", "mini_batch_size", "partition_keys")


def spark_step_fields(m: Manifest, value: str, ctx: Context, path: tuple, out: dict[str, Any]) -> None:
    """A `type: spark` or `type: parallel` step whose component is a local component manifest of that
    type: the step gets what azure-ai-ml's node takes from the component's file (a parallel task
    with its code and environment resolved as the component's are)."""
    if len(path) != 3 or path[0] != "jobs" or path[2] != "component":
        return
    step = out["jobs"][path[1]]
    local = str(ctx.local(m, value))
    component = next((c for c in ctx.manifests if c.kind == "Component" and c.path == local
                      and c.workspace == m.workspace), None)
    if not isinstance(step, dict) or component is None or step.get("type") != component.spec.get("type"):
        return
    own = component.spec
    if own.get("type") == "spark":
        for key in SPARK_NODE_FIELDS:
            if own.get(key) is not None:
                step[key] = copy.deepcopy(own[key])
        if isinstance(own.get("conf"), dict):
            conf = step.get("conf")
            step["conf"] = copy.deepcopy(own["conf"]) if not conf else \
                {**{k: own["conf"][k] for k in SPARK_PROMOTED_CONF if k in own["conf"]}, **conf}
    elif own.get("type") == "parallel":
        for key in PARALLEL_NODE_FIELDS:
            if not step.get(key) and own.get(key) is not None:
                step[key] = copy.deepcopy(own[key])
        if not step.get("task"):
            mapped = arm.to_arm(ctx.schemas, ctx.schemas.kinds["Component"].file, own, ctx.resolver(component, set()))
            step["task"] = copy.deepcopy(mapped.body["properties"]["componentSpec"]["task"])


def manifest_file(m: Manifest, value: str, ctx: Context, path: tuple, kind: str, also: str) -> tuple[str, str]:
    """(ARM id, graph name) of the version that the `kind` manifest in the local file `value`
    registers; R004 when no manifest of the estate is that file (`also`: what else one may write)."""
    local = str(ctx.local(m, value))
    for c in ctx.manifests:
        if c.kind == kind and c.path == local and c.workspace == m.workspace:
            version = ctx.version_of(c)
            return ctx.child_id(c.workspace or "", kind, c.name, version), resource_name(c, version)
    raise ctx.error(m, path, "R004", f"{S.dotted(path)}: {local} is not a {kind} manifest of this estate: put it "
                    f"in a manifest folder so amlctl registers it, {also}or refer to a registered one as "
                    "azureml:<name>:<version>")


def _set(doc: Any, path: tuple, value: Any) -> None:
    for p in path[:-1]:
        doc = doc[p]
    doc[path[-1]] = value


def compile_pipeline(spec: dict[str, Any], origin: Path, shown: str, components: str = "",
                     flow_code: dict[str, dict] | None = None) -> dict[str, Any]:
    """The REST body (`properties`) azure-ai-ml builds for a job spec; cached by content.
    `origin` is the manifest file (azure-ai-ml's relative_origin); the cache key uses its
    repository-relative path `shown`, so both sides of a plan (one read from a scratch copy of a
    git revision) share entries.

    Inline steps (a `command`, `code` and `environment` under `jobs.<step>`, or an inline
    `component:`) are anonymous components, as MLClient registers them before it submits: named
    `azureml_anonymous`, versioned by azure-ai-ml's own `_get_anonymous_hash()`, and the step's
    componentId is their ARM id under `components` (the workspace's components collection). Their
    component versions' bodies come back under `$anonymous` (hash -> ComponentVersion properties).
    So are prompt flow steps, with the code `flow_code` gives by step (flows.register): azure-ai-ml
    reads the flow's files, whose content the cache key holds through the code's content name and
    the hash of the file the step names."""
    def compile_() -> dict[str, Any]:
        import yaml
        with compiled.quiet():
            from azure.ai.ml import load_job
            job = load_job(io.StringIO(yaml.safe_dump(spec, sort_keys=True)), relative_origin=str(origin))
            anonymous_components = _anonymous_components(job, components, flow_code or {})
            body = job._to_rest_object().as_dict()["properties"]
        if anonymous_components:
            body[ANONYMOUS_KEY] = anonymous_components
        return body
    # Without flow steps the key is what it always was, so existing cache entries still serve.
    return compiled.cached(["pipeline", shown, components, spec] + ([flow_code] if flow_code else []), compile_)


ANONYMOUS_KEY = "$anonymous"


def _anonymous_components(job: Any, components: str, flow_code: dict[str, dict]) -> dict[str, Any]:
    """Replace each inline step's component by the ARM id of its anonymous version (what
    azure-ai-ml's _resolve_dependencies_for_pipeline_job does through MLClient); the versions."""
    from azure.ai.ml.entities import Component
    out: dict[str, Any] = {}
    for name, node in sorted((getattr(job, "jobs", None) or {}).items()):
        component = getattr(node, "_component", None)
        if isinstance(component, flows.flow_class()):  # MLClient registers a flow anonymously too
            digest, rest = flows.component_version(component, flow_code[name])
            out[digest] = rest
            node._component = f"{components}/{anonymous.ANONYMOUS_COMPONENT}/versions/{digest}"
            continue
        if not isinstance(component, Component) or not component._is_anonymous:
            continue
        digest = component._get_anonymous_hash()
        rest = component._to_rest_object().as_dict()["properties"]
        rest["componentSpec"]["name"] = anonymous.ANONYMOUS_COMPONENT
        rest["componentSpec"]["version"] = digest
        rest["isAnonymous"] = True
        out[digest] = rest
        node._component = f"{components}/{anonymous.ANONYMOUS_COMPONENT}/versions/{digest}"
    return out


def _compiled(m: Manifest, spec: dict[str, Any], ctx: Context, deps: set[str], file: str,
              at: tuple = ()) -> dict[str, Any]:
    resolved = _resolved_spec(m, spec, ctx, deps, file, at)
    flow_code = flows.register(m, spec, ctx, deps, at)
    origin = ctx.root / PurePosixPath(m.path)  # azure-ai-ml resolves relative paths against its parent
    components = ctx.workspace_id(m.workspace or "") + "/components"
    try:
        body = copy.deepcopy(compile_pipeline(resolved, origin, m.path, components, flow_code))
    except Exception as e:  # azure-ai-ml's own validation: report it against the manifest
        raise ctx.error(m, at, "R010", f"azure-ai-ml cannot compile this {m.kind.lower()}: {refusal.reason(e)}")
    for digest, props in sorted(body.pop(ANONYMOUS_KEY, {}).items()):
        deps.add(_anonymous_component(m, ctx, digest, props, deps))
    return body


def _anonymous_component(m: Manifest, ctx: Context, digest: str, props: dict[str, Any], deps: set[str]) -> str:
    """An inline step's anonymous component version (append-only; shared by every step and pipeline
    with the same definition), after the code and environment it names."""
    ws = workspace_dep(m, ctx)
    name = anonymous.ANONYMOUS_COMPONENT
    container = f"{m.workspace}/component/{name}"
    ctx.add(None, container, ML + "ComponentContainer", {**scope(m, ctx), "name": name,
                                                         "properties": {"isArchived": False}},
            depends_on=[ws], label="anonymous components", subject="implicit/anonymous", **APPEND_ONLY)
    node = f"{container}@{digest}"
    needs = {d for d in deps if "/code/" in d or "/environment/" in d or "/upload/" in d}
    ctx.add(m, node, ML + "ComponentVersion", {**scope(m, ctx), "name": name, "version": digest,
                                               "properties": props},
            depends_on=needs | {container, ws}, label=f"anonymous component {digest} of {m.subject}",
            spec_path=("jobs",) if "jobs" in m.spec else (), **APPEND_ONLY)
    return node


def run(m: Manifest, ctx: Context, body: dict[str, Any], deps: set[str], what: str = "pipeline") -> str:
    """The run of a pipeline or job, named after its compiled body. Each run is its own resource:
    a changed pipeline is a new run beside the past ones (which leave the graph kept, never
    deleted), not a replacement of one resource."""
    _unbound_inputs(m, ctx, body)
    name = f"{m.name}-{short_hash(canonical(body), n=10)}"
    node = f"{resource_name(m)}/runs/{name}"
    ctx.add(m, node, ML + "Job", {**scope(m, ctx), "id": name, "properties": body},
            depends_on=deps | {workspace_dep(m, ctx)}, label=f"run {name} of {what} {m.name}",
            # A run is history: changing or removing the pipeline or job must not delete past runs.
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
    run(m, ctx, body, deps)
    sched = m.spec.get("schedule")
    if sched:
        _schedule(m, ctx, m.name, sched["trigger"], sched.get("state", "enabled") == "enabled", body, deps,
                  m.spec.get("display_name"), m.spec.get("description"), None, f"{resource_name(m)}/schedule",
                  ("schedule",))


# A job input of these types names its data by `uri`, which Azure requires (MLTableJobInput and the
# others type it so); a literal carries `value`.
_DATA_INPUTS = {"mltable", "uri_file", "uri_folder", "custom_model", "mlflow_model", "triton_model"}


def _unbound_inputs(m: Manifest, ctx: Context, body: dict[str, Any]) -> None:
    """Leave out the run's inputs that name no data: a pipeline input declared with a type only
    (`training_data: {type: mltable}`) is one `az ml job create --set inputs.training_data.path=...`
    fills at submit time. Sent as it is, it is `{jobInputType: mltable}` without the `uri` Azure
    requires; a manifest has no command line, so say so (R001, a warning) where the input is."""
    inputs = body.get("inputs")
    if not isinstance(inputs, dict):
        return
    for key in sorted(inputs):
        item = inputs[key]
        if isinstance(item, dict) and item.get("jobInputType") in _DATA_INPUTS and "uri" not in item:
            del inputs[key]
            src = m.where(("inputs", key))
            ctx.diagnostics.append(Diagnostic(
                src.path, src.line, src.col, "R001", Severity.WARNING,
                f"input {key} ({item['jobInputType']}) has no path, so it is not rendered: az ml takes it from "
                f"--set inputs.{key}.path=... when the job is submitted; give it a path in the manifest",
                m.subject, ctx.stack.name))


@renders("Schedule")
def schedule(m: Manifest, ctx: Context) -> None:
    # A Schedule runs one of three things (schedule.schema.json); monitors and imports have their own modules.
    if "create_monitor" in m.spec:
        from controller.render.kinds import monitoring
        return monitoring.schedule(m, ctx)
    if "import_data" in m.spec:
        from controller.render.kinds import dataimport
        return dataimport.schedule(m, ctx)
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
