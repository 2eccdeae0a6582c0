"""The resource graph: the plain-data desired state that `render` produces and `plan` diffs.

Every resource carries its Pulumi type token, its logical name, its inputs in the shape the
provider takes on the wire (camelCase, the ARM body), its dependencies and options, and the
manifest file and line it came from. Nothing here imports Pulumi: the graph is data, and the
Pulumi program (controller.program) is the only code that turns it into resource objects.

Inputs may hold these markers, all plain JSON:
  {"$output": {"resource": NAME, "property": "identity.principalId"}}  known only after NAME exists
  {"$secret": {"config": "amlctl:openaiKey"}}   a Pulumi secret from stack config, never a value
  {"$asset": {"path": "manifests/src/score/score.py", "sha256": "..."}}  a local file to upload
  {"$latest": {"kind": "Model", "name": "taxi-model", "container": ARM id}}  the ARM id of the
      asset's latest version, read at deploy time (`@latest` to an asset no manifest defines, such
      as a model a training pipeline registers)
  {"$json": VALUE}   VALUE (markers resolved) as JSON text: a property Azure takes as a string
  {"$runOutput": {"run": NAME, "asset": ..., "form": "arm"|"uri", ...}}  the model run NAME registers;
      controller.runs replaces it before the engine runs, once the run has completed
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, Iterator, Mapping

from controller.manifests.model import Source

FORMAT = "amlctl.dev/graph/v1"


@dataclass(frozen=True)
class Resource:
    name: str  # Pulumi logical name, unique in the graph
    type: str  # Pulumi type token, e.g. azure-native:machinelearningservices:Compute
    inputs: Mapping[str, Any]
    subject: str  # the manifest it comes from ("Compute/cpu-cluster"), or "implicit/..." for derived ones
    source: Source | None = None
    depends_on: tuple[str, ...] = ()
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: tuple[str, ...] = ()
    label: str = ""  # what it is, for people: "storage account of Workspace/mlw-credit"
    # Where input values were set: (dotted input path, or its tail, "file:line:col"), sorted. A
    # value an overlay patched points at the stack file.
    origins: tuple[tuple[str, str], ...] = ()
    # Pulumi types this same Azure resource had under this name in earlier amlctl versions (a
    # compute instance was a typed Compute before it needed the generic resource): the engine moves
    # it in the state (controller.engine.moves) instead of deleting and creating it again.
    moved_from: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        # Shallow: every caller serialises the dict at once, and asdict's deep copy of the inputs
        # was most of the time `changed` spends on 60 stacks' digests.
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["source"] = str(self.source) if self.source else None
        d["depends_on"] = list(self.depends_on)
        d["ignore_changes"] = list(self.ignore_changes)
        d["origins"] = dict(self.origins)
        if not self.moved_from:  # renders without moves stay byte-identical to earlier versions
            d.pop("moved_from")
        else:
            d["moved_from"] = list(self.moved_from)
        return d

    def origin(self, path: str) -> str:
        """The file:line:col that set the input at dotted `path`: the longest recorded path that
        the input path ends with, or lies under; "" when none does."""
        best, where = "", ""
        for key, at in self.origins:
            if covers(key, path) and len(key) > len(best):
                best, where = key, at
        return where

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Resource":
        src = d.get("source")
        source = None
        if src:
            path, line, col = src.rsplit(":", 2)
            source = Source(path, int(line), int(col))
        return cls(name=d["name"], type=d["type"], inputs=d["inputs"], subject=d["subject"], source=source,
                   depends_on=tuple(d.get("depends_on", ())), protect=d.get("protect", False),
                   retain_on_delete=d.get("retain_on_delete", False),
                   ignore_changes=tuple(d.get("ignore_changes", ())),
                   moved_from=tuple(d.get("moved_from", ())), label=d.get("label", ""),
                   origins=tuple(sorted((d.get("origins") or {}).items())))

    @property
    def type_name(self) -> str:
        return type_name(self.type)


def type_name(token: str) -> str:
    """The short type, `machinelearningservices:Compute`, of a Pulumi type token: azure-native's
    (`azure-native:machinelearningservices:Compute`), amlctl's own, or the local target's
    (`pulumi-python:dynamic/local/azure-native/machinelearningservices:Compute`)."""
    token = token.rsplit("/", 1)[-1]
    return token.split(":", 1)[1] if token.count(":") >= 2 else token


def bare(path: str) -> str:
    while path.startswith("properties."):
        path = path[len("properties."):]
    return path


def covers(key: str, path: str) -> bool:
    """Whether the mapped body path `key` set the input at `path`. The renderers nest a body
    under `properties` (or flatten it, as azure-native does for the workspace), so both are
    compared without leading `properties.`; the input may also lie under the key."""
    k, p = bare(key), bare(path)
    return bool(k) and (p == k or p.endswith("." + k) or p.startswith(k + ".") or ("." + k + ".") in p)


@dataclass(frozen=True)
class Graph:
    stack: str
    resources: tuple[Resource, ...]  # sorted by name
    settings: Mapping[str, Any] = field(default_factory=dict)  # the stack settings the render used

    def __post_init__(self) -> None:
        object.__setattr__(self, "resources", tuple(sorted(self.resources, key=lambda r: r.name)))

    def by_name(self) -> dict[str, Resource]:
        return {r.name: r for r in self.resources}

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "stack": self.stack, "settings": dict(self.settings),
                "resources": [r.to_dict() for r in self.resources]}

    def to_json(self, indent: int | None = 2) -> str:
        """Canonical JSON: the same graph always gives the same bytes."""
        return canonical(self.to_dict(), indent)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Graph":
        if d.get("format") != FORMAT:
            raise ValueError(f"not an amlctl graph (format {d.get('format')!r}, expected {FORMAT!r})")
        return cls(d["stack"], tuple(Resource.from_dict(r) for r in d["resources"]), d.get("settings", {}))

    def digest(self) -> str:
        """What the engine would be given: a moved line or an edited comment (provenance) or an
        overlay's description changes nothing in Azure, so it changes no digest (`changed`, and
        apply's no-op check, use it)."""
        import hashlib
        resources = [{k: v for k, v in r.to_dict().items() if k not in ("source", "label", "origins")}
                     for r in self.resources]
        settings = {k: v for k, v in self.settings.items() if k not in ("overlays", "exclude")}
        body = {"format": FORMAT, "stack": self.stack, "settings": settings, "resources": resources}
        return hashlib.sha256(canonical(body).encode()).hexdigest()


def canonical(data: Any, indent: int | None = None) -> str:
    return json.dumps(data, sort_keys=True, indent=indent, ensure_ascii=False,
                      separators=(",", ": ") if indent else (",", ":"))


def markers(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str, Mapping[str, Any]]]:
    """Every marker in an input value: (path, "$output"|"$secret"|"$asset"|"$latest", body)."""
    if isinstance(value, dict):
        if len(value) == 1:
            (k, v), = value.items()
            if k in ("$output", "$secret", "$asset", "$latest"):
                yield path, k, v
                return
        for k, v in value.items():
            yield from markers(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from markers(v, path + (i,))


def output(resource: str, prop: str) -> dict[str, Any]:
    return {"$output": {"resource": resource, "property": prop}}
