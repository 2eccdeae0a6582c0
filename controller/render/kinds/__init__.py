"""Kind renderers: one function per manifest kind, each adding the resources that kind stands for.

A renderer is registered with `@renders("Kind")` and called as `fn(manifest, ctx)`. The field
mapping comes from the schemas (controller.render.arm); renderers only decide the resource
type, its name and parents, and what a kind implies (uploads, traffic steps, role assignments).
The hooks below resolve the values only the estate knows (references, local paths, secrets).
"""
from __future__ import annotations

from typing import Any, Callable

from controller import schemas as S
from controller.checks import refs
from controller.manifests.model import Manifest
from controller.render import arm
from controller.render.context import APPEND_ONLY, ASSETS_CONTAINER, ASSETS_DATASTORE, ML, Context, short_hash
from controller.render.graph import canonical
from controller.render.kinds import anonymous  # it needs nothing of this module at import

RENDERERS: dict[str, Callable[[Manifest, Context], None]] = {}


def renders(kind: str) -> Callable:
    def register(fn: Callable[[Manifest, Context], None]) -> Callable[[Manifest, Context], None]:
        RENDERERS[kind] = fn
        return fn
    return register


def render_manifest(m: Manifest, ctx: Context) -> None:
    if m.kind not in RENDERERS:  # TODO(issue 3): every kind has a renderer
        raise ctx.error(m, (), "R001", f"{m.kind} is not rendered yet")
    RENDERERS[m.kind](m, ctx)


def scope(m: Manifest, ctx: Context) -> dict[str, str]:
    """The inputs every workspace child resource starts with."""
    return {"resourceGroupName": ctx.resource_group, "workspaceName": m.workspace or ""}


def workspace_dep(m: Manifest, ctx: Context) -> str | None:
    return ctx.workspace_resource(m.workspace or "")


# -- hooks the schema mapping calls (see controller.render.arm.CONVERTERS) ---------------------------
def resolve_hook(hook: str, m: Manifest, path: tuple, value: Any, ctx: Context, deps: set[str]) -> Any:
    if hook == "arm-id":
        if isinstance(value, dict) and "output_of" in value:  # the model a run registers
            from controller.render.kinds import run_outputs
            return run_outputs.marker(m, ctx, path, value, "arm")
        if isinstance(value, dict) and path and path[-1] in INLINE:
            return INLINE[path[-1]](m, ctx, path, value, deps)
        if not isinstance(value, str):
            raise ctx.error(m, path, "R004", f"{'.'.join(map(str, path))}: an inline definition here is not "
                            "rendered; define it as a manifest of its own and refer to it as "
                            "azureml:<name>:<version>")
        kind = _ref_kind(m, path, ctx)
        arm_id, dep = ctx.resolve_ref(m, kind, value, path, deploy_time=m.kind in DEPLOY_TIME_LATEST)
        if dep:
            deps.add(dep)
        return arm_id
    if hook == "asset-uri":
        if not isinstance(value, str) or refs.local_path(value) is None:
            return value
        local = ctx.local(m, value)
        digest = upload(m, local, ctx, deps, path)
        return f"azureml://datastores/{ASSETS_DATASTORE}/paths/{digest[:32]}/{local.name}"
    if hook == "code-id":
        if not isinstance(value, str) or refs.local_path(value) is None:
            return ctx.resolve_ref(m, "Code", value, path)[0] if value.startswith("azureml:") else value
        return code_version(m, value, ctx, deps, path)
    if hook == "file-text":
        if isinstance(value, dict):
            return canonical(value)
        return ctx.read_text(m, value)
    if hook == "identity":
        return identity(value)
    if hook == "secret":
        if isinstance(value, dict) and "secret_config" in value:
            return {"$secret": {"config": value["secret_config"]}}
        if isinstance(value, dict) and "key_vault_secret" in value:
            return {"$secret": {"keyVault": value["key_vault_secret"]}}
        raise ctx.error(m, path, "R005", "an inline secret cannot be rendered")  # validate refuses these
    raise KeyError(hook)


# Kinds whose references may name `@latest` of an asset no manifest defines: the version is read
# when they deploy (a deployment of the model a training pipeline registers, as mlops-v2 does).
DEPLOY_TIME_LATEST = ("OnlineDeployment", "BatchDeployment")

# Fields whose inline definitions amlctl registers as (anonymous) asset versions, as azure-ai-ml does.
INLINE: dict[str, Callable[..., str]] = {"environment": anonymous.environment, "model": anonymous.model}


def _ref_kind(m: Manifest, path: tuple, ctx: Context) -> str:
    kind = ctx.references(m).get(path)
    if kind is None:
        raise KeyError(f"{m.subject}: {path} is mapped with arm-id but carries no x-amlctl-ref")
    return kind


