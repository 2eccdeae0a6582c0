"""FeatureStore, FeatureStoreEntity and FeatureSet: Azure ML's managed feature store.

A FeatureStore is a workspace of kind `featurestore` (rendered by kinds.workspace, from the
feature store's own schema, with what the workspace stands on and amlctl's uploads), plus what
azure-ai-ml's create deploys with it (`_arm_deployments/arm_templates/workspace_base.json`):

- its default storage account with a hierarchical namespace (the template's `isHnsEnabled` is
  `kind == featurestore`), so that it can hold the offline store;
- the materialization identity: the one the manifest gives (resource_id, client_id, principal_id),
  or a managedidentity.UserAssignedIdentity amlctl creates, named as azure-ai-ml names it
  (`_generate_materialization_identity`); it joins the feature store's user-assigned identities
  (identity `SystemAssigned,UserAssigned`, as the template's nested deployment sets it);
- the offline store (an ADLS Gen2 container: the manifest's, else `offline-store` in the default
  storage account) and the online store (Redis) as WorkspaceConnections authenticated by that
  identity, with the body azure-ai-ml's update sends (`WorkspaceConnection(type=..., credentials=
  materialization_identity)._to_rest_object()`: category ADLSGen2 or Redis, the category its get()
  recognises a store by). azure-ai-ml names them `OfflineStoreConnectionName-<8 random hex>`
  (`_feature_store_operations.py`, begin_create/begin_update); amlctl names them after their target
  (`-<8 hex of the target's ARM id>`), so a render is the same every time, and another target is
  another connection, as azure-ai-ml makes a new one for a new target. The names keep azure-ai-ml's
  prefixes: its get() tells a feature store's stores and identity by them. featureStoreSettings
  names both connections and the Spark runtime (azure-ai-ml's default 3.4.0);
- `systemDatastoresAuthMode: Identity`, which azure-ai-ml's create sets for a feature store;
- the identity's role assignments, those the template grants when grant_materialization_permissions
  is true (its default): AzureML Data Scientist on the feature store, Storage Blob Data Contributor
  on the offline store and on the feature store's default storage account, Contributor on the
  online store (kinds.rbac.assign: UUIDv5 names, so re-runs converge).

FeatureStoreEntity and FeatureSet are asset versions of a feature store (their workspace is the
feature store), append-only like every asset version (APPEND_ONLY: a version that leaves git is
kept in Azure; controller.plan.immutable lists their versions as immutable): a container
(FeaturestoreEntityContainerEntity, FeaturesetContainerEntity) that the highest version describes,
and the version. Their bodies are azure-ai-ml's `_to_rest_object()`'s. A feature set's
specification folder is uploaded content-addressed (kinds.upload) and sent as its
azureml://datastores/amlctl_assets URI; its properties carry what MLClient's create adds
(`featuresetPropertiesVersion` and `featuresetProperties`, the spec as azure-ai-ml's
FeaturesetSpecMetadata dumps it). Its entities are sent as written (`azureml:<name>:<version>`, as
azure-ai-ml sends them) and must be entity versions of the same feature store.
"""
from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import PurePosixPath
from typing import Any

import yaml

from controller import schemas as S
from controller.diagnostics import Diagnostic, Severity
from controller.manifests.model import Manifest
from controller.render import arm
from controller.render.context import APPEND_ONLY, ASSETS_DATASTORE, ML, Context, resource_name, short_hash
from controller.render.graph import output
from controller.render.kinds import rbac, renders, scope, workspace_dep

UAI = "azure-native:managedidentity:UserAssignedIdentity"
# azure-ai-ml's OFFLINE_STORE_CONNECTION_NAME / ONLINE_STORE_CONNECTION_NAME (entities/_feature_store/
# _constants.py): its get() reads a connection as the feature store's store by these prefixes.
OFFLINE_PREFIX, ONLINE_PREFIX = "OfflineStoreConnectionName", "OnlineStoreConnectionName"
OFFLINE_CATEGORY, ONLINE_CATEGORY = "ADLSGen2", "Redis"
DEFAULT_OFFLINE_CONTAINER = "offline-store"
SPEC_FILE = "FeatureSetSpec.yaml"  # the name MLClient reads (read_feature_set_metadata), case and all
ROLES = {"feature store": "AzureML Data Scientist", "offline store": "Storage Blob Data Contributor",
         "default storage": "Storage Blob Data Contributor", "online store": "Contributor"}


