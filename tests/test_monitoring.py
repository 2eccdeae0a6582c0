"""Model monitoring (a Schedule's create_monitor): rendered as azure-ai-ml compiles it, with MLClient's
defaults from the deployment's data collector, in pulumi-azure-native's shape; bad monitors refused
by validate with file, line and field. Fast: render and validate as data over the coverage estate's
monitoring area (tests/estates/coverage/monitoring), no engine (test_coverage_engine.py applies it)."""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from controller import plan as P
from controller.plan import output as plan_output
from controller.render import render
from controller.render.graph import Graph
from controller.validate import validate

COVERAGE = Path(__file__).resolve().parent / "estates" / "coverage"
SUB = "/subscriptions/00000000-0000-0000-0000-00000000beef/resourceGroups/rg-cov/providers/Microsoft.MachineLearningServices/workspaces/mlw-cov"
MONITORS = "manifests/monitors.yaml"
DEPLOYMENT = "manifests/deployment.yaml"


def estate(root: Path, changes: dict[str, str | None] | None = None) -> Path:
    """base/ and the monitoring area in one folder (as the engine test lays them), with `changes`:
    file -> new text (None removes the file)."""
    for part in (COVERAGE / "base", COVERAGE / "monitoring"):
        shutil.copytree(part, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("CHANGE.yaml"))
    (root / ".git").mkdir(exist_ok=True)
    for rel, text in (changes or {}).items():
        if text is None:
            (root / rel).unlink()
        else:
            (root / rel).write_text(text, encoding="utf-8")
    return root


def rendered(root: Path, reverse: bool = False) -> dict[str, dict]:
    report = validate(root=root, cwd=root, render=False)
    assert not [d.format() for d in report.diagnostics if d.severity.value == "error"]
    stack = next(s for s in report.stacks if s.name == "local")
    manifests = report.overlaid["local"]
    out = render(manifests[::-1] if reverse else manifests, stack, root=root)
    assert not [d.format() for d in out.diagnostics if d.severity.value == "error"]
    return {r.name: {"type": r.type, "inputs": r.inputs, "depends_on": list(r.depends_on)} for r in out.graph.resources}


@pytest.fixture(scope="module")
def graph(tmp_path_factory) -> dict[str, dict]:
    return rendered(estate(tmp_path_factory.mktemp("monitoring") / "estate"))


def definition(graph: dict[str, dict], name: str) -> dict:
    return graph[f"mlw-cov/schedule/{name}"]["inputs"]["properties"]["action"]["monitorDefinition"]


# -- what renders ------------------------------------------------------------------------------------
def test_the_out_of_box_monitor_takes_azure_ai_mls_default_signals_over_the_collected_data(graph) -> None:
    sched = graph["mlw-cov/schedule/mon-credit-default"]
    assert sched["type"] == "azure-native:machinelearningservices:Schedule"
    props = sched["inputs"]["properties"]
    assert props["action"]["actionType"] == "CreateMonitor" and props["isEnabled"] is True
    d = props["action"]["monitorDefinition"]
    assert d["computeConfiguration"] == {"computeType": "ServerlessSpark", "instanceType": "standard_e4s_v3",
                                         "runtimeVersion": "3.4", "computeIdentity": {"computeIdentityType": "AmlToken"}}
    assert d["monitoringTarget"] == {"taskType": "Classification",
                                     "deploymentId": f"{SUB}/onlineEndpoints/mon-credit/deployments/mon-main"}
    assert sorted(d["signals"]) == ["data-drift-signal", "data-quality-signal", "prediction-drift-signal"]
    inputs = f"{SUB}/data/mon-credit-mon-main-model_inputs/versions/1"
    outputs = f"{SUB}/data/mon-credit-mon-main-model_outputs/versions/1"
    drift = d["signals"]["data-drift-signal"]
    # A daily monitor looks back one day; its reference is the two days before (azure-ai-ml's windows).
    assert drift["productionData"] == {"dataContext": "model_inputs", "inputDataType": "Rolling", "jobInputType": "uri_folder",
                                       "uri": inputs, "windowSize": "P1D", "windowOffset": "P0D"}
    assert drift["referenceData"] == {"dataContext": "model_inputs", "inputDataType": "Rolling", "jobInputType": "uri_folder",
                                      "uri": inputs, "windowSize": "P2D", "windowOffset": "P1D"}
    assert d["signals"]["prediction-drift-signal"]["productionData"]["uri"] == outputs
    assert d["signals"]["data-quality-signal"]["productionData"]["uri"] == inputs
    assert {t["metric"] for t in drift["metricThresholds"]} == {"NormalizedWassersteinDistance", "JensenShannonDistance"}
    assert d["alertNotificationSettings"] == {"emailNotificationSettings": {"emails": ["mlops@example.com"]}}
    assert props["trigger"] == {"triggerType": "Recurrence", "frequency": "Day", "interval": 1,
                                "schedule": {"hours": [3], "minutes": [15]}, "timeZone": "W. Europe Standard Time"}
    # The deployment and the data its collections register come first.
    assert {"mlw-cov/online-endpoint/mon-credit/deployments/mon-main", "mlw-cov/data/mon-credit-mon-main-model_inputs@1",
            "mlw-cov/data/mon-credit-mon-main-model_outputs@1"} <= set(sched["depends_on"])


