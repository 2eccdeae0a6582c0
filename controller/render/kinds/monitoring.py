"""Model monitoring: a Schedule with `create_monitor`, rendered as an Azure ML schedule whose action
is CreateMonitor.

azure-ai-ml knows monitors best (its signal classes fill windows, thresholds and defaults), so the
monitor goes through `load_schedule(...)._to_rest_object()`, as pipelines.py compiles pipelines,
after amlctl has put in what MLClient would before it submits (ScheduleOperations.
_resolve_monitor_schedule_arm_id): the target deployment's ARM id, every data, model and component
reference as the ARM id of what the graph holds (a local path as its upload), and the defaults from
the deployment's data collector: the out-of-box signals (data drift, prediction drift, data quality)
when there are none, and the production and reference data a signal leaves out (model_inputs for
data drift and quality, model_outputs for prediction drift, both for feature attribution drift). The
collections' data assets are the ones the deployment renders (endpoints._collection_data: the
collection's `data`, else <endpoint>-<deployment>-<collection> version 1, uri_folder).

azure-ai-ml writes the 2023-06-01-preview wire; pulumi-azure-native types a newer API and drops what
it does not know, so `provider()` moves the body to the provider's shape: a signal's `mode` becomes
`notificationTypes`, trailing input data is `Rolling`, enum values take the provider's spelling
(Classification, JensenShannonDistance, Categorical), the e-mail alert is
`alertNotificationSettings.emailNotificationSettings`, and a feature attribution drift signal gets
the `featureImportanceSettings` the provider requires. What the provider has no place for and the
user did not write (azure-ai-ml's `emailOn` list, a prediction drift's `modelType`, which the target's
task type already says, an empty `workspaceConnection`) is left out; what the user wrote and the
provider cannot carry is refused by the schema (monitor.schema.json). A drift or quality signal
without metric_thresholds gets azure-ai-ml's default thresholds, as the out-of-box signals do: the
provider requires them.

The trigger is amlctl's own (arm.CONVERTERS["trigger"], as every schedule); validate checks it
(controller/checks/schedules.py) and plan shows its next fire times.
"""
from __future__ import annotations

import copy
import io
from typing import Any

from controller import schemas as S
from controller.checks import monitoring as checks
from controller.checks import refs
from controller.manifests.model import Manifest
from controller.render import arm
from controller.render.context import ML, Context, resource_name
from controller.render.kinds import compiled, endpoints, refusal, scope, workspace_dep

MDC_TYPE = "uri_folder"  # the type of the data asset a collection registers (endpoints._collection_data)
# Component references azure-ai-ml takes as plain strings (fields.Str): an ARM id without azureml:.
_PLAIN = "pre_processing_component"


def schedule(m: Manifest, ctx: Context) -> None:
    spec = m.spec["create_monitor"]
    deps: set[str] = set()
    target, missing = checks.deployment(m, ctx.manifests)
    if missing:
        raise ctx.error(m, checks.TARGET_PATH, "M003", missing)
    needed: set[str] = set()
    for at, what, wanted in checks.needs(spec):
        why = checks.collection_problem(target, what, wanted)
        if why:
            raise ctx.error(m, at, "M015", why)
        needed.update(wanted)
    resolved = _resolved(m, ctx, deps, target)
    collected = {c: _collection(target, c, ctx, deps) for c in sorted(needed)} if target is not None else {}
    try:
        definition = compile_monitor(resolved, collected)
    except Exception as e:  # azure-ai-ml's own validation: report it against the manifest
        raise ctx.error(m, ("create_monitor",), "R010", f"azure-ai-ml cannot compile this monitor: {refusal.reason(e)}")
    props: dict[str, Any] = {
        "trigger": arm.CONVERTERS["trigger"](m.spec["trigger"], None), "isEnabled": True,
        "action": {"actionType": "CreateMonitor", "monitorDefinition": provider(definition)},
    }
    for key, out in (("display_name", "displayName"), ("description", "description")):
        if m.spec.get(key):
            props[out] = m.spec[key]
    for key in ("tags", "properties"):
        if m.spec.get(key):
            props[key] = {str(k): str(v) for k, v in sorted(m.spec[key].items())}
    ctx.add(m, resource_name(m), ML + "Schedule", {**scope(m, ctx), "name": m.name, "properties": props},
            depends_on=deps | {workspace_dep(m, ctx)}, label=f"monitor {m.name}")


