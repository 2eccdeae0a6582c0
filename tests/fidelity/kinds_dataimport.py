"""Fidelity of data imports against what azure-ai-ml sends. Read by tests/fidelity.py.

- A Schedule's import_data: azure-ai-ml's `load_schedule(...)._to_rest_object()` (ImportDataSchedule),
  against the `properties` of the generic resource amlctl renders it as.
- A one-off DataImport: what `az ml data import` submits, a pipeline job built by DataOperations.
  import_data. The harness builds it here the way that function's source does (experiment
  `data_import_<name>`, the import node on serverless compute, the `sink` output, `${{name}}`
  appended to the path, the managed datastore's path completed, force_rerun) and serialises the job
  with `_to_rest_object()`; amlctl's renderer calls import_data itself with the submission taken out,
  so the two agree only if that stands for what MLClient submits.

Both are compared over the corpus's import files (each rendered on its own in a synthetic workspace,
with the DataImport file a schedule names beside it; render needs no Connection manifest, validate
does) and over the coverage estate's dataimport area (with its connections), as GROUPS: their
outcomes count in the corpus figures. The coverage estate's files are compared as kinds DataImport and
Schedule, which tests/fidelity.py's KINDS do not hold (a Schedule there would be any schedule).
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
from controller.manifests.model import Manifest  # noqa: E402
from controller.render.context import resource_name  # noqa: E402
from controller.render.graph import Resource  # noqa: E402

AREA = "dataimport"
CORPUS_FILES = ("assets/data/azure-sql-import.yml", "assets/data/s3-import.yml", "assets/data/snowflake-import.yml",
                "assets/data/snowflake-import-managed.yml", "assets/data/data_import_schedule_database_inline.yml",
                "assets/data/simple_import_schedule.yml")
BESIDE = {"assets/data/simple_import_schedule.yml": ("assets/data/snowflake-import.yml",)}


def _load_import(source: Any, relative_origin: str | None = None, **kwargs: Any) -> Any:
    from azure.ai.ml import load_data
    return load_data(source, relative_origin=relative_origin, **kwargs)


def _load_schedule(source: Any, relative_origin: str | None = None, **kwargs: Any) -> Any:
    from azure.ai.ml.entities._load_functions import load_schedule
    return load_schedule(source, relative_origin=relative_origin, **kwargs)


def _submitted_job(entity: Any, m: Manifest) -> Any:
    """The pipeline job DataOperations.import_data (azure-ai-ml 1.35) hands to the job operations,
    written out from its source."""
    from azure.ai.ml import Output
    from azure.ai.ml._utils._asset_utils import _validate_workspace_managed_datastore
    from azure.ai.ml.constants._common import AssetTypes
    from azure.ai.ml.data_transfer import Database, import_data
    from azure.ai.ml.entities import PipelineJob, PipelineJobSettings
    experiment = f"data_import_{entity.name}"
    kind = AssetTypes.MLTABLE if isinstance(entity.source, Database) else AssetTypes.URI_FOLDER
    path = _validate_workspace_managed_datastore(entity.path)
    if "${{name}}" not in str(path):
        path = path.rstrip("/") + "/${{name}}"
    node = import_data(description=entity.description or experiment, display_name=experiment,
                       experiment_name=experiment, compute="serverless", source=entity.source,
                       outputs={"sink": Output(type=kind, path=path, name=entity.name, version=entity.version)})
    job = PipelineJob(description=entity.description or experiment, tags=entity.tags, display_name=experiment,
                      experiment_name=experiment, properties=entity.properties or {},
                      settings=PipelineJobSettings(force_rerun=True), jobs={experiment: node})
    job.properties["azureml.materializationAssetName"] = entity.name
    return job._to_rest_object()


def _run(m: Manifest, graph: dict[str, Resource]) -> Resource | None:
    prefix = resource_name(m) + "/runs/"
    return next((r for name, r in sorted(graph.items()) if name.startswith(prefix)), None)


def _job(r: Resource) -> dict[str, Any]:
    return {"properties": r.inputs["properties"]}


def _schedule(r: Resource) -> dict[str, Any]:
    return {"properties": r.inputs["properties"]}


SPECS = {
    "DataImport": F.KindSpec(_load_import, _submitted_job, _run, _job),
    "Schedule": F.KindSpec(_load_schedule, F._plain, F._main, _schedule),
}


def _is_import(m: Manifest) -> bool:
    return m.kind == "DataImport" or (m.kind == "Schedule" and "import_data" in m.spec)


def corpus() -> list[F.Outcome]:
    from controller import schemas as S
    from controller.manifests.loader import load_files
    from controller.render import render
    if not F.CORPUS.exists():
        return []
    schemas = S.load()
    out: list[F.Outcome] = []
    for path in CORPUS_FILES:
        files = [(F.CORPUS / p, f"{F.CORPUS.name}/{p}") for p in (path, *BESIDE.get(path, ()))]
        loaded = load_files(files, None, schemas)
        manifests = [F._in_workspace(m) for m in loaded.manifests] + F._fidelity_workspace(schemas)
        rendered = render(manifests, F._stack(), root=F.CORPUS.parent, schemas=schemas, allow_missing_files=True)
        graph = rendered.graph.by_name() if rendered.graph else {}
        out += [_one(m, graph, F.CORPUS.parent, rendered) for m in manifests
                if _is_import(m) and m.path.endswith(path)]
    return out


def coverage() -> list[F.Outcome]:
    with coverage_area.rendered(AREA) as done:
        return [_one(m, done.graph, done.root, done.out) for m in done.manifests if _is_import(m)]


def _one(m: Manifest, graph: dict[str, Resource], root: Path, rendered: Any) -> F.Outcome:
    """fidelity._one, with this module's specs."""
    spec = SPECS[m.kind]
    outcome = F.Outcome(m.path, m.kind, m.name)
    resource = spec.main(m, graph)
    if resource is None:
        errors = [d.message for d in rendered.diagnostics if d.severity.value == "error"]
        outcome.error = "amlctl: " + ("; ".join(errors[:2]) or "no resource rendered")
        return outcome
    from controller.render.kinds import compiled
    with compiled.quiet():  # azure-ai-ml's "experimental class" notices
        try:
            entity = spec.loader(io.StringIO(yaml.safe_dump(dict(m.spec), sort_keys=False)),
                                 relative_origin=str(root / m.path))
        except Exception as e:  # azure-ai-ml refuses it: nothing to compare against
            outcome.error = "azure-ai-ml: " + str(e).strip().splitlines()[0][:200]
            return outcome
        F.compare(m, resource, spec, entity, F.load_known(), outcome)
    return outcome


def outcomes() -> list[F.Outcome]:
    return corpus() + coverage()


KINDS: dict[str, F.KindSpec] = {}
GROUPS = [outcomes]
