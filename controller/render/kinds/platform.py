"""Registry, Connection and ServerlessEndpoint: the platform kinds around the workspace.

Registry              machinelearningservices.Registry (its ARM `properties` flattened into
                      top-level inputs, as pulumi-azure-native takes them); stateful.
Connection            machinelearningservices.WorkspaceConnection; every credential is a
                      {"$secret": ...} marker, never a value.
ServerlessEndpoint    machinelearningservices.ServerlessEndpoint, after a
                      machinelearningservices.MarketplaceSubscription when the model comes from a
                      third-party publisher's registry (azureml-meta, azureml-mistral, ...).

The field mapping is in schemas/{registry,connection,serverless-endpoint}.schema.json.
"""
from __future__ import annotations

import re
from typing import Any

from controller.manifests.model import Manifest
from controller.render import arm
from controller.render.context import ML, Context, resource_name
from controller.render.kinds import finetuning, renders, run_outputs, scope, workspace_dep
from controller.render.kinds.workspace import RESOURCE_GROUP


# -- converters the schemas name ------------------------------------------------------------------
def _registry_storage(value: Any, c: arm.Convert | None) -> Any:
    """A replication region's storage_config: settings of the account(s) Azure ML creates (one per
    replication_count; azure-ai-ml's defaults: no hierarchical namespace, standard_lrs, its
    lower-case spelling of the SKU), or existing accounts by ARM id."""
    if isinstance(value, list):
        return [{"userCreatedStorageAccount": {"armResourceId": {"resourceId": v}}} for v in value]
    if not isinstance(value, dict):
        return value
    account = {"storageAccountHnsEnabled": bool(value.get("storage_account_hns", False)),
               "storageAccountType": str(value.get("storage_account_type", "standard_lrs")).lower()}
    return [{"systemCreatedStorageAccount": dict(account)} for _ in range(int(value.get("replication_count", 1)))]


def _connection_api_key(value: Any, c: arm.Convert) -> Any:
    """An api_key field: key authentication, the key a secret reference."""
    return {"authType": "ApiKey", "credentials": {"key": c.resolve("secret", c.path, value)}}


arm.CONVERTERS["registry-storage"] = _registry_storage
arm.CONVERTERS["connection-api-key"] = _connection_api_key


def _flattened(body: dict[str, Any]) -> dict[str, Any]:
    """pulumi-azure-native takes a tracked resource's ARM `properties` as top-level inputs."""
    out = {k: v for k, v in body.items() if k != "properties"}
    out.update(body.get("properties", {}))
    return out


def _rg_dep(ctx: Context) -> str | None:
    return RESOURCE_GROUP if ctx.stack.settings.get("manageResourceGroup") else None


