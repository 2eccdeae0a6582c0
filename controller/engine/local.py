"""The LOCAL SIMULATION TARGET: a stand-in for Azure Resource Manager on the local disk.

THIS IS A SIMULATION. Nothing here talks to Azure. Every resource of a graph becomes one JSON
document in a state directory, so the whole controller (render, the Pulumi engine, plan, apply,
refresh, drift) can run end to end on a laptop or in CI without a subscription.

    classes(state_dir, subscription=...)  -> what controller.program.build(classes=...) takes
    prepare(graph)                        -> the graph with `$clientConfig` markers made concrete
                                             (only the azure-native provider can look those up)

Each graph type token maps to a `pulumi.dynamic.Resource` subclass (Pulumi type
`pulumi-python:dynamic/local/<package>/<module>:<Type>`) whose provider, `ArmSimulator` (or
`TrafficSimulator` for amlctl:azureml:EndpointTraffic), behaves like ARM where it matters:

- ids: each resource gets an ARM-like id derived from its inputs (`ID_TEMPLATES`: subscription,
  resourceGroupName, workspaceName, names, versions); it is the Pulumi id and the `id` output.
- parents: a child whose parent document does not exist fails like ARM, e.g.
  "ResourceNotFound: workspace 'mlw-credit' not found (...)": workspace children need the
  workspace, asset versions their container, deployments their endpoint, blobs their storage
  container, storage containers their account. Resource groups, role-assignment scopes and
  anything else outside `ID_TEMPLATES`' parent column are assumed to exist.
- uniqueness: a second resource with the same id (ids compare case-insensitively, as in ARM)
  under a different Pulumi name fails with "Conflict: ...". Re-creating under the same name
  is an upsert, as an ARM PUT is.
- update in place / replace: `diff` compares old and new inputs leaf by leaf (dotted paths, as
  controller.plan does) and asks controller.plan.immutable.forces_replace which leaves force a
  replacement. A replacement that keeps the same id deletes first (ARM names are the ids).
- refresh: `read` returns the document on disk, so edits made behind the controller's back show
  up as drift; a missing document (or a missing parent) means the resource is gone.
- delete: removes the document and, as ARM does, everything below it (a workspace's computes,
  an account's containers and blobs, role assignments scoped to it). Deleting what is not there
  succeeds, as ARM's DELETE does.
- update keeps what ARM owns (an endpoint's traffic, SERVER_SET) and recreates a document that
  vanished (a PUT is an upsert); `created` survives updates.
- assets (Blob sources) are stored as {"$asset": {"sha256"}}: they reach the provider as
  such, since the engine hands dynamic providers hash-only assets in diff.
- computed outputs: `id`, and for inputs with a system-assigned identity `identity.principalId`
  and `identity.tenantId` (deterministic GUIDs from the id).
- secrets: values under `SECRET_PATHS` (connection credentials) and every value the program marked
  secret (a compute's admin password from secret config; the program lists their paths in the
  `__secretPaths` input) are never written to disk; the document holds {"$secret": {"sha256": ...}}
  instead, like ARM that never returns them.
- EndpointTraffic writes the endpoint document's properties.traffic / properties.mirrorTraffic
  (online) or properties.defaults.deploymentName (batch), and fails if a deployment it names
  does not exist. It has no document of its own.

Failure injection (for tests): AMLCTL_SIM_FAIL, in the environment of the Pulumi engine, is a
comma-separated list of Pulumi resource names or ARM id suffixes ("computes/cpu-cluster");
create or update of a matching resource raises "simulated failure ..." before anything is written.

Layout of the state directory:

    <state_dir>/
      arm/<ARM id, lower-cased, one directory per segment>.json   one document per resource, e.g.
          arm/subscriptions/<sub>/resourcegroups/rg/providers/microsoft.machinelearningservices/workspaces/w.json
          arm/subscriptions/<sub>/resourcegroups/rg/providers/microsoft.machinelearningservices/workspaces/w/computes/c.json
          (blob names, after .../containers/<c>/blobs/, keep their case: they are case-sensitive)
      operations.jsonl   one line per create/update/delete/traffic the simulated ARM performed
      .lock              taken (flock) around every operation

    A document:
      {"simulated": true, "id": "<ARM id>", "type": "<Pulumi type token>", "name": "<Pulumi name that
       created it>", "parent": "<ARM id of the required parent>" | null,
       "properties": {<the inputs, camelCase wire names, as in the graph>},
       "computed": {"id": ..., "identity": {"principalId": ..., "tenantId": ...}},
       "created": "<UTC ISO time>", "updated": "<UTC ISO time>"}

Every write goes to a temporary file in the same directory and is moved into place with
os.replace, so an interrupted run never leaves a torn document.

The provider is pickled (dill) into the Pulumi state by reference to this module: the engine's
Python dynamic-provider process must be able to import `controller.engine.local` (PYTHONPATH
holding the repository root).
"""
from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import quote

