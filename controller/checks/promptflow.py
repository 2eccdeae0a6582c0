"""Prompt flow deployed as a managed online endpoint: which deployments serve a flow, and what
validate checks about them.

The docs deploy a flow by registering its folder (the one holding flow.dag.yaml) as a custom model,
through a Model manifest or inline in the deployment, with `azureml.promptflow.*` properties
(MicrosoftDocs azure-ai-docs, prompt-flow/how-to-deploy-to-code.md). A deployment serves a flow
when its model is such a folder or carries such properties, or when it sets PRT_CONFIG_OVERRIDE
itself (only the promptflow runtime reads it: the deployment says so in its own words, even when
its model is registered elsewhere). Render generates PRT_CONFIG_OVERRIDE for these deployments
(controller.render.kinds.endpoints); validate checks two things the flow needs at run time, which
no schema can see:

- its connections (M002): the flow's nodes name workspace connections (`connection:` of an LLM
  node, `inputs.connection` of a Python tool node, and the same in node variants); each must be a
  Connection manifest of the deployment's workspace, else it is an external reference: a warning,
  an error under --strict, as every other one;
- its endpoint identity's roles (M011, a warning): the docs' table for the endpoint identity lists
  Azure Machine Learning Workspace Connection Secrets Reader on the workspace (which Azure ML grants
  a system-assigned identity by itself when the endpoint sets
  `properties.enforce_access_to_default_secret_stores: enabled`), and Cognitive Services OpenAI
  User on the Azure OpenAI resource of an azure_open_ai connection with Microsoft Entra ID auth.
  AcrPull and Storage Blob Data Reader Azure ML grants a system-assigned identity itself (see
  controller.render.kinds.rbac). The warning gives the RoleAssignment manifest that grants it, as
  one line of YAML.

The flow file is read by the one safe YAML reader (controller.manifests.loader.read_file): bad YAML
in it is its own diagnostic (Y001, with its file and line), never a traceback.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import yaml

from controller import rbac
from controller.checks import refs
from controller.diagnostics import Diagnostic, Severity, error, warning
from controller.manifests.loader import read_file
from controller.manifests.model import Manifest, Source

if TYPE_CHECKING:  # the checks package imports this module: no import of it at run time
    from controller.checks import Index, Options, Result

FLOW_FILES = ("flow.dag.yaml", "flow.dag.yml")
PROPERTY_PREFIX = "azureml.promptflow."
PRT_CONFIG_OVERRIDE = "PRT_CONFIG_OVERRIDE"
SECRETS_READER = "Azure Machine Learning Workspace Connection Secrets Reader"
OPENAI_USER = "Cognitive Services OpenAI User"

# find(kind, name, workspace, version) -> the manifest a reference means, or None
Find = Callable[[str, str, "str | None", "str | None"], "Manifest | None"]

# A scope that holds every resource of a subscription or resource group: an assignment there is
# inherited by the workspace and the Azure OpenAI resource (which group they are in, validate
# cannot tell without a stack, so any is taken).
_BROAD_SCOPE = re.compile(r"^/subscriptions/[^/]+(/resource[Gg]roups/[^/]+)?/?$")


@dataclass(frozen=True)
class Flow:
    """The prompt flow a deployment serves."""

    deployment: Manifest
    dag: str | None  # its flow.dag.yaml, repository-relative, when the flow's folder is in the repository


@dataclass(frozen=True)
class Use:
    """A connection a flow's node names, and where."""

    name: str
    at: Source
    field: str  # e.g. nodes[0].connection


def flow_of(d: Manifest, find: Find, root: Path) -> Flow | None:
    """The flow an OnlineDeployment serves, or None when it serves none."""
    if d.kind != "OnlineDeployment":
        return None
    value = d.spec.get("model")
    spec, base = None, d
    if isinstance(value, dict):
        spec = value  # an inline model: its path is relative to the deployment's file
    elif isinstance(value, str):
        ref = refs.parse(value, "Model")
        if ref is not None and ref.name is not None:
            model = find("Model", ref.name, d.workspace, ref.version)
            if model is not None:  # a model registered elsewhere: only the deployment's own word is known
                spec, base = model.spec, model
    dag = _dag(spec, base, root) if spec is not None else None
    marked = spec is not None and isinstance(spec.get("properties"), dict) and any(
        str(k).startswith(PROPERTY_PREFIX) for k in spec["properties"])
    declared = isinstance(d.spec.get("environment_variables"), dict) and PRT_CONFIG_OVERRIDE in d.spec[
        "environment_variables"]
    return Flow(d, dag) if (dag or marked or declared) else None


