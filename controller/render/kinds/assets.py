"""Assets: datastores, and the versioned assets (data, environments, models, components).

A Datastore is one machinelearningservices.Datastore. Credential-less (identity-based)
datastores render `credentials: {credentialsType: None}`; a key, SAS token, client secret or
certificate is a secret reference in the manifest and a {"$secret": ...} marker in the graph, at
the place ARM wants it (credentials.secrets.key, ...): never a value.

Data, Environment, Model and Component each render a container (the asset's name) and a version
(`name@version`) that depends on it, on the workspace and on what it references. The version is
the manifest's, else one derived from the rendered content (kinds.derived_version), so the same
content is the same version and any change is a new one. Versions are immutable in Azure ML: a
changed body under an unchanged explicit version is the user's to bump.

Local files: a Data or Model `path` is uploaded (kinds.upload: one Blob per file, under a prefix
named by the content hash) and referenced as azureml://datastores/amlctl_assets/paths/...; an
Environment's `build.path` likewise, referenced by its https URL as azure-ai-ml does (a build
context must be a blob URL); an Environment's `conda_file` is sent as text, re-dumped as
azure-ai-ml re-dumps it (yaml.safe_load, then yaml.dump with sorted keys); a Component's local
`code` becomes a code asset (kinds.code_version).

A Component version's body is azure-ai-ml's: the whole component spec under
properties.componentSpec, with the az ml YAML field names, input parameters normalised as
azure-ai-ml normalises them, and code and environment as `azureml:<ARM id>` (what azure-ai-ml
sends once MLClient has resolved them). A pipeline component's `jobs` go through azure-ai-ml,
as a pipeline job's do (controller.render.kinds.pipelines); its derived version follows the jobs as
written (references included), not the content of local component files they point at.
"""
from __future__ import annotations

import copy
import io
import math
from pathlib import PurePosixPath
from typing import Any

import yaml

from controller import schemas as S
from controller.checks import refs
from controller.diagnostics import Diagnostic, Severity
from controller.manifests.model import Manifest
from controller.render import arm
from controller.render.context import APPEND_ONLY, ASSETS_CONTAINER, ASSETS_DATASTORE, ML, Context, resource_name
from controller.render.kinds import renders, scope, storage_of, workspace_dep

# Where the schemas put fields that no input of the provider takes: the renderer warns about each.
UNRENDERED = "$unrendered"
SYSTEM_DATASTORE = "amlctl:azureml:SystemDatastore"
WHY_UNRENDERED = {
    "datastore": f"amlctl uploads local files to its own container, the {ASSETS_DATASTORE} datastore",
    "environment_variables": "Azure ML components take no environment variables (azure-ai-ml drops them too); "
                             "set them on the pipeline step",
    "default_deployment_template": "pulumi-azure-native's ModelVersion has no input for deployment templates "
                                   "(registry models only)",
    "allowed_deployment_templates": "pulumi-azure-native's ModelVersion has no input for deployment templates "
                                    "(registry models only)",
}
ASSETS_URI = f"azureml://datastores/{ASSETS_DATASTORE}/paths/"
PARAMETER_TYPES = ("string", "number", "integer", "boolean")


# -- converters (value shapes; registered in arm.CONVERTERS) --------------------------------------
def _string_map(value: Any, c: arm.Convert) -> Any:
    """Asset tags and properties: ARM's string-to-string maps (azure-ai-ml writes str(value))."""
    if not isinstance(value, dict):
        return value
    return {str(k): (v if isinstance(v, str) else str(v)) for k, v in sorted(value.items()) if v is not None}


def _conda_yaml(value: Any, c: arm.Convert) -> Any:
    """A conda specification, file or inline, as the text azure-ai-ml sends: parsed, then dumped
    again with sorted keys (`dump_yaml(conda, sort_keys=True)` in azure-ai-ml's Environment)."""
    if isinstance(value, str):
        try:
            text = c.resolve("file-text", c.path, value)
        except OSError:
            return arm.MISSING  # the renderer reports it (or, rendering without files, leaves it out)
        value = yaml.safe_load(text)
    return yaml.dump(value, Dumper=yaml.Dumper, sort_keys=True)


