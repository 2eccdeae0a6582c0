"""Endpoints and their deployments, online and batch.

OnlineEndpoint and BatchEndpoint become their machinelearningservices resources, WITHOUT the
part that names deployments: an online endpoint's traffic split (and mirror traffic), a batch
endpoint's default deployment. That part is its own step, an `amlctl:azureml:EndpointTraffic`
resource that depends on the endpoint and on every deployment it names, so one apply creates
the endpoint, then the deployments, then moves traffic to them; the endpoint resource ignores
those properties so the two never fight over them.

OnlineDeployment and BatchDeployment are named in the graph under their endpoint
(`<endpoint resource>/deployments/<name>`): a deployment name is unique only within its endpoint.
They depend on the endpoint, on what they reference (model, environment, code version, compute)
and, for online deployments, on the role assignments their endpoint's identity needs.
An online deployment that serves a prompt flow (controller.checks.promptflow.flow_of) gets its
PRT_CONFIG_OVERRIDE from the stack and the manifests (`_prompt_flow`).

An online endpoint's identity gets no role assignments from amlctl: a system-assigned one (azure-ai-ml's
default) is given AcrPull on the workspace's registry and Storage Blob Data Reader on its storage by
Azure ML itself, and assigning them again fails with RoleAssignmentExists. Anything more (a user-
assigned identity, other storage) is a RoleAssignment manifest.
"""
from __future__ import annotations

import copy
import re
from dataclasses import replace
from typing import Any

from controller import schemas as S
from controller.checks import promptflow, refs
from controller.diagnostics import Diagnostic, Severity
from controller.manifests.model import Manifest
from controller.render import arm
from controller.render.context import APPEND_ONLY, ML, Context, resource_name
from controller.render.kinds import renders, workspace_dep
from controller.render.kinds import scope as workspace_scope

TRAFFIC = "amlctl:azureml:EndpointTraffic"
MDC_PATH = "azureml://datastores/workspaceblobstore/paths/modelDataCollector"  # az ml's default for collected data
ENDPOINT_OF = {"OnlineDeployment": "OnlineEndpoint", "BatchDeployment": "BatchEndpoint"}


# -- converters (value shapes only; registered for the schemas' x-amlctl-arm "convert") -----------
def _asset_reference(value: Any, c: arm.Convert) -> Any:
    """A reference in ARM's AssetReference shape (batch deployments' model, pipeline component)."""
    return {"referenceType": "Id", "assetId": c.resolve("arm-id", c.path, value)}


def _data_collector(value: Any, c: arm.Convert) -> Any:
    """az ml's data_collector in ARM's shape: the sampling rate goes into every collection, and
    `enabled` becomes the collection mode. Enums take the provider's spelling (Enabled, Hour), not
    the lower case azure-ai-ml sends (the service reads both; the SDK's schema has only these).
    Each collection's data asset id is the renderer's (it needs the estate)."""
    if not isinstance(value, dict):
        return value
    rate = value.get("sampling_rate")
    collections: dict[str, Any] = {}
    for name in sorted(value.get("collections") or {}):
        item = value["collections"][name] or {}
        out = {"dataCollectionMode": "Enabled" if str(item.get("enabled")).lower() == "true" else "Disabled"}
        if rate is not None:
            out["samplingRate"] = rate
        collections[name] = out
    body: dict[str, Any] = {"collections": collections}
    if "rolling_rate" in value:
        body["rollingRate"] = arm.CONVERTERS["pascal"](value["rolling_rate"], c)
    if isinstance(value.get("request_logging"), dict):
        body["requestLogging"] = {arm.camel(k): v for k, v in sorted(value["request_logging"].items())}
    return body


arm.CONVERTERS["asset-reference"] = _asset_reference
arm.CONVERTERS["data-collector"] = _data_collector