import pulumi

from controller.render import arm

try:  # POSIX; elsewhere operations are serialised within one process only
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

FAIL_ENV = "AMLCTL_SIM_FAIL"
# "<Pulumi name or ARM id suffix>:<seconds>": that resource's create/update takes this long, so tests
# can hold an update open (to try a second one at once, or to interrupt it).
SLOW_ENV = "AMLCTL_SIM_SLOW"
FAKE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
NAMESPACE = uuid.UUID("5d1c0a8e-8f7b-4c43-9a55-1b0c5e3e9f10")  # for the simulation's deterministic GUIDs
SIM_TENANT = str(uuid.uuid5(NAMESPACE, "tenant"))
TRAFFIC = "amlctl:azureml:EndpointTraffic"
SYSTEM_DATASTORE = "amlctl:azureml:SystemDatastore"
ML = "azure-native:machinelearningservices:"
# The datastores Azure ML makes with every workspace (the simulated workspace makes them too).
SYSTEM_DATASTORES = ("workspaceblobstore", "workspacefilestore", "workspaceartifactstore",
                     "workspaceworkingdirectory")
_SIG_KEY, _SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"  # pulumi rpc
SECRETS_KEY = "__secretPaths"  # an input naming where the program put secrets (never stored in a document)

_RG = "/subscriptions/{subscription}/resourceGroups/{resourceGroupName}"
_WS = _RG + "/providers/Microsoft.MachineLearningServices/workspaces/{workspaceName}"
_SA = _RG + "/providers/Microsoft.Storage/storageAccounts/{accountName}"
_REG = _RG + "/providers/Microsoft.MachineLearningServices/registries/{registryName}"
_CONTAINER = _SA + "/blobServices/default/containers/{containerName}"

