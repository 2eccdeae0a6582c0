"""Which properties Azure cannot change in place, per resource type: the one table `plan` (and the
local simulation target) use to tell an update from a replacement.

Paths are dotted input paths; a trailing ".*" covers everything below. Besides this table, any
top-level input that names or places the resource (`*Name`, `name`, `version`, `id`, `location`,
`scope`) forces a replacement for every type: ARM addresses resources by those.
"""
from __future__ import annotations

import fnmatch

ML = "azure-native:machinelearningservices:"

COMPUTE = ("properties.computeType", "properties.properties.vmSize", "properties.properties.vmPriority",
           "properties.properties.subnet.*", "properties.properties.osType", "properties.resourceId",
           "properties.properties.personalComputeInstanceSettings.*")

REPLACE_ON_CHANGE: dict[str, tuple[str, ...]] = {
    ML + "Workspace": ("hbiWorkspace", "storageAccount", "keyVault", "enableDataIsolation", "encryption.*", "kind"),
    # An AmlCompute cluster cannot change VM size, priority, subnet or OS once created, a compute
    # instance its VM size, subnet or owner; an attached compute (Kubernetes, VM, Synapse pool) is
    # another compute once it points at another resource.
    ML + "Compute": COMPUTE,
    # A deployment's SKU and compute type are fixed: a new size needs a new deployment and a traffic shift.
    ML + "OnlineDeployment": ("properties.instanceType", "properties.endpointComputeType", "kind",
                              "properties.dataCollector.*"),
    ML + "OnlineEndpoint": ("kind", "identity.type", "properties.compute"),
    ML + "BatchEndpoint": ("kind",),
    ML + "BatchDeployment": ("properties.deploymentConfiguration.*",),
    ML + "Datastore": ("properties.datastoreType", "properties.accountName", "properties.containerName",
                       "properties.fileShareName", "properties.filesystem", "properties.storeName",
                       "properties.oneLakeWorkspaceName", "properties.artifact.*"),
    # Azure takes a capability host only on create (azure-ai-ml: "can only accept the create
    # operation request and not update"): any change is a delete and a create.
    ML + "CapabilityHost": ("properties.*",),
    # Asset versions are immutable (only description, tags and archival can change): `plan` reports
    # a changed explicit version as an error that asks for a version bump.
    ML + "DataVersion": ("properties.*",),
    ML + "EnvironmentVersion": ("properties.*",),
    ML + "ModelVersion": ("properties.*",),
    ML + "ComponentVersion": ("properties.*",),
    ML + "CodeVersion": ("properties.*",),
    ML + "FeaturestoreEntityVersion": ("properties.*",),
    ML + "FeaturesetVersion": ("properties.*",),
    # ... and so are the versions published into a registry (controller/render/kinds/registry_assets.py).
    ML + "RegistryModelVersion": ("properties.*",),
    ML + "RegistryEnvironmentVersion": ("properties.*",),
    ML + "RegistryComponentVersion": ("properties.*",),
    ML + "Job": ("properties.*",),
    ML + "ServerlessEndpoint": ("properties.modelSettings.*", "sku.*"),
    ML + "MarketplaceSubscription": ("properties.*",),
    ML + "Registry": ("regionDetails.*",),
    ML + "WorkspaceConnection": ("properties.category",),
    "azure-native:storage:StorageAccount": ("kind", "isHnsEnabled", "sku.*", "enableNfsV3"),
    "azure-native:storage:Blob": ("source.*", "type"),
    "azure-native:keyvault:Vault": ("properties.tenantId",),
    "azure-native:authorization:RoleAssignment": ("principalId.*", "principalId", "roleDefinitionId", "principalType"),
    "azure-native:operationalinsights:Workspace": (),
    "azure-native:applicationinsights:Component": ("kind", "applicationType"),
    "azure-native:containerregistry:Registry": (),
    "azure-native:resources:ResourceGroup": (),
    # The generic resource: its address is its path parameters. A compute instance goes through it
    # (controller/render/kinds/compute.py) with the typed Compute's body, so the typed Compute's
    # rules hold for it too (its VM size, subnet and owner cannot change in place either); a newer
    # apiVersion is the same resource. Its other users (fine-tuning runs) are named by their
    # content, so any change of theirs is a new name anyway.
    "azure-native:resources:Resource": ("parentResourcePath", "resourceType", "resourceProviderNamespace",
                                        *COMPUTE),
    "amlctl:azureml:EndpointTraffic": ("endpointId",),
}

# Asset versions: the properties that may change in place on an existing version.
MUTABLE_ON_VERSIONS = ("properties.description", "properties.tags.*", "properties.tags", "properties.isArchived",
                       "properties.stage")
VERSIONED_TYPES = tuple(ML + t for t in ("DataVersion", "EnvironmentVersion", "ModelVersion", "ComponentVersion",
                                         "CodeVersion", "FeaturestoreEntityVersion", "FeaturesetVersion",
                                         "RegistryModelVersion", "RegistryEnvironmentVersion",
                                         "RegistryComponentVersion"))

_IDENTITY_KEYS = ("name", "version", "id", "location", "scope")


def forces_replace(type_: str, path: str) -> bool:
    """Whether changing the input at dotted `path` replaces a resource of `type_`."""
    top = path.split(".", 1)[0]
    if top in _IDENTITY_KEYS or (top.endswith("Name") and "." not in path) or (top.endswith("Name") and top == path):
        return True
    if type_ in VERSIONED_TYPES and _matches(path, MUTABLE_ON_VERSIONS):
        return False
    return _matches(path, REPLACE_ON_CHANGE.get(type_, ()))


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    for pattern in patterns:
        if pattern.endswith(".*"):
            stem = pattern[:-2]
            if path == stem or path.startswith(stem + ".") or fnmatch.fnmatchcase(path, pattern):
                return True
        elif path == pattern or path.startswith(pattern + "."):
            return True
    return False


def engine_replace_paths(type_: str) -> tuple[str, ...]:
    """The table's rules for `type_` as Pulumi `replace_on_changes` paths, for the program to pass to
    the engine, so a change Azure cannot make in place is a replacement on Azure too, not only in
    `plan` and on the local target. pulumi-azure-native replaces only on what its schema marks
    (path parameters), never on the body properties above (Azure refuses those as updates).

    A Pulumi path covers everything below it (PropertyPath.Contains), so a trailing ".*" is dropped.
    Asset versions and runs are left out: their bodies are append-only and plan refuses a change to
    one before the engine sees it, and their mutable fields (MUTABLE_ON_VERSIONS) have no
    exception in Pulumi's paths. The identity keys need none: they are the provider's path parameters."""
    if type_ in VERSIONED_TYPES or type_ == ML + "Job" or not type_.startswith("azure-native:"):
        return ()
    return tuple(sorted({p[:-2] if p.endswith(".*") else p for p in REPLACE_ON_CHANGE.get(type_, ())}))

