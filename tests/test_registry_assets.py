"""Assets published into a registry (an envelope's metadata.registry): rendered as pulumi-azure-native's
Registry{Model,Environment,Component}{Container,Version}, append-only, after the Registry manifest;
workspace manifests that name them by registry URI depend on them; what cannot be published (local
files, short references, inline environments) is a clear error. Rendered as data, no engine."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import write_tree
from controller.plan.immutable import VERSIONED_TYPES, forces_replace
from controller.render import render
from controller.validate import validate
from test_render_assets import BASE

ML = "azure-native:machinelearningservices:"
REG = "reg-shared"

REGISTRY = f"""\
$schema: https://azuremlschemas.azureedge.net/latest/registry.schema.json
name: {REG}
location: westeurope
replication_locations:
  - location: westeurope
"""


def envelope(kind: str, name: str, spec: str, registry: str = REG) -> str:
    body = "".join(f"  {line}\n" for line in spec.strip("\n").splitlines())
    return (f"apiVersion: amlctl.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n  registry: {registry}\n"
            f"spec:\n{body}")


MODEL_V1 = envelope("Model", "credit", """
version: "1"
type: mlflow_model
path: https://acct.blob.core.windows.net/models/credit/1/
description: first
""")
MODEL_V2 = envelope("Model", "credit", """
version: "2"
type: mlflow_model
path: https://acct.blob.core.windows.net/models/credit/2/
description: second
tags: {stage: prod}
""")
ENV = envelope("Environment", "score-env", """
version: "3"
image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04
conda_file: ./conda.yml
""")
COMPONENT = envelope("Component", "echo", f"""
version: "1"
type: command
inputs:
  message: {{type: string, default: hi}}
command: echo ${{{{inputs.message}}}}
environment: azureml://registries/{REG}/environments/score-env/versions/3
""")
PIPELINE = f"""\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
name: uses-registry
settings:
  default_compute: azureml:serverless
jobs:
  echo:
    type: command
    component: azureml://registries/{REG}/components/echo/versions/1
    resources: {{instance_type: Standard_DS3_v2}}