# type token -> (id template, template of the parent that must exist or None). Placeholders are
# input (wire) names, plus {subscription}.
ID_TEMPLATES: dict[str, tuple[str, str | None]] = {
    "azure-native:resources:ResourceGroup": (_RG, None),
    ML + "Workspace": (_WS, None),
    ML + "Registry": (_RG + "/providers/Microsoft.MachineLearningServices/registries/{registryName}", None),
    # Assets published into a registry (controller/render/kinds/registry_assets.py).
    ML + "RegistryModelContainer": (_REG + "/models/{modelName}", _REG),
    ML + "RegistryModelVersion": (_REG + "/models/{modelName}/versions/{version}", _REG + "/models/{modelName}"),
    ML + "RegistryEnvironmentContainer": (_REG + "/environments/{environmentName}", _REG),
    ML + "RegistryEnvironmentVersion": (_REG + "/environments/{environmentName}/versions/{version}",
                                        _REG + "/environments/{environmentName}"),
    ML + "RegistryComponentContainer": (_REG + "/components/{componentName}", _REG),
    ML + "RegistryComponentVersion": (_REG + "/components/{componentName}/versions/{version}",
                                      _REG + "/components/{componentName}"),
    ML + "Compute": (_WS + "/computes/{computeName}", _WS),
    ML + "Datastore": (_WS + "/datastores/{name}", _WS),
    ML + "WorkspaceConnection": (_WS + "/connections/{connectionName}", _WS),
    ML + "DataContainer": (_WS + "/data/{name}", _WS),
    ML + "DataVersion": (_WS + "/data/{name}/versions/{version}", _WS + "/data/{name}"),
    ML + "EnvironmentContainer": (_WS + "/environments/{name}", _WS),
    ML + "EnvironmentVersion": (_WS + "/environments/{name}/versions/{version}", _WS + "/environments/{name}"),
    ML + "ModelContainer": (_WS + "/models/{name}", _WS),
    ML + "ModelVersion": (_WS + "/models/{name}/versions/{version}", _WS + "/models/{name}"),
    ML + "ComponentContainer": (_WS + "/components/{name}", _WS),
    ML + "ComponentVersion": (_WS + "/components/{name}/versions/{version}", _WS + "/components/{name}"),
    ML + "CodeContainer": (_WS + "/codes/{name}", _WS),
    # Azure ML creates a code container with its first version: a code version needs only the workspace.
    ML + "CodeVersion": (_WS + "/codes/{name}/versions/{version}", _WS),
    ML + "OnlineEndpoint": (_WS + "/onlineEndpoints/{endpointName}", _WS),
    ML + "OnlineDeployment": (_WS + "/onlineEndpoints/{endpointName}/deployments/{deploymentName}",
                              _WS + "/onlineEndpoints/{endpointName}"),
    ML + "BatchEndpoint": (_WS + "/batchEndpoints/{endpointName}", _WS),
    ML + "BatchDeployment": (_WS + "/batchEndpoints/{endpointName}/deployments/{deploymentName}",
                             _WS + "/batchEndpoints/{endpointName}"),
    ML + "Job": (_WS + "/jobs/{id}", _WS),
    # The generic resource (a fine-tuning run): the ARM path its inputs spell, under its parent.
    "azure-native:resources:Resource": (
        _RG + "/providers/{resourceProviderNamespace}/{parentResourcePath}/{resourceType}/{resourceName}",
        _RG + "/providers/{resourceProviderNamespace}/{parentResourcePath}"),
    ML + "Schedule": (_WS + "/schedules/{name}", _WS),
    ML + "ServerlessEndpoint": (_WS + "/serverlessEndpoints/{name}", _WS),
    ML + "MarketplaceSubscription": (_WS + "/marketplaceSubscriptions/{name}", _WS),
    "azure-native:storage:StorageAccount": (_SA, None),
    "azure-native:storage:BlobContainer": (_CONTAINER, _SA),
    "azure-native:storage:Blob": (_CONTAINER + "/blobs/{blobName}", _CONTAINER),
    "azure-native:keyvault:Vault": (_RG + "/providers/Microsoft.KeyVault/vaults/{vaultName}", None),
    "azure-native:operationalinsights:Workspace": (
        _RG + "/providers/Microsoft.OperationalInsights/workspaces/{workspaceName}", None),
    "azure-native:applicationinsights:Component": (
        _RG + "/providers/Microsoft.Insights/components/{resourceName}", None),
    "azure-native:containerregistry:Registry": (
        _RG + "/providers/Microsoft.ContainerRegistry/registries/{registryName}", None),
    # The scope may live outside the estate (another team's storage account): not checked.
    "azure-native:authorization:RoleAssignment": (
        "{scope}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}", None),
    # A feature store's materialization identity (controller/render/kinds/featurestore.py).
    "azure-native:managedidentity:UserAssignedIdentity": (
        _RG + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}", None),
    TRAFFIC: ("{endpointId}/traffic", "{endpointId}"),
    SYSTEM_DATASTORE: (_WS + "/datastores/{name}", _WS),
}

# For types outside ID_TEMPLATES: the ARM provider namespace of a Pulumi module.
_NAMESPACES = {
    "machinelearningservices": "Microsoft.MachineLearningServices", "storage": "Microsoft.Storage",
    "keyvault": "Microsoft.KeyVault", "operationalinsights": "Microsoft.OperationalInsights",
    "applicationinsights": "Microsoft.Insights", "insights": "Microsoft.Insights",
    "containerregistry": "Microsoft.ContainerRegistry", "authorization": "Microsoft.Authorization",
    "network": "Microsoft.Network", "managedidentity": "Microsoft.ManagedIdentity",
}