def test_signals_take_the_providers_names_and_spellings(graph) -> None:
    d = definition(graph, "mon-credit-drift")
    assert d["monitoringTarget"]["modelId"] == f"{SUB}/models/mon-credit-model/versions/1"
    drift = d["signals"]["training-drift"]
    assert drift["notificationTypes"] == ["AmlNotification"] and "mode" not in drift
    assert drift["referenceData"] == {"dataContext": "training", "inputDataType": "Fixed", "jobInputType": "mltable",
                                      "uri": f"{SUB}/data/mon-credit-reference/versions/1",
                                      "columns": {"target_column": "DEFAULT_NEXT_MONTH"}}
    # No production data given: the deployment's model_inputs, over a week (the cron default).
    assert drift["productionData"]["uri"] == f"{SUB}/data/mon-credit-mon-main-model_inputs/versions/1"
    assert drift["productionData"]["windowSize"] == "P7D"
    assert drift["features"] == {"filterType": "TopNByAttribution", "top": 10}
    assert drift["metricThresholds"] == [
        {"metric": "JensenShannonDistance", "threshold": {"value": 0.01}, "dataType": "Numerical"},
        {"metric": "PearsonsChiSquaredTest", "threshold": {"value": 0.02}, "dataType": "Categorical"}]
    fad = d["signals"]["attribution-drift"]
    assert fad["featureImportanceSettings"] == {"mode": "Enabled", "targetColumn": "DEFAULT_NEXT_MONTH"}
    assert fad["metricThreshold"] == {"metric": "NormalizedDiscountedCumulativeGain", "threshold": {"value": 0.9}}
    assert [p["dataContext"] for p in fad["productionData"]] == ["model_inputs", "model_outputs"]
    assert "alertNotificationSetting" not in d and "modelType" not in json.dumps(d)
    assert d["alertNotificationSettings"]["emailNotificationSettings"]["emails"] == ["mlops@example.com",
                                                                                   "risk-team@example.com"]
    sched = graph["mlw-cov/schedule/mon-credit-drift"]
    assert {"mlw-cov/data/mon-credit-reference@1", "mlw-cov/model/mon-credit-model@1"} <= set(sched["depends_on"])