# -- names and ids ---------------------------------------------------------------------------------
def endpoint_of(m: Manifest, ctx: Context) -> tuple[str, Manifest | None, str]:
    """(graph name of the endpoint, its manifest if the estate defines it, its workspace) of a
    deployment. An endpoint defined elsewhere still names the deployment the same way."""
    name = m.spec.get("endpoint_name")
    if not isinstance(name, str) or not name:
        raise ctx.error(m, (), "R001", f"a {m.kind} without endpoint_name is not rendered: name the "
                        f"{ENDPOINT_OF[m.kind]} it belongs to (endpoint_name: <name>)")
    kind = ENDPOINT_OF[m.kind]
    ep = ctx.find(kind, name, m.workspace)
    if ep is not None:
        return resource_name(ep), ep, ep.workspace or m.workspace or ""
    return resource_name(replace(m, kind=kind, name=name)), None, m.workspace or ""


def deployment_node(m: Manifest, ctx: Context) -> str:
    return f"{endpoint_of(m, ctx)[0]}/deployments/{m.name}"


def _deployments_named(ep: Manifest, names: set[str], ctx: Context) -> list[str]:
    """Graph names of the estate's deployments of `ep` whose names are in `names`."""
    kind = next(k for k, v in ENDPOINT_OF.items() if v == ep.kind)
    out = []
    for d in ctx.manifests:
        if (d.kind == kind and d.name in names and d.spec.get("endpoint_name") == ep.name
                and ctx.find(ep.kind, ep.name, d.workspace) is ep):
            out.append(deployment_node(d, ctx))
    return sorted(out)


# -- endpoints -------------------------------------------------------------------------------------
def _body(m: Manifest, ctx: Context, deps: set[str]) -> dict[str, Any]:
    _no_inline(m, ctx)
    # A copy: the schemas' constants must never be shared with (or changed through) graph inputs.
    return copy.deepcopy(ctx.arm(m, deps).body)


def _no_inline(m: Manifest, ctx: Context) -> None:
    """References written as inline definitions are registered as anonymous versions (an
    environment or a model, see kinds.anonymous); any other inline body (a component) needs a
    manifest of its own."""
    from controller.render.kinds import INLINE
    for a in S.annotations(ctx.schemas, ctx.schemas.kinds[m.kind].file, m.spec):
        if (a.key == "arm" and isinstance(a.value, dict) and a.value.get("convert") in ("arm-id", "asset-reference")
                and isinstance(a.instance, dict) and a.path[-1:] not in [(k,) for k in INLINE]):
            field = S.dotted(a.path)
            raise ctx.error(m, a.path, "R004", f"{field}: an inline definition is not rendered; define it as its "
                            f"own manifest and refer to it by name (azureml:<name>:<version>)")


def _location(m: Manifest, body: dict[str, Any], ctx: Context) -> str:
    return body.get("location", ctx.workspace_location(m.workspace))