"""
FILES = {
    "manifests/registry/registry.yml": REGISTRY,
    "manifests/registry/model.yaml": MODEL_V1 + "---\n" + MODEL_V2,
    "manifests/registry/env.yaml": ENV,
    "manifests/registry/conda.yml": "name: score\ndependencies: [python=3.10]\n",
    "manifests/registry/component.yaml": COMPONENT,
    "manifests/pipeline.yml": PIPELINE,
}


def _report(tmp_path: Path, files: dict[str, str], strict: bool = False):
    root = write_tree(tmp_path / "repo", {**BASE, **files})
    return root, validate(root=root, cwd=root, render=False, strict=strict)


def _render(tmp_path: Path, files: dict[str, str]):
    root, report = _report(tmp_path, files, strict=True)
    errors = [d.format() for d in report.diagnostics if d.severity.value == "error"]
    assert not errors, errors
    stack = next(s for s in report.stacks if s.name == "dev")
    return root, report, render(report.overlaid["dev"], stack, root=root)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root, report, out = _render(tmp_path_factory.mktemp("reg"), FILES)
    assert out.graph is not None, [d.format() for d in out.diagnostics]
    assert not [d for d in out.diagnostics if d.severity.value != "info"], [d.format() for d in out.diagnostics]
    return root, report, out


@pytest.fixture(scope="module")
def graph(rendered):
    return {r.name: r for r in rendered[2].graph.resources}


def test_registry_assets_are_registry_containers_and_versions_after_the_registry(graph) -> None:
    v1 = graph[f"registry/{REG}/model/credit@1"]
    assert v1.type == ML + "RegistryModelVersion"
    assert {k: v1.inputs[k] for k in ("registryName", "modelName", "version", "resourceGroupName")} == \
        {"registryName": REG, "modelName": "credit", "version": "1", "resourceGroupName": "rg-dev"}
    assert v1.inputs["properties"]["modelUri"] == "https://acct.blob.core.windows.net/models/credit/1/"
    assert v1.inputs["properties"]["modelType"] == "mlflow_model"
    assert "workspaceName" not in v1.inputs
    assert f"registry/{REG}" in v1.depends_on and f"registry/{REG}/model/credit" in v1.depends_on
    # The highest version describes the container, which the versions share.
    container = graph[f"registry/{REG}/model/credit"]
    assert container.type == ML + "RegistryModelContainer"
    assert container.inputs["properties"] == {"description": "second", "isArchived": False, "tags": {"stage": "prod"}}
    env = graph[f"registry/{REG}/environment/score-env@3"]
    assert env.type == ML + "RegistryEnvironmentVersion" and env.inputs["environmentName"] == "score-env"
    assert env.inputs["properties"]["condaFile"].startswith("dependencies:")  # sent as text, as azure-ai-ml does
    comp = graph[f"registry/{REG}/component/echo@1"]
    assert comp.type == ML + "RegistryComponentVersion" and comp.inputs["componentName"] == "echo"
    spec = comp.inputs["properties"]["componentSpec"]
    assert spec["environment"] == f"azureml://registries/{REG}/environments/score-env/versions/3"
    assert f"registry/{REG}/environment/score-env@3" in comp.depends_on


def test_registry_asset_versions_are_append_only(graph) -> None:
    for name, r in graph.items():
        if r.type.startswith(ML + "Registry") and r.type != ML + "Registry":
            assert r.retain_on_delete and not r.protect, name
    for kind in ("Model", "Environment", "Component"):
        assert ML + f"Registry{kind}Version" in VERSIONED_TYPES
        assert forces_replace(ML + f"Registry{kind}Version", "properties.modelUri")  # a changed body: bump the version
        assert not forces_replace(ML + f"Registry{kind}Version", "properties.tags.stage")


def test_a_workspace_pipeline_depends_on_the_registry_component_it_names(graph) -> None:
    [run] = [r for n, r in graph.items() if n.startswith("mlw-test/pipeline/uses-registry/runs/")]
    step = run.inputs["properties"]["jobs"]["echo"]
    assert step["componentId"] == f"azureml://registries/{REG}/components/echo/versions/1"  # as written
    assert f"registry/{REG}/component/echo@1" in run.depends_on


def test_a_registry_uri_the_estate_does_not_publish_is_external(tmp_path: Path) -> None:
    files = {**FILES, "manifests/pipeline.yml": PIPELINE.replace("/echo/versions/1", "/echo/versions/9")}
    root, report = _report(tmp_path, files, strict=False)
    [warning] = [d for d in report.diagnostics if d.code == "M002"]
    assert "registry" in warning.message and warning.severity.value == "warning"
    stack = next(s for s in report.stacks if s.name == "dev")
    out = render(report.overlaid["dev"], stack, root=root)
    [run] = [r for r in out.graph.resources if r.name.startswith("mlw-test/pipeline/uses-registry/runs/")]
    assert not any(d.startswith(f"registry/{REG}/component/") for d in run.depends_on)


def test_a_workspace_short_name_never_means_a_registry_asset(tmp_path: Path) -> None:
    deployment = PIPELINE.replace(f"azureml://registries/{REG}/components/echo/versions/1", "azureml:echo:1")
    root, report = _report(tmp_path, {**FILES, "manifests/pipeline.yml": deployment})
    [warning] = [d for d in report.diagnostics if d.code == "M002"]
    assert "'echo' is not defined by any manifest" in warning.message
    stack = next(s for s in report.stacks if s.name == "dev")
    out = render(report.overlaid["dev"], stack, root=root)
    [run] = [r for r in out.graph.resources if r.name.startswith("mlw-test/pipeline/uses-registry/runs/")]
    assert run.inputs["properties"]["jobs"]["echo"]["componentId"].endswith(
        "/workspaces/mlw-test/components/echo/versions/1")


def _errors(tmp_path: Path, files: dict[str, str]) -> list[str]:
    local = {"manifests/registry/model/MLmodel": "flavors: {}\n", "manifests/registry/src/a.py": "print(1)\n"}
    root, report = _report(tmp_path, {**FILES, **local, **files})
    found = [d for d in report.diagnostics if d.severity.value == "error"]
    if not found:
        stack = next(s for s in report.stacks if s.name == "dev")
        found = [d for d in render(report.overlaid["dev"], stack, root=root).diagnostics
                 if d.severity.value == "error"]
    return [f"{d.code} {d.path}:{d.line} {d.message}" for d in found]


@pytest.mark.parametrize("path, text, code, at, words", [
    ("manifests/registry/compute.yaml", envelope("Compute", "cpu", "type: amlcompute\nsize: Standard_DS3_v2"),
     "S003", "registry:", "cannot be published into a registry"),
    ("manifests/registry/both.yaml", envelope("Model", "m", "version: '1'\npath: https://a.blob.core.windows.net/c/m/")
     .replace("  registry:", "  workspace: mlw-test\n  registry:"), "S003", "registry:", "together"),
    ("manifests/registry/local.yaml", envelope("Model", "local", "version: '1'\npath: ./model"), "R006", "path:",
     "cannot upload to registry 'reg-shared'"),
    ("manifests/registry/code.yaml", envelope("Component", "with_code", "version: '1'\ncommand: python a.py\n"
     "code: ./src\nenvironment: azureml://registries/reg-shared/environments/score-env/versions/3"), "R006",
     "code:", "local path"),
    ("manifests/registry/short.yaml", envelope("Component", "short", "version: '1'\ncommand: echo\n"
     "environment: azureml:score-env:3"), "R003", "environment:",
     "write azureml://registries/reg-shared/environments/score-env/versions/3"),
    ("manifests/registry/inline.yaml", envelope("Component", "inline", "version: '1'\ncommand: echo\n"
     "environment: {image: 'mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04'}"), "R004", "environment:",
     "inline environment"),
])
def test_what_a_registry_cannot_take_is_a_clear_error(tmp_path, path, text, code, at, words) -> None:
    errors = _errors(tmp_path, {path: text})
    assert errors, errors
    line = next(i for i, text_line in enumerate(text.splitlines(), 1) if at in text_line)
    assert errors[0].startswith(f"{code} {path}:{line} "), errors
    assert words in errors[0], errors


def test_registry_resources_conform_to_pulumi_azure_native(rendered) -> None:
    import test_conformance as T
    if not T.CHECKER.exists():
        pytest.skip("../shared/tools/conformance.py is not beside the repository")
    conform, total, errors, warnings = T.check({"registry": T.settled(rendered[2].graph)})
    assert errors == [] and warnings == []
    assert conform == total and total >= 8


def test_registry_asset_bodies_are_azure_ai_mls(rendered) -> None:
    """Each version's `properties` equal what azure-ai-ml's `_to_rest_object()` builds for the same
    YAML (a registry asset's REST body is a workspace asset's; MLClient sends it to the registry)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fidelity as F
    from controller.render.context import registry_resource_name
    root, report, out = rendered
    graph = out.graph.by_name()
    compared = 0
    for m in report.overlaid["dev"]:
        if m.registry is None:
            continue
        spec = F.KINDS[m.kind]
        back = spec.back
        # A registry version names its container by modelName / environmentName / componentName.
        spec = replace(spec, main=lambda m, g: g.get(registry_resource_name(m, m.version)),
                       back=lambda r, back=back, key=f"{m.kind[0].lower()}{m.kind[1:]}Name":
                       back(replace(r, inputs={**r.inputs, "name": r.inputs[key]})))
        outcome = F.Outcome(m.path, m.kind, m.name)
        resource = spec.main(m, graph)
        entity = F._load_entity(spec, m, root, resource)
        F.compare(m, resource, spec, entity, F.load_known(), outcome)
        assert outcome.mismatches == [], (m.subject, outcome.mismatches)
        assert outcome.equal >= 3, m.subject
        compared += 1
    assert compared == 4
