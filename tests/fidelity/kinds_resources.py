"""Fidelity of issue 14's resource kinds against azure-ai-ml's `_to_rest_object()`: attached compute
(virtual machines, Synapse Spark pools), OneLake datastores and capability hosts. Read by
tests/fidelity.py.

The corpus has no file of these kinds that validates (its Synapse files carry unsubstituted
placeholder names, its VM file an inline password: tests/corpus/known-differences.yaml), so the
comparison runs over the coverage estate's resources area (tests/estates/coverage/resources, laid
over base/ as the engine test lays it), as a GROUP: its outcomes count in the corpus figures.

Secrets: amlctl renders {"$secret": ...} where azure-ai-ml would carry the value; both sides become
the same placeholder (fidelity.secrets_to_placeholders). A project's capability host: azure-ai-ml's
create fills storage_connections with '<project>/workspaceblobstore' when the YAML has none
(CapabilityHostsOperations.begin_create_or_update, after _to_rest_object); amlctl renders that
default, and the loader gives azure-ai-ml's side the same, as its create would.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import coverage_area  # noqa: E402
import fidelity as F  # noqa: E402
from controller.render.graph import Resource  # noqa: E402

AREA = "resources"


def _placeholders(loader: str):
    def load(source: Any, relative_origin: str | None = None, **kwargs: Any) -> Any:
        import azure.ai.ml as aml
        data = F.secrets_to_placeholders(yaml.safe_load(source.read() if hasattr(source, "read") else source))
        return getattr(aml, loader)(io.StringIO(yaml.safe_dump(data, sort_keys=False)),
                                    relative_origin=relative_origin, **kwargs)
    return load


def _compute(r: Resource) -> dict[str, Any]:
    # An attached compute's REST body names the compute (azure-ai-ml sets ComputeResource.name);
    # amlctl's name is the resource's computeName.
    return {**F.secrets_to_placeholders(F._wrapped(r)), "name": r.inputs["computeName"]}


def _capability_host(r: Resource) -> dict[str, Any]:
    return {"properties": r.inputs["properties"]}


def _project_default_storage(entity: Any, m: Any) -> Any:
    from controller.render.kinds.capabilityhost import DEFAULT_STORAGE
    from controller.render.kinds.workspace import is_project
    ws = _WORKSPACES.get(m.workspace or "")
    if ws is not None and is_project(ws) and not entity.storage_connections:
        entity.storage_connections = [f"{ws.name}/{DEFAULT_STORAGE}"]
    return entity._to_rest_object()


_WORKSPACES: dict[str, Any] = {}

SPECS = {
    "Compute": F.KindSpec(_placeholders("load_compute"), F._plain, F._main, _compute),
    "CapabilityHost": F.KindSpec("load_capability_host", _project_default_storage, F._main, _capability_host),
}


def outcomes() -> list[F.Outcome]:
    with coverage_area.rendered(AREA) as done:
        _WORKSPACES.update({m.name: m for m in done.manifests if m.kind == "Workspace"})
        return [_one(m, done.graph, done.root, done.out) for m in done.manifests
                if m.kind in ("Compute", "Datastore", "CapabilityHost")]


def _one(m: Any, graph: dict[str, Resource], root: Path, rendered: Any) -> F.Outcome:
    """fidelity._one, with this module's specs (the Compute one gives azure-ai-ml secret placeholders)."""
    spec = SPECS.get(m.kind) or F.KINDS[m.kind]
    return F.one(spec, m, graph, root, rendered)


KINDS: dict[str, F.KindSpec] = {}
GROUPS = [outcomes]
