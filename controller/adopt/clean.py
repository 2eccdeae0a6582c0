"""What azure-ai-ml shows of an object, as the bare `az ml` YAML a person would keep in git: pure.

    to_manifest(found, context) -> Draft (the document, its kind and name, notes to print) | Skip

Left out: what Azure ML assigns or manages itself (ids, creation context, provisioning state, an
identity's principal and tenant, the endpoint's own timestamps), empty maps, defaults a file would
not spell (a deployment's default scale settings), and Azure ML's system datastores unless they
were changed (a workspaceblobstore made identity-based is a change, and a manifest). Never
written: a secret. A datastore's account key or SAS token becomes a `{secret_config: amlctl:<key>}`
reference, and the draft's note says which key to set.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from controller.adopt.kinds import SCHEMA_OF, SCHEMAS
from controller.adopt.reader import Found

# Azure ML's own datastores: made with the workspace. Artifact store and working directory can never
# be manifests (see README, "System datastores"); the two others only when they were changed.
SYSTEM_OWN = ("workspaceartifactstore", "workspaceworkingdirectory")
SYSTEM_DEFAULT = ("workspaceblobstore", "workspacefilestore")
# Top-level fields azure-ai-ml shows that Azure ML assigns: never desired state.
_ASSIGNED = ("id", "creation_context", "provisioning_state", "latest_version", "scoring_uri", "openapi_uri",
             "public_ip_address", "state", "created_on", "services", "os_image_metadata")
_CREDENTIAL_FIELDS = {"AccountKeyConfiguration": "account_key", "SasTokenConfiguration": "sas_token"}


@dataclass(frozen=True)
class Context:
    workspace_id: str  # the ARM id of the workspace read, to write references as az ml names them
    location: str | None  # the stack's location: a resource there needs no `location:`
    stack: str = "STACK"  # named in the notes' commands
    # A workspace other than the stack's default: a bare file cannot say which workspace it
    # belongs to, so the manifest is an envelope naming it (metadata.workspace).
    envelope_workspace: str | None = None


@dataclass(frozen=True)
class Draft:
    kind: str
    name: str
    version: str | None
    document: dict[str, Any]
    endpoint: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skip:
    kind: str
    name: str
    why: str


def to_manifest(found: Found, ctx: Context) -> Draft | Skip:
    if found.kind == "Datastore" and found.name in SYSTEM_OWN:
        return Skip(found.kind, found.name, "Azure ML's own datastore, never a manifest")
    if found.kind == "Datastore" and found.name in SYSTEM_DEFAULT and found.credentials == "AccountKeyConfiguration":
        return Skip(found.kind, found.name, "made with the workspace and unchanged (account-key access)")
    body = {k: v for k, v in found.shown.items() if k not in _ASSIGNED}
    notes: list[str] = []
    body = _KIND_RULES.get(found.kind, _same)(body, ctx, found, notes)
    body = _pruned(body)
    if ctx.envelope_workspace:
        doc = {"apiVersion": "amlctl.dev/v1alpha1", "kind": found.kind,
               "metadata": {"name": found.name, "workspace": ctx.envelope_workspace}, "spec": body}
    else:
        schema = SCHEMA_OF.get(found.entity_type) or SCHEMA_OF.get(found.kind)
        doc = {"$schema": SCHEMAS + schema, **body} if schema else body
    return Draft(found.kind, found.name, found.version, doc, found.endpoint, tuple(notes))


def _same(body: dict[str, Any], ctx: Context, found: Found, notes: list[str]) -> dict[str, Any]:
    return body


def _located(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    if ctx.location and str(body.get("location", "")).replace(" ", "").lower() == ctx.location.lower():
        body.pop("location")
    return body


def _compute(body: dict[str, Any], ctx: Context, found: Found, notes: list[str]) -> dict[str, Any]:
    # azure-ai-ml shows `false` both for SSH disabled and for never set (no admin user: Azure's
    # NotSpecified, what a file without the field renders). Without ssh settings it is the latter.
    if body.get("ssh_public_access_enabled") is False and not body.get("ssh_settings"):
        body.pop("ssh_public_access_enabled")
    return _located(body, ctx)


def _datastore(body: dict[str, Any], ctx: Context, found: Found, notes: list[str]) -> dict[str, Any]:
    field = _CREDENTIAL_FIELDS.get(found.credentials or "")
    body.pop("credentials", None)
    if field:
        key = "amlctl:" + _config_key(found.name, field)
        body["credentials"] = {field: {"secret_config": key}}
        notes.append(f"Datastore/{found.name}: its {field.replace('_', ' ')} is not written; set it with "
                     f"`amlctl pulumi --stack {ctx.stack} -- config set --secret {key} VALUE` "
                     "(or make the datastore identity-based and drop `credentials`)")
    elif found.credentials not in (None, "NoneCredentialConfiguration"):
        notes.append(f"Datastore/{found.name}: its {found.credentials} is not written (secrets never are); "
                     "write a secret reference under `credentials` (README, Secrets never live in git)")
    return body


def _config_key(name: str, field: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", f"{name} {field}")
    return words[0].lower() + "".join(w[:1].upper() + w[1:] for w in words[1:] if w)


def _endpoint(body: dict[str, Any], ctx: Context, found: Found, notes: list[str]) -> dict[str, Any]:
    body.pop("properties", None)  # Azure ML's own bookkeeping (createdBy, createdAt, ...)
    identity = body.get("identity")
    if isinstance(identity, dict):
        body["identity"] = {k: v for k, v in identity.items() if k not in ("principal_id", "tenant_id")}
    return _located(body, ctx)


def _deployment(body: dict[str, Any], ctx: Context, found: Found, notes: list[str]) -> dict[str, Any]:
    if body.get("scale_settings") == {"type": "default"}:
        body.pop("scale_settings")
    body.pop("type", None)  # the $schema says managed
    for key in ("model", "environment"):
        if isinstance(body.get(key), str):
            body[key] = short_reference(body[key], ctx.workspace_id)
    return _located(body, ctx)


def short_reference(ref: str, workspace_id: str) -> str:
    """azureml:<ARM id of a version in this workspace> -> azureml:<name>:<version>, as az ml files
    write it; a reference elsewhere (a registry, another workspace) stays as it is."""
    arm_id = ref[len("azureml:"):] if ref.startswith("azureml:") else ref
    m = re.fullmatch(re.escape(workspace_id.rstrip("/")) + r"/(?:models|environments|data)/([^/]+)/versions/([^/]+)",
                     arm_id, re.IGNORECASE)
    return f"azureml:{m.group(1)}:{m.group(2)}" if m else ref


_KIND_RULES = {"Compute": _compute, "Datastore": _datastore, "OnlineEndpoint": _endpoint,
               "OnlineDeployment": _deployment}


def _pruned(value: Any) -> Any:
    """Without empty maps and lists (azure-ai-ml shows `tags: {}` for no tags)."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value
