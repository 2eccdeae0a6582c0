"""Fidelity of model monitors (a Schedule's create_monitor) against azure-ai-ml. Read by tests/fidelity.py.

azure-ai-ml's side is what `az ml schedule create` sends: the MonitorSchedule loaded from the same
YAML, passed through MLClient's own ScheduleOperations._resolve_monitor_schedule_arm_id (the default
signals, the data taken from the deployment's collections, every reference resolved to its ARM id),
then `_to_rest_object()`. That method runs as it is, on a stand-in for the operations object: the
workspace amlctl renders into, the deployment Azure would return (its data collector's collections,
each with the data asset Azure registers for it: the collection's `data`, else
<endpoint>-<deployment>-<collection> version 1) and asset ids in place of lookups.

Monitors compared: the corpus files under monitoring/ that render beside the deployment they watch
(corpus_check.COMPANIONS), and the coverage estate's monitoring area. Kind "Schedule" is not in KINDS
(job schedules are another comparison), so this is a GROUP; the differences that remain are the move
from azure-ai-ml's 2023-06-01-preview wire to pulumi-azure-native's types, listed with their reasons
in known-monitoring.yaml.
"""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import coverage_area  # noqa: E402
import fidelity as F  # noqa: E402
from controller.render.graph import Resource  # noqa: E402

PROVIDER = "Microsoft.MachineLearningServices"
COLLECTION = {"data": "data", "model": "models", "models": "models", "component": "components", "components": "components"}


def _load(source: Any, relative_origin: str | None = None, **kwargs: Any) -> Any:
    from azure.ai.ml.entities._load_functions import load_schedule
    return load_schedule(source, relative_origin=relative_origin, **kwargs)


class _Operations:
    """What ScheduleOperations._resolve_monitor_schedule_arm_id reads from `self`, offline."""

    def __init__(self, subscription: str, group: str, workspace: str, deployments: list[Any]) -> None:
        from azure.ai.ml.operations._job_operations import JobOperations
        self._subscription_id, self._resource_group_name, self._workspace_name = subscription, group, workspace
        self._deployments = {(d.spec.get("endpoint_name"), d.name): d for d in deployments}
        self._online_deployment_operations = SimpleNamespace(get=self._deployment)
        self._data_operations = SimpleNamespace(get=lambda name, version: SimpleNamespace(type="uri_folder"))
        self._orchestrators = SimpleNamespace(get_asset_arm_id=self._arm_id)
        jobs = SimpleNamespace(_orchestrators=self._orchestrators)
        jobs._resolve_job_input = lambda entry, base: JobOperations._resolve_job_input(jobs, entry, base)
        jobs._resolve_job_inputs = lambda entries, base: [jobs._resolve_job_input(e, base) for e in entries]
        self._job_operations = jobs

    def _process_and_get_endpoint_deployment_names_from_id(self, target: Any) -> tuple:
        from azure.ai.ml.operations._schedule_operations import ScheduleOperations
        return ScheduleOperations._process_and_get_endpoint_deployment_names_from_id(self, target)

    def _id(self, collection: str, name: str, version: str | None = None) -> str:
        out = (f"/subscriptions/{self._subscription_id}/resourceGroups/{self._resource_group_name}/providers/"
               f"{PROVIDER}/workspaces/{self._workspace_name}/{collection}/{name}")
        return out + (f"/versions/{version}" if version else "")

    def _arm_id(self, asset: Any, azureml_type: str, register_asset: bool = True) -> Any:
        if not isinstance(asset, str):
            return asset
        bare = asset.removeprefix("azureml:")
        if bare.startswith("/subscriptions/"):
            return bare
        name, _, version = bare.partition(":")
        return self._id(COLLECTION[azureml_type], name, version or None)

    def _deployment(self, name: str, endpoint: str) -> Any:
        d = self._deployments[(endpoint, name)]
        collector = d.spec.get("data_collector")
        if not isinstance(collector, dict):
            return SimpleNamespace(data_collector=None, tags={})
        collections = {}
        for key, item in (collector.get("collections") or {}).items():
            data = (item or {}).get("data") or {}
            asset = data.get("name") or f"{endpoint}-{name}-{key}"
            collections[key] = SimpleNamespace(enabled=str((item or {}).get("enabled")),
                                               data=self._id("data", asset, str(data.get("version") or "1")))
        return SimpleNamespace(data_collector=SimpleNamespace(collections=collections), tags={})


