"""What every kind renderer shares: the stack's target, ARM ids, tags, protection, uploads.

A kind renderer gets a Manifest and this Context and calls `ctx.add(...)` for each resource it
stands for. The Context resolves what only the whole estate knows: which workspace a manifest
lives in and where it is, the version a reference without one means, the content hash of a
local folder, the commit that last changed a manifest file.
"""
from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Mapping

from controller import files
from controller import schemas as S
from controller.checks import refs
from controller.diagnostics import Diagnostic, Severity
from controller.manifests import versions
from controller.manifests.model import Manifest
from controller.render import arm
from controller.render.graph import Resource, bare
from controller.stacks import Stack

ML = "azure-native:machinelearningservices:"
ML_PROVIDER = "Microsoft.MachineLearningServices"
# The one uploads container amlctl keeps in each workspace's storage account, and the datastore
# that makes it addressable as azureml://datastores/amlctl_assets/paths/...
ASSETS_CONTAINER = "amlctl-assets"
ASSETS_DATASTORE = "amlctl_assets"
NAMESPACE = uuid.UUID("0b8f3c52-5f0e-4d1a-9c67-6e1f3a7d2b10")  # for deterministic GUIDs (UUIDv5)

# Child collections of a workspace in ARM ids, by kind.
COLLECTION = {
    "Compute": "computes", "Datastore": "datastores", "Data": "data", "Environment": "environments",
    "Model": "models", "Component": "components", "Code": "codes", "OnlineEndpoint": "onlineEndpoints",
    "BatchEndpoint": "batchEndpoints", "Pipeline": "jobs", "Schedule": "schedules",
    "ServerlessEndpoint": "serverlessEndpoints", "Connection": "connections",
}
VERSIONED = ("Data", "Environment", "Model", "Component", "Code")

# Asset versions (and the uploads behind them) are append-only in Azure ML: a version that leaves
# git (a newer one replaced it, or its manifest went) stays in Azure, where past jobs and
# deployments still point at it.
# Removing one from the graph makes Pulumi forget it, never delete it; so protection, which only
# guards against deletes, has nothing to guard and would block every release in production.
APPEND_ONLY = {"retain_on_delete": True, "stateful": False}


