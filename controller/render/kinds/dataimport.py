"""Data import: one-off DataImport runs and Schedules with `import_data`, compiled by azure-ai-ml.

A one-off import is what `az ml data import` sends: azure-ai-ml's DataOperations.import_data builds
a pipeline job of one data transfer step (the built-in import_data_database or
import_data_file_system component of the azureml registry, on serverless compute, its output `sink`
the data asset the import writes; `${{name}}` appended to the path when it has none, the managed
datastore's path completed) and submits it. amlctl calls that very function, with the job
submission taken out of it, and sends the job it would have submitted as one machinelearningservices
Job: a run named after its content, as a pipeline's (a changed import is a new run beside the past
ones, which stay; an unchanged one is the same resource, so nothing happens). pulumi-azure-native
types PipelineJob's `jobs` and `settings` as free-form, so the typed Job carries the whole body.

A Schedule's import_data is azure-ai-ml's ImportDataSchedule: its `_to_rest_object()` action
(actionType ImportData, dataImportDefinition: the source, the asset's name, its path). The
provider's Schedule types no ImportData action (pulumi-azure-native 3.29's action union is
CreateMonitor, InvokeBatchEndpoint and CreateJob): given one, it would drop it, so the schedule
goes through the generic azure-native:resources:Resource at the API version azure-ai-ml sends every
schedule on, with amlctl's trigger (validate checks it) and azure-ai-ml's action.

MLClient resolves nothing of an import: the source's connection stays `azureml:<name>`, as it sends
it. validate holds it to a Connection manifest of the import's workspace, of a type that reaches
the source (controller/checks/dataimport.py); the run or schedule waits for it. The asset the
import writes belongs to the import: Azure ML registers its versions as runs complete, no manifest of
the estate may (M001), and no Pulumi resource stands for them: removing the import or the schedule
leaves them in Azure, as asset versions always are.
"""
from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

from controller.checks import dataimport as checks
from controller.manifests.model import Manifest
from controller.render import arm
from controller.render.context import Context, resource_name
from controller.render.kinds import compiled, refusal, renders, workspace_dep

GENERIC = "azure-native:resources:Resource"
# The API version azure-ai-ml 1.35 sends schedules on (MLClient's ServiceClient062023Preview, used by
# ScheduleOperations): the ImportData action is its body, so it goes on its wire.
SCHEDULE_API = "2023-06-01-preview"
_RECURRENCE_LISTS = ("hours", "minutes")


@renders("DataImport")
def data_import(m: Manifest, ctx: Context) -> None:
    from controller.render.kinds import pipelines
    deps = _connection(m, ctx, dict(m.spec))
    spec = {k: v for k, v in m.spec.items() if k != "$schema"}
    try:
        body = compile_run(spec)
    except Exception as e:  # azure-ai-ml's own validation: report it against the manifest
        raise ctx.error(m, (), "R010", f"azure-ai-ml cannot compile this data import: {refusal.reason(e)}")
    pipelines.run(m, ctx, body, deps, what="data import")


def schedule(m: Manifest, ctx: Context) -> None:
    value = m.spec["import_data"]
    if isinstance(value, str):
        target, problem = checks.scheduled_file(m, ctx.manifests, checks.local_file(m))
        if target is None:
            raise ctx.error(m, ("import_data",), "R004", problem or "")
        owner, body = target, dict(target.spec)
    else:
        owner, body = m, dict(value)
    deps = _connection(owner, ctx, body)
    spec = {"name": m.name, "trigger": m.spec["trigger"],
            "import_data": {k: v for k, v in body.items() if k != "$schema"}}
    try:
        action = compile_schedule(spec)["action"]
    except Exception as e:
        raise ctx.error(m, ("import_data",), "R010", f"azure-ai-ml cannot compile this data import schedule: "
                        f"{refusal.reason(e)}")
    props: dict[str, Any] = {
        "trigger": listed(arm.CONVERTERS["trigger"](m.spec["trigger"], None)), "isEnabled": True,
        "action": action,
        # azure-ai-ml always sends both (empty when the schedule has none).
        "properties": {str(k): str(v) for k, v in sorted((m.spec.get("properties") or {}).items())},
        "tags": {str(k): str(v) for k, v in sorted((m.spec.get("tags") or {}).items())},
    }
    for key, out in (("display_name", "displayName"), ("description", "description")):
        if m.spec.get(key):
            props[out] = m.spec[key]
    inputs = {"resourceGroupName": ctx.resource_group,
              "resourceProviderNamespace": "Microsoft.MachineLearningServices",
              "parentResourcePath": f"workspaces/{m.workspace}", "resourceType": "schedules",
              "resourceName": m.name, "apiVersion": SCHEDULE_API, "properties": props}
    ctx.add(m, resource_name(m), GENERIC, inputs, depends_on=deps | {workspace_dep(m, ctx)},
            label=f"data import schedule {m.name}")


def listed(trigger: dict[str, Any]) -> dict[str, Any]:
    """A recurrence pattern's single hour or minute as a one-item list (`hours: 3` is [3], as
    azure-ai-ml sends it): the REST API's RecurrenceSchedule takes lists, and the shared trigger
    converter passes a single value on as it is."""
    pattern = trigger.get("schedule")
    if not isinstance(pattern, dict):
        return trigger
    return {**trigger, "schedule": {k: (v if isinstance(v, list) or k not in _RECURRENCE_LISTS else [v])
                                    for k, v in pattern.items()}}


def _connection(owner: Manifest, ctx: Context, body: dict[str, Any]) -> set[str]:
    """The graph resource of the Connection the import reads through: what it waits for. Whether
    the import may name it is validate's to say (controller/checks/dataimport.py, M003, M009): the
    reference is sent as written either way, so render needs the manifest only for the order."""
    target, _, _ = checks.connection(owner, body, ctx.manifests)
    return {resource_name(target)} if target is not None else set()


# -- what azure-ai-ml builds -------------------------------------------------------------------------
def compile_run(spec: dict[str, Any]) -> dict[str, Any]:
    """The job body (`properties`) `az ml data import` submits for an import spec: azure-ai-ml's
    DataOperations.import_data, whose job submission hands the pipeline job back instead of sending
    it; cached by content."""
    def compile_() -> dict[str, Any]:
        import yaml
        with compiled.quiet():
            from azure.ai.ml import load_data
            from azure.ai.ml.constants._common import AzureMLResourceType
            from azure.ai.ml.operations._data_operations import DataOperations
            entity = load_data(io.StringIO(yaml.safe_dump(spec, sort_keys=True)))
            submitted: list[Any] = []

            def create_or_update(job: Any, **_: Any) -> Any:
                submitted.append(job)
                return job
            operations = DataOperations.__new__(DataOperations)  # no workspace, no client: nothing is sent
            operations._all_operations = SimpleNamespace(
                all_operations={AzureMLResourceType.JOB: SimpleNamespace(create_or_update=create_or_update)})
            operations.import_data(entity)
            return submitted[0]._to_rest_object().as_dict()["properties"]
    return compiled.cached(["data-import", spec], compile_)


def compile_schedule(spec: dict[str, Any]) -> dict[str, Any]:
    """The schedule body (`properties`) azure-ai-ml builds for {name, trigger, import_data};
    cached by content."""
    def compile_() -> dict[str, Any]:
        import yaml
        with compiled.quiet():
            from azure.ai.ml.entities._load_functions import load_schedule
            entity = load_schedule(io.StringIO(yaml.safe_dump(spec, sort_keys=True)))
            return entity._to_rest_object().as_dict()["properties"]
    return compiled.cached(["data-import-schedule", spec], compile_)