# -- names ----------------------------------------------------------------------------------------
def materialization_identity_name(subscription: str, resource_group: str, location: str, name: str) -> str:
    """azure-ai-ml's `_generate_materialization_identity` (operations/_workspace_operations_base.py):
    a UUIDv3 of the feature store's name in a namespace made of its subscription, group and region."""
    raw = f"{subscription[:12]}_{resource_group[:12]}_{location}"
    namespace = "".join(ch for ch in raw.lower() if ch.isalpha() or ch.isdigit()).encode("utf-8").hex()
    return "materialization-uai-" + uuid.uuid3(uuid.UUID(namespace[:32].ljust(32, "0")), name.lower()).hex


def connection_name(prefix: str, target: str) -> str:
    """A store's connection, named after what it connects to (ARM ids compare case-insensitively)."""
    return f"{prefix}-{short_hash(target.lower())}"


# -- converters -----------------------------------------------------------------------------------
def _spark_conf(value: Any, c: arm.Convert) -> Any:
    """Spark settings as the map of strings the provider types: numbers and booleans as Spark writes
    them, a mapping or list (a conda environment under spark.synapse.library.python.env) as its
    YAML text, which is what Spark reads there."""
    if not isinstance(value, dict):
        return value
    out: dict[str, str] = {}
    for key, v in sorted(value.items()):
        if isinstance(v, (dict, list)):
            out[key] = yaml.safe_dump(v, sort_keys=False, default_flow_style=False)
        elif isinstance(v, bool):
            out[key] = "true" if v else "false"
        else:
            out[key] = str(v)
    return out


def _materialization_trigger(value: Any, c: arm.Convert) -> Any:
    """A materialization schedule: ARM's RecurrenceTrigger, with the time zone and the (empty) pattern
    azure-ai-ml sends when the manifest has none (RecurrenceTrigger._to_rest_object)."""
    if not isinstance(value, dict):
        return value
    out = arm.CONVERTERS["trigger"]({**value, "frequency": str(value.get("frequency", "")).lower()}, c)
    out.setdefault("timeZone", "UTC")
    out.setdefault("schedule", {"hours": [], "minutes": []})  # no pattern, as azure-ai-ml sends it
    return out


arm.CONVERTERS.update({"spark-conf": _spark_conf, "materialization-trigger": _materialization_trigger})


# -- FeatureStore ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Identity:
    arm_id: str
    client_id: Any  # a GUID, or the $output of the identity amlctl creates
    principal_id: Any
    node: str | None  # the graph resource, when amlctl creates it
    key: str  # what names its role assignments