def _model_flavors(value: Any, c: arm.Convert) -> Any:
    """Model flavors: ARM wraps each flavor's settings in {data: {...}}."""
    if not isinstance(value, dict):
        return value
    return {str(k): {"data": dict(v or {})} for k, v in sorted(value.items())}


def _azureml(arm_id: Any) -> Any:
    return f"azureml:{arm_id}" if isinstance(arm_id, str) and arm_id.startswith("/subscriptions/") else arm_id


def _azureml_arm_id(value: Any, c: arm.Convert) -> Any:
    """A reference inside a component spec: `azureml:<ARM id>`, as azure-ai-ml sends it."""
    return _azureml(c.resolve("arm-id", c.path, value))


def _azureml_code_id(value: Any, c: arm.Convert) -> Any:
    return _azureml(c.resolve("code-id", c.path, value))


def _parse_parameter(kind: str, value: Any) -> Any:
    """azure-ai-ml's Input parsing of a parameter's default/min/max (IOConstants.PARAM_PARSERS)."""
    if kind == "integer":
        return value if isinstance(value, int) else int(float(value))
    if kind == "number":
        return value if isinstance(value, float) else float(value)
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if kind == "string":
        return value if isinstance(value, str) else str(value)
    return value


def _component_inputs(value: Any, c: arm.Convert) -> Any:
    """Component inputs as azure-ai-ml dumps them into componentSpec: a parameter's default, min
    and max parsed by type, then written as strings (str(value), so 1024 of a number input is
    '1024.0' and true is 'True'); a parameter has no mode; a data port has no min, max or enum."""
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for name in sorted(value):
        port = value[name]
        if not isinstance(port, dict):
            out[name] = port
            continue
        kind = port.get("type")
        body: dict[str, Any] = {}
        if kind in PARAMETER_TYPES:
            for key in ("type", "description", "optional", "default", "min", "max", "enum"):
                if port.get(key) is None:
                    continue
                v = port[key]
                if key in ("default", "min", "max"):
                    v = _parse_parameter(kind, v)
                    if isinstance(v, float) and not math.isfinite(v):
                        continue  # azure-ai-ml drops nan and inf defaults
                    v = str(v)
                elif key == "enum":
                    v = [str(x) for x in v]
                elif key == "optional":
                    v = _parse_parameter("boolean", v)
                body[key] = v
        else:
            for key in ("type", "description", "optional", "default", "mode"):
                if port.get(key) is not None:
                    body[key] = str(port[key]) if key == "default" else port[key]
        out[name] = body
    return out


arm.CONVERTERS.update({
    "string-map": _string_map,
    "conda-yaml": _conda_yaml,
    "model-flavors": _model_flavors,
    "azureml-arm-id": _azureml_arm_id,
    "azureml-code-id": _azureml_code_id,
    "component-inputs": _component_inputs,
})


# -- shared --------------------------------------------------------------------------------------
def _unrendered(m: Manifest, ctx: Context, body: dict[str, Any]) -> None:
    for field in sorted(body.pop(UNRENDERED, {})):
        src = m.where((field,), True)
        why = WHY_UNRENDERED.get(field, "the provider has no input for this field")
        ctx.diagnostics.append(Diagnostic(src.path, src.line, src.col, "R001", Severity.WARNING,
                                          f"{field}: {why}; this field is ignored", m.subject, ctx.stack.name))


def _missing_file(m: Manifest, ctx: Context, spec_path: tuple, value: str) -> None:
    """A local file the mapping could not read: an error, unless rendering without files."""
    if not ctx.allow_missing_files:
        raise ctx.error(m, spec_path, "R007", f"{S.dotted(spec_path)}: {ctx.local(m, value)} does not exist")


