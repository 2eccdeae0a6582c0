"""Semantic checks on the real example estate with one thing broken at a time (Python API)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import CORPUS, REPO, WS, amlctl, write_tree

from controller.validate import validate


@pytest.fixture
def estate(tmp_path: Path):
    root = tmp_path / "estate"
    shutil.copytree(REPO / "manifests", root / "manifests")
    shutil.copytree(REPO / "stacks", root / "stacks")
    (root / ".git").mkdir()

    def edit(path: str, old: str, new: str) -> Path:
        file = root / path
        text = file.read_text()
        assert old in text, f"{old!r} not in {path}"
        file.write_text(text.replace(old, new, 1))
        return root
    return root, edit


def problems(root: Path, strict: bool = False) -> list[tuple[str, str, int, str]]:
    report = validate(cwd=root, strict=strict)
    return [(d.code, d.path, d.line, d.message) for d in report.diagnostics]


def test_pipeline_step_compute_typo_is_external_with_a_suggestion(estate) -> None:
    root, edit = estate
    edit("manifests/pipelines/training.yaml", "azureml:cpu-cluster", "azureml:cpu-clustr")
    [(code, path, line, message)] = problems(root)
    assert (code, path, line) == ("M002", "manifests/pipelines/training.yaml", 12)
    assert "did you mean 'cpu-cluster'?" in message
    assert problems(root, strict=True)[0][0] == "M002"
    assert not validate(cwd=root, strict=True).ok


def test_pipeline_step_component_path_must_exist(estate) -> None:
    root, edit = estate
    edit("manifests/pipelines/training.yaml", "../components/train.yaml", "../components/trian.yaml")
    assert [p[:3] for p in problems(root)] == [("M006", "manifests/pipelines/training.yaml", 26)]


def test_data_path_names_its_datastore(estate) -> None:
    root, edit = estate
    edit("manifests/data/assets.yaml", "datastores/training_data/", "datastores/training_dat/")
    [(code, path, line, message)] = problems(root)
    assert (code, path, line) == ("M002", "manifests/data/assets.yaml", 10)
    assert "Datastore 'training_dat'" in message


def test_builtin_datastores_need_no_manifest(estate) -> None:
    root, edit = estate
    edit("manifests/data/assets.yaml", "datastores/training_data/", "datastores/workspaceblobstore/")
    assert problems(root, strict=True) == []


def test_deployment_version_not_defined_here_is_external(estate) -> None:
    root, edit = estate
    edit("manifests/endpoints/online-green.yaml", "azureml:credit-score-env:2", "azureml:credit-score-env:3")
    [(code, _, line, message)] = problems(root)
    assert code == "M002" and line == 5 and "version 3" in message and "versions here: 2" in message


def test_latest_label_resolves_to_the_manifest(estate) -> None:
    root, edit = estate
    edit("manifests/endpoints/online-green.yaml", "azureml:credit-score-env:2", "azureml:credit-score-env@latest")
    assert problems(root, strict=True) == []


def test_role_assignment_scope_must_resolve(estate) -> None:
    root, edit = estate
    edit("manifests/platform/rbac.yaml", "    name: mlw-credit\n", "    name: mlw-credt\n")
    [(code, path, line, message)] = problems(root)
    assert (code, path, line) == ("M003", "manifests/platform/rbac.yaml", 15)
    assert "did you mean 'mlw-credit'?" in message


def test_role_assignment_principal_identity_must_resolve(estate) -> None:
    root, edit = estate
    edit("manifests/platform/rbac.yaml", "      name: credit-online\n", "      name: credit-onlien\n")
    [(code, _, line, _)] = problems(root)
    assert (code, line) == ("M003", 40)


def test_removing_a_deployment_breaks_the_traffic_split(estate) -> None:
    root, _ = estate
    (root / "manifests/endpoints/online-green.yaml").unlink()
    codes = {(p[0], p[1]) for p in problems(root)}
    assert ("M004", "manifests/endpoints/online.yaml") in codes


def test_a_problem_only_one_stack_has_is_tagged_with_that_stack(estate) -> None:
    root, edit = estate
    edit("stacks/Pulumi.prod.yaml", "spec: {max_instances: 8, tier: dedicated}", "spec: {max_instances: 8, tier: spot}")
    report = validate(cwd=root)
    [d] = report.diagnostics
    assert (d.code, d.path, d.stack) == ("K003", "stacks/Pulumi.prod.yaml", "prod")
    assert "tier" in d.message and d.subject == "Compute/gpu-cluster"


def test_a_conda_file_among_manifests_is_data_not_an_error(estate) -> None:
    root, edit = estate
    assert problems(root, strict=True) == []  # environments/conda.yaml is referenced: fine
    (root / "manifests/environments/stray.yaml").write_text("dependencies: [python=3.11]\n")
    assert [p[:2] for p in problems(root)] == [("S001", "manifests/environments/stray.yaml")]


def test_skip_path_checks_turns_off_existence_checks_only(estate) -> None:
    root, edit = estate
    shutil.rmtree(root / "manifests/src/score")
    assert {p[0] for p in problems(root)} == {"M006"}
    assert validate(cwd=root, skip_path_checks=True).diagnostics == []
    edit("manifests/endpoints/online-blue.yaml", "code: ../src/score", "code: ../../../outside")
    report = validate(cwd=root, skip_path_checks=True)
    assert [d.code for d in report.diagnostics] == ["Y011"]  # leaving the repository is never allowed


def test_same_name_in_two_workspaces_is_fine(tmp_path: Path) -> None:
    from conftest import write_tree
    ws = "apiVersion: amlctl.dev/v1alpha1\nkind: Workspace\nmetadata:\n  name: {}\nspec:\n  location: westeurope\n"
    cl = ("$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\n"
          "name: cpu\ntype: amlcompute\n")
    root = write_tree(tmp_path, {"a/ws.yaml": ws.format("mlw-a"), "a/c.yaml": cl,
                                 "b/ws.yaml": ws.format("mlw-b"), "b/c.yaml": cl})
    report = validate(["a", "b"], cwd=root, strict=True)
    assert report.diagnostics == []
    assert sorted(m.workspace for m in report.manifests if m.kind == "Compute") == ["mlw-a", "mlw-b"]


def test_a_document_amlctl_does_not_manage_is_data_inside_a_folder_a_manifest_uses(tmp_path):
    """A prompt flow folder registered as a model holds flow.dag.yaml (the promptflow Flow schema):
    data of the model, not a manifest; the same file where nothing uses it is S002."""
    flow = (CORPUS / "generative-ai" / "promptflow" / "basic-chat" / "flow.dag.yaml").read_text()
    model = (CORPUS / "generative-ai" / "promptflow" / "deploy-flow" / "model.yaml").read_text()
    root = write_tree(tmp_path / "repo", {
        "manifests/ws.yaml": WS, "manifests/flows/basic-chat/flow.dag.yaml": flow,
        "manifests/model.yaml": model.replace("path: ../basic-chat", "path: flows/basic-chat") + "version: 1\n"})
    used = amlctl("validate", "--output", "json", cwd=root)
    assert used.code == 0, used.out
    (root / "manifests" / "model.yaml").unlink()
    unused = amlctl("validate", "--output", "json", cwd=root)
    assert unused.code == 1
    assert [(d["code"], d["path"]) for d in unused.json()["diagnostics"]] == [
        ("S002", "manifests/flows/basic-chat/flow.dag.yaml")]


def test_a_numbered_version_of_an_asset_whose_manifest_derives_its_version_is_external(tmp_path):
    """`azureml:chat-flow:1` beside a Model manifest with no version (amlctl derives v<hash>) names
    another version than the one the estate registers: said where it is written, an error under
    --strict, as any version that must already be in Azure."""
    model = "apiVersion: amlctl.dev/v1alpha1\nkind: Model\nmetadata:\n  name: chat-flow\nspec:\n  path: ./flow\n"
    deploy = ("apiVersion: amlctl.dev/v1alpha1\nkind: OnlineEndpoint\nmetadata:\n  name: chat\nspec:\n"
              "  auth_mode: key\n---\napiVersion: amlctl.dev/v1alpha1\nkind: OnlineDeployment\nmetadata:\n"
              "  name: blue\nspec:\n  endpoint_name: chat\n  model: azureml:chat-flow:1\n"
              "  instance_type: Standard_DS3_v2\n  instance_count: 1\n")
    root = write_tree(tmp_path / "repo", {"manifests/workspace.yaml": WS, "manifests/model.yaml": model,
                                          "manifests/flow/MLmodel": "flavors: {}\n", "manifests/online.yaml": deploy})
    found = [(d.code, d.severity.value, d.path, d.line) for d in validate(root=root, cwd=root, render=False).diagnostics]
    assert found == [("M002", "warning", "manifests/online.yaml", 14)]
    assert [d.severity.value for d in validate(root=root, cwd=root, render=False, strict=True).diagnostics] == ["error"]
    (root / "manifests/online.yaml").write_text(deploy.replace("chat-flow:1", "chat-flow@latest"))
    assert validate(root=root, cwd=root, render=False, strict=True).diagnostics == []
