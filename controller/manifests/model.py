"""The in-memory manifest model: what every later stage reads.

An envelope (`apiVersion/kind/metadata/spec`) and a bare `az ml` file load into the same
Manifest. `spec` is always the az ml body (with `name`, without `$schema`), so later stages
never care which form a manifest was written in. Every Manifest knows where each of its
values came from (file, line, column), including values a stack overlay replaced.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from controller.manifests.versions import VERSIONED_KINDS
from controller.manifests.yamlsafe import Positions


@dataclass(frozen=True, slots=True, order=True)
class Source:
    path: str  # repository-relative, POSIX separators
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Patch:
    """A stack overlay's merge patch, kept so that patched values point at the stack file."""

    path: str  # the stack file
    positions: Positions  # positions within the stack file's document
    prefix: tuple  # where the patch's `spec` mapping sits in that document
    spec: Mapping[str, Any]

    def covers(self, spec_path: tuple) -> bool:
        node: Any = self.spec
        for part in spec_path:
            if not isinstance(node, dict):
                return True  # the patch replaced a whole value above this path
            if part not in node:
                return False
            node = node[part]
        return True


@dataclass(frozen=True, slots=True)
class Manifest:
    kind: str
    name: str
    workspace: str | None  # None: not workspace-scoped, or not known (a lone bare file)
    spec: Mapping[str, Any]  # the az ml body, including `name`, without `$schema`
    path: str  # the file, repository-relative
    doc_index: int
    form: str  # "envelope" or "bare"
    positions: Positions = field(repr=False, compare=False)
    spec_prefix: tuple = ()  # where spec sits in the document: ("spec",) for envelopes
    name_at: tuple = ("name",)  # document path of the name
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    patches: tuple[Patch, ...] = ()  # overlays applied, in order
    lines: tuple[int, int] = field(default=(0, 0), compare=False)  # the document's lines in its file
    registry: str | None = None  # an asset published into this registry (metadata.registry), not a workspace's

    @property
    def subject(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def key(self) -> tuple[str, str | None, str]:
        """Kind, workspace (or `registry:<name>` for a registry's asset) and name: one asset (several
        versions of it share the key)."""
        return (self.kind, self.workspace if self.registry is None else f"registry:{self.registry}", self.name)

    @property
    def version(self) -> str | None:
        """The explicit version of an asset-version manifest (Data, Environment, Model, Component)."""
        v = self.spec.get("version") if self.kind in VERSIONED_KINDS else None
        return None if v is None else str(v)

    @property
    def identity(self) -> tuple:
        """What makes a manifest unique: its key, plus the version of an asset version."""
        return self.key + (self.version,)

    @property
    def source(self) -> Source:
        line, col = self.positions.at(self.spec_prefix)
        return Source(self.path, line, col)

    def where(self, spec_path: tuple = (), key: bool = False) -> Source:
        """The file, line and column a value of `spec` came from (a stack file if patched)."""
        spec_path = tuple(spec_path)
        for patch in reversed(self.patches):
            if spec_path and patch.covers(spec_path):
                line, col = patch.positions.at(patch.prefix + spec_path, key)
                return Source(patch.path, line, col)
        if spec_path[:1] == ("name",) and self.name_at != self.spec_prefix + ("name",):
            line, col = self.positions.at(self.name_at, key)
            return Source(self.path, line, col)
        line, col = self.positions.at(self.spec_prefix + spec_path, key)
        return Source(self.path, line, col)

    def with_spec(self, spec: Mapping[str, Any], patch: Patch, labels: Mapping[str, str] | None = None,
                  annotations: Mapping[str, str] | None = None) -> "Manifest":
        return replace(self, spec=spec, patches=self.patches + (patch,),
                       labels=self.labels if labels is None else labels,
                       annotations=self.annotations if annotations is None else annotations)
