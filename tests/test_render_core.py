"""Rendering: the mapping language, pipelines through azure-ai-ml, tags, determinism, render errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import REPO, amlctl
from controller.render import arm, render
from controller.render.graph import Graph
from controller.validate import validate


def rendered(root: Path, stack: str = "dev", commits: dict | None = None):
    report = validate(root=root, cwd=root, render=False)
    assert report.ok, [d.format() for d in report.diagnostics if d.severity.value == "error"]
    st = next(s for s in report.stacks if s.name == stack)
    return render(report.overlaid[stack], st, root=root, commits=commits or {})


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    root = tmp_path / "estate"
    for part in ("manifests", "stacks"):
        shutil.copytree(REPO / part, root / part)
    (root / ".git").mkdir()
    return root


@pytest.mark.parametrize("seconds, iso", [(600, "PT10M"), (1800, "PT30M"), (30, "PT30S"), (90, "PT1M30S"),
                                          (3600, "PT1H"), (86400, "P1D"), (0, "PT0S"), (2.5, "PT2.5S")])
def test_durations_are_iso_8601_as_azure_ml_writes_them(seconds, iso):
    assert arm._iso_duration(seconds) == iso


def test_camel_case_and_enum_spellings():
    assert arm.camel("max_concurrent_requests_per_instance") == "maxConcurrentRequestsPerInstance"
    assert arm.CONVERTERS["pascal"]("system_assigned", None) == "SystemAssigned"


def test_every_top_level_schema_field_is_mapped_or_explicitly_left_to_its_renderer():
    """A field with no x-amlctl-arm would be dropped from the ARM body: each kind's schema says,
    for each of its top-level fields, where it goes or that its renderer consumes it."""
    from controller import schemas as S
    s = S.load()
    missing = []
    for kind, info in sorted(s.kinds.items()):
        doc = s.documents[info.file]
        for name in sorted(S._properties(s, doc, doc["$id"])):
            found = _annotated(s, doc, doc["$id"], name)
            if not found:
                missing.append(f"{kind}.{name}")
    assert missing == []


def _annotated(s, schema, base, name, seen=None) -> bool:
    seen = seen if seen is not None else set()
    if not isinstance(schema, dict) or id(schema) in seen:
        return False
    seen.add(id(schema))
    prop, prop_base = schema.get("properties", {}).get(name), base
    while isinstance(prop, dict):  # the annotation may sit on the definition a $ref points at
        if "x-amlctl-arm" in prop:
            return True
        if "$ref" not in prop:
            break
        prop, prop_base = s.resolve(prop["$ref"], prop_base)
    subs = [(x, base) for key in ("allOf", "anyOf", "oneOf") for x in schema.get(key, [])]
    subs += [(schema[k], base) for k in ("then", "else") if k in schema]
    if "$ref" in schema:
        subs.append(s.resolve(schema["$ref"], base))
    return any(_annotated(s, x, b, name, seen) for x, b in subs)


def test_the_example_estate_renders_for_both_stacks_without_warnings():
    for stack in ("dev", "prod"):
        r = rendered(REPO, stack)
        assert r.ok, [d.format() for d in r.diagnostics]
        assert [d.format() for d in r.diagnostics] == []


def run_of(graph: dict, pipeline: str = "mlw-credit/pipeline/credit-training"):
    [run] = [r for name, r in graph.items() if name.startswith(pipeline + "/runs/")]
    assert run.name == f"{pipeline}/runs/{run.inputs['id']}"  # each run is a resource of its own
    return run


def test_pipeline_run_is_named_by_content_and_scheduled(estate: Path):
    graph = rendered(estate).graph.by_name()
    run = run_of(graph)
    schedule = graph["mlw-credit/pipeline/credit-training/schedule"]
    assert run.type.endswith(":Job") and run.retain_on_delete
    assert run.inputs["id"].startswith("credit-training-")
    body = run.inputs["properties"]
    assert body["jobType"] == "Pipeline"
    assert body["jobs"]["prep"]["componentId"].endswith("/components/credit_prep/versions/2")
    assert body["jobs"]["train"]["computeId"].endswith("/computes/gpu-cluster")
    assert schedule.inputs["properties"]["action"]["jobDefinition"] == body
    assert schedule.inputs["properties"]["trigger"] == {"triggerType": "Cron", "expression": "0 2 * * *",
                                                         "timeZone": "UTC"}
    assert "mlw-credit/component/credit_prep@2" in run.depends_on


def test_unchanged_pipeline_is_the_same_run_and_a_changed_component_is_a_new_one(estate: Path):
    first = run_of(rendered(estate).graph.by_name()).inputs["id"]
    again = run_of(rendered(estate).graph.by_name()).inputs["id"]
    assert first == again
    path = estate / "manifests/components/train.yaml"
    path.write_text(path.read_text().replace('version: "5"', 'version: "6"'))
    changed = run_of(rendered(estate).graph.by_name()).inputs["id"]
    assert changed != first


def test_pipeline_compilations_are_cached_by_content(estate: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AMLCTL_CACHE_DIR", str(tmp_path / "cache"))
    rendered(estate)

    def pipelines() -> list[Path]:  # the cache holds the example's command job's compilation too
        return [f for f in (tmp_path / "cache" / "pipelines").glob("*.json")
                if json.loads(f.read_text()).get("jobType") == "Pipeline"]
    cached = pipelines()
    assert len(cached) == 1
    # A cached body is what render uses: tamper with it and the graph shows it.
    body = json.loads(cached[0].read_text())
    body["displayName"] = "from the cache"
    cached[0].write_text(json.dumps(body))
    run = run_of(rendered(estate).graph.by_name())
    assert run.inputs["properties"]["displayName"] == "from the cache"
    assert len(pipelines()) == 1  # the second render compiled nothing


def test_an_inline_component_is_a_clear_render_error(estate: Path):
    path = estate / "manifests/pipelines/training.yaml"
    path.write_text(path.read_text().replace("component: ../components/prep.yaml",
                                             "component: ../../other/prep.yaml"))
    (estate / "other").mkdir()
    shutil.copy(estate / "manifests/components/prep.yaml", estate / "other/prep.yaml")
    report = validate(root=estate, cwd=estate, skip_path_checks=True)
    st = next(s for s in report.stacks if s.name == "dev")
    r = render(report.overlaid["dev"], st, root=estate)
    assert r.graph is None
    err = [d for d in r.diagnostics if d.code == "R004"]
    assert err and err[0].path == "manifests/pipelines/training.yaml"
    assert "is not a Component manifest of this estate" in err[0].message


def test_tags_name_the_manifest_and_the_commit_that_last_changed_it(estate: Path):
    graph = rendered(estate, commits={"manifests/compute.yaml": "abc123"}).graph.by_name()
    tags = graph["mlw-credit/compute/gpu-cluster"].inputs["tags"]
    assert tags == {"managed-by": "amlctl", "amlctl-manifest": "manifests/compute.yaml", "amlctl-commit": "abc123"}
    ws_tags = graph["workspace/mlw-credit"].inputs["tags"]
    assert ws_tags["team"] == "risk-ml" and ws_tags["amlctl-manifest"] == "manifests/workspace.yaml"
    assert "amlctl-commit" not in ws_tags  # no commit known for that file: no tag rather than a wrong one


def test_resources_point_at_the_yaml_that_caused_them():
    graph = rendered(REPO, "prod").graph.by_name()
    gpu = graph["mlw-credit/compute/gpu-cluster"]
    assert str(gpu.source).startswith("manifests/compute.yaml:")
    assert gpu.inputs["properties"]["properties"]["scaleSettings"]["maxNodeCount"] == 8  # prod's overlay


def test_graph_json_round_trips():
    graph = rendered(REPO, "prod").graph
    again = Graph.from_dict(json.loads(graph.to_json()))
    assert again.to_json() == graph.to_json()


def test_render_cli_fails_cleanly_on_an_unknown_stack():
    run = amlctl("render", "--stack", "nope", cwd=REPO)
    assert run.code == 2  # a usage error, like any mistyped stack
    assert "Pulumi.nope.yaml" in run.err and "Traceback" not in run.err


def test_a_data_input_without_a_path_is_left_out_and_reported(estate: Path):
    """`inputs: {data: {type: mltable}}` is filled by `az ml job create --set inputs.data.path=...`;
    rendered as it is, it would be a job input without the `uri` Azure requires."""
    (estate / "manifests" / "train-job.yaml").write_text("""apiVersion: amlctl.dev/v1alpha1
kind: Job
metadata: {name: train-unbound}
spec:
  type: command
  command: python train.py --data ${{inputs.data}} --lr ${{inputs.lr}}
  environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest
  compute: azureml:cpu-cluster
  inputs:
    data: {type: mltable}
    lr: 0.1
""")
    out = rendered(estate)
    [run] = [r for r in out.graph.resources if r.name.startswith("mlw-credit/job/train-unbound/runs/")]
    assert run.inputs["properties"]["inputs"] == {"lr": {"jobInputType": "literal", "value": "0.1"}}
    [warning] = [d for d in out.diagnostics if d.subject == "Job/train-unbound"]
    assert (warning.code, warning.severity.value, warning.line) == ("R001", "warning", 10)
    assert "--set inputs.data.path=" in warning.message