# Properties ARM sets itself (never inputs): `diff` ignores them unless the inputs name them, and an
# update keeps them in the document. The traffic of an endpoint belongs to EndpointTraffic.
_ALWAYS_COMPUTED = ("id", "identity.principalId", "identity.tenantId")
SERVER_SET: dict[str, tuple[str, ...]] = {
    ML + "OnlineEndpoint": ("properties.traffic", "properties.mirrorTraffic"),
    ML + "BatchEndpoint": ("properties.defaults",),
    # A user-assigned identity's ids are Azure's (the simulation computes them, local_providers).
    "azure-native:managedidentity:UserAssignedIdentity": ("principalId", "clientId", "tenantId"),
}

# Values ARM never returns: kept out of the documents (a hash stands in for them).
SECRET_PATHS: dict[str, tuple[str, ...]] = {
    ML + "WorkspaceConnection": ("properties.credentials",),
    ML + "Datastore": ("properties.credentials.secrets",),
    SYSTEM_DATASTORE: ("properties.credentials.secrets",),
}

# Parent collection segment -> what ARM calls it in messages.
_LABELS = {
    "workspaces": "workspace", "onlineEndpoints": "online endpoint", "batchEndpoints": "batch endpoint",
    "data": "data container", "environments": "environment container", "models": "model container",
    "components": "component container", "codes": "code container", "containers": "storage container",
    "storageAccounts": "storage account", "deployments": "deployment", "resourceGroups": "resource group",
}


