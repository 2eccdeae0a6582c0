"""`amlctl pko`: the Pulumi Kubernetes Operator's manifests for the estate's Azure stacks.

    (project, stacks, repository, options) -> {path: YAML text} (pure) -> written (refusing to overwrite)

Per stack, one file with a ServiceAccount (the identity of the operator's workspace pod, federated
with an Entra identity through Azure workload identity) and a `pulumi.com/v1` Stack: the repository
and branch, the stack, a resync period with refresh (drift is corrected on each resync, without a
new commit), prerequisites (every production stack waits for the non-production stacks to have
succeeded), and the environment the program needs: Azure OIDC from the workload identity token,
the backend URL, and the passphrase from a Kubernetes Secret. Never a secret value: the Secret is
named, its value is the team's to create (`kubectl create secret generic ...`).

Local-target stacks are left out: the simulation is for a workstation, not a cluster.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import yaml

API_VERSION = "pulumi.com/v1"
# Where the Azure workload identity webhook mounts the projected service-account token
# (azure-workload-identity: AZURE_FEDERATED_TOKEN_FILE), which the azure-native provider exchanges
# for an Azure token (ARM_OIDC_TOKEN_FILE_PATH) and azure-identity reads for Key Vault and blobs.
TOKEN_FILE = "/var/run/secrets/azure/tokens/azure-identity-token"
PASSPHRASE_KEY = "PULUMI_CONFIG_PASSPHRASE"
_DNS = re.compile(r"[^a-z0-9-]+")
# A backend URL is written into the manifests: it must carry no credential.
_CREDENTIAL_PARAMS = {"sig", "sv", "se", "sp", "accountkey", "sas", "sas_token", "key", "password", "token"}


class PkoError(Exception):
    """Bad options: the message names the option."""


@dataclass(frozen=True)
class StackInfo:
    name: str
    production: bool
    subscription: str
    passphrase: bool  # the stack's secrets use the passphrase provider (else its secretsprovider)


@dataclass(frozen=True)
class Options:
    project: str
    repo: str
    branch: str = "main"
    namespace: str = "amlctl"
    backend: str = ""
    resync_seconds: int = 600
    tenant_id: str = "TENANT-ID"
    client_ids: tuple[tuple[str, str], ...] = ()  # (stack, client id of its Entra identity)
    repo_dir: str = ""


def resource_name(project: str, stack: str) -> str:
    """A Kubernetes object name (RFC 1123 label) for the stack."""
    name = _DNS.sub("-", f"{project}-{stack}".lower()).strip("-")
    return name[:63].rstrip("-")


def check(opts: Options, stacks: list[StackInfo]) -> None:
    if not opts.repo:
        raise PkoError("--repo: the git URL the operator clones (https://... or ssh://...)")
    if not opts.backend:
        raise PkoError("--backend (or AMLCTL_BACKEND_URL): the state's URL, azblob://CONTAINER?storage_account=ACCOUNT")
    parts = urlsplit(opts.backend)
    leaked = sorted(k for k, _ in parse_qsl(parts.query) if k.lower() in _CREDENTIAL_PARAMS)
    if parts.password or leaked:
        raise PkoError(f"--backend: the URL carries a credential ({', '.join(leaked) or 'a password'}); the "
                       "manifests are committed: let the workload identity reach the storage account instead")
    if opts.resync_seconds < 60:
        raise PkoError(f"--resync {opts.resync_seconds}: at least 60 seconds (each resync is a refresh and an update)")
    known = {s.name for s in stacks}
    unknown = sorted({s for s, _ in opts.client_ids} - known)
    if unknown:
        raise PkoError(f"--client-id {unknown[0]}=...: no Azure stack {unknown[0]!r} (the stacks: "
                       f"{', '.join(sorted(known)) or 'none'})")
    if not stacks:
        raise PkoError("no stack with amlctl:target azure in stacks/: the operator has nothing to run")


def manifests(opts: Options, stacks: list[StackInfo]) -> dict[str, str]:
    """`<stack>.yaml` for each stack: a ServiceAccount and a Stack, as YAML."""
    check(opts, stacks)
    ids = dict(opts.client_ids)
    before = [resource_name(opts.project, s.name) for s in stacks if not s.production]
    out = {}
    for s in stacks:
        docs = [service_account(opts, s, ids.get(s.name, f"CLIENT-ID-OF-{s.name.upper()}")),
                stack(opts, s, before if s.production else [])]
        head = (f"# Pulumi Kubernetes Operator: stack {s.name} of {opts.project}, written by `amlctl pko`.\n"
                f"# Needs, in namespace {opts.namespace}: the operator (v2); Azure workload identity; an Entra\n"
                f"# identity whose federated credential names system:serviceaccount:{opts.namespace}:"
                f"{resource_name(opts.project, s.name)}" + (
                    f";\n# and the Secret {resource_name(opts.project, s.name)} with key {PASSPHRASE_KEY}:\n"
                    f"#   kubectl -n {opts.namespace} create secret generic {resource_name(opts.project, s.name)} "
                    f"--from-literal={PASSPHRASE_KEY}=...\n" if s.passphrase else ".\n"))
        out[f"{s.name}.yaml"] = head + yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False)
    return out


def service_account(opts: Options, s: StackInfo, client_id: str) -> dict:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": resource_name(opts.project, s.name), "namespace": opts.namespace,
                         "labels": _labels(opts, s),
                         "annotations": {"azure.workload.identity/client-id": client_id,
                                         "azure.workload.identity/tenant-id": opts.tenant_id}}}


def stack(opts: Options, s: StackInfo, prerequisites: list[str]) -> dict:
    name = resource_name(opts.project, s.name)
    literal = lambda v: {"type": "Literal", "literal": {"value": v}}  # noqa: E731
    env = {
        # What the azure-native provider reads (ARM_*), from the pod's workload identity token.
        "ARM_USE_OIDC": literal("true"),
        "ARM_OIDC_TOKEN_FILE_PATH": literal(TOKEN_FILE),
        "ARM_SUBSCRIPTION_ID": literal(s.subscription),
        "ARM_TENANT_ID": literal(opts.tenant_id),
        # amlctl's own reading of the stack's state (release records), the same URL as spec.backend.
        "AMLCTL_BACKEND_URL": literal(opts.backend),
    }
    if s.passphrase:
        env[PASSPHRASE_KEY] = {"type": "Secret", "secret": {"name": name, "key": PASSPHRASE_KEY}}
    spec: dict = {
        "stack": s.name,
        "projectRepo": opts.repo,
        "branch": opts.branch,
        "backend": opts.backend,
        "serviceAccountName": name,
        # Drift correction: every resync refreshes and updates, even when the branch has not moved.
        "resyncFrequencySeconds": opts.resync_seconds,
        "refresh": True,
        "continueResyncOnCommitMatch": True,
        # The stack file is committed with its secrets configuration: never let the operator create
        # a stack (and write a new salt) that the repository does not have.
        "useLocalStackOnly": True,
        "destroyOnFinalize": False,
        "envRefs": env,
        "workspaceTemplate": {"spec": {"podTemplate": {"metadata": {
            "labels": {"azure.workload.identity/use": "true"}}}}},
    }
    if opts.repo_dir:
        spec["repoDir"] = opts.repo_dir
    if prerequisites:
        spec["prerequisites"] = [{"name": p, "requirement": {"succeededWithinDuration": "24h"}} for p in prerequisites]
    return {"apiVersion": API_VERSION, "kind": "Stack",
            "metadata": {"name": name, "namespace": opts.namespace, "labels": _labels(opts, s)},
            "spec": spec}


def _labels(opts: Options, s: StackInfo) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "amlctl", "app.kubernetes.io/part-of": resource_name(opts.project, ""),
            "amlctl.dev/stack": resource_name(s.name, "")}
