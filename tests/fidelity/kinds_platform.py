"""Fidelity of the platform kinds (Workspace, Registry, Connection, ServerlessEndpoint) against
azure-ai-ml's `_to_rest_object()`. Read by tests/fidelity.py.

pulumi-azure-native flattens a Workspace's and a Registry's ARM `properties` into top-level
inputs; `back` nests them again. Connection secrets: amlctl renders {"$secret": {"config": K}}
where azure-ai-ml would carry the value, and azure-ai-ml refuses a secret reference where it wants
a string, so the loader gives azure-ai-ml a placeholder naming the reference and `back` turns
amlctl's marker into the same placeholder: equal means the secret lands where azure-ai-ml puts it.

Differences that neither the example estate nor the corpus shows (known-platform.yaml lists only
differences that occur), found on hand-written manifests:
- ServerlessEndpoint tags: azure-ai-ml sends an empty tags map when the manifest has no tags; amlctl always adds its own tags (managed-by, amlctl-manifest, amlctl-commit), so the map is never empty.
- Connection properties.credentials.sas: an account-key connection's key goes to credentials.key, the only field of pulumi-azure-native's WorkspaceConnectionAccountKey (authType AccountKey); azure-ai-ml reuses its SAS credential object for account keys and sends credentials.sas.
- Workspace identity.type: amlctl writes ARM's spelling of combined identities ('SystemAssigned,UserAssigned'); azure-ai-ml's workspace identity conversion capitalises only the first letter of each part ('Systemassigned,Userassigned'). Single types are spelled the same by both.
- Workspace properties.systemDatastoresAuthMode: amlctl writes the ARM enum spelling ('Identity', 'AccessKey', as pulumi-azure-native's SystemDatastoresAuthMode has it); azure-ai-ml passes the CLI's lower-case spelling through.
- Workspace properties.allowRoleAssignmentOnRG: API 2025-12-01, which pulumi-azure-native's Workspace uses, removed allowRoleAssignmentOnRG (azure-ai-ml sets it by wire key); amlctl warns (R001) that allow_roleassignment_on_rg is ignored.
- Workspace properties.workspaceHubConfig: azure-ai-ml's Hub._to_rest_object() sends an empty workspaceHubConfig whatever default_resource_group says (its create path passes the value through an ARM template instead); amlctl sends the manifest's value as workspaceHubConfig.defaultWorkspaceResourceGroup.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fidelity as F  # noqa: E402
from controller.render.graph import Resource  # noqa: E402

ENVELOPE = ("location", "identity", "sku", "kind", "tags")


def _nested(r: Resource, name_key: str) -> dict[str, Any]:
    """Flattened inputs back in the ARM body's shape: {name, location, ..., properties: {...}}."""
    out: dict[str, Any] = {"name": r.inputs[name_key], "properties": {}}
    for k, v in r.inputs.items():
        if k in ENVELOPE:
            out[k] = v
        elif k not in (name_key, "resourceGroupName"):
            out["properties"][k] = v
    return out


def _workspace(r: Resource) -> dict[str, Any]:
    return _nested(r, "workspaceName")


def _registry(r: Resource) -> dict[str, Any]:
    return _nested(r, "registryName")




def _connection(r: Resource) -> dict[str, Any]:
    return {"properties": F.secrets_to_placeholders(r.inputs["properties"])}


def load_connection_with_secret_placeholders(source: Any, relative_origin: str | None = None, **kwargs: Any) -> Any:
    import azure.ai.ml as aml
    data = F.secrets_to_placeholders(yaml.safe_load(source.read() if hasattr(source, "read") else source))
    return aml.load_connection(io.StringIO(yaml.safe_dump(data, sort_keys=False)), relative_origin=relative_origin,
                               **kwargs)


KINDS = {
    "Workspace": F.KindSpec("load_workspace", F._plain, F._main, _workspace),
    "Registry": F.KindSpec("load_registry", F._plain, F._main, _registry),
    "Connection": F.KindSpec(load_connection_with_secret_placeholders, F._plain, F._main, _connection),
    "ServerlessEndpoint": F.KindSpec("load_serverless_endpoint", F._plain, F._main, F._wrapped),
}