class ArmError(Exception):
    """What the simulated ARM answers with: "<Code>: <message>"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


# -- names ----------------------------------------------------------------------------------------
def wire(kwarg: str) -> str:
    """The wire (camelCase) name of a Python kwarg: the inverse of controller.program.snake."""
    if kwarg == "resource_name_":
        return "resourceName"
    head, *rest = kwarg.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _snake(name: str) -> str:
    from controller.program import snake  # the one definition; imported late (it imports pulumi)
    return snake(name)


# -- ids ------------------------------------------------------------------------------------------
def arm_ids(type_token: str, inputs: Mapping[str, Any], subscription: str,
            pulumi_name: str = "") -> tuple[str, str | None]:
    """(ARM-like id, id of the parent that must exist or None) of a resource with these inputs."""
    if type_token in ID_TEMPLATES:
        template, parent = ID_TEMPLATES[type_token]
    else:
        template, parent = _fallback_template(type_token, inputs)
    values = {"subscription": subscription}
    for key, value in inputs.items():
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            values[key] = str(value).strip("/") if key not in ("scope", "endpointId") else str(value).rstrip("/")
    if "{_autoname}" in template:
        values["_autoname"] = str(uuid.uuid5(NAMESPACE, f"{type_token}|{pulumi_name}"))

    def fill(t: str) -> str:
        try:
            out = t.format_map(_Strict(values))
        except KeyError as e:
            raise ArmError("BadRequest", f"{type_token}: the input {e.args[0]!r} that names the resource is "
                                         "missing or not a string") from None
        return out

    return fill(template), (fill(parent) if parent else None)


class _Strict(dict):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def _fallback_template(type_token: str, inputs: Mapping[str, Any]) -> tuple[str, str | None]:
    """An id for a type the table does not know: <rg or workspace>/<collection>/<name>[/versions/v]."""
    _, module, cls = _split(type_token)
    collection = cls[:1].lower() + cls[1:] + "s"
    own = cls[:1].lower() + cls[1:] + "Name"
    names = [k for k in sorted(inputs) if k.endswith("Name") and k not in ("resourceGroupName", "workspaceName")]
    key = own if own in inputs else "name" if "name" in inputs else names[0] if names else "_autoname"
    if module == "machinelearningservices" and "workspaceName" in inputs:
        base, parent = _WS, _WS
    else:
        base, parent = _RG + f"/providers/{_NAMESPACES.get(module, 'Microsoft.' + module.capitalize())}", None
    template = f"{base}/{collection}/{{{key}}}" + ("/versions/{version}" if "version" in inputs else "")
    return template, parent


def _split(type_token: str) -> tuple[str, str, str]:
    parts = type_token.split(":")
    if len(parts) != 3 or not all(parts):
        raise KeyError(f"not a Pulumi type token: {type_token!r}")
    return parts[0], parts[1], parts[2]


def principal_id(arm_id: str) -> str:
    """The simulated object id of the system-assigned identity of the resource `arm_id`."""
    return str(uuid.uuid5(NAMESPACE, "principal:" + arm_id.lower()))


def _describe(arm_id: str) -> str:
    """"workspace 'mlw-credit'" for .../workspaces/mlw-credit."""
    parts = arm_id.strip("/").split("/")
    if len(parts) >= 2:
        return f"{_LABELS.get(parts[-2], parts[-2])} '{parts[-1]}'"
    return f"'{arm_id}'"


# -- the store ------------------------------------------------------------------------------------
def _segment(s: str) -> str:
    enc = quote(s, safe="-_.@~+=,")
    if enc in ("", ".", ".."):
        raise ArmError("BadRequest", f"invalid name segment {s!r}")
    return enc


class Store:
    """The documents under a state directory (see the module docstring for the layout)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.arm = self.root / "arm"

    def path(self, arm_id: str) -> Path:
        parts = arm_id.strip("/").split("/")
        # ARM ids compare case-insensitively, so paths are lower case; blob names are case-sensitive.
        cut = next((i + 1 for i in range(len(parts) - 1) if parts[i].lower() == "blobs"
                    and i >= 2 and parts[i - 2].lower() == "containers"), len(parts))
        segments = [_segment(s.lower()) for s in parts[:cut]] + [_segment(s) for s in parts[cut:]]
        return self.arm.joinpath(*segments[:-1], segments[-1] + ".json")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as f:
            if fcntl is not None:
                fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(f, fcntl.LOCK_UN)

    def load(self, arm_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.path(arm_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def live(self, doc: Mapping[str, Any] | None) -> bool:
        """The document exists and so does every parent it needs (ARM forgets children of deleted parents)."""
        seen = 0
        while doc is not None:
            parent = doc.get("parent")
            if not parent:
                return True
            doc = self.load(parent)
            seen += 1
            if seen > 64:
                return False
        return False

    def write(self, doc: Mapping[str, Any]) -> None:
        path = self.path(doc["id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def delete(self, arm_id: str) -> bool:
        """Remove the document and everything below it. Whether the document existed."""
        path = self.path(arm_id)
        below = path.with_name(path.name[:-len(".json")])
        existed = path.exists()
        if below.is_dir():
            # Move aside first (atomic), then remove: an interruption leaves no half-deleted tree in place.
            trash = below.with_name(f".{below.name}.deleting-{uuid.uuid4().hex[:8]}")
            os.replace(below, trash)
            shutil.rmtree(trash, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return existed

    def documents(self) -> list[dict[str, Any]]:
        """Every document, in path order."""
        if not self.arm.exists():
            return []
        # Names starting with "." are temporary files and trees on their way out.
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(self.arm.rglob("*.json"))
                if not any(part.startswith(".") for part in p.relative_to(self.arm).parts)]

    def log(self, op: str, arm_id: str, name: str) -> None:
        line = json.dumps({"at": _now(), "op": op, "id": arm_id, "name": name}, sort_keys=True)
        with open(self.root / "operations.jsonl", "a", encoding="utf-8") as f:
            f.write(line + "\n")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- values ---------------------------------------------------------------------------------------
def _plain(value: Any, top: bool = True) -> Any:
    """Inputs as JSON, without the engine's `__provider`: assets become {"$asset": {...}} markers (with
    the file's sha256), like the graph's."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:  # a secret the engine handed over wrapped: its value
            return _plain(value.get("value"), top)
        return {k: _plain(v, False) for k, v in value.items() if not (top and k.startswith("__"))}
    if isinstance(value, (list, tuple)):
        return [_plain(v, False) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)  # the engine carries every number as a double; the graph has ints
    if isinstance(value, pulumi.FileAsset):
        # By content only, as the engine compares assets: where the checkout sits (a CI agent's
        # work folder, a past revision materialized for drift) is not a change.
        return {"$asset": {"sha256": _file_sha256(str(value.path))}}
    if isinstance(value, pulumi.StringAsset):
        return {"$asset": {"sha256": hashlib.sha256(value.text.encode()).hexdigest()}}
    if isinstance(value, pulumi.RemoteAsset):
        return {"$asset": {"uri": value.uri}}
    if isinstance(value, (pulumi.FileArchive, pulumi.RemoteArchive)):
        return {"$archive": {"path": str(getattr(value, "path", "") or getattr(value, "uri", ""))}}
    if isinstance(value, pulumi.AssetArchive):
        return {"$archive": {k: _plain(v, False) for k, v in value.assets.items()}}
    return value


def _file_sha256(path: str) -> str | None:
    from controller import files  # the one safe reader: streamed in constant memory, regular files only
    try:
        return files.sha256(Path(path), None)
    except (OSError, files.Refused):
        return None


_NONE = object()


def _leafish(v: Any) -> bool:
    """As controller.plan: dicts are walked into, except markers ({"$asset": ...}), which are values."""
    return not isinstance(v, dict) or (len(v) == 1 and next(iter(v)).startswith("$"))


def changed_paths(old: Any, new: Any, ignore_old_only: tuple[str, ...] = (), path: str = "") -> list[str]:
    """Dotted paths of the leaves that differ. Old-only leaves under `ignore_old_only` do not count."""
    if _leafish(old) or _leafish(new):
        if new is _NONE and _under(path, ignore_old_only):
            return []
        return [path] if old != new else []
    out: list[str] = []
    for k in sorted(set(old) | set(new)):
        sub = f"{path}.{k}" if path else k
        out += changed_paths(old.get(k, _NONE), new.get(k, _NONE), ignore_old_only, sub)
    return out


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + ".") for p in prefixes)


def _get(body: Mapping[str, Any], dotted: str) -> Any:
    return arm.get(body, dotted, _NONE)


def _set(body: dict[str, Any], dotted: str, value: Any) -> None:
    _set_keys(body, dotted.split("."), value)


def _secret_marker(arm_id: str, value: Any) -> dict[str, Any]:
    text = arm_id.lower() + "\0" + json.dumps(value, sort_keys=True)
    return {"$secret": {"sha256": hashlib.sha256(text.encode()).hexdigest()}}


def _map_leaves(value: Any, fn: Callable[[Any, str], Any], path: str = "") -> Any:
    if not _leafish(value):
        return {k: _map_leaves(v, fn, f"{path}.{k}" if path else k) for k, v in value.items()}
    return fn(value, path)


def _redact(type_token: str, arm_id: str, inputs: Mapping[str, Any],
            secrets: Iterable[str | list[str]] = ()) -> dict[str, Any]:
    """The inputs with a hash in place of each secret: what ARM never returns (SECRET_PATHS) and
    every value the program marked secret (`secrets`: lists of keys, or dotted paths; keys may
    hold dots, as a job's `azureml.connection_information` property does)."""
    out = copy.deepcopy(dict(inputs))
    for prefix in (*SECRET_PATHS.get(type_token, ()), *secrets):
        keys = prefix.split(".") if isinstance(prefix, str) else [str(k) for k in prefix]
        node = _get_keys(out, keys)
        if node is not _NONE:
            _set_keys(out, keys, _map_leaves(node, lambda v, _p: v if _is_secret_marker(v) else _secret_marker(arm_id, v)))
    return out


def _get_keys(body: Any, keys: list[str]) -> Any:
    for key in keys:
        if not isinstance(body, Mapping) or key not in body:
            return _NONE
        body = body[key]
    return body


def _set_keys(body: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        body = body.setdefault(key, {})
    body[keys[-1]] = value


def _is_secret_marker(v: Any) -> bool:
    return isinstance(v, Mapping) and set(v) == {"$secret"}


def _unredact(arm_id: str, stored: Any, known: Any) -> Any:
    """The stored properties with each secret marker, wherever it is, replaced by the known value
    it hashes (a value that no longer matches stays a marker: drift)."""
    if _is_secret_marker(stored):
        return known if known is not _NONE and _secret_marker(arm_id, known) == stored else copy.deepcopy(dict(stored))
    if isinstance(stored, Mapping):
        return {k: _unredact(arm_id, v, known.get(k, _NONE) if isinstance(known, Mapping) else _NONE)
                for k, v in stored.items()}
    return copy.deepcopy(stored)


def _failing(name: str, arm_id: str) -> str | None:
    """The AMLCTL_SIM_FAIL entry that matches this resource, if any."""
    for entry in (e.strip() for e in os.environ.get(FAIL_ENV, "").split(",")):
        if not entry:
            continue
        if entry == name or arm_id.lower() == entry.lower() or arm_id.lower().endswith("/" + entry.strip("/").lower()):
            return entry
    return None


# -- the graph, for the local target -----------------------------------------------------------------
def client_config(subscription: str | None = None) -> dict[str, str]:
    """The simulated deploying identity (what authorization.get_client_config returns on Azure)."""
    return {"tenantId": SIM_TENANT, "subscriptionId": subscription or FAKE_SUBSCRIPTION,
            "objectId": str(uuid.uuid5(NAMESPACE, "deployer-object")),
            "clientId": str(uuid.uuid5(NAMESPACE, "deployer-client"))}


def latest_reader(state_dir: Path | str) -> Callable[[Mapping[str, str]], str]:
    """`@latest` of an asset no manifest defines, on the simulation: the highest version the simulated
    workspace holds; none (a model that only a training run would register, and the simulation runs
    nothing) stands in as version 1, which the deployment then names."""
    from controller.manifests.versions import highest

    def read(body: Mapping[str, str]) -> str:
        container = str(body["container"])
        prefix = container.lower() + "/versions/"
        found = [d["id"][len(prefix):] for d in Store(state_dir).documents()
                 if str(d.get("id", "")).lower().startswith(prefix) and "/" not in d["id"][len(prefix):]]
        return f"{container}/versions/{highest(found) or '1'}"
    return read


def key_vault_secret(uri: str) -> str:
    """The simulation reaches no Key Vault: a `{key_vault_secret: URI}` stands for a value of its own,
    the same on every run (the simulation keeps only its hash, as it does for every secret)."""
    return f"local-simulation value of {uri}"


def prepare(graph: Any) -> Any:
    """The graph as the local target deploys it: `{"$clientConfig": field}` markers become the simulated
    identity's values (the Pulumi program would otherwise invoke the azure-native provider for them)."""
    from dataclasses import replace

    from controller.render.graph import Graph
    config = client_config(graph.settings.get("subscriptionId"))

    def sub(v: Any) -> Any:
        if isinstance(v, dict):
            if len(v) == 1 and "$clientConfig" in v:
                return config.get(v["$clientConfig"], str(uuid.uuid5(NAMESPACE, str(v["$clientConfig"]))))
            return {k: sub(x) for k, x in v.items()}
        if isinstance(v, list):
            return [sub(x) for x in v]
        return v

    return Graph(graph.stack, tuple(replace(r, inputs=sub(dict(r.inputs))) for r in graph.resources), graph.settings)


# The simulated providers and resource classes live in a module of their own (for size), which uses
# the helpers above; they are reached from here lazily, so that either module may be imported first
# (the dynamic-provider host unpickles a provider by importing controller.engine.local_providers).
_PROVIDERS = ("ArmSimulator", "SimulatedResource", "SystemDatastoreSimulator", "TrafficSimulator", "classes")


def __getattr__(name: str) -> Any:
    if name in _PROVIDERS:
        from controller.engine import local_providers
        return getattr(local_providers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
