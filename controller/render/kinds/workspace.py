"""Workspace: the workspace and what it stands on.

Storage account, key vault (RBAC mode, purge protection), Log Analytics and Application Insights,
container registry, then the workspace itself; each dependent resource is created unless the
manifest gives an existing one by ARM id. Also amlctl's uploads container and its datastore, and
the workspace identity's role on its storage and key vault.
"""
from __future__ import annotations

import re
from typing import Any

from controller.manifests.model import Manifest
from controller.render.context import (ASSETS_CONTAINER, ASSETS_DATASTORE, ML, Context, resource_name,
                                       short_hash)
from controller.render.kinds import rbac, renders

RESOURCE_GROUP = "resource-group"


def _alnum(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _parse_id(arm_id: str) -> dict[str, str]:
    parts = arm_id.strip("/").split("/")
    return {parts[i].lower(): parts[i + 1] for i in range(0, len(parts) - 1, 2)}


def storage_account(ws: Manifest, ctx: Context) -> tuple[str, str]:
    """(account name, resource group) of a workspace's default storage."""
    given = ws.spec.get("storage_account")
    if given:
        p = _parse_id(given)
        return p.get("storageaccounts", ""), p.get("resourcegroups", ctx.resource_group)
    # Storage account names are global: 3-24 lowercase letters and digits.
    return "st" + _alnum(ws.name)[:14] + short_hash(ctx.subscription, ctx.resource_group, ws.name, n=8), ctx.resource_group


def assets_container_name(ws: Manifest) -> str:
    return f"{ws.name}/storage/{ASSETS_CONTAINER}"


def _dependent_names(ws: Manifest, ctx: Context) -> dict[str, str]:
    h = short_hash(ctx.subscription, ctx.resource_group, ws.name, n=6)
    base = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", ws.name.lower())).strip("-")
    return {"keyvault": f"kv-{base[:13].strip('-')}-{h}", "logs": f"log-{base}", "insights": f"appi-{base}",
            "registry": "cr" + _alnum(ws.name)[:35] + h}


@renders("Workspace")
def workspace(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    body = ctx.arm(m, deps).body
    spec = m.spec
    location = spec.get("location", ctx.location)
    names = _dependent_names(m, ctx)
    group = [RESOURCE_GROUP] if ctx.stack.settings.get("manageResourceGroup") else []
    rg = ctx.resource_group
    tags = ctx.tags(m, spec.get("tags"))
    ids: dict[str, str] = {}
    nodes: list[str] = []

    account, account_rg = storage_account(m, ctx)
    if spec.get("storage_account"):
        ids["storageAccount"] = spec["storage_account"]
        storage_node = None
    else:
        storage_node = f"{m.name}/storage"
        ids["storageAccount"] = ctx.provider_id("Microsoft.Storage", "storageAccounts", account)
        ctx.add(m, storage_node, "azure-native:storage:StorageAccount", {
            "accountName": account, "resourceGroupName": rg, "location": location, "kind": "StorageV2",
            "sku": {"name": "Standard_ZRS" if ctx.stack.production else "Standard_LRS"},
            "allowBlobPublicAccess": False, "allowSharedKeyAccess": False, "minimumTlsVersion": "TLS1_2",
            "enableHttpsTrafficOnly": True, "isHnsEnabled": False, "tags": tags,
        }, depends_on=group, stateful=True, label=f"default storage of workspace {m.name}")
        nodes.append(storage_node)

    if spec.get("key_vault"):
        ids["keyVault"] = spec["key_vault"]
        vault_node = None
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
        registry_node = None
    else:
        registry_node = f"{m.name}/registry"
        ids["containerRegistry"] = ctx.provider_id("Microsoft.ContainerRegistry", "registries", names["registry"])
        private = str(spec.get("public_network_access", "Enabled")).lower() == "disabled"
        ctx.add(m, registry_node, "azure-native:containerregistry:Registry", {
            "registryName": names["registry"], "resourceGroupName": rg, "location": location,
            # Premium is the tier that supports private endpoints, which an isolated workspace needs.
            "sku": {"name": "Premium" if private else "Standard"}, "adminUserEnabled": False, "tags": tags,
        }, depends_on=group, stateful=True, label=f"container registry of workspace {m.name}")
        nodes.append(registry_node)

    inputs: dict[str, Any] = {"workspaceName": m.name, "resourceGroupName": rg, "location": location,
                              "identity": body.get("identity", {"type": "SystemAssigned"}),
                              "sku": body.get("sku", {"name": "Basic", "tier": "Basic"}), "tags": tags}
    if "kind" in body:
        inputs["kind"] = body["kind"]
    # azure-native flattens the workspace's ARM `properties` into top-level inputs.
    inputs.update(body.get("properties", {}))
    inputs.update(ids)
    ctx.add(m, resource_name(m), ML + "Workspace", inputs, depends_on=[*group, *nodes, *deps], stateful=True,
            label=f"workspace {m.name}")
    ws_node = resource_name(m)

    # amlctl's uploads: local code, model and data folders go here, content-addressed.
    container = assets_container_name(m)
    ctx.add(m, container, "azure-native:storage:BlobContainer", {
        "accountName": account, "resourceGroupName": account_rg, "containerName": ASSETS_CONTAINER,
        "publicAccess": "None",
    }, depends_on=[storage_node or ws_node], label=f"amlctl uploads container of workspace {m.name}")
    ctx.add(m, f"{m.name}/datastore/{ASSETS_DATASTORE}", ML + "Datastore", {
        "resourceGroupName": rg, "workspaceName": m.name, "name": ASSETS_DATASTORE,
        "properties": {"datastoreType": "AzureBlob", "accountName": account, "containerName": ASSETS_CONTAINER,
                       "endpoint": "core.windows.net", "protocol": "https", "credentials": {"credentialsType": "None"},
                       "description": "amlctl uploads (local code, model and data folders, content-addressed)"},
    }, depends_on=[ws_node, container], stateful=True, label=f"datastore of amlctl uploads in {m.name}")

    # The workspace identity works with its storage and key vault through RBAC (no keys).
    identity = inputs["identity"]
    if "SystemAssigned" in str(identity.get("type", "")):
        principal = {"$output": {"resource": ws_node, "property": "identity.principalId"}}
        for role, scope, node in (("Storage Blob Data Contributor", ids["storageAccount"], storage_node),
                                  ("Key Vault Administrator", ids["keyVault"], vault_node)):
            rbac.assign(ctx, None, scope=scope, role=role, principal=principal, principal_type="ServicePrincipal",
                        key=f"identity of {ws_node}", depends_on=[ws_node, node],
                        label=f"{role} for the identity of workspace {m.name}")
