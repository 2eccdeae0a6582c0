"""Stacks: Pulumi stack files, their amlctl settings, and the per-stack overlay.

One set of manifests serves every stack. What differs per environment (sizes, instance
counts, isolation, protection) lives in the stack file as an ordered list of overlays:
each selects manifests (by kind, name pattern, workspace, labels) and applies a JSON merge
patch (RFC 7386) to them. Patched values remember the stack file line they came from, so
an error or a plan line caused by an overlay points at the stack file, not the manifest.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Collection

from controller import schemas as S
from controller.diagnostics import Diagnostic, Severity, error
from controller.manifests.loader import read_file
from controller.manifests.model import Manifest, Patch
from controller.manifests.yamlsafe import Positions

STACK_FILE = re.compile(r"^Pulumi\.([A-Za-z0-9_.-]+)\.ya?ml$")
NS = "amlctl:"
# Pulumi's own rule for a stack name (letters, digits, '-', '_', '.', at most 100), and not
# starting with '-' or '.': the name becomes a path under the state directory and an argument
# to the engine, where '..' climbs out of it and '-sother' is read as an option.
STACK_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


class StackNameError(ValueError):
    """A stack name that cannot be a Pulumi stack (or a safe path)."""


def check_name(name: str) -> str:
    """`name` when it can be a stack name, else StackNameError saying what is allowed."""
    if not STACK_NAME.match(name) or ".." in name:
        raise StackNameError(f"{name!r} is not a stack name: letters, digits, '-', '_' and '.', at most 100, "
                             "starting with a letter, digit or '_', and no '..'")
    return name


def is_stack_file(path: str) -> bool:
    return bool(STACK_FILE.match(PurePosixPath(path).name))


@dataclass(frozen=True)
class Overlay:
    index: int
    select: dict[str, Any]
    patch: dict[str, Any]  # {"spec": {...}, "metadata": {...}}
    description: str
    prefix: tuple  # document path of this overlay in the stack file

    def matches(self, m: Manifest) -> bool:
        sel = self.select
        if "kind" in sel and sel["kind"] != m.kind:
            return False
        if "name" in sel and not fnmatch.fnmatchcase(m.name, sel["name"]):
            return False
        if "workspace" in sel and sel["workspace"] != m.workspace:
            return False
        return all(m.labels.get(k) == v for k, v in sel.get("labels", {}).items())


@dataclass(frozen=True)
class Stack:
    name: str
    path: str
    settings: dict[str, Any]  # the amlctl: config keys, without the prefix
    overlays: tuple[Overlay, ...]
    positions: Positions
    excludes: tuple[Overlay, ...] = ()  # selectors of manifests this stack does not manage

    @property
    def target(self) -> str:
        return self.settings.get("target", "azure")

    @property
    def default_workspace(self) -> str | None:
        return self.settings.get("defaultWorkspace")

    @property
    def production(self) -> bool:
        return bool(self.settings.get("production", False))

    @property
    def protect(self) -> bool:
        return bool(self.settings.get("protect", self.production))

    @property
    def manifest_paths(self) -> list[str]:
        return [_folder(p) for p in self.settings.get("manifests", [DEFAULT_MANIFESTS])]

    def reads(self, m: Manifest) -> bool:
        """Whether a manifest lies in this stack's manifest folders (`amlctl:manifests`)."""
        return _inside(m.path, self.manifest_paths)

    def own(self, manifests: list[Manifest]) -> list[Manifest]:
        """The manifests in this stack's folders: the folders worked out once, not once per
        manifest (60 stacks of a 3,000-manifest estate make 180,000 questions)."""
        folders = self.manifest_paths
        return [m for m in manifests if _inside(m.path, folders)]


def _inside(path: str, folders: list[str]) -> bool:
    return any(p == "" or path == p or path.startswith(p + "/") for p in folders)


DEFAULT_MANIFESTS = "manifests"
STACKS_DIR = "stacks"


def _folder(path: str) -> str:
    """A manifest folder as a repository-relative POSIX path ("" for the repository root)."""
    p = str(PurePosixPath(path.strip().strip("/") or "."))
    return "" if p == "." else p


def manifest_folders(root: Path, only: Collection[str] | None = None) -> list[str]:
    """Every stack's manifest folders (`amlctl:manifests`, default `manifests`), repository-relative,
    that exist: what validate reads by default, and what plan, apply and blame track in git. A stack
    file that does not parse counts as the default here; validate reports it. `only`: of those
    stacks alone."""
    folders: set[str] = set()
    stacks = root / STACKS_DIR
    files = sorted(stacks.glob("Pulumi.*.y*ml")) if stacks.is_dir() else []
    for path in files:
        if not STACK_FILE.match(path.name) or (only is not None and STACK_FILE.match(path.name).group(1) not in only):
            continue
        docs, diags = read_file(path, f"{STACKS_DIR}/{path.name}", root=root)
        config = docs[0].data.get("config") if docs and isinstance(docs[0].data, dict) else None
        given = config.get(NS + "manifests") if isinstance(config, dict) else None
        if isinstance(given, list) and all(isinstance(p, str) for p in given):
            folders.update(_folder(p) for p in given)
        else:
            folders.add(DEFAULT_MANIFESTS)
    if not files:
        folders.add(DEFAULT_MANIFESTS)
    return sorted(f or "." for f in folders if (root / f).exists())