# -- Registry ---------------------------------------------------------------------------------------
@renders("Registry")
def registry(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    body = ctx.arm(m, deps).body
    acr = m.spec.get("container_registry")
    if isinstance(acr, str):
        raise ctx.error(m, ("container_registry",), "R001", "an existing container registry cannot be given: "
                        "pulumi-azure-native's Registry (API 2025-12-01) takes only a container registry Azure ML "
                        "creates; write container_registry: {acr_account_sku: Premium} or leave it out")
    # Every region gets the registry's one container registry, Premium (the only SKU that
    # replicates) unless said otherwise, and a created storage account unless its storage_config
    # says otherwise: azure-ai-ml's defaults.
    sku = str((acr or {}).get("acr_account_sku", "Premium")).capitalize()
    acr_details = [{"systemCreatedAcrAccount": {"acrAccountSku": sku}}]
    regions = body.get("properties", {}).get("regionDetails", [])
    for i, region in enumerate(regions):
        region.setdefault("storageAccountDetails", _registry_storage({}, None))
        if any("userCreatedStorageAccount" in s for s in region["storageAccountDetails"]):
            raise ctx.error(m, ("replication_locations", i, "storage_config"), "R001", "existing storage "
                            "accounts cannot be given: pulumi-azure-native's Registry (API 2025-12-01) takes only "
                            "storage accounts Azure ML creates; write storage_config: {storage_account_type: ...}")
        region["acrDetails"] = [dict(a) for a in acr_details]
    inputs = {"registryName": m.name, "resourceGroupName": ctx.resource_group,
              **_flattened(body), "location": body.get("location", ctx.location),
              "tags": ctx.tags(m, body.get("tags"))}
    ctx.add(m, resource_name(m), ML + "Registry", inputs, depends_on=[_rg_dep(ctx), *deps], stateful=True,
            label=f"registry {m.name}")


# -- Connection -------------------------------------------------------------------------------------
def _one_lake_target(spec: Any) -> str | None:
    """The OneLake URL of an artifact, as azure-ai-ml builds it."""
    endpoint, workspace, artifact = spec.get("endpoint"), spec.get("one_lake_workspace_name"), spec.get("artifact")
    if not (endpoint and workspace and isinstance(artifact, dict)):
        return None
    name = str(artifact.get("name", ""))
    host = re.sub(r"^https://", "", str(endpoint)).rstrip("/")
    is_id = re.match(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", name)
    return f"https://{host}/{workspace}/{name if is_id else name + '.Lakehouse'}"


@renders("Connection")
def connection(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    body = ctx.arm(m, deps).body
    props = body.get("properties", {})
    if m.spec.get("type") == "azure_one_lake" and "target" not in props:
        target = _one_lake_target(m.spec)
        if target is not None:
            props["target"] = target
    props.setdefault("authType", "None")  # no credentials at all (a public feed, say)
    props.setdefault("metadata", {})  # azure-ai-ml's default
    inputs = {**scope(m, ctx), "connectionName": m.name, "properties": props}
    ctx.add(m, resource_name(m), ML + "WorkspaceConnection", inputs, depends_on=[workspace_dep(m, ctx), *deps],
            label=f"{m.spec.get('type')} connection {m.name}")


# -- ServerlessEndpoint -----------------------------------------------------------------------------
_CATALOG = re.compile(r"^azureml://registries/(?P<registry>[^/]+)/models/(?P<model>[^/]+)")
MICROSOFT_REGISTRY = "azureml"  # Microsoft's own catalog models need no marketplace subscription


def marketplace_model(model_id: str, ctx: Context) -> tuple[str, str] | None:
    """(model id without version, model name) when serving the model needs a marketplace
    subscription: a catalog model from a third-party publisher's registry. Not Microsoft's
    `azureml` registry, a workspace's own models, or a registry this estate defines."""
    match = _CATALOG.match(model_id)
    if match is None:
        return None
    registry = match.group("registry")
    if registry == MICROSOFT_REGISTRY or any(r.kind == "Registry" and r.name == registry for r in ctx.manifests):
        return None
    return match.group(0), match.group("model")


def subscription_name(model: str) -> str:
    """A marketplace subscription name from a model name: letters, digits and single '-'."""
    return re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9-]", "-", model)).strip("-")[:50].rstrip("-") or "model"


_WORKSPACE_MODEL = re.compile(r"^azureml://locations/[^/]+/workspaces/[^/]+/models/(?P<model>[^/]+)")


def _base_model(m: Manifest, ref: dict[str, Any], ctx: Context) -> str | None:
    """The catalog model a fine-tuned model came from: serving a fine-tuned third-party model
    needs the marketplace subscription to its base model (Azure's fine-tuning samples)."""
    from controller.checks import runs
    parsed = runs.parse(ref)
    target = ctx.find(parsed.kind, parsed.name, m.workspace)
    return finetuning.base_model(target.spec) if target is not None and target.kind == "FineTuningJob" else None


@renders("ServerlessEndpoint")
def serverless_endpoint(m: Manifest, ctx: Context) -> None:
    deps: set[str] = set()
    body = ctx.arm(m, deps).body
    ws = workspace_dep(m, ctx)
    model_id = m.spec.get("model_id")
    if isinstance(model_id, dict):  # {output_of: FineTuningJob/<name>}: the model its run registers
        body.setdefault("properties", {}).setdefault("modelSettings", {})["modelId"] = \
            run_outputs.marker(m, ctx, ("model_id",), model_id, "uri")
        model_id = _base_model(m, model_id, ctx)
    elif isinstance(model_id, str) and (found := _WORKSPACE_MODEL.match(model_id)):
        # A workspace model by its URI, as Azure's samples write it: the model a fine-tuning job of
        # this workspace registers under that name came from that job's base model.
        from controller.checks import runs
        job = next((j for j in ctx.manifests if j.kind == "FineTuningJob" and j.workspace == m.workspace
                    and runs.registered_asset(j, runs.DEFAULT_OUTPUT)[0] == found.group("model")), None)
        model_id = finetuning.base_model(job.spec) if job is not None else model_id
    market = marketplace_model(str(model_id or ""), ctx)
    if market is not None:
        model_id, model = market
        name = subscription_name(model)
        node = f"{m.workspace}/marketplace-subscription/{name}"
        # One per model and workspace: two endpoints serving one model share it.
        ctx.add(m, node, ML + "MarketplaceSubscription", {
            **scope(m, ctx), "name": name, "properties": {"modelId": model_id},
        }, depends_on=[ws], subject=f"implicit/marketplace-subscription/{name}", spec_path=("model_id",),
            label=f"marketplace subscription to {model} in {m.workspace}")
        deps.add(node)
    inputs = {**scope(m, ctx), "name": m.name, "location": body.get("location", ctx.workspace_location(m.workspace)),
              "sku": body.get("sku", {"name": "Consumption"}), "properties": body.get("properties", {}),
              "tags": ctx.tags(m, body.get("tags"))}
    ctx.add(m, resource_name(m), ML + "ServerlessEndpoint", inputs, depends_on=[ws, *deps],
            label=f"serverless endpoint {m.name}")