@renders("FeatureStore")
def feature_store(m: Manifest, ctx: Context) -> None:
    from controller.render.kinds import workspace as W
    spec = m.spec
    other = ctx.find("Workspace", m.name, None)
    if other is not None:  # both are workspaces: one name in the resource group, one ARM id
        raise ctx.error(m, ("name",), "M001", f"feature store {m.name!r} has the name of the Workspace at "
                        f"{other.where(('name',))}: a feature store is a workspace, and workspace names are "
                        "unique in the resource group")
    if spec.get("storage_account") and not spec.get("offline_store"):
        raise ctx.error(m, ("storage_account",), "S005", "missing required field 'offline_store': with an existing "
                        "storage_account, azure-ai-ml makes the offline store in a storage account of its own; "
                        "give the ADLS Gen2 container to use (offline_store: {type: azure_data_lake_gen2, target: "
                        "<container ARM id>})")
    W.workspace(m, ctx)  # the workspace of kind featurestore, what it stands on, amlctl's uploads
    ws_node = resource_name(m)
    location = str(ctx.resources[ws_node].inputs.get("location", ctx.location))
    storage_node = f"{m.name}/storage" if f"{m.name}/storage" in ctx.resources else None
    if storage_node:  # azure-ai-ml's template: isHnsEnabled = (kind == featurestore)
        _amend(ctx, storage_node, {"isHnsEnabled": True})
    account, account_rg = W.storage_account(m, ctx)
    storage_id = spec.get("storage_account") or ctx.provider_id("Microsoft.Storage", "storageAccounts", account)

    identity = _identity(m, ctx, location)
    offline_target, offline_node = _offline_store(m, ctx, account, account_rg, storage_node)
    online_target = (spec.get("online_store") or {}).get("target")

    stores = [(OFFLINE_PREFIX, OFFLINE_CATEGORY, offline_target, offline_node, "offline_store")]
    if online_target:
        stores.append((ONLINE_PREFIX, ONLINE_CATEGORY, online_target, None, "online_store"))
    settings: dict[str, Any] = {}
    connections = []
    for prefix, category, target, dep, field in stores:
        name = connection_name(prefix, target)
        node = f"{m.name}/connection/{name}"
        ctx.add(m, node, ML + "WorkspaceConnection", {
            "resourceGroupName": ctx.resource_group, "workspaceName": m.name, "connectionName": name,
            "properties": {"authType": "ManagedIdentity", "category": category, "target": target,
                           "credentials": {"clientId": identity.client_id, "resourceId": identity.arm_id},
                           "isSharedToAll": True, "metadata": {}},
        }, depends_on=[ws_node, identity.node, dep], spec_path=(field,) if field in spec else (),
            label=f"{field.replace('_', ' ')} connection of feature store {m.name}")
        settings["offlineStoreConnectionName" if prefix == OFFLINE_PREFIX else "onlineStoreConnectionName"] = name
        connections.append(node)

    ws = ctx.resources[ws_node]
    own = ws.inputs.get("identity") or {}
    inputs = dict(ws.inputs)
    inputs["identity"] = {"type": "SystemAssigned,UserAssigned",
                          "userAssignedIdentities": sorted({*own.get("userAssignedIdentities", ()), identity.arm_id})}
    inputs["featureStoreSettings"] = {**(inputs.get("featureStoreSettings") or {}), **settings}
    # The workspace names its connections, which are its children: Azure takes the names before the
    # connections exist (azure-ai-ml's template sets them in a deployment after them; a later apply
    # that finds them made is a no-op).
    ctx.resources[ws_node] = dataclasses.replace(ws, inputs=inputs, depends_on=tuple(sorted(
        {*ws.depends_on, *([identity.node] if identity.node else [])})))

    grants = [("feature store", ctx.workspace_id(m.name), [ws_node]),
              ("offline store", offline_target, [offline_node]),
              ("default storage", storage_id, [storage_node])]
    if online_target:
        grants.append(("online store", online_target, []))
    for what, target, deps in grants:
        rbac.assign(ctx, m, scope=target, role=ROLES[what], principal=identity.principal_id,
                    principal_type="ServicePrincipal", key=identity.key, depends_on=[*deps, identity.node],
                    label=f"{ROLES[what]} on the {what} for the materialization identity of {m.name}",
                    spec_path=("materialization_identity",) if "materialization_identity" in spec else ())


def _amend(ctx: Context, name: str, inputs: dict[str, Any]) -> None:
    r = ctx.resources[name]
    ctx.resources[name] = dataclasses.replace(r, inputs={**r.inputs, **inputs})


def _identity(m: Manifest, ctx: Context, location: str) -> Identity:
    given = m.spec.get("materialization_identity")
    if given:
        return Identity(given["resource_id"], given["client_id"], given["principal_id"], None, given["principal_id"])
    name = materialization_identity_name(ctx.subscription, ctx.resource_group, location, m.name)
    node = f"{m.name}/materialization-identity"
    arm_id = ctx.provider_id("Microsoft.ManagedIdentity", "userAssignedIdentities", name)
    from controller.render.kinds.workspace import RESOURCE_GROUP
    # Tagged like what a workspace stands on: without the commit, which would touch it on every edit.
    tags = {k: v for k, v in ctx.tags(m, m.spec.get("tags")).items() if k != "amlctl-commit"}
    ctx.add(m, node, UAI, {"resourceName": name, "resourceGroupName": ctx.resource_group, "location": location,
                           "tags": tags},
            depends_on=[RESOURCE_GROUP if ctx.stack.settings.get("manageResourceGroup") else None], stateful=True,
            label=f"materialization identity of feature store {m.name}")
    return Identity(arm_id, output(node, "clientId"), output(node, "principalId"), node, arm_id)