def _dag(spec: Any, base: Manifest, root: Path) -> str | None:
    """The flow.dag.yaml of a model's local path (the flow's folder, or the file itself)."""
    local = spec.get("path")
    local = refs.local_path(local) if isinstance(local, str) else None
    if local is None:
        return None
    path = posixpath.normpath(posixpath.join(posixpath.dirname(base.path), local))
    if path == ".." or path.startswith("../") or path.startswith("/"):
        return None  # outside the repository: the path check reports it (Y011)
    if posixpath.basename(path) in FLOW_FILES and (root / path).is_file():
        return path
    return next((f"{path}/{n}" for n in FLOW_FILES if (root / path / n).is_file()), None)


def connections(dag: str, root: Path) -> tuple[list[Use], list[Diagnostic]]:
    """The connections a flow's nodes name, with their places; the file's own problems (bad YAML,
    a file the reader refuses) as diagnostics of that file."""
    docs, diags = read_file(root / dag, dag, root=root)
    if not docs or not isinstance(docs[0].data, dict):
        return [], diags
    doc = docs[0]
    found: list[tuple[tuple, Any]] = []
    nodes = doc.data.get("nodes")
    for i, node in enumerate(nodes if isinstance(nodes, list) else []):
        found += _node_connections(("nodes", i), node)
    variants = doc.data.get("node_variants")
    for name, entry in sorted((variants if isinstance(variants, dict) else {}).items()):
        each = entry.get("variants") if isinstance(entry, dict) else None
        for vid, variant in sorted((each if isinstance(each, dict) else {}).items()):
            if isinstance(variant, dict):
                found += _node_connections(("node_variants", name, "variants", vid, "node"), variant.get("node"))
    uses = []
    for path, value in found:
        line, col = doc.positions.at(path)
        uses.append(Use(value, Source(dag, line, col), _dotted(path)))
    return uses, diags


def _node_connections(path: tuple, node: Any) -> list[tuple[tuple, str]]:
    if not isinstance(node, dict):
        return []
    out = []
    if isinstance(node.get("connection"), str):  # an LLM node (and other built-in tools)
        out.append((path + ("connection",), node["connection"]))
    inputs = node.get("inputs")
    value = inputs.get("connection") if isinstance(inputs, dict) else None
    # A Python tool node takes its connection as an input; `${...}` binds it to a flow input instead.
    if isinstance(value, str) and not value.startswith("${"):
        out.append((path + ("inputs", "connection"), value))
    return out


def _dotted(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path))


# -- the checks ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Need:
    """A role an endpoint's identity needs for a prompt flow deployment."""

    endpoint: Manifest
    role: str
    scope: Any  # {kind: Workspace, name} or an ARM id; None when unknown (an Azure OpenAI resource)
    connections: tuple[str, ...] = ()  # what the flow reads with it (empty: not known)
    via: Manifest | None = None  # the azure_open_ai Connection manifest, for Cognitive Services OpenAI User

    @property
    def key(self) -> tuple:
        """Needs of one key are one role assignment: one warning, for all their deployments."""
        return (repr(self.endpoint.identity), self.role, repr(self.scope), self.via.name if self.via else "")


def check(manifests: list[Manifest], options: Options, index: Index, result: Result) -> None:
    """Connections and roles of every deployment that serves a prompt flow."""
    def find(kind: str, name: str, workspace: str | None, version: str | None = None) -> Manifest | None:
        return index.find(kind, name, workspace, version)[0]

    assignments = [m for m in manifests if m.kind == "RoleAssignment"]
    needs: dict[tuple, list[tuple[_Need, Manifest]]] = {}
    for d in manifests:
        flow = flow_of(d, find, options.root)
        if flow is None:
            continue
        uses: list[Use] | None = None  # None: the flow's connections are not known
        if flow.dag is not None and not options.skip_path_checks:
            uses, diags = connections(flow.dag, options.root)
            result.diagnostics.extend(diags)
            if any(x.severity is Severity.ERROR for x in diags):
                uses = None
        found = [(u, _connection(u, d, options, index, result)) for u in (uses or [])]
        endpoint = find("OnlineEndpoint", str(d.spec.get("endpoint_name")), d.workspace)
        if endpoint is None or _kind(endpoint) == "none":
            continue  # an endpoint made elsewhere (its identity is not known here), or one without identity
        for need in _needs(endpoint, d, uses, found):
            needs.setdefault(need.key, []).append((need, d))
    for key in sorted(needs):
        group = needs[key]
        need = group[0][0]
        if not any(_grants(a, need) for a in assignments):
            names = tuple(sorted({c for n, _ in group for c in n.connections}))
            result.diagnostics.append(_missing(_Need(need.endpoint, need.role, need.scope, names, need.via),
                                               [d for _, d in group]))


