"""CapabilityHost: the Agents capability host of an AI hub or project, one
machinelearningservices.CapabilityHost.

Its connections are named as azure-ai-ml names them (a connection name, or '<workspace>/<name>')
and sent as written; each must be a Connection manifest of the capability host's workspace or, for
a project, of its hub (a project sees its hub's connections), and the capability host depends on
them so they exist first. A project's storage defaults to '<project>/workspaceblobstore', the
connection Azure ML makes with the workspace, as azure-ai-ml's create fills it in; a project's
capability host needs an AI services connection (azure-ai-ml refuses one without).

Azure accepts a capability host only on create (azure-ai-ml: "can only accept the create
operation"), so controller.plan.immutable plans any change of it as a replacement.
"""
from __future__ import annotations

from controller import schemas as S
from controller.checks import refs
from controller.manifests.model import Manifest
from controller.render.context import ML, Context, resource_name
from controller.render.kinds import renders, scope, workspace_dep
from controller.render.kinds.workspace import hub_of, is_project

FIELDS = ("ai_services_connections", "storage_connections", "vector_store_connections",
          "thread_storage_connections")
DEFAULT_STORAGE = "workspaceblobstore"  # azure-ai-ml's DEFAULT_STORAGE_CONNECTION_NAME


@renders("CapabilityHost")
def capability_host(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    body = ctx.arm(m, deps).body
    properties = body.get("properties", {})
    ws = ctx.workspaces.get(m.workspace or "")
    hub = hub_of(ws, ctx) if ws is not None else None
    if ws is not None and ws.spec.get("kind") not in ("hub", "project"):
        raise ctx.error(m, (), "M009", f"a capability host lives in an AI hub or project, and workspace "
                        f"{ws.name!r} is neither (its kind is {ws.spec.get('kind', 'default')!r})")
    if ws is not None and is_project(ws):
        if not m.spec.get("ai_services_connections"):
            raise ctx.error(m, (), "S005", "missing required field 'ai_services_connections': a project's "
                            "capability host needs an Azure OpenAI or AI services connection")
        if not properties.get("storageConnections"):  # none, or an empty list: azure-ai-ml fills both
            properties["storageConnections"] = [f"{ws.name}/{DEFAULT_STORAGE}"]
    for field in FIELDS:
        for i, name in enumerate(m.spec.get(field) or ()):
            dep = _connection(m, ctx, (field, i), name, ws, hub)
            if dep:
                deps.add(dep)
    inputs = {**scope(m, ctx), "name": m.name, "properties": properties}
    ctx.add(m, resource_name(m), ML + "CapabilityHost", inputs, depends_on=deps | {workspace_dep(m, ctx)},
            label=f"capability host {m.name} (replaced on any change)")


def _connection(m: Manifest, ctx: Context, path: tuple, value: str, ws: Manifest | None,
                hub: Manifest | None) -> str | None:
    """The graph resource of the Connection manifest `value` names; an error when the estate
    defines the workspaces it may live in and none of them has it."""
    owner, _, name = value.rpartition("/")
    allowed = [w for w in (m.workspace, _hub_name(ws)) if w]
    if owner and owner not in allowed:
        raise ctx.error(m, path, "M009", f"{S.dotted(path)}: {value!r} names a connection of workspace "
                        f"{owner!r}; a capability host of {m.workspace!r} uses the connections of "
                        f"{' or '.join(repr(w) for w in allowed)}")
    where = [owner] if owner else allowed
    for workspace in where:
        target = ctx.find("Connection", name, workspace)
        if target is not None and target.workspace == workspace:
            return resource_name(target)
    if name in refs.builtin_datastores():
        return None  # Azure ML makes it with the workspace
    if not owner and ws is not None and is_project(ws) and hub is None:
        return None  # the project's hub is not defined here: its connections are not known
    raise ctx.error(m, path, "M003", f"{S.dotted(path)}: no Connection manifest {name!r} in "
                    f"{' or '.join(repr(w) for w in where)}; define it (kind: Connection) in that workspace")


def _hub_name(ws: Manifest | None) -> str | None:
    if ws is None or not is_project(ws):
        return None
    hub_id = ws.spec.get("hub_id") or ws.spec.get("workspace_hub") or ""
    parts = hub_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    return parts[lowered.index("workspaces") + 1] if "workspaces" in lowered[:-1] else None
