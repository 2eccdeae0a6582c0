"""Workspace: the workspace and what it stands on.

Storage account, key vault (RBAC mode, purge protection), Log Analytics and Application Insights,
container registry, then the workspace itself; each dependent resource is created unless the
manifest gives an existing one by ARM id. Also amlctl's uploads container and its datastore, and
the workspace identity's role on its storage and key vault.

A project (kind: project) stands on its hub's resources instead: none are created for it, and its
uploads go to the hub's storage account (the hub must then be a Workspace manifest of the estate).

The workspace's ARM body comes from schemas/workspace.schema.json; pulumi-azure-native flattens
its `properties` into top-level inputs, so the renderer does too.
"""
from __future__ import annotations

import re
from typing import Any

from controller.diagnostics import Diagnostic, Severity
from controller.manifests.model import Manifest
from controller.render import arm
from controller.render.context import (ASSETS_CONTAINER, ASSETS_DATASTORE, ML, Context, resource_name,
                                       short_hash)
from controller.render.kinds import renders

RESOURCE_GROUP = "resource-group"
# Where the schema puts fields that no input of pulumi-azure-native's Workspace takes (see the
# schema's annotations): the renderer warns about each instead of dropping it silently.
UNRENDERED = "$unrendered"


def _alnum(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _parse_id(arm_id: str) -> dict[str, str]:
    parts = arm_id.strip("/").split("/")
    return {parts[i].lower(): parts[i + 1] for i in range(0, len(parts) - 1, 2)}


def is_project(ws: Manifest) -> bool:
    return ws.spec.get("kind") == "project"


def storage_account(ws: Manifest, ctx: Context) -> tuple[str, str]:
    """(account name, resource group) of a workspace's default storage."""
    if is_project(ws):
        hub = hub_of(ws, ctx)
        if hub is None or is_project(hub):
            raise ctx.error(ws, ("hub_id",), "R006", f"project {ws.name!r} keeps its files in its hub's storage "
                            "account, and no Workspace manifest here defines that hub (add the hub's manifest)")
        return storage_account(hub, ctx)
    given = ws.spec.get("storage_account")
    if given:
        p = _parse_id(given)
        return p.get("storageaccounts", ""), p.get("resourcegroups", ctx.resource_group)
    return dependent_names(ws, ctx)["storage"], ctx.resource_group


def _hub_name(ws: Manifest) -> str | None:
    hub_id = ws.spec.get("hub_id") or ws.spec.get("workspace_hub")
    return _parse_id(hub_id).get("workspaces") if is_project(ws) and hub_id else None


def hub_of(ws: Manifest, ctx: Context) -> Manifest | None:
    """The hub Workspace manifest a project belongs to, when the estate defines it."""
    hub = ctx.workspaces.get(_hub_name(ws) or "")
    return hub if hub is not None and hub.name != ws.name else None


def assets_container_name(ws: Manifest) -> str:
    """The graph name of the uploads container in a workspace's storage (a project's: its hub's)."""
    return f"{_hub_name(ws) or ws.name}/storage/{ASSETS_CONTAINER}"


def dependent_names(ws: Manifest, ctx: Context) -> dict[str, str]:
    """Names of the resources created for a workspace, each within its Azure naming rule:
    storage account 3-24 lowercase letters and digits (global); key vault 3-24 letters, digits and
    single hyphens, starting with a letter (global); Log Analytics 4-63; Application Insights
    1-255; container registry 5-50 letters and digits (global)."""
    h = short_hash(ctx.subscription, ctx.resource_group, ws.name, n=6)
    base = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", ws.name.lower())).strip("-")
    return {"storage": "st" + _alnum(ws.name)[:14] + short_hash(ctx.subscription, ctx.resource_group, ws.name, n=8),
            "keyvault": f"kv-{base[:13].strip('-')}-{h}", "logs": f"log-{base}", "insights": f"appi-{base}",
            "registry": "cr" + _alnum(ws.name)[:35] + h}


def _outbound_rules(value: Any, c: arm.Convert) -> Any:
    """Managed-network outbound rules: the CLI's list becomes ARM's map keyed by rule name."""
    if not isinstance(value, list):
        return value
    types = {"fqdn": "FQDN", "private_endpoint": "PrivateEndpoint", "service_tag": "ServiceTag"}
    out: dict[str, Any] = {}
    for rule in value:
        body: dict[str, Any] = {"type": types.get(rule.get("type"), rule.get("type")), "category": "UserDefined"}
        destination = rule.get("destination")
        if isinstance(destination, dict):
            destination = {arm.camel(k): (str(v) if k == "port_ranges" else v) for k, v in sorted(destination.items())}
        body["destination"] = destination
        if "fqdns" in rule:
            body["fqdns"] = list(rule["fqdns"])
        out[rule["name"]] = body
    return out


arm.CONVERTERS["outbound-rules"] = _outbound_rules


def _dependents(m: Manifest, ctx: Context, location: str, tags: dict[str, str], private: bool,
                group: list[str]) -> tuple[dict[str, str], list[str], str | None, str | None]:
    """The storage account, key vault, Log Analytics + Application Insights and container registry
    a workspace stands on: each created, unless the manifest adopts an existing one by ARM id.
    Returns (the workspace's id inputs, created nodes, storage node, key vault node)."""
    spec, rg, names = m.spec, ctx.resource_group, dependent_names(m, ctx)
    ids: dict[str, str] = {}
    nodes: list[str] = []
    storage_node = vault_node = None

    if spec.get("storage_account"):
        ids["storageAccount"] = spec["storage_account"]
    else:
        storage_node = f"{m.name}/storage"
        ids["storageAccount"] = ctx.provider_id("Microsoft.Storage", "storageAccounts", names["storage"])
        ctx.add(m, storage_node, "azure-native:storage:StorageAccount", {
            "accountName": names["storage"], "resourceGroupName": rg, "location": location, "kind": "StorageV2",
            "sku": {"name": "Standard_ZRS" if ctx.stack.production else "Standard_LRS"},
            "allowBlobPublicAccess": False, "allowSharedKeyAccess": False, "minimumTlsVersion": "TLS1_2",
            "enableHttpsTrafficOnly": True, "isHnsEnabled": False, "tags": tags,
        }, depends_on=group, stateful=True, label=f"default storage of workspace {m.name}")
        nodes.append(storage_node)

    if spec.get("key_vault"):
        ids["keyVault"] = spec["key_vault"]
    else:
        vault_node = f"{m.name}/keyvault"
        ids["keyVault"] = ctx.provider_id("Microsoft.KeyVault", "vaults", names["keyvault"])
        ctx.add(m, vault_node, "azure-native:keyvault:Vault", {
            "vaultName": names["keyvault"], "resourceGroupName": rg, "location": location, "tags": tags,
            "properties": {"tenantId": {"$clientConfig": "tenantId"}, "sku": {"family": "A", "name": "standard"},
                           "enableRbacAuthorization": True, "enablePurgeProtection": True,
                           "enableSoftDelete": True, "softDeleteRetentionInDays": 90},
        }, depends_on=group, stateful=True, label=f"key vault of workspace {m.name}")
        nodes.append(vault_node)

    if spec.get("application_insights"):
        ids["applicationInsights"] = spec["application_insights"]
    else:
        logs_id = ctx.provider_id("Microsoft.OperationalInsights", "workspaces", names["logs"])
        ctx.add(m, f"{m.name}/logs", "azure-native:operationalinsights:Workspace", {
            "workspaceName": names["logs"], "resourceGroupName": rg, "location": location,
            "sku": {"name": "PerGB2018"}, "retentionInDays": 90 if ctx.stack.production else 30, "tags": tags,
        }, depends_on=group, label=f"Log Analytics of workspace {m.name}")
        ids["applicationInsights"] = ctx.provider_id("Microsoft.Insights", "components", names["insights"])
        ctx.add(m, f"{m.name}/insights", "azure-native:applicationinsights:Component", {
            "resourceName": names["insights"], "resourceGroupName": rg, "location": location, "kind": "web",
            "applicationType": "web", "ingestionMode": "LogAnalytics", "workspaceResourceId": logs_id, "tags": tags,
        }, depends_on=[f"{m.name}/logs"], label=f"Application Insights of workspace {m.name}")
        nodes.append(f"{m.name}/insights")

    if spec.get("container_registry"):
        ids["containerRegistry"] = spec["container_registry"]
    else:
        registry_node = f"{m.name}/registry"
        ids["containerRegistry"] = ctx.provider_id("Microsoft.ContainerRegistry", "registries", names["registry"])
        ctx.add(m, registry_node, "azure-native:containerregistry:Registry", {
            "registryName": names["registry"], "resourceGroupName": rg, "location": location,
            # Premium is the tier that supports private endpoints, which an isolated workspace needs.
            "sku": {"name": "Premium" if private else "Standard"}, "adminUserEnabled": False, "tags": tags,
        }, depends_on=group, stateful=True, label=f"container registry of workspace {m.name}")
        nodes.append(registry_node)
    return ids, nodes, storage_node, vault_node


def _check_associated(hub: Manifest, ctx: Context) -> None:
    """A hub's associated_workspaces against the estate's projects. Azure derives the list from each
    project's hub_id (azure-ai-ml reads it back and never sends it; pulumi-azure-native's Workspace
    takes it as an input, but sending it would only race Azure's own bookkeeping: the projects do not
    exist yet when their hub is created). So it is not sent: it is a statement about the estate, and
    one that contradicts the estate's projects is an error."""
    listed = [str(v).rstrip("/").rsplit("/", 1)[-1] for v in hub.spec.get("associated_workspaces") or ()]
    for i, name in enumerate(listed):
        ws = ctx.workspaces.get(name)
        if ws is not None and (not is_project(ws) or _hub_name(ws) != hub.name):
            why = (f"its hub_id names {_hub_name(ws)!r}" if is_project(ws)
                   else f"it is a workspace of kind {ws.spec.get('kind', 'default')!r}, not a project")
            _error(hub, ctx, ("associated_workspaces", i), "M009",
                   f"associated_workspaces[{i}]: {name!r} is not a project of hub {hub.name!r}: {why}")
    for ws in sorted(ctx.workspaces.values(), key=lambda w: w.name):
        if is_project(ws) and _hub_name(ws) == hub.name and ws.name not in listed:
            _error(hub, ctx, ("associated_workspaces",), "M009",
                   f"associated_workspaces leaves out project {ws.name!r}, whose hub_id names this hub "
                   f"({ws.where(('hub_id' if 'hub_id' in ws.spec else 'workspace_hub',))}); Azure lists every "
                   "project of a hub, so list it too")


def _error(m: Manifest, ctx: Context, path: tuple, code: str, message: str) -> None:
    """An error that leaves the rest of the render be (the hub's resources are still rendered, so
    its projects do not report a missing hub on top)."""
    src = m.where(path)
    ctx.diagnostics.append(Diagnostic(src.path, src.line, src.col, code, Severity.ERROR, message, m.subject,
                                      ctx.stack.name))


@renders("Workspace")
def workspace(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    body = ctx.arm(m, deps).body
    ignored = {f: "pulumi-azure-native's Workspace has no input for this field" for f in body.pop(UNRENDERED, {})}
    if m.spec.get("resource_group") not in (None, ctx.resource_group):
        ignored["resource_group"] = f"the stack's resource group ({ctx.resource_group}) holds the workspace"
    for field, why in sorted(ignored.items()):
        src = m.where((field,), True)
        ctx.diagnostics.append(Diagnostic(src.path, src.line, src.col, "R001", Severity.WARNING,
                                          f"{field}: {why}; this field is ignored", m.subject, ctx.stack.name))
    properties = body.get("properties", {})
    location = body.get("location", ctx.location)
    group = [RESOURCE_GROUP] if ctx.stack.settings.get("manageResourceGroup") else []
    rg = ctx.resource_group
    tags = ctx.tags(m, body.get("tags"))
    project = is_project(m)
    if project:  # a project uses its hub's storage, key vault, insights and registry
        ids, nodes, storage_node, vault_node = {}, [], None, None
    else:
        # The resources a workspace stands on are rendered from a few of its fields, not from the
        # whole manifest: they carry its tags but not the commit that last changed the manifest,
        # which would make every workspace edit an update of all of them, changing only that tag.
        implied = {k: v for k, v in tags.items() if k != "amlctl-commit"}
        ids, nodes, storage_node, vault_node = _dependents(
            m, ctx, location, implied, properties.get("publicNetworkAccess") == "Disabled", group)

    if "associated_workspaces" in m.spec:
        _check_associated(m, ctx)
    hub = hub_of(m, ctx)
    inputs: dict[str, Any] = {"workspaceName": m.name, "resourceGroupName": rg, "location": location,
                              "identity": body.get("identity", {"type": "SystemAssigned"}),
                              "sku": body.get("sku", {"name": "Basic", "tier": "Basic"}), "tags": tags}
    if "kind" in body:
        inputs["kind"] = body["kind"]
    if "managedNetwork" in properties:
        properties["managedNetwork"].setdefault("outboundRules", {})  # azure-ai-ml's default: none of the user's
    # azure-native flattens the workspace's ARM `properties` into top-level inputs.
    inputs.update(properties)
    inputs.update(ids)
    ws_node = resource_name(m)
    ctx.add(m, ws_node, ML + "Workspace", inputs,
            depends_on=[*group, *nodes, *deps, resource_name(hub) if hub else None], stateful=True,
            label=f"workspace {m.name}")

    # amlctl's uploads: local code, model and data folders go here, content-addressed. A project
    # shares its hub's container (one storage account, one container) and has its own datastore.
    container = assets_container_name(m)
    if project:
        account = account_rg = None
        if hub is not None:
            account, account_rg = storage_account(hub, ctx)
    else:
        account, account_rg = storage_account(m, ctx)
        ctx.add(m, container, "azure-native:storage:BlobContainer", {
            "accountName": account, "resourceGroupName": account_rg, "containerName": ASSETS_CONTAINER,
            "publicAccess": "None",
        }, depends_on=[storage_node or ws_node], label=f"amlctl uploads container of workspace {m.name}")
    if account is not None:
        ctx.add(m, f"{m.name}/datastore/{ASSETS_DATASTORE}", ML + "Datastore", {
            "resourceGroupName": rg, "workspaceName": m.name, "name": ASSETS_DATASTORE,
            "properties": {"datastoreType": "AzureBlob", "accountName": account, "containerName": ASSETS_CONTAINER,
                           "endpoint": "core.windows.net", "protocol": "https",
                           "credentials": {"credentialsType": "None"},
                           "description": "amlctl uploads (local code, model and data folders, content-addressed)"},
        }, depends_on=[ws_node, container], stateful=True, label=f"datastore of amlctl uploads in {m.name}")

    # The workspace's system-assigned identity is given its roles on the storage account, key vault
    # and registry by Azure ML when the workspace is created; assigning them again would fail with
    # RoleAssignmentExists, so amlctl assigns none.
