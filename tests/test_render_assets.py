"""Rendering of the asset kinds: Datastore, and the versioned Data, Environment, Model and
Component (a container and a version each, uploads, derived versions, references)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import REPO, write_tree
from controller.render import render
from controller.render.graph import Graph, markers
from controller.validate import validate

ML = "azure-native:machinelearningservices:"
SUB = "11111111-1111-1111-1111-111111111111"
WS_ID = f"/subscriptions/{SUB}/resourceGroups/rg-dev/providers/Microsoft.MachineLearningServices/workspaces/mlw-test"


def stack(extra: str = "") -> dict[str, str]:
    return {"stacks/Pulumi.dev.yaml": (
        "config:\n"
        "  amlctl:target: azure\n"
        f"  amlctl:subscriptionId: {SUB}\n"
        "  amlctl:resourceGroup: rg-dev\n"
        "  amlctl:location: westeurope\n"
        "  amlctl:defaultWorkspace: mlw-test\n"
        "  amlctl:production: false\n" + extra)}


def envelope(kind: str, name: str, spec: str) -> str:
    body = "".join(f"  {line}\n" for line in spec.strip("\n").splitlines())
    return f"apiVersion: amlctl.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{body}"


WORKSPACE = envelope("Workspace", "mlw-test", "location: westeurope")
BASE = {**stack(), "manifests/ws.yaml": WORKSPACE}


def rendered(root: Path, skip_path_checks: bool = False):
    report = validate(root=root, cwd=root, skip_path_checks=skip_path_checks, render=False)
    errors = [d.format() for d in report.diagnostics if d.severity.value == "error"]
    assert not errors, errors
    st = next(s for s in report.stacks if s.name == "dev")
    return render(report.overlaid["dev"], st, root=root)


def graph_of(root: Path) -> Graph:
    out = rendered(root)
    assert out.graph is not None, [d.format() for d in out.diagnostics]
    return out.graph


def tree(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    return write_tree(tmp_path / "repo", {**BASE, **files})


def version_of(graph: Graph, prefix: str) -> str:
    found = [r.name for r in graph.resources if r.name.startswith(prefix + "@")]
    assert len(found) == 1, found
    return found[0].split("@", 1)[1]


MODEL = envelope("Model", "m1", "path: model\ntype: mlflow_model")
MODEL_FILES = {"manifests/model.yaml": MODEL, "manifests/model/MLmodel": "flavors: {}\n",
               "manifests/model/weights.bin": b"\x00\x01\x02"}


# -- the example estate ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def estate() -> dict:
    report = validate(root=REPO, cwd=REPO, render=False)
    st = next(s for s in report.stacks if s.name == "dev")
    out = render(report.overlaid["dev"], st, root=REPO)
    assert out.graph is not None, [d.format() for d in out.diagnostics]
    return out.graph.by_name()


@pytest.mark.parametrize("kind, name, version", [
    ("Data", "mlw-credit/data/credit-raw", "1"), ("Environment", "mlw-credit/environment/credit-train-env", "3"),
    ("Model", "mlw-credit/model/credit-default", "7"), ("Component", "mlw-credit/component/credit_train", "5")])
def test_each_asset_is_a_container_and_a_version_that_depends_on_it(estate, kind, name, version):
    container, v = estate[name], estate[f"{name}@{version}"]
    assert container.type == ML + f"{kind}Container" and v.type == ML + f"{kind}Version"
    assert container.inputs["name"] == v.inputs["name"] == name.rsplit("/", 1)[1]
    assert v.inputs["version"] == version
    assert {"resourceGroupName": "rg-credit-ml-dev", "workspaceName": "mlw-credit"}.items() <= v.inputs.items()
    assert name in v.depends_on and "workspace/mlw-credit" in v.depends_on
    assert "workspace/mlw-credit" in container.depends_on
    assert container.inputs["properties"]["isArchived"] is False


def test_component_version_depends_on_its_code_and_environment_versions(estate):
    v = estate["mlw-credit/component/credit_train@5"]
    spec = v.inputs["properties"]["componentSpec"]
    code = [d for d in v.depends_on if "/code/" in d]
    assert len(code) == 1 and estate[code[0]].type == ML + "CodeVersion"
    code_name = estate[code[0]].inputs["name"]
    assert spec["code"].endswith(f"/workspaces/mlw-credit/codes/{code_name}/versions/1")
    assert spec["code"].startswith("azureml:/subscriptions/")
    assert "mlw-credit/environment/credit-train-env@3" in v.depends_on
    assert spec["environment"].startswith("azureml:/subscriptions/")
    assert spec["environment"].endswith("/environments/credit-train-env/versions/3")
    assert spec["name"] == "credit_train" and spec["version"] == "5" and spec["type"] == "command"
    assert spec["is_deterministic"] is True and spec["_source"] == "YAML.COMPONENT"
    assert spec["inputs"]["learning_rate"] == {"type": "number", "default": "0.05"}  # as azure-ai-ml sends it


def test_estate_datastore_is_identity_based(estate):
    ds = estate["mlw-credit/datastore/training_data"]
    assert ds.type == ML + "Datastore"
    props = ds.inputs["properties"]
    assert props["credentials"] == {"credentialsType": "None"}
    assert props["datastoreType"] == "AzureBlob" and props["accountName"] == "stcreditdata"
    assert props["containerName"] == "training" and props["endpoint"] == "core.windows.net"
    # Data on that datastore waits for it.
    assert "mlw-credit/datastore/training_data" in estate["mlw-credit/data/credit-raw@1"].depends_on


def test_conda_file_is_sent_as_azure_ai_ml_dumps_it(estate):
    from azure.ai.ml._utils.utils import dump_yaml, load_yaml
    body = estate["mlw-credit/environment/credit-train-env@3"].inputs["properties"]
    expected = dump_yaml(load_yaml(REPO / "manifests/environments/conda.yaml"), sort_keys=True)
    assert body["condaFile"] == expected
    assert body["image"].startswith("mcr.microsoft.com/")


def test_local_model_folder_is_uploaded_under_its_content_hash(estate):
    v = estate["mlw-credit/model/credit-default@7"]
    folder = REPO / "manifests/models/credit-model"
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(folder).as_posix()}\0{hashlib.sha256(f.read_bytes()).hexdigest()}\n".encode())
    prefix = h.hexdigest()[:32]
    assert v.inputs["properties"]["modelUri"] == f"azureml://datastores/amlctl_assets/paths/{prefix}/credit-model"
    blobs = sorted(d for d in v.depends_on if "/upload/" in d)
    assert blobs == [f"mlw-credit/upload/{prefix}/credit-model/{f}" for f in ("MLmodel", "README.txt")]
    assert estate[blobs[0]].inputs["blobName"] == f"{prefix}/credit-model/MLmodel"
    assert "mlw-credit/datastore/amlctl_assets" in v.depends_on


# -- versions --------------------------------------------------------------------------------------
def test_derived_version_is_stable_and_follows_the_files_of_a_model_folder(tmp_path: Path):
    root = tree(tmp_path, MODEL_FILES)
    first = version_of(graph_of(root), "mlw-test/model/m1")
    assert first.startswith("v") and first == version_of(graph_of(root), "mlw-test/model/m1")
    (root / "manifests/model/weights.bin").write_bytes(b"\x00\x01\x03")
    second = version_of(graph_of(root), "mlw-test/model/m1")
    assert second != first
    (root / "manifests/model/weights.bin").write_bytes(b"\x00\x01\x02")
    assert version_of(graph_of(root), "mlw-test/model/m1") == first  # same content, same version


def test_derived_version_follows_the_manifest_too(tmp_path: Path):
    root = tree(tmp_path, MODEL_FILES)
    first = version_of(graph_of(root), "mlw-test/model/m1")
    (root / "manifests/model.yaml").write_text(MODEL + "  description: now described\n")
    assert version_of(graph_of(root), "mlw-test/model/m1") != first


def test_explicit_version_is_kept_whatever_the_content(tmp_path: Path):
    root = tree(tmp_path, {**MODEL_FILES, "manifests/model.yaml": MODEL + '  version: "12"\n'})
    g = graph_of(root).by_name()
    assert "mlw-test/model/m1@12" in g
    (root / "manifests/model/weights.bin").write_bytes(b"changed")
    assert "mlw-test/model/m1@12" in graph_of(root).by_name()


COMPONENT = envelope("Component", "train", """
type: command
code: src
environment: azureml:env:1
command: python train.py
inputs:
  n: {type: integer, default: 3, min: 1}
  lr: {type: number, default: 1, max: 2}
  flag: {type: boolean, default: "true", optional: true}
  data: {type: uri_folder, mode: ro_mount}