def identity(value: Any) -> Any:
    """The CLI's identity block in ARM's shape."""
    if not isinstance(value, dict):
        return value
    kinds = {"system_assigned": "SystemAssigned", "user_assigned": "UserAssigned",
             "system_assigned,user_assigned": "SystemAssigned,UserAssigned", "none": "None"}
    out: dict[str, Any] = {"type": kinds.get(value.get("type", ""), value.get("type"))}
    # pulumi-azure-native takes the user-assigned identities as a list of ARM ids and sends ARM's
    # {id: {}} map itself: a map given to the SDK is not what its schema types, and is dropped.
    uai = value.get("user_assigned_identities")
    if isinstance(uai, list):
        out["userAssignedIdentities"] = sorted({i["resource_id"] for i in uai if isinstance(i, dict) and "resource_id" in i})
    elif isinstance(uai, dict):
        out["userAssignedIdentities"] = sorted(uai)
    return out


# -- uploads -------------------------------------------------------------------------------------
def storage_of(m: Manifest, ctx: Context, path: tuple) -> tuple[str, str, str | None]:
    """(account name, resource group, graph resource of the uploads container) of a manifest's
    workspace: uploads go to amlctl's own container in the workspace storage account."""
    from controller.render.kinds import workspace
    ws = ctx.workspaces.get(m.workspace or "")
    if ws is None:
        raise ctx.error(m, path, "R006", f"{S.dotted(path)}: a local path needs the storage account of workspace "
                        f"{m.workspace!r}, "
                        "and no Workspace manifest here defines it (add one; storage_account: <ARM id> adopts "
                        "an existing account)")
    account, group = workspace.storage_account(ws, ctx)
    return account, group, workspace.assets_container_name(ws)


def upload(m: Manifest, local, ctx: Context, deps: set[str], path: tuple) -> str:
    """Add one Blob per file of a local file or folder, under a prefix named by its content hash
    (so unchanged content is a no-op and changed content is a new prefix). Returns the hash."""
    full = ctx.root / str(local)
    if not full.exists() and not ctx.allow_missing_files:
        raise ctx.error(m, path, "R007", f"{S.dotted(path)}: {local} does not exist")
    account, group, container = storage_of(m, ctx, path)
    digest = ctx.content_hash(local)
    prefix = f"{digest[:32]}/{local.name}"
    single = full.is_file()
    if not full.exists():
        return digest
    for relative, sha in ctx.files_of(local):
        blob = prefix if single else f"{prefix}/{relative}"
        name = f"{m.workspace}/upload/{blob}"
        ctx.add(m, name, "azure-native:storage:Blob", {
            "accountName": account, "resourceGroupName": group, "containerName": ASSETS_CONTAINER,
            "blobName": blob, "type": "Block",
            "source": {"$asset": {"path": f"{local}/{relative}" if not single else str(local), "sha256": sha}},
        }, depends_on=[container], subject=m.subject, spec_path=path, label=f"upload of {local}",
            retain_on_delete=True)  # older asset versions still read it
        deps.add(name)
    return digest


def code_version(m: Manifest, value: str, ctx: Context, deps: set[str], path: tuple) -> str:
    """A local code folder: uploaded, then registered as a code asset named by its content hash
    (as azure-ai-ml does), version 1. Returns its ARM id."""
    local = ctx.local(m, value)
    upload_deps: set[str] = set()
    digest = upload(m, local, ctx, upload_deps, path)
    account, _, _ = storage_of(m, ctx, path)
    name = _hash_uuid(digest)
    node = f"{m.workspace}/code/{name}"
    ctx.add(m, node, ML + "CodeVersion", {
        **scope(m, ctx), "name": name, "version": "1",
        "properties": {"codeUri": f"https://{account}.blob.core.windows.net/{ASSETS_CONTAINER}/{digest[:32]}/{local.name}",
                       "isAnonymous": False, "isArchived": False, "properties": {}, "tags": {}},
    }, depends_on=sorted(upload_deps) + [workspace_dep(m, ctx)], subject=m.subject,
        spec_path=path, label=f"code asset of {local}", **APPEND_ONLY)
    deps.add(node)
    return ctx.child_id(m.workspace or "", "Code", name, "1")


def _hash_uuid(digest: str) -> str:
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


# -- versions derived from content ---------------------------------------------------------------
def derived_version(m: Manifest, ctx: Context) -> str:
    """A version for an asset whose manifest names none: a hash of what it renders to, so the
    same content is the same version and any change is a new one."""
    deps: set[str] = set()
    spec = {k: v for k, v in m.spec.items() if k != "version"}
    mapped = arm.to_arm(ctx.schemas, ctx.schemas.kinds[m.kind].file, spec, ctx.resolver(m, deps))
    return "v" + short_hash(m.kind, canonical(mapped.body), n=12)


def _register_all() -> None:
    """Import every module of this package: each registers its kinds with @renders."""
    import importlib
    import pkgutil
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        importlib.import_module(f"{__name__}.{info.name}")


_register_all()