def _connection(use: Use, d: Manifest, options: Options, index: Index, result: Result) -> Manifest | None:
    """The Connection manifest a flow's node names in the deployment's workspace; M002 when none."""
    target, same_name = index.find("Connection", use.name, d.workspace)
    if target is not None:
        return target
    ws = f" {d.workspace!r}" if d.workspace else ""
    elsewhere = ""
    if same_name:
        elsewhere = f" (a Connection {use.name!r} is defined in workspace " + ", ".join(
            sorted({str(m.workspace) for m in same_name})) + ", which the flow does not read)"
    make = error if options.strict else warning
    result.diagnostics.append(make(use.at.path, use.at.line, use.at.col, "M002",
                                   f"{use.field}: connection {use.name!r} of this prompt flow, which the deployment "
                                   f"serves in workspace{ws}, is not a Connection manifest of that workspace"
                                   f"{elsewhere}; it must exist in Azure already (or add a Connection manifest of "
                                   "that name)", d.subject))
    return None


def _needs(endpoint: Manifest, d: Manifest, uses: list[Use] | None,
           found: list[tuple[Use, Manifest | None]]) -> list[_Need]:
    ws = endpoint.workspace or d.workspace
    out = []
    props = endpoint.spec.get("properties") or {}
    granted = (_kind(endpoint) == "system_assigned"
               and str(props.get("enforce_access_to_default_secret_stores", "")).lower() == "enabled")
    # A flow known to use no connection reads no secrets; without a workspace there is no scope.
    if ws and not granted and (uses is None or uses):
        out.append(_Need(endpoint, SECRETS_READER, {"kind": "Workspace", "name": ws},
                         tuple(u.name for u in uses or [])))
    for use, target in found:
        if target is not None and _entra_openai(target):
            out.append(_Need(endpoint, OPENAI_USER, target.spec.get("open_ai_resource_id"), (use.name,), target))
    return out


def _entra_openai(c: Manifest) -> bool:
    """An azure_open_ai connection whose callers authenticate with their own Microsoft Entra ID
    token: no api_key, and no credentials of another type (the schema renders authType AAD then)."""
    credentials = c.spec.get("credentials")
    kind = credentials.get("type") if isinstance(credentials, dict) else None
    return c.spec.get("type") == "azure_open_ai" and "api_key" not in c.spec and kind in (None, "aad")


def _kind(endpoint: Manifest) -> str:
    identity = endpoint.spec.get("identity")
    return str((identity or {}).get("type", "system_assigned")) if isinstance(identity, dict) else "system_assigned"


def _principal_ids(endpoint: Manifest) -> set[str]:
    """The principal ids of an endpoint's user-assigned identities, where the manifest gives them."""
    uai = (endpoint.spec.get("identity") or {}).get("user_assigned_identities")
    items = uai if isinstance(uai, list) else list(uai.values()) if isinstance(uai, dict) else []
    return {str(i["principal_id"]).lower() for i in items if isinstance(i, dict) and i.get("principal_id")}