def _asset(m: Manifest, ctx: Context, kind: str, version: str, container: dict[str, Any],
           properties: dict[str, Any], deps: set[str], label: str, anonymous: bool = False) -> None:
    """A versioned asset: its container, then the version, which depends on it. Several versions
    share one container, which the highest version describes; an anonymous asset's container is
    Azure ML's own, the same for every manifest that needs it."""
    if m.registry is not None:  # published into a registry (metadata.registry)
        from controller.render.kinds import registry_assets
        return registry_assets.asset(m, ctx, kind, version, container, properties, deps, label)
    node = resource_name(m)
    ws = workspace_dep(m, ctx)
    if anonymous:
        ctx.add(None, node, ML + f"{kind}Container", {**scope(m, ctx), "name": m.name,
                                                       "properties": {"isArchived": False}},
                depends_on=[ws], label=f"anonymous {kind.lower()}s", subject="implicit/anonymous", **APPEND_ONLY)
        label = f"anonymous {label}"
    elif ctx.is_latest(m):
        ctx.add(m, node, ML + f"{kind}Container", {**scope(m, ctx), "name": m.name, "properties": container},
                depends_on=[ws], label=f"{label} {m.name}", **APPEND_ONLY)
    ctx.add(m, resource_name(m, version), ML + f"{kind}Version", {
        **scope(m, ctx), "name": m.name, "version": version, "properties": properties,
    }, depends_on=deps | {node, ws}, label=f"{label} {m.name} version {version}", **APPEND_ONLY)


def _datastore_deps(m: Manifest, ctx: Context, uri: Any) -> set[str]:
    """A version whose files are on a datastore (azureml://datastores/<name>/paths/...) needs that
    datastore first: amlctl's uploads datastore, or a Datastore manifest of the estate."""
    name = refs.datastore_of(uri) if isinstance(uri, str) and m.registry is None else None  # a registry has none
    if name is None:
        return set()
    if name == ASSETS_DATASTORE:
        return {f"{m.workspace}/datastore/{ASSETS_DATASTORE}"}
    target = ctx.find("Datastore", name, m.workspace)
    return {resource_name(target)} if target is not None else set()