# -- what MLClient resolves before it submits -------------------------------------------------------
def _resolved(m: Manifest, ctx: Context, deps: set[str], target: Manifest | None) -> dict[str, Any]:
    """The schedule's YAML with every reference replaced by the ARM id of what the graph holds."""
    out = copy.deepcopy({k: v for k, v in m.spec.items() if k in ("name", "trigger", "create_monitor")})
    monitor = out["create_monitor"]
    if target is not None:
        endpoint, workspace = target.spec["endpoint_name"], target.workspace or m.workspace or ""
        monitor["monitoring_target"]["endpoint_deployment_id"] = \
            f"{ctx.child_id(workspace, 'OnlineEndpoint', endpoint)}/deployments/{target.name}"
        deps.add(endpoints.deployment_node(target, ctx))
    for a in S.annotations(ctx.schemas, ctx.schemas.kinds["Schedule"].file, m.spec):
        if not a.path or a.path[0] != "create_monitor" or not isinstance(a.instance, str):
            continue
        if a.key == "ref":
            arm_id, node = ctx.resolve_ref(m, a.value, a.instance, a.path)
            if node:
                deps.add(node)
            if isinstance(arm_id, str) and arm_id.startswith("/subscriptions/"):
                _set(out, a.path, arm_id if a.path[-1] == _PLAIN else "azureml:" + arm_id)
        elif a.key == "path" and refs.local_path(a.instance) is not None:
            from controller.render.kinds.pipelines import uploaded_input  # a local input: uploaded, as MLClient does
            _set(out, a.path, uploaded_input(m, ctx, a.instance, deps, a.path)[0])
    return out


def _collection(d: Manifest, collection: str, ctx: Context, deps: set[str]) -> dict[str, str]:
    """The data asset a deployment's collection registers, by ARM id, and its type: the Data manifest
    of that name when the estate has one, else the asset the deployment renders itself."""
    data = ((d.spec["data_collector"]["collections"][collection]) or {}).get("data") or {}
    workspace = d.workspace or ""
    asset = str(data.get("name") or f"{d.spec['endpoint_name']}-{d.name}-{collection}")
    manifest = ctx.find("Data", asset, workspace, str(data["version"]) if data.get("version") is not None else None)
    if manifest is not None:
        ref = f"azureml:{asset}" + (f":{data['version']}" if data.get("version") is not None else "")
        arm_id, node = ctx.resolve_ref(d, "Data", ref, ("data_collector", "collections", collection, "data"))
        kind = str(manifest.spec.get("type", MDC_TYPE))
    else:
        version = str(data.get("version") or "1")
        arm_id, node, kind = ctx.child_id(workspace, "Data", asset, version), f"{workspace}/data/{asset}@{version}", MDC_TYPE
    if node:
        deps.add(node)
    return {"path": arm_id, "type": kind}


def _set(doc: Any, path: tuple, value: Any) -> None:
    for p in path[:-1]:
        doc = doc[p]
    doc[path[-1]] = value


# -- azure-ai-ml ------------------------------------------------------------------------------------
def compile_monitor(spec: dict[str, Any], collected: dict[str, dict[str, str]]) -> dict[str, Any]:
    """azure-ai-ml's monitorDefinition for a resolved schedule YAML, with MLClient's defaults from
    the deployment's collections (`collected`: collection -> {path: ARM id, type}); cached by content."""
    def compile_() -> dict[str, Any]:
        import yaml
        with compiled.quiet():
            from azure.ai.ml.entities._load_functions import load_schedule
            schedule = load_schedule(io.StringIO(yaml.safe_dump(spec, sort_keys=True)))
            fill_defaults(schedule, collected)
            return schedule._to_rest_object().as_dict()["properties"]["action"]["monitorDefinition"]
    return compiled.cached(["monitor", spec, collected], compile_)


