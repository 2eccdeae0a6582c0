"""Role assignments: the RoleAssignment manifests.

Each becomes an authorization.RoleAssignment named by a UUIDv5 of (scope, role, principal), so a
re-run, or an assignment that already exists under that name, converges instead of duplicating.
One that repeats what Azure ML assigns by itself (under a name of its own) would fail on Azure with
RoleAssignmentExists: that is a warning (R011).
"""
from __future__ import annotations

from typing import Any

from controller import rbac
from controller.manifests.model import Manifest
from controller.render.context import ML_PROVIDER, Context, guid, resource_name
from controller.render.graph import output
from controller.render.kinds import renders

TYPE = "azure-native:authorization:RoleAssignment"


def scope_of(ref: dict[str, Any], m: Manifest, ctx: Context) -> tuple[str, str | None]:
    """(ARM id, graph resource) of a {kind, name, workspace} reference to a manifest."""
    kind, name = ref["kind"], ref["name"]
    workspace = ref.get("workspace") or m.workspace or ctx.stack.default_workspace
    target = ctx.find(kind, name, workspace if kind not in ("Workspace", "Registry") else None)
    if kind == "Workspace":
        return ctx.workspace_id(name), (resource_name(target) if target else None)
    if kind == "Registry":
        return ctx.provider_id(ML_PROVIDER, "registries", name), (resource_name(target) if target else None)
    return ctx.child_id(workspace or "", kind, name), (resource_name(target) if target else None)


def assignment_guid(scope: str, role_guid: str, key: str) -> str:
    """The role assignment's Azure name: a UUIDv5 of (scope, role, principal key), so re-runs converge."""
    return guid(scope.lower(), role_guid, key)


def node_name(scope: str, role_guid: str, key: str) -> str:
    """The assignment's graph name, for renderers that depend on an assignment they add."""
    return f"rbac/{assignment_guid(scope, role_guid, key)}"


def assign(ctx: Context, m: Manifest, *, scope: str, role: str, principal: Any, principal_type: str,
           key: str, depends_on: list[str | None], description: str = "", extra: dict[str, Any] | None = None,
           label: str = "", spec_path: tuple = ()) -> None:
    """One role assignment, of the RoleAssignment manifest `m`."""
    role_guid = rbac.role_definition_guid(role)
    if role_guid is None:
        raise ctx.error(m, spec_path + ("role",), "R008", f"role {role!r} is neither a built-in role nor a "
                        "role-definition id")
    name = assignment_guid(scope, role_guid, key)
    inputs = {"roleAssignmentName": name, "scope": scope, "principalId": principal, "principalType": principal_type,
              "roleDefinitionId": f"/subscriptions/{ctx.subscription}/providers/Microsoft.Authorization/"
                                  f"roleDefinitions/{role_guid}"}
    if description:
        inputs["description"] = description
    inputs.update(extra or {})
    ctx.add(m, node_name(scope, role_guid, key), TYPE, inputs, depends_on=depends_on, spec_path=spec_path,
            label=label or f"{rbac.role_name(role_guid) or role} for {key}", subject=m.subject)


@renders("RoleAssignment")
def role_assignment(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    body = ctx.arm(m, deps).body
    spec = m.spec
    if isinstance(spec["scope"], str):
        scope, scope_dep = spec["scope"].rstrip("/"), None
    else:
        scope, scope_dep = scope_of(spec["scope"], m, ctx)
    p = spec["principal"]
    if "identity_of" in p:
        _, node = scope_of(p["identity_of"], m, ctx)
        principal: Any = output(node, "identity.principalId")
        key, ptype = f"identity of {node}", "ServicePrincipal"
        deps.add(node)
        _granted_by_azure_ml(m, ctx, p["identity_of"], spec["role"], scope)
    else:
        principal, key, ptype = p["object_id"], p["object_id"], p.get("type", "ServicePrincipal")
    assign(ctx, m, scope=scope, role=spec["role"], principal=principal, principal_type=ptype, key=key,
           depends_on=[scope_dep, *deps], description=body.pop("description", ""), extra=body,
           label=f"{spec['role']} for {m.name}")


def _granted_by_azure_ml(m: Manifest, ctx: Context, of: dict[str, Any], role: str, scope: str) -> None:
    """Azure ML gives a system-assigned identity what it needs by itself: an online endpoint's
    AcrPull on the workspace registry and Storage Blob Data Reader on its storage (Azure ML's docs,
    "Authentication for managed online endpoints"), a workspace's Storage Blob Data Contributor on
    its storage. Repeating one fails on Azure with RoleAssignmentExists."""
    from controller.diagnostics import Diagnostic, Severity
    from controller.render.kinds import workspace as W
    kind = of["kind"]
    target = ctx.find(kind, of["name"], None if kind == "Workspace" else
                      (of.get("workspace") or m.workspace or ctx.stack.default_workspace))
    if target is None or "system_assigned" not in str((target.spec.get("identity") or {}).get("type", "system_assigned")):
        return
    ws = target if kind == "Workspace" else ctx.workspaces.get(target.workspace or "")
    if ws is not None and W.is_project(ws):
        ws = W.hub_of(ws, ctx)
    if ws is None:
        return
    registry = ws.spec.get("container_registry") or ctx.provider_id(
        "Microsoft.ContainerRegistry", "registries", W.dependent_names(ws, ctx)["registry"])
    storage = ws.spec.get("storage_account") or ctx.provider_id(
        "Microsoft.Storage", "storageAccounts", W.storage_account(ws, ctx)[0])
    granted = {"OnlineEndpoint": {("AcrPull", registry.lower()), ("Storage Blob Data Reader", storage.lower())},
               "Workspace": {("Storage Blob Data Contributor", storage.lower())}}.get(kind, set())
    if (rbac.role_name(rbac.role_definition_guid(role) or "") or role, scope.lower()) in granted:
        src = m.where(("role",), True)
        ctx.diagnostics.append(Diagnostic(
            src.path, src.line, src.col, "R011", Severity.WARNING,
            f"Azure ML gives the system-assigned identity of {kind} {of['name']} {role} on this scope by itself: "
            "on Azure this assignment fails with RoleAssignmentExists; remove it", m.subject, ctx.stack.name))