def _container(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A container's properties: the asset's description and tags, never archived."""
    out: dict[str, Any] = {**extra, "isArchived": False}
    for key in ("description", "tags"):
        if properties.get(key):
            out[key] = copy.deepcopy(properties[key])
    return out


# -- Datastore -----------------------------------------------------------------------------------
@renders("Datastore")
def datastore(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    body = ctx.arm(m, deps).body
    _unrendered(m, ctx, body)
    inputs = {**scope(m, ctx), "name": m.name, "properties": body.get("properties", {})}
    if m.name in refs.builtin_datastores():
        # Azure ML made it with the workspace: a change to it is a PUT over what exists (see
        # controller/program/custom.py), never a create, and removing the manifest leaves it be.
        ctx.add(m, resource_name(m), SYSTEM_DATASTORE, {
            **inputs, "datastoreId": ctx.child_id(m.workspace or "", "Datastore", m.name)},
            depends_on=deps | {workspace_dep(m, ctx)}, label=f"system datastore {m.name} ({m.spec.get('type')}), "
            "updated in place")
        return
    ctx.add(m, resource_name(m), ML + "Datastore", inputs, depends_on=deps | {workspace_dep(m, ctx)}, stateful=True,
            label=f"datastore {m.name} ({m.spec.get('type')})")


# -- Data, Model -----------------------------------------------------------------------------------
@renders("Data")
def data(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    version = ctx.version_of(m)
    body = ctx.arm(m, deps).body
    _unrendered(m, ctx, body)
    props = body.get("properties", {})
    deps |= _datastore_deps(m, ctx, props.get("dataUri"))
    _asset(m, ctx, "Data", version, _container(props, dataType=props.get("dataType")), props, deps,
           f"{props.get('dataType')} data")


def _registry_checks(m: Manifest, ctx: Context) -> None:
    """A registry's asset: what it cannot be rendered with, before anything is mapped (uploads)."""
    if m.registry is not None:
        from controller.render.kinds import registry_assets
        registry_assets.refuse_unpublishable(m, ctx)


@renders("Model")
def model(m: Manifest, ctx: Context) -> None:
    _registry_checks(m, ctx)
    model_version(m, ctx, set(), anonymous=False)


def model_version(m: Manifest, ctx: Context, deps: set[str], anonymous: bool) -> str:
    """A model version (a manifest's, or an inline one's), with its container; its ARM id. Adds the
    version's graph name to `deps`."""
    own: set[str] = set()
    version = ctx.version_of(m)
    body = ctx.arm(m, own).body
    _unrendered(m, ctx, body)
    props = body.get("properties", {})
    own |= _datastore_deps(m, ctx, props.get("modelUri"))
    if anonymous:
        props["isAnonymous"] = True
    _asset(m, ctx, "Model", version, _container(props), props, own, f"{props.get('modelType')} model",
           anonymous=anonymous)
    deps.add(resource_name(m, version))
    return ctx.child_id(m.workspace or "", "Model", m.name, version)


# -- Environment ---------------------------------------------------------------------------------
@renders("Environment")
def environment(m: Manifest, ctx: Context) -> None:
    _registry_checks(m, ctx)
    environment_version(m, ctx, set(), anonymous=False)


def environment_properties(m: Manifest, ctx: Context, deps: set[str]) -> dict[str, Any]:
    """An environment version's ARM properties."""
    body = ctx.arm(m, deps).body
    _unrendered(m, ctx, body)
    props = body.get("properties", {})
    conda = m.spec.get("conda_file")
    if isinstance(conda, str) and "condaFile" not in props:
        _missing_file(m, ctx, ("conda_file",), conda)
    build = props.get("build")
    if isinstance(build, dict) and isinstance(build.get("contextUri"), str) \
            and build["contextUri"].startswith(ASSETS_URI):
        # A build context is read from blob storage: its https URL (with the trailing '/' the
        # service wants, as azure-ai-ml writes it), not the datastore URI.
        account, _, _ = storage_of(m, ctx, ("build", "path"))
        blob = build["contextUri"][len(ASSETS_URI):]
        build["contextUri"] = f"https://{account}.blob.core.windows.net/{ASSETS_CONTAINER}/{blob}/"
    return props


def environment_version(m: Manifest, ctx: Context, deps: set[str], anonymous: bool,
                        props: dict[str, Any] | None = None, own: set[str] | None = None) -> str:
    """An environment version (a manifest's, or an inline one's), with its container; its ARM id.
    Adds the version's graph name to `deps`. `props` (and the graph names they need, `own`) when
    the caller has mapped them already (an anonymous version is named after them)."""
    own = set() if own is None else own
    version = ctx.version_of(m)
    if props is None:
        props = environment_properties(m, ctx, own)
    if anonymous:
        props["isAnonymous"] = True
    _asset(m, ctx, "Environment", version, _container(props), props, own, "environment", anonymous=anonymous)
    deps.add(resource_name(m, version))
    return ctx.child_id(m.workspace or "", "Environment", m.name, version)


# -- Component -----------------------------------------------------------------------------------
@renders("Component")
def component(m: Manifest, ctx: Context) -> None:
    if m.spec.get("additional_includes"):
        raise ctx.error(m, ("additional_includes",), "R001", "additional_includes: amlctl does not merge "
                        "additional files into the component's code snapshot yet; copy them into the code "
                        "folder (or a folder the code folder contains)")
    _registry_checks(m, ctx)
    deps: set[str] = set()
    version = ctx.version_of(m)
    body = ctx.arm(m, deps).body
    _unrendered(m, ctx, body)
    props = body.setdefault("properties", {})
    spec = props.setdefault("componentSpec", {})
    spec["name"] = m.name
    spec["version"] = version
    if m.spec.get("type") == "pipeline":
        spec["jobs"] = _pipeline_jobs(m, ctx, deps)
    elif m.spec.get("type") in COMPILED_TYPES:
        spec = props["componentSpec"] = _compiled_spec(m, ctx, spec, version)
    # The asset's own description, tags and properties are its spec's (azure-ai-ml sends both).
    for key in ("description", "tags", "properties"):
        if key in spec:
            props[key] = copy.deepcopy(spec[key])
    _asset(m, ctx, "Component", version, _container(props), props, deps, f"{m.spec.get('type', 'command')} component")


# Component types whose componentSpec azure-ai-ml builds from the YAML (spark: conf keys promoted and
# digit strings made numbers; parallel: mini_batch_size in bytes, partition_keys as JSON text, defaults
# filled in): amlctl resolves the references, azure-ai-ml writes the rest, as MLClient sends it.
COMPILED_TYPES = ("spark", "parallel")
# Where each type names its code and environment (the mapped, resolved values replace the YAML's).
_REFERENCES = {"spark": (("code",), ("environment",)), "parallel": (("task", "code"), ("task", "environment"))}


def _compiled_spec(m: Manifest, ctx: Context, mapped: dict[str, Any], version: str) -> dict[str, Any]:
    """The componentSpec of a Spark or parallel component: azure-ai-ml's, from the manifest's YAML with
    code and environment as `azureml:<ARM id>` (what the schema mapping resolved: a local code folder is
    a code version, an inline environment an anonymous version)."""
    kind = m.spec["type"]
    conf = m.spec.get("conf")
    for key, value in sorted((conf or {}).items()) if isinstance(conf, dict) else ():
        if isinstance(value, dict):
            raise ctx.error(m, ("conf", key), "R005", f"conf.{key}: a component is stored in Azure as written, so a "
                            "credential in its conf would be readable by everyone who can read the component; "
                            "set it on the conf of the job or pipeline step that runs it")
    source = copy.deepcopy(dict(m.spec))
    source["version"] = version
    for path in _REFERENCES[kind]:
        value = mapped
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            continue
        target = source
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    if isinstance(source.get("mini_batch_size"), int):
        source["mini_batch_size"] = str(source["mini_batch_size"])  # azure-ai-ml takes it as text
    try:
        spec = compile_component(source, str(ctx.root / PurePosixPath(m.path)))
    except Exception as e:  # azure-ai-ml's own validation: report it against the manifest
        from controller.render.kinds import refusal
        raise ctx.error(m, (), "R010", f"azure-ai-ml cannot compile this {kind} component: {refusal.reason(e)}")
    spec["name"] = m.name
    spec["version"] = version
    if "$schema" in mapped:
        spec["$schema"] = mapped["$schema"]
    return spec


def _pipeline_jobs(m: Manifest, ctx: Context, deps: set[str]) -> dict[str, Any]:
    """A pipeline component's steps, compiled by azure-ai-ml after amlctl has replaced every
    reference with `azureml:<ARM id>` of what the graph holds (as a pipeline job's steps are)."""
    from controller.render.kinds import pipelines, refusal
    resolved = copy.deepcopy(dict(m.spec))
    for a in S.annotations(ctx.schemas, ctx.schemas.kinds["Component"].file, m.spec):
        if a.key != "ref" or not isinstance(a.instance, str):
            continue
        if a.value == "Component" and refs.local_path(a.instance) is not None:
            arm_id, node = pipelines._component_file(m, a.instance, ctx, a.path)  # a Component manifest
            pipelines.spark_step_fields(m, a.instance, ctx, a.path, resolved)
        else:
            arm_id, node = ctx.resolve_ref(m, a.value, a.instance, a.path)
        if node:
            deps.add(node)
        if arm_id != a.instance:
            target = resolved
            for p in a.path[:-1]:
                target = target[p]
            target[a.path[-1]] = "azureml:" + arm_id
    try:  # azure-ai-ml resolves local paths against the parent of `relative_origin`: the file's folder
        return compile_component(resolved, str(ctx.root / PurePosixPath(m.path))).get("jobs", {})
    except Exception as e:  # azure-ai-ml's own validation: report it against the manifest
        raise ctx.error(m, ("jobs",), "R010", f"azure-ai-ml cannot compile this pipeline component: "
                        f"{refusal.reason(e)}")


def compile_component(spec: dict[str, Any], origin: str) -> dict[str, Any]:
    """The componentSpec azure-ai-ml builds for a component spec, read as if from the file `origin`;
    cached by content, next to the pipelines' compilations."""
    from controller.render.kinds import compiled

    def compile_() -> dict[str, Any]:
        with compiled.quiet():
            from azure.ai.ml import load_component
            entity = load_component(io.StringIO(yaml.safe_dump(spec, sort_keys=True)), relative_origin=origin)
            return entity._to_rest_object().as_dict()["properties"]["componentSpec"]
    return compiled.cached(["component", origin, spec], compile_)