def _offline_store(m: Manifest, ctx: Context, account: str, account_rg: str,
                   storage_node: str | None) -> tuple[str, str | None]:
    """(ARM id of the offline store's container, its graph resource when amlctl makes it)."""
    given = m.spec.get("offline_store")
    if given:
        return given["target"], None
    node = f"{m.name}/storage/{DEFAULT_OFFLINE_CONTAINER}"
    ctx.add(m, node, "azure-native:storage:BlobContainer", {
        "accountName": account, "resourceGroupName": account_rg, "containerName": DEFAULT_OFFLINE_CONTAINER,
        "publicAccess": "None"}, depends_on=[storage_node], stateful=True,
        retain_on_delete=True,  # materialized features: another offline store leaves them be
        label=f"offline store of feature store {m.name}")
    target = ctx.provider_id("Microsoft.Storage", "storageAccounts", account, "blobServices", "default",
                             "containers", DEFAULT_OFFLINE_CONTAINER)
    return target, node


# -- FeatureStoreEntity, FeatureSet ----------------------------------------------------------------
@renders("FeatureStoreEntity")
def feature_store_entity(m: Manifest, ctx: Context) -> None:
    store = _feature_store(m, ctx)
    deps: set[str] = set()
    props = ctx.arm(m, deps).body.get("properties", {})
    _versioned(m, ctx, "FeaturestoreEntity", props, deps, "feature store entity", store)


@renders("FeatureSet")
def feature_set(m: Manifest, ctx: Context) -> None:
    store = _feature_store(m, ctx)
    deps: set[str] = set()
    props = ctx.arm(m, deps).body.setdefault("properties", {})
    _entities(m, ctx, deps)
    settings = m.spec.get("materialization_settings")
    if isinstance(settings, dict):
        if settings.get("online_enabled") and store is not None and not store.spec.get("online_store"):
            raise ctx.error(m, ("materialization_settings", "online_enabled"), "S005", "materialization_settings."
                            f"online_enabled: feature store {store.name!r} has no online_store "
                            f"({store.where(('name',))}); give it one, or materialize offline only")
        _check_schedule(m, ctx, settings)
        online, offline = bool(settings.get("online_enabled")), bool(settings.get("offline_enabled"))
        props.setdefault("materializationSettings", {})["storeType"] = (
            "OnlineAndOffline" if online and offline else "Online" if online else "Offline" if offline else "None")
    path = (m.spec.get("specification") or {}).get("path")
    local = ctx.local(m, path) if isinstance(path, str) and "://" not in path else None
    if local is not None:
        deps.add(f"{m.workspace}/datastore/{ASSETS_DATASTORE}")
        spec_properties = _spec_properties(m, ctx, local)
        if spec_properties:
            props["properties"] = {**props.get("properties", {}), **spec_properties}
    _versioned(m, ctx, "Featureset", props, deps, "feature set", store)


def _feature_store(m: Manifest, ctx: Context) -> Manifest | None:
    """The FeatureStore manifest a feature store asset lives in (None when the estate does not define
    its workspace); an error when its workspace is a workspace of another kind."""
    ws = ctx.workspaces.get(m.workspace or "")
    if ws is not None and ws.kind != "FeatureStore":
        raise ctx.error(m, ("name",), "M009", f"a {m.kind} lives in a feature store, and {m.workspace!r} is a workspace "
                        f"of kind {ws.spec.get('kind', 'default')!r} ({ws.where(('name',))}); put it in the "
                        "folder of a FeatureStore manifest, or name one with metadata.workspace")
    return ws


def _versioned(m: Manifest, ctx: Context, kind: str, props: dict[str, Any], deps: set[str], label: str,
               store: Manifest | None) -> None:
    """The container (shared by the versions, described by the highest) and the version: both
    append-only, as every asset version is (kinds.assets._asset, for these types)."""
    version = ctx.version_of(m)
    container = resource_name(m)
    ws = workspace_dep(m, ctx)
    if ctx.is_latest(m):
        described = {k: props[k] for k in ("description", "tags") if props.get(k)}
        ctx.add(m, container, ML + f"{kind}ContainerEntity", {
            **scope(m, ctx), "name": m.name, "properties": {**described, "isArchived": False}},
            depends_on=[ws], label=f"{label} {m.name}", **APPEND_ONLY)
    ctx.add(m, resource_name(m, version), ML + f"{kind}Version", {
        **scope(m, ctx), "name": m.name, "version": version, "properties": props,
    }, depends_on=deps | {container, ws}, label=f"{label} {m.name} version {version}", **APPEND_ONLY)


