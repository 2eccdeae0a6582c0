"""Spark and parallel components: Component manifests whose componentSpec azure-ai-ml compiles after
amlctl has resolved their code and environment, and pipeline steps that run them (the step carries
what azure-ai-ml's node takes from the component's file). Rendered as data, no engine."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import write_tree
from controller.render import render
from controller.validate import validate
from test_render_assets import BASE, WS_ID

ML = "azure-native:machinelearningservices:"
COMPONENTS = WS_ID + "/components"

SPARK = """\
$schema: https://azuremlschemas.azureedge.net/latest/sparkComponent.schema.json
name: word_count
type: spark
version: 1
inputs:
  text: {type: uri_file, mode: direct}
outputs:
  counts: {type: uri_folder, mode: direct}
code: ./src
entry:
  file: count.py
py_files: [lib.py]
args: --text ${{inputs.text}} --out ${{outputs.counts}}
conf:
  spark.driver.cores: 1
  spark.driver.memory: 2g
  spark.executor.cores: 2
  spark.executor.memory: "2g"
  spark.dynamicAllocation.enabled: true
  spark.dynamicAllocation.minExecutors: 1
  spark.dynamicAllocation.maxExecutors: 4
"""

SPARK_PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
name: spark-pipeline
jobs:
  count:
    type: spark
    component: ./word_count.yml
    inputs:
      text: {type: uri_file, path: azureml://datastores/workspaceblobstore/paths/t.txt, mode: direct}
    outputs:
      counts: {type: uri_folder, path: azureml://datastores/workspaceblobstore/paths/out/, mode: direct}
    identity: {type: user_identity}
    resources: {instance_type: standard_e4s_v3, runtime_version: "3.4"}
"""

PARALLEL = """\
$schema: https://azuremlschemas.azureedge.net/latest/parallelComponent.schema.json
name: batch_score
type: parallel
version: 2
inputs:
  data: {type: mltable}
  model: {type: uri_folder}
outputs:
  scores: {type: uri_file}
input_data: ${{inputs.data}}
mini_batch_size: "10kb"
partition_keys: [Store, Brand]
resources: {instance_count: 2}
max_concurrency_per_instance: 2
error_threshold: 5
logging_level: DEBUG
retry_settings: {max_retries: 2, timeout: 60}
task:
  type: run_function
  code: ./score
  entry_script: score.py
  environment: azureml:score-env:1
  program_arguments: --model ${{inputs.model}}
  append_row_to: ${{outputs.scores}}
"""

ENV = ("$schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json\n"
       "name: score-env\nversion: 1\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\n")