""")
ENV = envelope("Environment", "env", 'version: "1"\nimage: python:3.11\nconda_file: conda.yaml')
CONDA = "name: x\ndependencies:\n  - python=3.11\n  - pip:\n      - numpy==2.0\n"


def component_tree(tmp_path: Path, **extra: str) -> Path:
    return tree(tmp_path, {"manifests/comp.yaml": COMPONENT, "manifests/src/train.py": "print(1)\n",
                           "manifests/env.yaml": ENV, "manifests/conda.yaml": CONDA, **extra})


def test_component_derived_version_follows_its_code(tmp_path: Path):
    root = component_tree(tmp_path)
    g = graph_of(root)
    first = version_of(g, "mlw-test/component/train")
    v = g.by_name()[f"mlw-test/component/train@{first}"]
    assert any(d.startswith("mlw-test/code/") for d in v.depends_on)
    assert "mlw-test/environment/env@1" in v.depends_on
    (root / "manifests/src/train.py").write_text("print(2)\n")
    assert version_of(graph_of(root), "mlw-test/component/train") != first


def test_component_inputs_are_normalised_as_azure_ai_ml_does(tmp_path: Path):
    g = graph_of(component_tree(tmp_path))
    spec = g.by_name()[f"mlw-test/component/train@{version_of(g, 'mlw-test/component/train')}"] \
        .inputs["properties"]["componentSpec"]
    assert spec["inputs"] == {"n": {"type": "integer", "default": "3", "min": "1"},
                              "lr": {"type": "number", "default": "1.0", "max": "2.0"},
                              "flag": {"type": "boolean", "default": "True", "optional": True},
                              "data": {"type": "uri_folder", "mode": "ro_mount"}}


def test_component_references_a_component_by_latest_version(tmp_path: Path):
    pipe = envelope("Component", "pipe", """