class RenderError(Exception):
    """A manifest that validates but cannot be rendered; carries the diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass
class Context:
    stack: Stack
    manifests: list[Manifest]
    root: Path
    schemas: S.SchemaSet
    commits: Mapping[str, str] = field(default_factory=dict)  # path, or path#doc, -> last commit that changed it
    allow_missing_files: bool = False
    resources: dict[str, Resource] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    origins: dict[str, dict[str, str]] = field(default_factory=dict)  # subject -> ARM body path -> file:line:col
    _hashes: dict[str, str] = field(default_factory=dict)
    _versions: dict[tuple, str] = field(default_factory=dict)
    _references: dict[int, tuple[Manifest, dict[tuple, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index: dict[tuple[str, str | None, str], list[Manifest]] = {}
        for m in self.manifests:  # several versions of one asset share a key
            self.index.setdefault(m.key, []).append(m)
        # A feature store is a workspace (of kind featurestore): its entities and feature sets live in it.
        self.workspaces = {m.name: m for m in self.manifests if m.kind in ("Workspace", "FeatureStore")}

    # -- the stack's target ------------------------------------------------------------------------
    @property
    def subscription(self) -> str:
        return str(self.stack.settings.get("subscriptionId", "00000000-0000-0000-0000-000000000000"))

    @property
    def resource_group(self) -> str:
        return str(self.stack.settings.get("resourceGroup", f"rg-{self.stack.name}"))

    @property
    def location(self) -> str:
        return str(self.stack.settings.get("location", "westeurope"))

    @property
    def rg_id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"

    def provider_id(self, provider: str, *parts: str) -> str:
        return f"{self.rg_id}/providers/{provider}/" + "/".join(parts)

    def workspace_id(self, workspace: str) -> str:
        return self.provider_id(ML_PROVIDER, "workspaces", workspace)

    def child_id(self, workspace: str, kind: str, name: str, version: str | None = None) -> str:
        out = f"{self.workspace_id(workspace)}/{COLLECTION[kind]}/{name}"
        return out + (f"/versions/{version}" if version is not None else "")

    def workspace_location(self, workspace: str | None) -> str:
        ws = self.workspaces.get(workspace or "")
        return str(ws.spec.get("location", self.location)) if ws else self.location

    def workspace_resource(self, workspace: str) -> str | None:
        """The graph name of the workspace resource, when the estate defines the workspace."""
        ws = self.workspaces.get(workspace)
        return resource_name(ws) if ws else None

    # -- resources ---------------------------------------------------------------------------------
    def add(self, m: Manifest | None, name: str, type_: str, inputs: Mapping[str, Any], *,
            depends_on: Iterable[str | None] = (), stateful: bool = False, ignore_changes: Iterable[str] = (),
            label: str = "", subject: str | None = None, spec_path: tuple = (),
            retain_on_delete: bool = False, moved_from: Iterable[str] = ()) -> Resource:
        if name in self.resources:
            existing = self.resources[name]
            if existing.type == type_ and existing.inputs == inputs:
                return existing  # two manifests needing one shared resource (an uploaded folder)
            raise self.error(m, spec_path, "R002", f"renders a resource named {name!r} that "
                             f"{existing.subject} also renders")
        origins = self._origins_for(subject or (m.subject if m else ""), inputs)
        r = Resource(name=name, type=type_, inputs=inputs, origins=origins,
                     subject=subject or (m.subject if m else "implicit"),
                     source=(m.where(spec_path) if m else None),
                     depends_on=tuple(sorted({d for d in depends_on if d and d != name})),
                     protect=stateful and self.stack.protect, retain_on_delete=retain_on_delete,
                     ignore_changes=tuple(ignore_changes), label=label, moved_from=tuple(moved_from))
        self.resources[name] = r
        return r

    def _origins_for(self, subject: str, inputs: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        """The manifest's value origins that this resource's inputs carry (see Resource.origin)."""
        known = self.origins.get(subject)
        if not known:
            return ()
        # covers(key, p) holds when key, without leading `properties.`, is a contiguous run of p's
        # segments (p likewise stripped): collect every run once, then test each key in O(1).
        runs: set[str] = set()
        for path in _leaf_paths(inputs, ()):
            parts = bare(".".join(path)).split(".")
            runs.update(".".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1))
        return tuple(sorted((key, where) for key, where in known.items() if bare(key) in runs))

    def tags(self, m: Manifest | None, own: Mapping[str, Any] | None = None) -> dict[str, str]:
        """ARM tags: the manifest's own, then amlctl's. The commit is the one that last changed the
        manifest's document (its file, for single-document files), not HEAD, so an unrelated
        commit does not touch every resource."""
        out = {str(k): str(v) for k, v in (own or {}).items()}
        out["managed-by"] = "amlctl"
        if m is not None:
            out["amlctl-manifest"] = m.path
            commit = self.commits.get(f"{m.path}#{m.doc_index}") or self.commits.get(m.path)
            if commit:
                out["amlctl-commit"] = commit
        return out

    def error(self, m: Manifest | None, spec_path: tuple, code: str, message: str) -> RenderError:
        src = m.where(spec_path) if m else None
        return RenderError(Diagnostic(src.path if src else self.stack.path, src.line if src else 0,
                                      src.col if src else 0, code, Severity.ERROR, message,
                                      m.subject if m else "", self.stack.name))

    # -- references --------------------------------------------------------------------------------
    def find(self, kind: str, name: str, workspace: str | None, version: str | None = None) -> Manifest | None:
        """The manifest a reference means: for an asset, the given version, else the highest
        version the estate defines (what `@latest` means here)."""
        return versions.pick(self.index.get((kind, workspace, name)) or self.index.get((kind, None, name)) or [], version)

    def is_latest(self, m: Manifest) -> bool:
        """Whether `m` is the highest version of its asset in the estate (which owns the container)."""
        return self.find(m.kind, m.name, m.workspace) is m

    def version_of(self, m: Manifest) -> str:
        """A versioned asset's version: the manifest's, else derived from its rendered content."""
        explicit = m.spec.get("version")
        if explicit is not None:
            return str(explicit)
        if m.identity not in self._versions:
            from controller.render import kinds  # the derived version needs the asset's body
            self._versions[m.identity] = kinds.derived_version(m, self)
        return self._versions[m.identity]

    def resolve_ref(self, m: Manifest, kind: str, value: str, spec_path: tuple,
                    deploy_time: bool = False) -> tuple[Any, str | None]:
        """(ARM id or URI, graph resource it depends on) for a reference string. With `deploy_time`,
        `@latest` of an asset no manifest defines (a model a pipeline registers) is a {"$latest": ...}
        marker that the program resolves when it deploys; without, it is an error (R003)."""
        in_registry = registry_ref(self, m, kind, value, spec_path)
        if in_registry is not None:
            return in_registry
        ref = refs.parse(value, kind)
        if ref is None or ref.name is None:
            return value, None  # a URI (registries, other workspaces) passes through
        if ref.kind == "Datastore":
            return self.child_id(m.workspace or "", "Datastore", ref.name), None
        if ref.kind in VERSIONED and ref.label is not None and ref.label != "latest":
            raise self.error(m, spec_path, "R003", f"{S.dotted(spec_path)}: {value!r}: Azure ML resolves only the "
                             f"label 'latest' for workspace assets; write azureml:{ref.name}@latest or "
                             f"azureml:{ref.name}:<version>")
        target = self.find(ref.kind, ref.name, m.workspace, ref.version if ref.kind in VERSIONED else None)
        version = ref.version
        if ref.kind in VERSIONED:
            if target is not None and version is None:
                version = self.version_of(target)  # no version, or @latest: the estate's highest
            if version is None and deploy_time and ref.label == "latest":
                container = self.child_id(m.workspace or "", ref.kind, ref.name)
                return {"$latest": {"kind": ref.kind, "name": ref.name, "container": container}}, None
            if version is None:
                raise self.error(m, spec_path, "R003", f"{S.dotted(spec_path)}: {value!r} names no version and no "
                                 f"manifest here defines {ref.kind} {ref.name!r}, so amlctl cannot tell which "
                                 f"version Azure has: write azureml:{ref.name}:<version>")
        workspace = target.workspace if target is not None and target.workspace else m.workspace or ""
        arm_id = self.child_id(workspace, ref.kind, ref.name, version if ref.kind in VERSIONED else None)
        if target is not None and ref.kind in VERSIONED and self.version_of(target) != version:
            target = None  # another version than the estate's: it exists in Azure already, nothing to wait for
        node = None
        if target is not None:
            node = resource_name(target, version) if ref.kind in VERSIONED else resource_name(target)
        return arm_id, node

    # -- local files -------------------------------------------------------------------------------
    def local(self, m: Manifest, value: str) -> PurePosixPath:
        """A path field's value as a repository-relative path."""
        local = refs.local_path(value) or value
        return PurePosixPath(_normalise(str(PurePosixPath(m.path).parent / local)))

    def files_of(self, path: PurePosixPath) -> list[tuple[str, str]]:
        """(path relative to `path`, sha256) of every file under a local file or folder, sorted.
        The walk is amlctl's one file walker (controller.files): what is hashed here is exactly
        what is uploaded, and nothing outside the repository, nor any special file, is read."""
        full = self.root / path
        if self.allow_missing_files and not full.exists():
            return [(path.name, hashlib.sha256(str(path).encode()).hexdigest())]
        if not full.exists() and not full.is_symlink():
            return []  # the renderer reports a missing path (R007)
        try:
            if not files.check(full, self.root).is_dir:
                return [(path.name, self.file_hash(str(path)))]
            found = files.walk(full, self.root)
        except files.Refused as exc:
            raise self.refused(exc) from None
        out = []
        for relative, node in found:
            if "__pycache__" in relative.split("/") or relative.endswith(".pyc"):
                continue
            out.append((relative, self.file_hash(f"{path}/{relative}", node)))
        return out

    def file_hash(self, path: str, node: files.Node | None = None) -> str:
        """sha256 of a repository file (`node`: as the walk found it, checked already)."""
        if path not in self._hashes:
            try:
                self._hashes[path] = files.sha256(node or self.root / path, self.root)  # streamed: constant memory
            except files.Refused as exc:
                raise self.refused(exc) from None
        return self._hashes[path]

    def refused(self, exc: files.Refused) -> RenderError:
        """A file the walker refuses, as the diagnostic that names it."""
        return RenderError(Diagnostic(exc.path, 0, 0, exc.code, Severity.ERROR, exc.message, "", self.stack.name))

    def content_hash(self, path: PurePosixPath) -> str:
        h = hashlib.sha256()
        for relative, digest in self.files_of(path):
            h.update(f"{relative}\0{digest}\n".encode())
        return h.hexdigest()

    def read_text(self, m: Manifest, value: str) -> str:
        full = self.root / self.local(m, value)
        if not full.exists() and not full.is_symlink():
            raise FileNotFoundError(str(full))  # a missing file: the renderer decides (R007, or a render without files)
        try:
            with files.open_regular(full, self.root) as f:
                return f.read().decode("utf-8")
        except files.Refused as exc:
            raise self.refused(exc) from None

    def references(self, m: Manifest) -> dict[tuple, str]:
        """spec path -> referenced kind (x-amlctl-ref), walked once per manifest, not once per reference."""
        entry = self._references.get(id(m))
        if entry is None or entry[0] is not m:  # the manifest is kept in the entry, so ids are not reused
            entry = self._references[id(m)] = (m, {a.path: a.value for a in S.annotations(
                self.schemas, self.schemas.kinds[m.kind].file, m.spec) if a.key == "ref"})
        return entry[1]

    def resolver(self, m: Manifest, deps: set[str]) -> Callable[[str, tuple, Any], Any]:
        from controller.render import kinds
        return lambda hook, path, value: kinds.resolve_hook(hook, m, path, value, self, deps)

    def arm(self, m: Manifest, deps: set[str]) -> arm.Mapped:
        mapped = arm.to_arm(self.schemas, self.schemas.kinds[m.kind].file, m.spec, self.resolver(m, deps))
        self.origins[m.subject] = {target: str(m.where(path)) for target, path in mapped.origins.items()}
        for path in mapped.unmapped:
            src = m.where(path, True)
            self.diagnostics.append(Diagnostic(src.path, src.line, src.col, "R001", Severity.WARNING,
                                               f"{S.dotted(path)}: amlctl does not render this field yet; "
                                               "it is ignored", m.subject, self.stack.name))
        return mapped