def _grants(a: Manifest, need: _Need) -> bool:
    """Whether RoleAssignment `a` gives the endpoint's identity the role on the scope (or above it)."""
    spec = a.spec
    if rbac.role_definition_guid(str(spec.get("role", ""))) != rbac.BUILTIN_ROLES[need.role]:
        return False
    ep, kind = need.endpoint, _kind(need.endpoint)
    p = spec.get("principal") or {}
    if "identity_of" in p:
        of = p["identity_of"] or {}
        if not (of.get("kind") == "OnlineEndpoint" and of.get("name") == ep.name and "system_assigned" in kind
                and of.get("workspace") in (None, ep.workspace)):
            return False
    elif "user_assigned" in kind:
        # A user-assigned identity is named by its object id; which one it is, validate knows only
        # when the endpoint gives its principal_id: otherwise any service principal is taken.
        ids = _principal_ids(ep)
        if ids and str(p.get("object_id", "")).lower() not in ids:
            return False
        if p.get("type", "ServicePrincipal") != "ServicePrincipal":
            return False
    else:
        return False
    return _covers(spec.get("scope"), need.scope)


def _covers(scope: Any, wanted: Any) -> bool:
    if isinstance(scope, str) and _BROAD_SCOPE.match(scope):
        return True
    if isinstance(wanted, dict):  # a Workspace
        if isinstance(scope, dict):
            return scope.get("kind") == "Workspace" and scope.get("name") == wanted["name"]
        return isinstance(scope, str) and scope.rstrip("/").lower().endswith(
            f"/providers/microsoft.machinelearningservices/workspaces/{wanted['name'].lower()}")
    if isinstance(wanted, str):  # the Azure OpenAI resource's ARM id
        return isinstance(scope, str) and scope.rstrip("/").lower() == wanted.rstrip("/").lower()
    # The resource is not known (the connection gives no open_ai_resource_id): any Azure AI account.
    return isinstance(scope, str) and "/providers/microsoft.cognitiveservices/accounts/" in scope.lower()


def _missing(need: _Need, deployments: list[Manifest]) -> Diagnostic:
    ep = need.endpoint
    served = ", ".join(sorted({d.name for d in deployments}))
    kind = _kind(ep)
    who = {"system_assigned": "system-assigned", "user_assigned": "user-assigned"}.get(kind, kind)
    names = ", ".join(repr(c) for c in need.connections)
    if need.role == SECRETS_READER:
        on = f"workspace {need.scope['name']!r}"
        why = f"to read the connections of its flow ({names})" if names else "to read the connections of its flow"
    else:
        url = need.via.spec.get("azure_endpoint") or need.via.spec.get("target")
        on = need.scope or (f"the Azure OpenAI resource ({url}; the connection's open_ai_resource_id would name it)"
                            if url else "the Azure OpenAI resource")
        why = (f"to call Azure OpenAI through connection {names} ({need.via.where(('type',))}), which authenticates "
               "with Microsoft Entra ID (it has no api_key)")
    also = ""
    if need.role == SECRETS_READER and kind == "system_assigned":
        also = (" (or set properties.enforce_access_to_default_secret_stores: enabled on the endpoint: Azure ML then "
                "grants it to the system-assigned identity, when the deploying identity may read the secrets)")
    src = ep.where(("identity",)) if "identity" in ep.spec else ep.where(("name",))
    return warning(src.path, src.line, src.col, "M011",
                   f"the endpoint's {who} identity needs the role {need.role!r} on {on} {why}, for the prompt "
                   f"flow deployment{'s' if len(deployments) > 1 else ''} {served}, and no RoleAssignment manifest "
                   f"grants it; add this one{also}: {_snippet(need)}", ep.subject)


def _snippet(need: _Need) -> str:
    """The RoleAssignment manifest that grants the need, as one line of YAML (a diagnostic is one line)."""
    ep = need.endpoint
    if "system_assigned" in _kind(ep):
        of = {"kind": "OnlineEndpoint", "name": ep.name}
        principal: dict[str, Any] = {"identity_of": {**of, "workspace": ep.workspace} if ep.workspace else of}
    else:
        ids = sorted(_principal_ids(ep))
        principal = {"object_id": ids[0] if ids else "<principal id of the endpoint's user-assigned identity>",
                     "type": "ServicePrincipal"}
    suffix = "connection-secrets" if need.via is None else f"openai-{need.via.name}"
    scope = need.scope if need.scope else "<ARM id of the Azure OpenAI resource>"
    body = {"apiVersion": "amlctl.dev/v1alpha1", "kind": "RoleAssignment", "metadata": {"name": f"{ep.name}-{suffix}"},
            "spec": {"principal": principal, "role": need.role, "scope": scope}}
    return yaml.safe_dump(body, default_flow_style=True, sort_keys=False, width=1 << 20).strip()