@renders("OnlineEndpoint")
def online_endpoint(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    body = _body(m, ctx, deps)
    node = resource_name(m)
    inputs = {**workspace_scope(m, ctx), "endpointName": m.name,
              "location": _location(m, body, ctx), "identity": body["identity"],
              "properties": body.get("properties", {}), "tags": ctx.tags(m, body.get("tags"))}
    kind = "Kubernetes" if "compute" in m.spec else "managed"  # what the label says
    ctx.add(m, node, ML + "OnlineEndpoint", inputs, depends_on=deps | {workspace_dep(m, ctx)},
            ignore_changes=("properties.traffic", "properties.mirrorTraffic"),
            label=f"{kind} online endpoint {m.name}")

    spec = m.spec
    if "traffic" in spec or "mirror_traffic" in spec:
        traffic = spec.get("traffic") or {}
        mirror = spec.get("mirror_traffic") or {}
        step = {"endpointId": ctx.child_id(m.workspace or "", "OnlineEndpoint", m.name),
                **workspace_scope(m, ctx),
                "endpointName": m.name, "kind": "online", "traffic": {k: traffic[k] for k in sorted(traffic)}}
        if "mirror_traffic" in spec:
            step["mirrorTraffic"] = {k: mirror[k] for k in sorted(mirror)}
        if isinstance(spec.get("rollout"), dict):  # the release policy (controller.rollout) rides on the step
            from controller.rollout import policy
            step["rolloutPolicy"] = policy.to_input(spec["rollout"])
        named = _deployments_named(m, set(traffic) | set(mirror), ctx)
        ctx.add(m, f"{node}/traffic", TRAFFIC, step, depends_on=[node, *named],
                spec_path=("traffic",) if "traffic" in spec else ("mirror_traffic",),
                label=f"traffic of online endpoint {m.name}")



@renders("BatchEndpoint")
def batch_endpoint(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    body = _body(m, ctx, deps)
    node = resource_name(m)
    inputs = {**workspace_scope(m, ctx), "endpointName": m.name,
              "location": _location(m, body, ctx), "properties": body.get("properties", {}),
              "tags": ctx.tags(m, body.get("tags"))}
    if "identity" in body:
        inputs["identity"] = body["identity"]
    ctx.add(m, node, ML + "BatchEndpoint", inputs, depends_on=deps | {workspace_dep(m, ctx)},
            ignore_changes=("properties.defaults",), label=f"batch endpoint {m.name}")

    default = (m.spec.get("defaults") or {}).get("deployment_name")
    if default:
        step = {"endpointId": ctx.child_id(m.workspace or "", "BatchEndpoint", m.name),
                **workspace_scope(m, ctx),
                "endpointName": m.name, "kind": "batch", "defaultDeployment": default}
        ctx.add(m, f"{node}/traffic", TRAFFIC, step, depends_on=[node, *_deployments_named(m, {default}, ctx)],
                spec_path=("defaults", "deployment_name"), label=f"default deployment of batch endpoint {m.name}")


# -- deployments -----------------------------------------------------------------------------------
def _deployment_inputs(m: Manifest, ctx: Context, body: dict[str, Any], ep: Manifest | None,
                       ws: str) -> dict[str, Any]:
    location = (ep.spec.get("location") if ep is not None else None) or ctx.workspace_location(ws)
    return {"resourceGroupName": ctx.resource_group, "workspaceName": ws, "endpointName": m.spec["endpoint_name"],
            "deploymentName": m.name, "location": location, "properties": body.get("properties", {}),
            "tags": ctx.tags(m, body.get("tags"))}


@renders("OnlineDeployment")
def online_deployment(m: Manifest, ctx: Context) -> None:
    ep_node, ep, ws = endpoint_of(m, ctx)
    deps: set[str] = set()
    body = _body(m, ctx, deps)
    _collection_data(m, ws, body, ctx, deps)
    if m.spec.get("with_package"):
        src = m.where(("with_package",), True)
        ctx.diagnostics.append(Diagnostic(src.path, src.line, src.col, "R001", Severity.WARNING,
                                          "with_package: amlctl does not package models (a client-side step of "
                                          "az ml); the deployment is rendered without it", m.subject,
                                          ctx.stack.name))
    _prompt_flow(m, ctx, body, ws)
    inputs = _deployment_inputs(m, ctx, body, ep, ws)
    inputs["sku"] = body["sku"]
    ctx.add(m, deployment_node(m, ctx), ML + "OnlineDeployment", inputs,
            depends_on=deps | {ep_node if ep is not None else None, ctx.workspace_resource(ws)},
            label=f"online deployment {m.name} of endpoint {m.spec['endpoint_name']}")


# -- prompt flow -----------------------------------------------------------------------------------
# What the promptflow runtime reads from PRT_CONFIG_OVERRIDE to find the workspace it pulls the flow's
# connections from (the docs' deployment.yaml, how-to-deploy-to-code): amlctl generates these keys.
PRT_KEYS = ("deployment.subscription_id", "deployment.resource_group", "deployment.workspace_name",
            "deployment.endpoint_name", "deployment.deployment_name")
_PLACEHOLDER = re.compile(r"^<[^<>]*>$|^\{[^{}]*\}$")  # <subscription_id>, {insert ...}: pasted from the docs


def prt_config_override(given: Any, generated: dict[str, str]) -> tuple[str, list[str]]:
    """(the value to deploy, what it changed in the manifest's value). The generated keys take the
    stack's and the manifests' values, in the docs' order; any other key=value pair the manifest gives
    (a runtime setting of its own) is kept after them, as written."""
    value = ",".join(f"{k}={generated[k]}" for k in PRT_KEYS)
    if given is None:
        return value, []
    pairs = [p.strip() for p in str(given).split(",") if p.strip()]
    if not pairs or any("=" not in p for p in pairs):
        return value, [f"{str(given)!r} is not a list of key=value pairs"]
    own = dict(p.split("=", 1) for p in pairs)
    extra = [p for p in pairs if p.split("=", 1)[0] not in PRT_KEYS]
    if extra:
        value = ",".join([value, *extra])
    changes = []
    for k in PRT_KEYS:
        was = own.get(k)
        if was is None:
            changes.append(f"{k} added ({generated[k]})")
        elif was != generated[k]:
            if _PLACEHOLDER.match(was.strip()):
                what = "a placeholder"
            else:  # the subscription and resource group are the stack's; the names are the manifests'
                what = "not this stack's" if k in PRT_KEYS[:2] else "another name"
            changes.append(f"{k} {was!r} ({what}) became {generated[k]!r}")
    # The same settings in another order or spacing: the manifest's text is deployed as it is.
    return (value, changes) if changes else (str(given), [])


def _prompt_flow(m: Manifest, ctx: Context, body: dict[str, Any], ws: str) -> None:
    """A deployment that serves a prompt flow gets PRT_CONFIG_OVERRIDE generated from the stack and
    the manifests, so it is right in every stack without an overlay. A value the manifest gives that
    differs (placeholders pasted from the docs, another workspace, endpoint or deployment, a
    subscription of another stack) is replaced, with a warning at its file and line: never silently."""
    if promptflow.flow_of(m, ctx.find, ctx.root) is None:
        return
    generated = dict(zip(PRT_KEYS, (ctx.subscription, ctx.resource_group, ws, str(m.spec["endpoint_name"]), m.name)))
    given = (m.spec.get("environment_variables") or {}).get(promptflow.PRT_CONFIG_OVERRIDE)
    value, changes = prt_config_override(given, generated)
    body["properties"].setdefault("environmentVariables", {})[promptflow.PRT_CONFIG_OVERRIDE] = value
    if changes:
        path = ("environment_variables", promptflow.PRT_CONFIG_OVERRIDE)
        src = m.where(path)
        ctx.diagnostics.append(Diagnostic(
            src.path, src.line, src.col, "R012", Severity.WARNING,
            f"{S.dotted(path)}: amlctl generates this variable for a prompt flow deployment from the stack and the "
            f"manifests, and deploys its own value instead of this one: {'; '.join(changes)}; remove it from the "
            "manifest (amlctl sets it in every stack)", m.subject, ctx.stack.name))


def _collection_data(m: Manifest, ws: str, body: dict[str, Any], ctx: Context, deps: set[str]) -> None:
    """Each data collection is registered as a data asset, as az ml does before it deploys: the
    collection's `data` {name, version, path}, by default <endpoint>-<deployment>-<collection>,
    version 1, under the workspace blob store's modelDataCollector folder. A Data manifest of that
    name is used as it is; otherwise amlctl renders the uri_folder asset itself."""
    collections = ((m.spec.get("data_collector") or {}).get("collections")) or {}
    endpoint = m.spec["endpoint_name"]
    for name in sorted(collections):
        data = (collections[name] or {}).get("data") or {}
        asset = str(data.get("name") or f"{endpoint}-{m.name}-{name}")
        version = str(data.get("version") or "1")
        path = ("data_collector", "collections", name, "data")
        if ctx.find("Data", asset, ws) is not None:  # without a version: the manifest's
            ref = f"azureml:{asset}" + (f":{data['version']}" if data.get("version") is not None else "")
            arm_id, node = ctx.resolve_ref(m, "Data", ref, path)
        else:
            uri = data.get("path") or f"{MDC_PATH}/{endpoint}/{m.name}/{name}"
            arm_id, node = ctx.child_id(ws, "Data", asset, version), f"{ws}/data/{asset}@{version}"
            # A data version lives in its container: az ml's PUT of the version makes it on the
            # service side, the provider needs it as a resource of its own (as assets.py renders).
            container = ctx.add(m, f"{ws}/data/{asset}", ML + "DataContainer", {
                "resourceGroupName": ctx.resource_group, "workspaceName": ws, "name": asset,
                "properties": {"dataType": "uri_folder", "isArchived": False},
            }, depends_on=[ctx.workspace_resource(ws)], spec_path=path if data else path[:-1], **APPEND_ONLY,
                label=f"data collected by the {name} collection of deployment {m.name}")
            ctx.add(m, node, ML + "DataVersion", {
                "resourceGroupName": ctx.resource_group, "workspaceName": ws, "name": asset, "version": version,
                "properties": {"dataType": "uri_folder", "dataUri": uri, "isAnonymous": False, "isArchived": False,
                               "properties": {}, "tags": {}},
            }, depends_on=[ctx.workspace_resource(ws), container.name], spec_path=path if data else path[:-1],
                **APPEND_ONLY, label=f"data asset of the {name} collection of deployment {m.name}")
        if node:
            deps.add(node)
        body["properties"]["dataCollector"]["collections"][name]["dataId"] = arm_id


@renders("BatchDeployment")
def batch_deployment(m: Manifest, ctx: Context) -> None:
    ep_node, ep, ws = endpoint_of(m, ctx)
    spec = m.spec
    deps: set[str] = set()
    component = None
    if spec.get("type") == "pipeline":
        if "job_definition" in spec:
            raise ctx.error(m, ("job_definition",), "R001", "job_definition is not rendered (az ml turns the job "
                            "into a component at deploy time); deploy a pipeline component instead: "
                            "component: azureml:<name>:<version>")
        component = _local_component(m, ctx, deps)
        settings = spec.get("settings") or {}
        if isinstance(settings.get("default_compute"), str):
            _, node = ctx.resolve_ref(m, "Compute", settings["default_compute"], ("settings", "default_compute"))
            if node:
                deps.add(node)
    body = _body(m, ctx, deps)
    if component is not None:
        body["properties"]["deploymentConfiguration"]["componentId"]["assetId"] = component
    inputs = _deployment_inputs(m, ctx, body, ep, ws)
    ctx.add(m, deployment_node(m, ctx), ML + "BatchDeployment", inputs,
            depends_on=deps | {ep_node if ep is not None else None, ctx.workspace_resource(ws)},
            label=f"batch deployment {m.name} of endpoint {spec['endpoint_name']}")


def _local_component(m: Manifest, ctx: Context, deps: set[str]) -> str | None:
    """A pipeline deployment's component given as a local YAML file: the Component manifest that
    file is, by ARM id (az ml registers the file; amlctl renders the manifest). None otherwise."""
    value = m.spec.get("component")
    if not isinstance(value, str) or refs.parse(value, "Component") is not None or refs.local_path(value) is None:
        return None
    local = str(ctx.local(m, value))
    target = next((c for c in ctx.manifests if c.kind == "Component" and c.path == local), None)
    if target is None:
        raise ctx.error(m, ("component",), "R004", f"component: {value} is not a Component manifest of this estate; "
                        "amlctl renders components from their own manifests (name it azureml:<name>:<version>)")
    version = ctx.version_of(target)
    deps.add(resource_name(target, version))
    return ctx.child_id(target.workspace or m.workspace or "", "Component", target.name, version)