def resource_name(m: Manifest, version: str | None = None) -> str:
    """The graph (Pulumi logical) name of a manifest's main resource: stable, readable, unique."""
    slug = re.sub(r"(?<!^)(?=[A-Z])", "-", m.kind).lower()
    base = f"{m.workspace}/{slug}/{m.name}" if m.workspace else f"{slug}/{m.name}"
    return f"{base}@{version}" if version is not None else base


# -- assets published into a registry (metadata.registry; controller/render/kinds/registry_assets.py) --
REGISTRY_COLLECTION = {"Model": "models", "Environment": "environments", "Component": "components", "Code": "codes"}
_REGISTRY_KIND = {v: k for k, v in REGISTRY_COLLECTION.items() if k != "Code"}


def registry_resource_name(m: Manifest, version: str | None = None) -> str:
    """The graph name of a registry asset's container (or, with `version`, of that version)."""
    slug = re.sub(r"(?<!^)(?=[A-Z])", "-", m.kind).lower()
    base = f"registry/{m.registry}/{slug}/{m.name}"
    return f"{base}@{version}" if version is not None else base


def registry_uri(registry: str, kind: str, name: str, version: str) -> str:
    """How a registry asset is named wherever it is used (azure-ai-ml sends it as written)."""
    return f"azureml://registries/{registry}/{REGISTRY_COLLECTION[kind]}/{name}/versions/{version}"