def load_stack(path: Path, shown: str, schemas: S.SchemaSet | None = None) -> tuple[Stack | None, list[Diagnostic]]:
    schemas = schemas or S.load()
    name = STACK_FILE.match(PurePosixPath(shown).name).group(1)  # type: ignore[union-attr]
    # stacks/ sits at the repository's top: a stack file that links out of it is not read.
    docs, diags = read_file(path, shown, root=path.parent.parent)
    if any(d.severity is Severity.ERROR for d in diags):
        return None, diags
    if len(docs) != 1:
        return None, [error(shown, 1, 1, "K001", "a stack file holds exactly one YAML document")]
    doc = docs[0]
    for p in S.problems(schemas, "stack.schema.json", doc.data):
        line, col = doc.positions.at(p.path, p.at_key)
        diags.append(error(shown, line, col, "K001", p.message, f"stack/{name}"))
    if any(d.severity is Severity.ERROR for d in diags):
        return None, diags
    config = doc.data.get("config", {})
    booleans = _pulumi_booleans(schemas)
    settings = {k[len(NS):]: (v == "true" if k in booleans and isinstance(v, str) else v)
                for k, v in config.items() if k.startswith(NS)}
    overlays = []
    for i, o in enumerate(settings.get("overlays", [])):
        prefix = ("config", NS + "overlays", i)
        if "name" in o["patch"].get("spec", {}):
            line, col = doc.positions.at(prefix + ("patch", "spec", "name"), True)
            diags.append(error(shown, line, col, "K001", "an overlay cannot rename a manifest (the name is its "
                               "identity); select it and patch other fields", f"stack/{name}"))
            continue
        overlays.append(Overlay(i, o["select"], o["patch"], o.get("description", ""), prefix))
    excludes = tuple(Overlay(i, sel, {}, "", ("config", NS + "exclude", i))
                     for i, sel in enumerate(settings.get("exclude", [])))
    return Stack(name, shown, settings, tuple(overlays), doc.positions, excludes), diags


def _pulumi_booleans(schemas: S.SchemaSet) -> set[str]:
    """The settings the stack schema declares as booleans (which Pulumi may have quoted)."""
    props = schemas.documents["stack.schema.json"]["properties"]["config"]["properties"]
    return {k for k, v in props.items() if v.get("$ref", "").endswith("/pulumiBoolean")}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def apply(stack: Stack, manifests: list[Manifest],
          schemas: S.SchemaSet | None = None) -> tuple[list[Manifest], list[Diagnostic]]:
    """The manifests as this stack sees them: default workspace filled in, overlays applied,
    and each patched manifest re-checked against its schema (errors point at the stack file)."""
    schemas = schemas or S.load()
    diags: list[Diagnostic] = []
    out = []
    for exclude in stack.excludes:
        if not any(exclude.matches(m) for m in manifests):
            line, col = stack.positions.at(exclude.prefix)
            diags.append(error(stack.path, line, col, "K002", f"exclude #{exclude.index + 1} selects no manifest "
                               f"({_describe_select(exclude.select)}): a typo, or a manifest that was removed?",
                               f"stack/{stack.name}"))
    manifests = [m for m in manifests if not any(e.matches(m) for e in stack.excludes)]
    for m in manifests:
        if m.workspace is None and m.registry is None and schemas.kinds[m.kind].scope == "workspace" \
                and stack.default_workspace:  # a registry's asset (metadata.registry) is in no workspace
            m = _with_workspace(m, stack.default_workspace)
        out.append(m)
    for overlay in stack.overlays:
        hits = [i for i, m in enumerate(out) if overlay.matches(m)]
        if not hits:
            line, col = stack.positions.at(overlay.prefix + ("select",))
            diags.append(error(stack.path, line, col, "K002", f"overlay #{overlay.index + 1} selects no manifest "
                               f"({_describe_select(overlay.select)}): a typo, or a manifest that was removed?",
                               f"stack/{stack.name}"))
            continue
        spec_patch = overlay.patch.get("spec", {})
        meta = overlay.patch.get("metadata", {})
        patch = Patch(stack.path, stack.positions, overlay.prefix + ("patch", "spec"), spec_patch)
        for i in hits:
            m = out[i]
            labels = merge_patch(m.labels, meta["labels"]) if "labels" in meta else None
            annotations = merge_patch(m.annotations, meta["annotations"]) if "annotations" in meta else None
            out[i] = m.with_spec(merge_patch(m.spec, spec_patch), patch, labels, annotations)
    for i, m in enumerate(out):
        if not m.patches:
            continue
        for p in S.problems(schemas, schemas.kinds[m.kind].file, m.spec):
            src = m.where(p.path, p.at_key)
            diags.append(Diagnostic(src.path, src.line, src.col, "K003", Severity.ERROR,
                                    f"after the stack's overlays: {p.message}", m.subject, stack.name))
    return out, diags


def _with_workspace(m: Manifest, workspace: str) -> Manifest:
    return replace(m, workspace=workspace)


def _describe_select(select: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(select.items()))