def _entities(m: Manifest, ctx: Context, deps: set[str]) -> None:
    """Each entity a FeatureStoreEntity version of the same feature store: an entity no manifest
    defines is an error (the feature set could not be joined on it); a version the estate does not
    define must exist in Azure already (an older one, kept there), which is a warning."""
    store = ctx.workspaces.get(m.workspace or "")
    for i, ref in enumerate(m.spec.get("entities") or ()):
        _, name, version = str(ref).split(":", 2)
        target = ctx.find("FeatureStoreEntity", name, m.workspace, version)
        if target is not None and target.workspace == m.workspace:
            deps.add(resource_name(target, version))
            continue
        if store is None:
            continue  # a feature store outside the estate: its entities are not known here
        defined = sorted(o.version or "" for o in ctx.index.get(("FeatureStoreEntity", m.workspace, name), []))
        where = m.where(("entities", i))
        if not defined:
            raise ctx.error(m, ("entities", i), "M003", f"entities[{i}]: no FeatureStoreEntity manifest {name!r} in "
                            f"feature store {m.workspace!r}; define it (kind: FeatureStoreEntity) there")
        ctx.diagnostics.append(Diagnostic(where.path, where.line, where.col, "M002", Severity.WARNING,
                                          f"entities[{i}]: FeatureStoreEntity {name!r} version {version} is not "
                                          f"defined here (the estate has {', '.join(defined)}); it must exist in "
                                          "Azure already", m.subject, ctx.stack.name))


def _check_schedule(m: Manifest, ctx: Context, settings: dict[str, Any]) -> None:
    """The materialization trigger, checked as every schedule's is (controller.checks.schedules)."""
    from controller.checks import schedules
    trigger = settings.get("schedule")
    if not isinstance(trigger, dict):
        return
    path = ("materialization_settings", "schedule")
    lowered = {**trigger, "frequency": str(trigger.get("frequency", "")).lower()}
    for at, code, message in schedules.problems(lowered):
        where = m.where(path + at)
        severity = Severity.ERROR if code == "M013" else Severity.WARNING
        ctx.diagnostics.append(Diagnostic(where.path, where.line, where.col, code, severity,
                                          f"{S.dotted(path + at)}: {message}", m.subject, ctx.stack.name))


def _spec_properties(m: Manifest, ctx: Context, local: PurePosixPath) -> dict[str, str]:
    """What MLClient's create adds to a feature set's properties: the specification's version and the
    specification itself, as azure-ai-ml's FeaturesetSpecMetadata dumps it (FeatureSetOperations.
    begin_create_or_update). Read by azure-ai-ml from the folder, so what Azure records is what
    azure-ai-ml would record."""
    full = ctx.root / str(local)
    spec_file = full / SPEC_FILE
    at = ("specification", "path")
    if not spec_file.is_file():
        if ctx.allow_missing_files:
            return {}
        others = sorted(p.name for p in full.iterdir() if p.name.lower() == SPEC_FILE.lower()) if full.is_dir() else []
        hint = (f" ({others[0]} is there: MLClient reads {SPEC_FILE}, spelled so, and a case-sensitive "
                "file system tells them apart)") if others else ""
        raise ctx.error(m, at, "M006", f"specification.path: {local} has no {SPEC_FILE}{hint}")
    from controller.render.kinds import compiled, refusal
    text = ctx.read_text(m, str(PurePosixPath(str((m.spec.get("specification") or {}).get("path"))) / SPEC_FILE))

    def dump() -> dict[str, str]:
        with compiled.quiet():
            from azure.ai.ml.entities._feature_set.featureset_spec_metadata import FeaturesetSpecMetadata
            metadata = FeaturesetSpecMetadata._load(yaml.safe_load(text) or {}, str(spec_file))
            return {"featuresetPropertiesVersion": "1", "featuresetProperties": json.dumps(metadata._to_dict())}
    try:
        return compiled.cached(["featureset-spec", text], dump)
    except Exception as e:  # azure-ai-ml's own validation of the specification
        raise ctx.error(m, at, "R010", f"specification.path: azure-ai-ml cannot read {local}/{SPEC_FILE}: "
                        f"{refusal.reason(e)}")