version: "1"
type: pipeline
jobs:
  step:
    type: command
    component: azureml:train@latest
""")
    g = graph_of(component_tree(tmp_path, **{"manifests/pipe.yaml": pipe})).by_name()
    train = [n for n in g if n.startswith("mlw-test/component/train@")][0]
    v = g["mlw-test/component/pipe@1"]
    assert train in v.depends_on
    job = v.inputs["properties"]["componentSpec"]["jobs"]["step"]
    assert job["componentId"].endswith(f"/components/train/versions/{train.split('@')[1]}")


# -- datastores and secrets ------------------------------------------------------------------------
SECRET_DS = envelope("Datastore", "legacy_blob", """
type: azure_blob
account_name: stlegacy
container_name: exports
credentials:
  account_key: {secret_config: "amlctl:legacyBlobKey"}
""")


def test_datastore_secret_is_a_marker_and_its_value_never_in_the_graph(tmp_path: Path):
    value = "v1:c2VjcmV0LWtleS1uZXZlci1pbi10aGUtZ3JhcGg="  # the stack's encrypted value
    root = write_tree(tmp_path / "repo", {**stack(f"  amlctl:legacyBlobKey:\n    secure: {value}\n"),
                                          "manifests/ws.yaml": WORKSPACE, "manifests/ds.yaml": SECRET_DS})
    g = graph_of(root)
    ds = g.by_name()["mlw-test/datastore/legacy_blob"]
    creds = ds.inputs["properties"]["credentials"]
    assert creds == {"credentialsType": "AccountKey",
                     "secrets": {"secretsType": "AccountKey", "key": {"$secret": {"config": "amlctl:legacyBlobKey"}}}}
    assert [(p, k) for p, k, _ in markers(ds.inputs)] == [(("properties", "credentials", "secrets", "key"), "$secret")]
    assert value not in g.to_json()


@pytest.mark.parametrize("spec, credentials", [
    ("type: azure_file\naccount_name: stfile\nfile_share_name: share\n"
     "credentials:\n  sas_token: {secret_config: 'amlctl:sas'}",
     {"credentialsType": "Sas", "secrets": {"secretsType": "Sas", "sasToken": {"$secret": {"config": "amlctl:sas"}}}}),
    ("type: azure_data_lake_gen2\naccount_name: stgen2\nfilesystem: fs\ncredentials:\n  tenant_id: t\n  client_id: c\n"
     "  client_secret: {secret_config: 'amlctl:sp'}",
     {"credentialsType": "ServicePrincipal", "tenantId": "t", "clientId": "c",
      "authorityUrl": "https://login.microsoftonline.com",
      "secrets": {"secretsType": "ServicePrincipal", "clientSecret": {"$secret": {"config": "amlctl:sp"}}}}),
    ("type: azure_data_lake_gen1\nstore_name: s\ncredentials:\n  tenant_id: t\n  client_id: c\n  thumbprint: AB\n"
     "  certificate: {key_vault_secret: 'https://kv.vault.azure.net/secrets/cert'}",
     {"credentialsType": "Certificate", "tenantId": "t", "clientId": "c", "thumbprint": "AB",
      "authorityUrl": "https://login.microsoftonline.com",
      "secrets": {"secretsType": "Certificate",
                  "certificate": {"$secret": {"keyVault": "https://kv.vault.azure.net/secrets/cert"}}}}),
])
def test_datastore_credentials_take_arm_shape(tmp_path: Path, spec: str, credentials: dict):
    g = graph_of(tree(tmp_path, {"manifests/ds.yaml": envelope("Datastore", "ds1", spec)})).by_name()
    assert g["mlw-test/datastore/ds1"].inputs["properties"]["credentials"] == credentials


# -- data ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("type_line, expected", [("", "uri_folder"), ("type: uri_file\n", "uri_file"),
                                                 ("type: mltable\n", "mltable")])
def test_data_type_and_container(tmp_path: Path, type_line: str, expected: str):
    spec = f'version: "2"\n{type_line}path: https://acct.blob.core.windows.net/c/x/'
    g = graph_of(tree(tmp_path, {"manifests/d.yaml": envelope("Data", "d", spec)})).by_name()
    assert g["mlw-test/data/d@2"].inputs["properties"]["dataType"] == expected
    assert g["mlw-test/data/d@2"].inputs["properties"]["dataUri"] == "https://acct.blob.core.windows.net/c/x/"
    assert g["mlw-test/data/d"].inputs["properties"]["dataType"] == expected  # ARM requires it on the container


def test_environment_build_context_is_uploaded_and_referenced_by_https_url(tmp_path: Path):
    env = envelope("Environment", "built", 'version: "1"\nbuild: {path: ctx}')
    g = graph_of(tree(tmp_path, {"manifests/env.yaml": env, "manifests/ctx/Dockerfile": "FROM python\n"})).by_name()
    v = g["mlw-test/environment/built@1"]
    uri = v.inputs["properties"]["build"]["contextUri"]
    assert uri.startswith("https://") and ".blob.core.windows.net/amlctl-assets/" in uri and uri.endswith("/ctx/")
    blob = [d for d in v.depends_on if "/upload/" in d]
    assert len(blob) == 1 and g[blob[0]].inputs["blobName"].endswith("/ctx/Dockerfile")


# -- what is not rendered --------------------------------------------------------------------------
def test_fields_without_an_arm_home_are_reported(tmp_path: Path):
    comp = COMPONENT + "  environment_variables: {A: '1'}\n"
    out = rendered(component_tree(tmp_path, **{"manifests/comp.yaml": comp}))
    assert out.graph is not None
    warnings = [d for d in out.diagnostics if d.code == "R001"]
    assert len(warnings) == 1 and warnings[0].severity.value == "warning"
    assert warnings[0].message.startswith("environment_variables:")


def test_additional_includes_is_a_render_error(tmp_path: Path):
    comp = COMPONENT + "  additional_includes: [../shared]\n"
    out = rendered(component_tree(tmp_path, **{"manifests/comp.yaml": comp, "shared/util.py": "x = 1\n"}))
    assert out.graph is None
    assert [d.code for d in out.diagnostics if d.severity.value == "error"] == ["R001"]


def test_a_missing_conda_file_is_a_render_error(tmp_path: Path):
    root = component_tree(tmp_path)
    (root / "manifests/conda.yaml").unlink()
    out = rendered(root, skip_path_checks=True)
    assert out.graph is None
    errors = [d for d in out.diagnostics if d.severity.value == "error"]
    assert errors and errors[0].code == "R007" and "conda" in errors[0].message


def test_rendering_is_deterministic(tmp_path: Path):
    root = component_tree(tmp_path, **MODEL_FILES)
    assert graph_of(root).to_json() == graph_of(root).to_json()
    assert json.loads(graph_of(root).to_json())["resources"]


def test_datastores_are_protected_and_asset_versions_retained_where_the_stack_protects(tmp_path: Path):
    root = tree(tmp_path, {**MODEL_FILES, **stack("  amlctl:protect: true\n"), "manifests/ds.yaml": SECRET_DS})
    g = graph_of(root)
    version = version_of(g, "mlw-test/model/m1")
    by = g.by_name()
    # Asset versions are append-only: never deleted, so never protected (protection would block
    # the release that supersedes them); their uploads likewise.
    for name in ("mlw-test/model/m1", f"mlw-test/model/m1@{version}"):
        assert by[name].retain_on_delete and not by[name].protect
    assert by["mlw-test/datastore/legacy_blob"].protect