def fill_defaults(schedule: Any, collected: dict[str, dict[str, str]]) -> None:
    """What MLClient does to a MonitorSchedule before _to_rest_object (ScheduleOperations.
    _resolve_monitor_schedule_arm_id), from amlctl's knowledge of the deployment instead of Azure's;
    and the default thresholds of a signal that has none (the provider requires them)."""
    from azure.ai.ml import Input
    from azure.ai.ml.constants._monitoring import MonitorSignalType as T
    from azure.ai.ml.entities._monitoring import signals as sig
    from azure.ai.ml.entities._monitoring import thresholds as th
    monitor = schedule.create_monitor
    if not monitor.monitoring_signals:
        schedule._create_default_monitor_definition()

    def data(cls: Any, collection: str, size: str, offset: str) -> Any:
        source = collected[collection]
        return cls(input_data=Input(path=source["path"], type=source["type"]), data_context=collection,
                   data_window=sig.BaselineDataRange(lookback_window_size=size, lookback_window_offset=offset))

    defaults = {T.DATA_DRIFT: th.DataDriftMetricThreshold, T.DATA_QUALITY: th.DataQualityMetricThreshold,
                T.PREDICTION_DRIFT: th.PredictionDriftMetricThreshold}
    for _, signal in sorted(monitor.monitoring_signals.items()):
        kind = signal.type
        if kind in defaults:
            collection = checks.OUTPUTS if kind == T.PREDICTION_DRIFT else checks.INPUTS
            if not signal.production_data:
                signal.production_data = data(sig.ProductionData, collection, "default", "P0D")
            if not signal.reference_data:
                signal.reference_data = data(sig.ReferenceData, collection, "default", "default")
            if signal.metric_thresholds is None:
                signal.metric_thresholds = defaults[kind]._get_default_thresholds()
        elif kind == T.FEATURE_ATTRIBUTION_DRIFT and not signal.production_data:
            signal.production_data = [data(sig.FADProductionData, c, "default", "P0D")
                                      for c in (checks.INPUTS, checks.OUTPUTS)]


# -- the provider's shape ---------------------------------------------------------------------------
def _pascal(value: Any) -> Any:
    return value[:1].upper() + value[1:] if isinstance(value, str) else value


def provider(definition: dict[str, Any]) -> dict[str, Any]:
    """azure-ai-ml's monitorDefinition (2023-06-01-preview) as pulumi-azure-native's MonitorDefinition."""
    out = copy.deepcopy(definition)
    target = out.get("monitoringTarget")
    if isinstance(target, dict):
        target["taskType"] = _pascal(str(target.get("taskType") or "classification").lower())
    alert = out.pop("alertNotificationSetting", None)
    if isinstance(alert, dict) and alert.get("emailNotificationSetting"):
        emails = alert["emailNotificationSetting"].get("emails") or []
        out["alertNotificationSettings"] = {"emailNotificationSettings": {"emails": list(emails)}}
    for name in sorted(out.get("signals") or {}):
        out["signals"][name] = _signal(out["signals"][name])
    return out


def _signal(signal: dict[str, Any]) -> dict[str, Any]:
    if signal.pop("mode", None) == "Enabled":
        signal["notificationTypes"] = ["AmlNotification"]
    signal.pop("modelType", None)  # prediction drift: the provider's signal has none (the target's taskType says it)
    if not signal.get("workspaceConnection"):
        signal.pop("workspaceConnection", None)  # the schema refuses a custom signal's connection
    custom = signal.get("signalType") == "Custom"
    for threshold in signal.get("metricThresholds") or []:
        if not custom:
            threshold["metric"] = _pascal(threshold["metric"])
    if isinstance(signal.get("metricThreshold"), dict):
        signal["metricThreshold"]["metric"] = _pascal(signal["metricThreshold"]["metric"])
    if isinstance(signal.get("featureDataTypeOverride"), dict):
        signal["featureDataTypeOverride"] = {k: _pascal(str(v).lower())
                                             for k, v in sorted(signal["featureDataTypeOverride"].items())}
    for key in ("productionData", "referenceData"):
        value = signal.get(key)
        for item in value if isinstance(value, list) else [value]:
            _input_data(item)
    for item in (signal.get("inputAssets") or {}).values():
        _input_data(item)
    if signal.get("signalType") == "FeatureAttributionDrift":
        settings: dict[str, Any] = {"mode": "Enabled"}
        target = ((signal.get("referenceData") or {}).get("columns") or {}).get("target_column")
        if target:
            settings["targetColumn"] = target
        signal["featureImportanceSettings"] = settings
    return signal


def _input_data(item: Any) -> None:
    if isinstance(item, dict) and item.get("inputDataType") == "Trailing":
        item["inputDataType"] = "Rolling"  # the same window; the provider's name for it
