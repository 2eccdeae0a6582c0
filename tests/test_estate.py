"""The bundled example estate: valid under --strict, every kind present, stacks that differ
through overlays only, and determinism whatever the file order."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

from conftest import REPO, amlctl

from controller import schemas as S
from controller import stacks as st
from controller.manifests.loader import load_files
from controller.validate import validate


def test_example_estate_is_valid_under_strict() -> None:
    report = validate(cwd=REPO, strict=True)
    assert [d.format() for d in report.diagnostics] == []
    assert {s.name for s in report.stacks} == {"dev", "prod", "local"}


def test_every_kind_is_exercised() -> None:
    report = validate(cwd=REPO, strict=True)
    # A CapabilityHost needs an AI hub and project the example estate does not have:
    # tests/estates/coverage/resources applies one on the real engine. A DataImport reads a database
    # or S3 bucket the example estate does not have: tests/estates/coverage/dataimport applies one.
    assert {m.kind for m in report.manifests} == set(S.load().kinds) - {"CapabilityHost", "DataImport"}
    monitor = next(m for m in report.manifests if m.kind == "Schedule")
    assert monitor.spec["create_monitor"]["monitoring_target"]["endpoint_deployment_id"] == "azureml:credit-online:blue"
    assert {m.form for m in report.manifests} == {"envelope", "bare"}


def test_bare_files_take_the_workspace_of_the_nearest_folder() -> None:
    report = validate(cwd=REPO)
    blue = next(m for m in report.manifests if m.subject == "OnlineDeployment/blue")
    assert blue.form == "bare" and blue.workspace == "mlw-credit"
    registry = next(m for m in report.manifests if m.kind == "Registry")
    assert registry.workspace is None  # a registry lives outside workspaces


def _stack_view(name: str):
    report = validate(cwd=REPO)
    stack = next(s for s in report.stacks if s.name == name)
    manifests, diags = st.apply(stack, report.manifests)
    assert diags == []
    return {m.subject: m for m in manifests}, stack


def test_prod_overlays_change_sizes_isolation_and_replicas() -> None:
    prod, stack = _stack_view("prod")
    dev, dev_stack = _stack_view("dev")
    assert stack.production and stack.protect and not dev_stack.protect
    assert prod["Compute/gpu-cluster"].spec["max_instances"] == 8
    assert prod["Compute/gpu-cluster"].spec["tier"] == "dedicated"
    assert dev["Compute/gpu-cluster"].spec["max_instances"] == 2
    assert prod["Workspace/mlw-credit"].spec["managed_network"]["isolation_mode"] == "allow_only_approved_outbound"
    assert dev["Workspace/mlw-credit"].spec["managed_network"]["isolation_mode"] == "allow_internet_outbound"
    assert {prod[f"OnlineDeployment/{c}"].spec["instance_count"] for c in ("blue", "green")} == {3}
    assert dev["Compute/cpu-cluster"].spec["max_instances"] == 2


def test_patched_values_point_at_the_stack_file() -> None:
    prod, _ = _stack_view("prod")
    gpu = prod["Compute/gpu-cluster"]
    src = gpu.where(("max_instances",))
    assert src.path == "stacks/Pulumi.prod.yaml"
    assert "max_instances: 8" in (REPO / src.path).read_text().splitlines()[src.line - 1]
    untouched = gpu.where(("size",))
    assert untouched.path == "manifests/compute.yaml"
    assert "Standard_NC6s_v3" in (REPO / untouched.path).read_text().splitlines()[untouched.line - 1]


def test_merge_patch_follows_rfc7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}}
    assert st.merge_patch(target, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}
    assert st.merge_patch({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}
    assert st.merge_patch({"a": 1}, {"b": {"c": 2}}) == {"a": 1, "b": {"c": 2}}
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}}  # inputs are not mutated


def test_load_order_does_not_change_the_result(tmp_path: Path) -> None:
    files = sorted((REPO / "manifests").rglob("*.yaml"))
    pairs = [(p, p.relative_to(REPO).as_posix()) for p in files]
    baseline = load_files(pairs)
    for seed in range(3):
        shuffled = pairs[:]
        random.Random(seed).shuffle(shuffled)
        other = load_files(shuffled)
        key = lambda m: (m.path, m.doc_index)  # noqa: E731
        assert [(m.key, m.spec) for m in sorted(other.manifests, key=key)] == \
               [(m.key, m.spec) for m in sorted(baseline.manifests, key=key)]


def test_cli_output_is_byte_identical_across_runs() -> None:
    first = amlctl("validate", "--output", "json", cwd=REPO)
    second = amlctl("validate", "--output", "json", cwd=REPO)
    assert first.code == 0 and first.out == second.out


def test_validate_from_a_subfolder_finds_the_repository(tmp_path: Path) -> None:
    copy = tmp_path / "estate"
    shutil.copytree(REPO / "manifests", copy / "manifests")
    shutil.copytree(REPO / "stacks", copy / "stacks")
    (copy / ".git").mkdir()
    run = amlctl("validate", "--strict", cwd=copy / "manifests" / "endpoints")
    assert run.code == 0, run.out
    assert "valid: 0 errors" in run.out


def test_booleans_pulumi_wrote_back_as_strings_keep_their_meaning(tmp_path: Path) -> None:
    """`pulumi config set` (e.g. to add a secret) rewrites a stack file's booleans as "true"/"false"."""
    from controller.stacks import load_stack
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text('config:\n  amlctl:production: "true"\n  amlctl:manageResourceGroup: "false"\n')
    stack, diags = load_stack(path, "stacks/Pulumi.prod.yaml")
    assert diags == [] and stack.production is True and stack.settings["manageResourceGroup"] is False
    path.write_text('config:\n  amlctl:production: "yes"\n')
    stack, diags = load_stack(path, "stacks/Pulumi.prod.yaml")
    assert stack is None and diags[0].line == 2 and "expected true or false" in diags[0].message