def _rest(operations: _Operations):
    def rest(entity: Any, m: Any) -> Any:
        from azure.ai.ml.operations._schedule_operations import ScheduleOperations

        from controller.render.kinds import compiled
        with compiled.quiet():
            ScheduleOperations._resolve_monitor_schedule_arm_id(operations, entity)
            return entity._to_rest_object()
    return rest


def _back(r: Resource) -> dict[str, Any]:
    return {"properties": r.inputs["properties"]}


def _compare(manifests: list[Any], rendered: Any, root: Path, subscription: str, group: str) -> list[F.Outcome]:
    graph = rendered.graph.by_name() if rendered.graph else {}
    deployments = [m for m in manifests if m.kind == "OnlineDeployment"]
    out = []
    for m in manifests:
        if m.kind != "Schedule" or "create_monitor" not in m.spec:
            continue
        spec = F.KindSpec(_load, _rest(_Operations(subscription, group, m.workspace or "", deployments)), F._main, _back)
        outcome = F.Outcome(m.path, m.kind, m.name)
        resource = spec.main(m, graph)
        if resource is None:
            errors = [d.message for d in rendered.diagnostics if d.severity.value == "error"]
            outcome.error = "amlctl: " + ("; ".join(errors[:2]) or "no resource rendered")
        else:
            try:
                entity = F._load_entity(spec, m, root, resource)
                F.compare(m, resource, spec, entity, F.load_known(), outcome)
            except Exception as e:  # azure-ai-ml refuses it: nothing to compare against
                outcome.error = "azure-ai-ml: " + str(e).strip().splitlines()[0][:200]
        out.append(outcome)
    return out


def corpus() -> list[F.Outcome]:
    """The corpus monitors, each beside the deployment it watches, in the fidelity workspace."""
    from corpus_check import companions, supported_rows

    from controller import schemas as S
    from controller.manifests.loader import load_files
    from controller.render import render
    if not F.CORPUS.exists():
        return []
    schemas = S.load()
    out = []
    for row, kind in supported_rows():
        if kind != "Schedule" or not row["path"].startswith("monitoring/"):
            continue
        loaded = []
        for path in [row["path"], *companions(row["path"], kind)]:
            result = load_files([(F.CORPUS / path, f"{F.CORPUS.name}/{path}")], None, schemas)
            if any(d.severity.value == "error" for d in result.diagnostics):
                break  # validate rejects it (tests/corpus/known-differences.yaml says why)
            loaded += result.manifests
        else:
            manifests = [F._in_workspace(m) for m in loaded] + F._fidelity_workspace(schemas)
            rendered = render(manifests, F._stack(), root=F.CORPUS.parent, schemas=schemas, allow_missing_files=True)
            if any(d.severity.value == "error" for d in rendered.diagnostics):
                continue  # a rejection test_corpus.py holds (the deployment it names is not there)
            settings = F._stack().settings
            out += _compare(manifests, rendered, F.CORPUS.parent, settings["subscriptionId"], settings["resourceGroup"])
    return out


def coverage() -> list[F.Outcome]:
    """The coverage estate's monitoring area, laid over base/ as the engine test lays it."""
    with coverage_area.rendered("monitoring") as done:
        settings = done.stack.settings
        return _compare(done.manifests, done.out, done.root, settings["subscriptionId"], settings["resourceGroup"])


KINDS: dict[str, F.KindSpec] = {}
GROUPS = [corpus, coverage]