def registry_ref(ctx: "Context", m: Manifest, kind: str, value: str, spec_path: tuple) -> tuple[Any, str | None] | None:
    """A reference that involves a registry asset, or None to resolve it as usual:
    - azureml://registries/<r>/<models|environments|components>/<name>/versions/<v> (or labels/latest)
      of an asset the estate publishes is sent as written, after the version it names (the estate's
      highest for labels/latest): a graph dependency, from any manifest;
    - in a registry's asset, a short name (`azureml:<name>:<version>`) is an error, as azure-ai-ml's
      OperationOrchestrator refuses it in a registry scope (a curated environment excepted, which
      refs.parse leaves as written)."""
    if not isinstance(value, str):
        return None
    match = refs._REGISTRY_URI.match(value.strip())
    if match is not None:
        registry, collection, name, which, ver = match.groups()
        target_kind = _REGISTRY_KIND.get(collection)
        if target_kind is None or which is None or (which == "labels" and ver != "latest"):
            return None
        target = ctx.find(target_kind, name, f"registry:{registry}", ver if which == "versions" else None)
        if target is None or target.registry != registry:
            return None  # not an asset of the estate: it exists in the registry already
        version = ctx.version_of(target)
        if which == "versions" and version != ver:
            return None
        return value, registry_resource_name(target, version)
    if m.registry is None:
        return None
    ref = refs.parse(value, kind)
    if ref is None or ref.name is None or kind not in REGISTRY_COLLECTION:
        return None
    version = ref.version or "<version>"
    raise ctx.error(m, spec_path, "R003", f"{S.dotted(spec_path)}: {value!r}: an asset in a registry names what it "
                    "uses by its full registry URI (azure-ai-ml refuses short names there): write "
                    f"{registry_uri(m.registry, kind, ref.name, version)}")


def guid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "\n".join(parts)))


def short_hash(*parts: str, n: int = 8) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:n]


def _normalise(path: str) -> str:
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and out:
            out.pop()
        else:
            out.append(part)
    return "/".join(out)


def _leaf_paths(value: Any, path: tuple) -> Iterable[tuple]:
    if isinstance(value, Mapping) and value and not any(str(k).startswith("$") for k in value):
        for k, v in value.items():
            yield from _leaf_paths(v, path + (str(k),))
    else:
        yield path
