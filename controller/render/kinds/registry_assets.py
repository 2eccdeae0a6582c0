"""Assets published into a registry: a Model, Environment or Component manifest whose envelope says
`metadata.registry: <registry>` (what `az ml model|environment|component create --registry-name`
publishes).

Each renders as a workspace asset does (controller.render.kinds.assets: the same schema mapping, the
same componentSpec), under the registry instead of a workspace: a RegistryModelContainer /
RegistryModelVersion (RegistryEnvironment..., RegistryComponent...) of pulumi-azure-native, named by
registryName and modelName / environmentName / componentName. Versions are append-only, as a
workspace's are; the container belongs to the highest version the estate publishes. Each depends on
the Registry manifest of the estate that names the registry (none when the registry exists already).

What amlctl refuses, and why:
- local files (a model's `path`, an environment's `build.path`, a component's `code`): azure-ai-ml
  uploads them to the registry's own storage through a temporary SAS blob reference that the
  registry's data plane hands out at upload time (get_sas_uri_for_registry_asset: PUT
  .../registries/<r>/tempdatarefs/<name>/versions/<version> on the regional discovery endpoint, then
  _check_and_upload_path with that SAS). The storage account lives in the registry's managed resource
  group, and neither pulumi-azure-native nor the local target has a step for that reference, so a
  local path is an error (R006) that says to publish files from a cloud URI. An environment's
  conda_file is sent as text, so it may be local.
- an inline environment in a registry component (azure-ai-ml would register it anonymously in the
  registry): define it as a registry Environment manifest and name it by its URI (R004).
- short references (`azureml:<name>:<version>`) inside a registry asset: azure-ai-ml refuses them in
  a registry scope; the full URI `azureml://registries/<r>/environments/<name>/versions/<v>` is
  required (R003, controller.render.context.registry_ref).

A workspace manifest that names `azureml://registries/<r>/<kind>s/<name>/versions/<v>` of an asset
the estate publishes depends on that version (the reference itself is sent as written, as
azure-ai-ml sends it).
"""
from __future__ import annotations

from typing import Any

from controller import schemas as S
from controller.checks import refs
from controller.manifests.model import Manifest
from controller.render.context import APPEND_ONLY, ML, Context, registry_resource_name

# pulumi-azure-native's argument that names the container of each kind (RegistryModelContainerArgs.model_name, ...).
NAME_ARG = {"Model": "modelName", "Environment": "environmentName", "Component": "componentName"}
# Local files each kind would upload (a spec path: its value).
LOCAL_FILES = {"Model": (("path",),), "Environment": (("build", "path"),), "Component": (("code",), ("task", "code"))}
# Inline environments a component may hold (azure-ai-ml would register them anonymously).
INLINE_ENVIRONMENTS = (("environment",), ("task", "environment"))


def _at(spec: Any, path: tuple) -> Any:
    for part in path:
        spec = spec.get(part) if isinstance(spec, dict) else None
    return spec


def refuse_unpublishable(m: Manifest, ctx: Context) -> None:
    """Raise what a registry asset cannot be rendered with (see the module's docstring)."""
    for path in LOCAL_FILES[m.kind]:
        value = _at(m.spec, path)
        if isinstance(value, str) and refs.local_path(value) is not None:
            raise ctx.error(m, path, "R006", f"{S.dotted(path)}: {value!r} is a local path, and amlctl cannot upload "
                            f"to registry {m.registry!r}: Azure ML hands out the registry's storage only through a "
                            "temporary SAS reference at upload time, which no deployment step here can take. Publish "
                            "the files from a cloud URI (https://<account>.blob.core.windows.net/..., or the "
                            "azureml:// URI of a registered asset), or keep the asset in a workspace")
    if m.kind == "Component":
        for path in INLINE_ENVIRONMENTS:
            if isinstance(_at(m.spec, path), dict):
                raise ctx.error(m, path, "R004", f"{S.dotted(path)}: an inline environment in a registry component "
                                "would be registered anonymously in the registry, which amlctl does not do; define it "
                                f"as an Environment manifest with metadata.registry: {m.registry} and name it as "
                                f"azureml://registries/{m.registry}/environments/<name>/versions/<version>")
        for path, value in _pipeline_local_components(m):
            raise ctx.error(m, path, "R004", f"{S.dotted(path)}: {value!r}: a registry pipeline component names its "
                            "steps' components by their registry URIs "
                            f"(azureml://registries/{m.registry}/components/<name>/versions/<version>)")


def _pipeline_local_components(m: Manifest) -> list[tuple[tuple, str]]:
    jobs = m.spec.get("jobs") if m.spec.get("type") == "pipeline" else None
    out = []
    for name, step in sorted(jobs.items()) if isinstance(jobs, dict) else ():
        value = step.get("component") if isinstance(step, dict) else None
        if isinstance(value, str) and refs.local_path(value) is not None:
            out.append((("jobs", name, "component"), value))
    return out


def registry_dep(m: Manifest, ctx: Context) -> str | None:
    """The Registry manifest of the estate that the asset is published into, if the estate has one."""
    target = next((r for r in ctx.manifests if r.kind == "Registry" and r.name == m.registry), None)
    if target is None:
        return None
    from controller.render.context import resource_name
    return resource_name(target)


def is_latest(m: Manifest, ctx: Context) -> bool:
    """Whether `m` is the highest version of its registry asset that the estate publishes."""
    return ctx.find(m.kind, m.name, f"registry:{m.registry}") is m


def asset(m: Manifest, ctx: Context, kind: str, version: str, container: dict[str, Any],
          properties: dict[str, Any], deps: set[str], label: str) -> None:
    """A registry asset version, after its container (which the highest version describes) and the
    registry."""
    scope = {"resourceGroupName": ctx.resource_group, "registryName": m.registry or "", NAME_ARG[kind]: m.name}
    node = registry_resource_name(m)
    registry = registry_dep(m, ctx)
    where = f"in registry {m.registry}"
    if is_latest(m, ctx):
        ctx.add(m, node, ML + f"Registry{kind}Container", {**scope, "properties": container},
                depends_on=[registry], label=f"{label} {m.name} {where}", **APPEND_ONLY)
    ctx.add(m, registry_resource_name(m, version), ML + f"Registry{kind}Version",
            {**scope, "version": version, "properties": properties}, depends_on=deps | {node, registry},
            label=f"{label} {m.name} version {version} {where}", **APPEND_ONLY)
