"""Fidelity of the feature store kinds (FeatureStore, FeatureStoreEntity, FeatureSet) against
azure-ai-ml. Read by tests/fidelity.py.

The corpus has no feature store file, so the comparison runs over the coverage estate's featurestore
area (tests/estates/coverage/featurestore, laid over base/ as the engine test lays it), as a GROUP:
its outcomes count in the corpus figures.

What azure-ai-ml's side is, per kind:
- FeatureStore: the workspace body `FeatureStore._to_rest_object()` builds; and each store's
  connection as FeatureStoreOperations.begin_update builds it (`WorkspaceConnection(type=store type,
  target=store target, credentials=materialization identity)._to_rest_object()`). A materialization
  identity amlctl creates has a client id only Azure knows: both sides carry the same placeholder
  for it.
- FeatureStoreEntity: `FeatureStoreEntity._to_rest_object()`.
- FeatureSet: `FeatureSet._to_rest_object()` with the properties FeatureSetOperations.
  begin_create_or_update adds before it sends it (featuresetPropertiesVersion, and the specification
  as FeaturesetSpecMetadata dumps it); the specification path is the local folder there (MLClient
  uploads it next), amlctl's the uploaded folder's URI (tests/fidelity/known-featurestore.yaml).
"""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import coverage_area  # noqa: E402
import fidelity as F  # noqa: E402
from controller.render.graph import Resource  # noqa: E402

AREA = "featurestore"
ENVELOPE = ("location", "identity", "sku", "kind", "tags")


def _placeholder(value: Any) -> Any:
    """An $output (the client id of the identity amlctl creates) as the string both sides carry."""
    if isinstance(value, dict) and set(value) == {"$output"}:
        return f"<output {value['$output']['resource']}.{value['$output']['property']}>"
    if isinstance(value, dict):
        return {k: _placeholder(v) for k, v in value.items()}
    return value


def _workspace(r: Resource) -> dict[str, Any]:
    out: dict[str, Any] = {"name": r.inputs["workspaceName"], "properties": {}}
    for k, v in r.inputs.items():
        if k in ENVELOPE:
            out[k] = v
        elif k not in ("workspaceName", "resourceGroupName"):
            out["properties"][k] = v
    return out


def _version(r: Resource) -> dict[str, Any]:
    return {"name": r.inputs["name"], "properties": r.inputs["properties"]}


def _version_main(m: Any, graph: dict[str, Resource]) -> Resource | None:
    from controller.render.context import resource_name
    return graph.get(resource_name(m, str(m.spec.get("version"))))


def _feature_set_as_created(entity: Any, m: Any) -> Any:
    """What FeatureSetOperations.begin_create_or_update sends, up to the upload of the folder."""
    from azure.ai.ml._utils._feature_store_utils import read_feature_set_metadata
    from azure.ai.ml.entities._feature_set.featureset_spec_metadata import FeaturesetSpecMetadata
    folder = Path(entity.base_path, entity.specification.path).resolve()
    spec = FeaturesetSpecMetadata._load(read_feature_set_metadata(path=str(folder)), Path(folder, "FeatureSetSpec.yaml"))
    entity.properties["featuresetPropertiesVersion"] = "1"
    entity.properties["featuresetProperties"] = json.dumps(spec._to_dict())
    return entity._to_rest_object()


SPECS = {
    "FeatureStore": F.KindSpec("load_feature_store", F._plain, F._main, _workspace),
    "FeatureStoreEntity": F.KindSpec("load_feature_store_entity", F._plain, _version_main, _version),
    "FeatureSet": F.KindSpec("load_feature_set", _feature_set_as_created, _version_main, _version),
}


def outcomes() -> list[F.Outcome]:
    with coverage_area.rendered(AREA) as done:
        root, graph, rendered = done.root, done.graph, done.out
        out = []
        for m in done.manifests:
            if m.kind in SPECS:
                out.append(_one(m, graph, root, rendered))
            if m.kind == "FeatureStore" and graph:
                out += _connections(m, graph, root)
        return out


def _one(m: Any, graph: dict[str, Resource], root: Path, rendered: Any) -> F.Outcome:
    spec = SPECS[m.kind]
    return F.one(spec, m, graph, root, rendered)


def _connections(m: Any, graph: dict[str, Resource], root: Path) -> list[F.Outcome]:
    """Each store's connection against the one FeatureStoreOperations.begin_update creates."""
    from azure.ai.ml.entities import ManagedIdentityConfiguration, WorkspaceConnection
    out = []
    for r in graph.values():
        if r.subject != m.subject or not r.type.endswith(":WorkspaceConnection"):
            continue
        props = _placeholder(r.inputs["properties"])
        kind = "azure_data_lake_gen2" if props["category"] == "ADLSGen2" else "redis"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            identity = ManagedIdentityConfiguration(client_id=props["credentials"]["clientId"],
                                                    resource_id=props["credentials"]["resourceId"])
            entity = WorkspaceConnection(name=r.inputs["connectionName"], type=kind, target=props["target"],
                                         credentials=identity)
        spec = F.KindSpec(lambda *a, **k: entity, lambda e, _m: e._to_rest_object(), lambda *_: r,
                          lambda res: {"properties": _placeholder(res.inputs["properties"])})
        outcome = F.Outcome(m.path, m.kind, f"{m.name} {r.inputs['connectionName']}")
        F.compare(m, r, spec, entity, F.load_known(), outcome)
        out.append(outcome)
    return out


KINDS: dict[str, F.KindSpec] = {}
GROUPS = [outcomes]