def test_the_monitors_conform_to_the_providers_input_types(graph) -> None:
    import test_conformance as TC
    if not TC.CHECKER.exists():
        pytest.skip("../shared/tools/conformance.py is not beside the repository")
    resources = [{"name": n, "type": r["type"], "inputs": r["inputs"]} for n, r in graph.items()]
    conform, total, errors, warnings = TC.check({"monitoring": {"resources": resources}})
    assert errors == [] and warnings == []
    assert conform == total and total >= 10
    # ... and the check would see a signal the provider does not type.
    d = definition(graph, "mon-credit-drift")
    broken = json.loads(json.dumps(resources))
    for r in broken:
        if r["name"] == "mlw-cov/schedule/mon-credit-drift":
            r["inputs"]["properties"]["action"]["monitorDefinition"]["signals"]["training-drift"]["mode"] = "Enabled"
    _, _, errors, _ = TC.check({"monitoring": {"resources": broken}})
    assert any("'mode'" in e for e in errors), (errors, d["signals"].keys())


def test_the_render_is_the_same_whatever_the_manifest_order(tmp_path: Path, graph) -> None:
    again = rendered(estate(tmp_path / "estate"), reverse=True)
    for name in ("mlw-cov/schedule/mon-credit-default", "mlw-cov/schedule/mon-credit-drift"):
        assert json.dumps(again[name], sort_keys=True) == json.dumps(graph[name], sort_keys=True)


def test_plan_shows_a_monitors_next_fire_times(graph) -> None:
    from controller.render.graph import Resource
    r = graph["mlw-cov/schedule/mon-credit-drift"]
    plan = P.diff(None, Graph("local", (Resource("mlw-cov/schedule/mon-credit-drift", r["type"], r["inputs"],
                                                 "Schedule/mon-credit-drift"),)),
                  now=datetime(2026, 12, 2, 6, 40, tzinfo=timezone.utc))
    assert "next: 2026-12-07T04:30:00+00:00 (UTC), 2026-12-14T04:30:00+00:00, 2026-12-21T04:30:00+00:00" \
        in plan_output.text(plan)


# -- what is refused ---------------------------------------------------------------------------------
def read(file: str) -> str:
    return (COVERAGE / "monitoring" / file).read_text()


def _monitors(old: str, new: str) -> str:
    text = (COVERAGE / "monitoring" / MONITORS).read_text()
    assert old in text
    return text.replace(old, new, 1)


def _deployment(old: str, new: str) -> str:
    text = (COVERAGE / "monitoring" / DEPLOYMENT).read_text()
    assert old in text
    return text.replace(old, new, 1)


def _line_of(text: str, phrase: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if phrase in line)


