"""Load + schema-check: files -> documents -> Manifests, with every problem as a Diagnostic.

A document is an amlctl envelope (`apiVersion` + `kind`), or a bare az ml file recognised
by its `$schema` URL (or, for the fine-tuning and distillation files that never carry one,
by its `type`). Both become the same Manifest. Schema problems are reported with the
position of the offending value; a document with schema errors yields no Manifest, so the
semantic stage only ever sees well-formed data.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from controller import files
from controller import schemas as S
from controller.diagnostics import Diagnostic, error
from controller.manifests.model import Manifest
from controller.manifests.yamlsafe import DEFAULT_LIMITS, Document, Limits, parse


@dataclass
class Loaded:
    manifests: list[Manifest] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Documents that are not manifests (S001) or of a kind amlctl does not manage (S002). Reported
    # as errors unless a manifest names their file, or a folder holding it, as a local path (a conda
    # file, an MLTable spec, a prompt flow folder): the semantic stage decides.
    unrecognised: list[Diagnostic] = field(default_factory=list)
    files: int = 0


def read_file(path: Path, shown: str, limits: Limits = DEFAULT_LIMITS,
              root: Path | None = None) -> tuple[list[Document], list[Diagnostic]]:
    """`root`, when given, is the repository the file must lie in (after every symlink)."""
    try:
        # The one safe reader: a regular file only (a FIFO or a device is refused from its stat,
        # never opened), and never more than the limit read into memory.
        raw = files.read_bytes(path, root, limits.max_bytes)
    except files.Refused as exc:
        return [], [error(shown, 0, 0, exc.code, exc.message)]
    return parse(shown, raw, limits)


def load_files(files: list[tuple[Path, str]], kind_hint: str | None = None,
               schemas: S.SchemaSet | None = None) -> Loaded:
    """Load (absolute path, repository-relative path) pairs."""
    schemas = schemas or S.load()
    out = Loaded(files=len(files))
    docs: list[Document] = []
    for path, shown in files:
        d, diags = read_file(path, shown)
        docs.extend(d)
        out.diagnostics.extend(diags)
    classified = [(doc, _classify(doc, schemas, kind_hint, out)) for doc in docs]
    folders = _workspace_folders(classified)
    for doc, kind in classified:
        if kind is not None:
            m = _build(doc, kind, schemas, folders, out.diagnostics)
            if m is not None:
                out.manifests.append(m)
    return out


def _classify(doc: Document, schemas: S.SchemaSet, kind_hint: str | None, out: Loaded) -> str | None:
    """Which kind a document is; None (with a diagnostic) when it is not a manifest."""
    data = doc.data
    line, col = doc.positions.at(())
    if not isinstance(data, dict):
        out.unrecognised.append(error(doc.path, line, col, "S001",
                                      f"a manifest is a mapping, not {S.describe(data)}"))
        return None
    if _is_envelope(data):
        kind = data.get("kind")
        return kind if kind in schemas.kinds else "__envelope__"  # the envelope schema reports it
    if "$schema" in data:
        url = data["$schema"]
        kind, base = schemas.kind_for_schema_url(url) if isinstance(url, str) else (None, str(url))
        if kind is None:
            line, col = doc.positions.at(("$schema",))
            supported = ", ".join(sorted({s for k in schemas.kinds.values() for s in k.azureml_schemas},
                                         key=str.lower))
            # Reported unless a manifest uses the file as data, as for S001 below: a prompt flow's
            # flow.dag.yaml inside the flow folder a model registers is data, not a manifest.
            out.unrecognised.append(error(doc.path, line, col, "S002",
                                          f"amlctl does not manage {base!r} documents (the az ml kinds it "
                                          f"manages: {supported})"))
        return kind
    if kind_hint:
        return kind_hint
    if isinstance(data.get("type"), str) and data["type"] in schemas.by_bare_type:
        return schemas.by_bare_type[data["type"]]  # az ml files that never carry a $schema (fine-tuning)
    out.unrecognised.append(error(
        doc.path, line, col, "S001",
        "not a manifest: it has neither 'apiVersion'/'kind' (an amlctl manifest) nor '$schema' "
        "(an az ml YAML file); add one, or keep non-manifest YAML out of the manifest folders"))
    return None


def _is_envelope(data: dict[str, Any]) -> bool:
    # az ml workspace files have a `kind` of their own (hub, project): an envelope is recognised
    # by apiVersion, or by kind together with metadata or spec, and never when $schema is there.
    if "$schema" in data and "apiVersion" not in data:
        return False
    return "apiVersion" in data or ("kind" in data and ("metadata" in data or "spec" in data))


def _workspace_folders(classified: list[tuple[Document, str | None]]) -> dict[str, list[str]]:
    """Folder (repository-relative) -> names of the Workspace (or FeatureStore: a workspace of kind
    featurestore, home of its entities and feature sets) manifests in it."""
    folders: dict[str, list[str]] = {}
    for doc, kind in classified:
        if kind not in ("Workspace", "FeatureStore"):
            continue
        data = doc.data
        meta = data.get("metadata")
        name = meta.get("name") if _is_envelope(data) and isinstance(meta, dict) else data.get("name")
        if isinstance(name, str):
            folders.setdefault(str(PurePosixPath(doc.path).parent), []).append(name)
    return folders


def _folder_workspace(path: str, folders: dict[str, list[str]]) -> list[str]:
    folder = PurePosixPath(path).parent
    for f in (folder, *folder.parents):
        names = folders.get(str(f))
        if names:
            return sorted(set(names))
    return []


_NAME_FROM_FILE = re.compile(r"[^A-Za-z0-9_-]+")


def _build(doc: Document, kind: str, schemas: S.SchemaSet, folders: dict[str, list[str]],
           diags: list[Diagnostic]) -> Manifest | None:
    data: dict[str, Any] = doc.data
    here = len(diags)

    def report(path: tuple, code: str, message: str, at_key: bool = False, subject: str = "") -> None:
        line, col = doc.positions.at(path, at_key)
        diags.append(error(doc.path, line, col, code, message, subject))

    if kind == "__envelope__" or _is_envelope(data):
        env = schemas.documents["envelope.schema.json"]
        shell = {k: v for k, v in env.items() if k != "allOf"}  # spec is checked below, on its own
        instance = dict(data, spec={}) if isinstance(data.get("spec"), dict) else data
        for p in S.problems_for(schemas, "envelope.schema.json", instance, shell):
            report(p.path, p.code, p.message, p.at_key)
        if len(diags) > here:
            return None
        meta = data["metadata"]
        spec = dict(data["spec"])
        name = meta["name"]
        kind = data["kind"]
        if kind not in schemas.kinds:  # in the envelope's enum but without a schema of its own
            report(("kind",), "S002", f"kind {kind!r} has no schema in this version of amlctl")
            return None
        name_at = ("metadata", "name")
        subject = f"{kind}/{name}"
        if "name" in spec:
            if spec["name"] != name:
                report(("spec", "name"), "S006", f"spec.name {spec['name']!r} differs from metadata.name "
                       f"{name!r}; drop spec.name or make them equal", subject=subject)
                return None
            name_at = ("spec", "name")
        spec["name"] = name
        prefix: tuple = ("spec",)
        workspace = meta.get("workspace")
        registry = meta.get("registry")
        if registry is not None and not _registry_scope_ok(kind, workspace, report, subject):
            return None
        labels, annotations = meta.get("labels", {}), meta.get("annotations", {})
        form = "envelope"
    else:
        info = schemas.kinds[kind]
        spec = {k: v for k, v in data.items() if k != "$schema"}
        name = spec.get("name")
        name_at = ("name",)
        if name is None and info.name_from_file:
            # az ml pipeline jobs carry no name; a stable identity is the file's stem.
            name = _NAME_FROM_FILE.sub("-", PurePosixPath(doc.path).stem).strip("-") or "pipeline"
            if doc.index:
                name = f"{name}-{doc.index}"
            spec["name"] = name
            name_at = ()
        elif name is None:
            report((), "S005", f"missing required field 'name' (every {kind} needs a stable name to be "
                   "managed)", subject=kind)
            return None
        prefix, workspace, labels, annotations, form = (), None, {}, {}, "bare"
        registry = None  # a bare az ml file has no field for it (az ml takes --registry-name)
    info = schemas.kinds[kind]
    subject = f"{kind}/{name}"
    # Validate the az ml body; map problem paths back into the document.
    for p in S.problems(schemas, info.file, spec):
        path = name_at + p.path[1:] if p.path[:1] == ("name",) else prefix + p.path
        report(path, p.code, p.message, p.at_key, subject)
    if len(diags) > here:
        return None
    if info.scope == "workspace" and workspace is None and registry is None:
        candidates = _folder_workspace(doc.path, folders)
        if len(candidates) > 1:
            report(prefix, "S003", f"the folder holds several workspaces ({', '.join(candidates)}); say which "
                   "one with metadata.workspace (envelope form)", subject=subject)
            return None
        workspace = candidates[0] if candidates else None
    return Manifest(kind=kind, name=str(name), workspace=workspace if info.scope == "workspace" else None,
                    spec=spec, path=doc.path, doc_index=doc.index, form=form, positions=doc.positions,
                    spec_prefix=prefix, name_at=name_at, labels=labels, annotations=annotations, lines=doc.lines,
                    registry=registry)


# The kinds `az ml ... create --registry-name` publishes (azure-ai-ml's registry-scoped operations).
REGISTRY_KINDS = ("Model", "Environment", "Component")


def _registry_scope_ok(kind: str, workspace: str | None, report: Any, subject: str) -> bool:
    """metadata.registry names the registry an asset is published into: only an asset kind a registry
    holds, and never beside metadata.workspace (an asset lives in one place)."""
    if kind not in REGISTRY_KINDS:
        report(("metadata", "registry"), "S003", f"metadata.registry: a {kind} cannot be published into a registry "
               f"(registries hold {', '.join(REGISTRY_KINDS)}); drop it, or say metadata.workspace", True, subject)
        return False
    if workspace is not None:
        report(("metadata", "registry"), "S003", "metadata.registry and metadata.workspace together: an asset lives "
               "in a registry or in a workspace; drop one (a workspace uses a registry asset by its URI, "
               "azureml://registries/<registry>/...)", True, subject)
        return False
    return True