PARALLEL_PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
name: parallel-pipeline
jobs:
  score:
    type: parallel
    component: ./batch_score.yml
    compute: azureml:serverless
    inputs:
      data: {type: mltable, path: azureml://datastores/workspaceblobstore/paths/table/}
      model: {type: uri_folder, path: azureml://datastores/workspaceblobstore/paths/model/}
    mini_batch_error_threshold: 10
"""

FILES = {
    "manifests/spark/word_count.yml": SPARK,
    "manifests/spark/pipeline.yml": SPARK_PIPELINE,
    "manifests/spark/src/count.py": "print('count')\n",
    "manifests/spark/src/lib.py": "X = 1\n",
    "manifests/parallel/batch_score.yml": PARALLEL,
    "manifests/parallel/env.yml": ENV,
    "manifests/parallel/pipeline.yml": PARALLEL_PIPELINE,
    "manifests/parallel/score/score.py": "def init():\n    pass\n\n\ndef run(batch):\n    return batch\n",
}


def _report(tmp_path: Path, files: dict[str, str]):
    root = write_tree(tmp_path / "repo", {**BASE, **files})
    report = validate(root=root, cwd=root, render=False)
    return root, report


def _render(tmp_path: Path, files: dict[str, str]):
    root, report = _report(tmp_path, files)
    errors = [d.format() for d in report.diagnostics if d.severity.value == "error"]
    assert not errors, errors
    stack = next(s for s in report.stacks if s.name == "dev")
    return render(report.overlaid["dev"], stack, root=root)


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    out = _render(tmp_path_factory.mktemp("sp"), FILES)
    assert out.graph is not None, [d.format() for d in out.diagnostics]
    assert not [d for d in out.diagnostics if d.severity.value != "info"], [d.format() for d in out.diagnostics]
    return {r.name: r for r in out.graph.resources}


def _run(graph, pipeline: str):
    [run] = [r for n, r in graph.items() if n.startswith(f"mlw-test/pipeline/{pipeline}/runs/")]
    return run


def test_a_spark_component_is_azure_ai_mls_compiled_spec_with_its_code_uploaded(graph) -> None:
    version = graph["mlw-test/component/word_count@1"]
    spec = version.inputs["properties"]["componentSpec"]
    assert spec["type"] == "spark" and spec["entry"] == {"file": "count.py"} and spec["py_files"] == ["lib.py"]
    # azure-ai-ml's conf: digit strings stay as written, numbers numbers, every key kept.
    assert spec["conf"]["spark.executor.memory"] == "2g" and spec["conf"]["spark.driver.cores"] == 1
    assert spec["conf"]["spark.dynamicAllocation.enabled"] is True
    assert spec["args"] == "--text ${{inputs.text}} --out ${{outputs.counts}}"
    code = spec["code"]
    assert code.startswith(f"azureml:{WS_ID}/codes/") and code.endswith("/versions/1")
    [code_node] = [d for d in version.depends_on if d.startswith("mlw-test/code/")]
    assert graph[code_node].type == ML + "CodeVersion"
    assert spec["name"] == "word_count" and spec["version"] == "1"


def test_a_spark_step_carries_the_components_entry_files_args_and_conf(graph) -> None:
    run = _run(graph, "spark-pipeline")
    step = run.inputs["properties"]["jobs"]["count"]
    assert step["componentId"] == f"{COMPONENTS}/word_count/versions/1"
    assert "mlw-test/component/word_count@1" in run.depends_on
    assert step["entry"] == {"file": "count.py", "spark_job_entry_type": "SparkJobPythonEntry"}
    assert step["py_files"] == ["lib.py"] and step["args"].startswith("--text ")
    # azure-ai-ml's node fills executor instances from the dynamic allocation's minimum.
    assert step["conf"]["spark.executor.instances"] == 1 and step["conf"]["spark.driver.memory"] == "2g"
    assert step["resources"] == {"instance_type": "standard_e4s_v3", "runtime_version": "3.4"}


def test_a_parallel_component_is_azure_ai_mls_compiled_spec(graph) -> None:
    spec = graph["mlw-test/component/batch_score@2"].inputs["properties"]["componentSpec"]
    assert spec["type"] == "parallel"
    assert spec["mini_batch_size"] == "10240"  # '10kb' in bytes, as azure-ai-ml sends it
    assert json.loads(spec["partition_keys"]) == ["Store", "Brand"]  # JSON text, as azure-ai-ml sends it
    assert spec["retry_settings"] == {"max_retries": 2, "timeout": 60} and spec["logging_level"] == "DEBUG"
    task = spec["task"]
    assert task["environment"] == f"azureml:{WS_ID}/environments/score-env/versions/1"
    assert task["code"].startswith(f"azureml:{WS_ID}/codes/") and task["entry_script"] == "score.py"
    assert "mlw-test/environment/score-env@1" in graph["mlw-test/component/batch_score@2"].depends_on


def test_a_parallel_step_takes_what_the_node_takes_from_its_component(graph) -> None:
    step = _run(graph, "parallel-pipeline").inputs["properties"]["jobs"]["score"]
    assert step["componentId"] == f"{COMPONENTS}/batch_score/versions/2"
    assert step["mini_batch_size"] == 10240 and step["input_data"] == "${{inputs.data}}"
    assert step["mini_batch_error_threshold"] == 10  # the step's own value wins
    assert step["retry_settings"] == {"max_retries": 2, "timeout": 60} and step["resources"] == {"instance_count": 2}
    spec = graph["mlw-test/component/batch_score@2"].inputs["properties"]["componentSpec"]
    assert step["task"] == spec["task"]  # the same code version and environment as the component's


def test_a_changed_component_is_a_new_version_and_a_new_run(tmp_path: Path, graph) -> None:
    changed = {**FILES, "manifests/spark/word_count.yml": SPARK.replace("version: 1", "version: 2")
               .replace("spark.driver.cores: 1", "spark.driver.cores: 2")}
    out = _render(tmp_path, changed)
    names = {r.name: r for r in out.graph.resources}
    assert "mlw-test/component/word_count@2" in names
    assert _run(names, "spark-pipeline").name != _run(graph, "spark-pipeline").name


def _errors(tmp_path: Path, files: dict[str, str]) -> list[str]:
    root, report = _report(tmp_path, {**FILES, **files})
    found = [d for d in report.diagnostics if d.severity.value == "error"]
    if not found:
        stack = next(s for s in report.stacks if s.name == "dev")
        found = [d for d in render(report.overlaid["dev"], stack, root=root).diagnostics
                 if d.severity.value == "error"]
    return [f"{d.code} {d.path}:{d.line} {d.message}" for d in found]


@pytest.mark.parametrize("path, old, new, code, at, words", [
    ("manifests/spark/word_count.yml", "entry:\n  file: count.py\n", "", "S005", None, "entry"),
    ("manifests/parallel/batch_score.yml", "logging_level: DEBUG", "logging_level: debug", "S003", "logging_level",
     "logging_level"),
    ("manifests/parallel/batch_score.yml", "mini_batch_size: \"10kb\"", "mini_batch_size: ten", "S003",
     "mini_batch_size", "mini_batch_size"),
    ("manifests/parallel/batch_score.yml", "  type: run_function\n", "", "S005", None, "type"),
    ("manifests/spark/word_count.yml", "  spark.driver.cores: 1\n",
     "  spark.driver.cores: 1\n  fs.azure.account.key.acct.blob.core.windows.net: {secret_config: 'amlctl:k'}\n",
     "R005", "fs.azure", "readable by everyone"),
])
def test_bad_spark_and_parallel_components_are_clear_errors(tmp_path, path, old, new, code, at, words) -> None:
    text = FILES[path]
    assert old in text
    bad = text.replace(old, new)
    errors = _errors(tmp_path, {path: bad})
    assert errors and errors[0].startswith(f"{code} {path}:"), errors
    if at:  # the line of the offending field
        line = next(i for i, text_line in enumerate(bad.splitlines(), 1) if at in text_line)
        assert errors[0].startswith(f"{code} {path}:{line} "), errors
    assert words in errors[0], errors


def test_environment_variables_of_a_parallel_component_are_a_warning_not_a_silent_drop(tmp_path: Path) -> None:
    text = FILES["manifests/parallel/batch_score.yml"] + "environment_variables: {A: '1'}\n"
    out = _render(tmp_path, {**FILES, "manifests/parallel/batch_score.yml": text})
    [warning] = [d for d in out.diagnostics if d.code == "R001"]
    assert warning.severity.value == "warning" and "environment_variables" in warning.message
    assert warning.line == len(text.splitlines())  # where the field is