COLLECTOR = "data_collector:\n  collections:\n    model_inputs:\n      enabled: \"true\"\n    model_outputs:\n      enabled: \"true\"\n"
# name -> (file, its new text, the phrase on the line reported, code, a phrase of the message)
BAD = {
    "deployment the estate lacks": (
        MONITORS, _monitors("azureml:mon-credit:mon-main", "azureml:mon-credit:blue"), "azureml:mon-credit:blue", "M003",
        "no OnlineDeployment manifest here is deployment 'blue' of endpoint 'mon-credit' (did you mean azureml:mon-credit:mon-main?)"),
    "not a deployment": (
        MONITORS, _monitors("azureml:mon-credit:mon-main", "mon-credit"), "endpoint_deployment_id: mon-credit", "M003",
        "'mon-credit' names no online deployment: write azureml:<endpoint>:<deployment>"),
    "unknown signal": (
        MONITORS, _monitors("type: data_drift", "type: data_drfit"), "type: data_drfit", "S003",
        "'data_drfit' is not one of 'data_drift', 'prediction_drift', 'data_quality', 'feature_attribution_drift', "
        "'custom' (did you mean 'data_drift'?)"),
    "generation safety": (
        MONITORS, _monitors("type: data_drift", "type: generation_safety_quality"), "type: generation_safety_quality",
        "S003", "generation_safety_quality, generation_token_statistics and model_performance signals cannot be rendered"),
    "no data collector": (
        DEPLOYMENT, _deployment(COLLECTOR, ""), "create_monitor:", "M015",
        "takes its data from deployment mon-credit:mon-main's data collector, and deployment mon-credit:mon-main "
        "has no data_collector"),
    "collection off": (
        DEPLOYMENT, _deployment("model_outputs:\n      enabled: \"true\"", "model_outputs:\n      enabled: \"false\""),
        "attribution-drift:", "M015", "does not collect model_outputs"),
    "azure monitor alerts": (
        MONITORS, _monitors("  alert_notification:\n    emails:\n      - mlops@example.com\n---",
                            "  alert_notification: azmonitoring\n---"), "alert_notification: azmonitoring", "S003",
        "pulumi-azure-native's MonitorNotificationSettings has e-mail settings only"),
    "unquoted runtime": (
        MONITORS, _monitors('runtime_version: "3.4"', "runtime_version: 3.4"), "runtime_version: 3.4", "S003",
        "a Spark runtime version, written as a string: \"3.4\" or \"3.5\" (quote it)"),
    "question answering": (
        MONITORS, _monitors("ml_task: classification", "ml_task: question_answering"), "ml_task: question_answering",
        "S003", "its ModelTaskType is Classification or Regression"),
    "too many e-mails": (
        MONITORS, _monitors("      - risk-team@example.com", "".join(f"\n      - risk-team-{i:03}@example.com"
                                                                  for i in range(30)).lstrip("\n")),
        "name: mon-credit-drift|emails:", "M015", "characters in all; Azure takes at most 499"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_monitors_are_refused_with_file_line_and_field(tmp_path: Path, case: str) -> None:
    file, text, phrase, code, message = BAD[case]
    root = estate(tmp_path / "estate", {file: text})
    report = validate(root=root, cwd=root)
    errors = [d for d in report.diagnostics if d.severity.value == "error"]
    # A monitor's problem is the monitor's, also when a change of the deployment causes it.
    monitors = text if file == MONITORS else read(MONITORS)
    assert errors and all((d.code, d.path) == (code, MONITORS) and message in d.message for d in errors), \
        [d.format() for d in errors]
    if case in ("collection off", "no data collector"):  # each monitor and signal that needs the collection says so
        assert [d.line for d in errors] == [_line_of(monitors, "create_monitor:")] + (
            [_line_of(monitors, "training-drift:")] if case == "no data collector" else []) + [
            _line_of(monitors, "attribution-drift:")], [d.format() for d in errors]
        return
    (d,) = errors
    anchor, _, phrase = phrase.rpartition("|")  # the phrase's first line after the anchor's
    start = _line_of(monitors, anchor) if anchor else 0
    assert d.line == start + _line_of("\n".join(monitors.splitlines()[start:]), phrase), d.format()


def test_a_preprocessing_component_azure_would_not_receive_is_a_warning(tmp_path: Path) -> None:
    text = _monitors("        data_context: training\n        data_column_names:\n          target_column: DEFAULT_NEXT_MONTH\n"
                     "      features:",
                     "        data_context: training\n        pre_processing_component: azureml:mon-prep:1\n"
                     "        data_column_names:\n          target_column: DEFAULT_NEXT_MONTH\n      features:")
    root = estate(tmp_path / "estate", {MONITORS: text})
    report = validate(root=root, cwd=root)
    found = [d for d in report.diagnostics if d.code == "M015"]
    assert [d.severity.value for d in found] == ["warning"]
    assert found[0].line == _line_of(text, "pre_processing_component") and "is not sent" in found[0].message


def test_render_refuses_a_missing_deployment_without_validate(tmp_path: Path) -> None:
    """render on its own (plan renders without validate's checks) says the same, never a traceback."""
    root = estate(tmp_path / "estate", {DEPLOYMENT: None, "manifests/endpoint.yaml": None, "manifests/model.yaml": None})
    report = validate(root=root, cwd=root, render=False)
    stack = next(s for s in report.stacks if s.name == "local")
    out = render(report.overlaid["local"], stack, root=root)
    assert {(d.code, d.path) for d in out.diagnostics if d.severity.value == "error"} == {("M003", MONITORS)}
