"""Releases of online and batch endpoints on the real engine and the local target, through the CLI:
blue/green with no moment without a deployment serving (the simulation's record of traffic over
time), a canary advanced step by step over several applies, an unhealthy canary rolled back on its
own, abort and promote, a SIGTERM in the middle of a step resumed by the next run, and plan,
status and drift while a release is in progress."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, amlctl, git

FILES = {
    "manifests/workspace.yaml": "apiVersion: amlctl.dev/v1alpha1\nkind: Workspace\nmetadata:\n  name: mlw-r\n"
                                "spec:\n  location: westeurope\n",
    "manifests/model/MLmodel": "artifact_path: model\n",
    "manifests/model.yaml": "$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json\nname: scorer\n"
                            "version: \"1\"\ntype: mlflow_model\npath: model\n",
    "manifests/endpoint.yaml": "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
                               "name: score\nauth_mode: key\ntraffic:\n  blue: 100\n",
    "manifests/blue.yaml": "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
                           "name: blue\nendpoint_name: score\nmodel: azureml:scorer:1\ninstance_type: Standard_DS3_v2\n"
                           "instance_count: 1\nrequest_settings:\n  request_timeout_ms: 1000\n",
    "stacks/Pulumi.local.yaml": "config:\n  amlctl:target: local\n  amlctl:subscriptionId: "
                                "00000000-0000-0000-0000-00000000beef\n  amlctl:resourceGroup: rg-r\n"
                                "  amlctl:manageResourceGroup: true\n  amlctl:location: westeurope\n"
                                "  amlctl:defaultWorkspace: mlw-r\n",
}
POLICY = """rollout:
  steps:
    - canary: 10
      gates: {success_rate: 99, min_requests: 100}
    - canary: 50
  gates: {http_5xx: 5}
"""
BATCH = {
    "manifests/cluster.yaml": "$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\n"
                              "name: cpu\ntype: amlcompute\nsize: Standard_DS3_v2\nmax_instances: 1\n",
    "manifests/batch.yaml": "$schema: https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json\n"
                            "name: nightly\ndefaults:\n  deployment_name: one\n",
    "manifests/batch-one.yaml": "$schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json\n"
                                "name: one\nendpoint_name: nightly\nmodel: azureml:scorer:1\ncompute: azureml:cpu\n"
                                "resources:\n  instance_count: 1\n",
}


def estate(root: Path, policy: bool = False, batch: bool = False) -> Path:
    files = {**FILES, **(BATCH if batch else {})}
    if policy:
        files["manifests/endpoint.yaml"] += POLICY
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    (root / ".gitignore").write_text(".amlctl/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "the estate")
    return root


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    monkeypatch.delenv("AMLCTL_STATE_DIR", raising=False)
    monkeypatch.delenv("AMLCTL_SIM_SLOW", raising=False)


def apply(root: Path, *args: str):
    return amlctl("apply", "--stack", "local", "--yes", *args, cwd=root)


def edit(root: Path, rel: str, old: str, new: str, message: str) -> None:
    path = root / rel
    assert old in path.read_text(), (old, path.read_text())
    path.write_text(path.read_text().replace(old, new, 1))
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


def timeline(root: Path) -> list[dict]:
    path = root / ".amlctl" / "local" / "sim" / "traffic.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def always_served(root: Path, endpoint: str = "score") -> list[dict]:
    """Every moment after the first traffic was set: the live traffic adds up to 100% and goes only to
    deployments that exist."""
    lines = [t for t in timeline(root) if t["endpoint"] == endpoint]
    first = next(i for i, t in enumerate(lines) if t["traffic"])
    for t in lines[first:]:
        assert sum(t["traffic"].values()) == 100, t
        assert all(name in t["deployments"] for name, share in t["traffic"].items() if share), t
    return lines


def status(root: Path) -> dict:
    run = amlctl("rollout", "status", "--stack", "local", "-o", "json", cwd=root)
    assert run.code == 0, run.err
    [endpoint] = run.json()["endpoints"]
    return endpoint


def deployments(root: Path) -> list[str]:
    folder = next((root / ".amlctl" / "local" / "sim").rglob("onlineendpoints/score/deployments"))
    return sorted(p.stem for p in folder.glob("*.json"))


def test_a_new_instance_type_is_released_blue_green_with_no_moment_without_a_deployment_serving(tmp_path: Path):
    root = estate(tmp_path / "e", batch=True)
    assert apply(root).code == 0
    git(root, "commit", "-qam", "the stack's salt")
    edit(root, "manifests/blue.yaml", "Standard_DS3_v2", "Standard_F4s_v2", "bigger")
    plan = amlctl("plan", "--stack", "local", "--base", "HEAD~2", cwd=root)
    assert plan.code == 0 and "released beside blue: new deployment blue-" in plan.out, plan.out
    assert "--allow-delete" not in plan.out
    run = apply(root)  # no --allow-delete: nothing that serves is deleted
    assert run.code == 0, run.err
    [new] = [d for d in deployments(root)]
    assert new.startswith("blue-") and "release complete, blue/green" in run.out
    lines = always_served(root)
    ops = [(t["op"], t.get("deployment", "").rsplit("/", 1)[-1]) for t in lines]
    assert ops[-3:] == [("create", new), ("traffic", ""), ("delete", "blue")], ops
    assert apply(root).out.startswith("no changes"), "one apply converges"
    drift = amlctl("drift", "--stack", "local", cwd=root)
    assert drift.code == 0 and "No drift" in drift.out, drift.out + drift.err

    # Batch: a new default deployment exists before the default moves, and the old one goes after.
    (root / "manifests/batch-two.yaml").write_text(BATCH["manifests/batch-one.yaml"].replace("name: one", "name: two"))
    (root / "manifests/batch-one.yaml").unlink()
    edit(root, "manifests/batch.yaml", "deployment_name: one", "deployment_name: two", "nightly runs two")
    run = apply(root, "--allow-delete")  # removing `one` from git is a delete the change asks for
    assert run.code == 0, run.err
    batch = [(t["op"], t.get("deployment", "").rsplit("/", 1)[-1], t["default"]) for t in timeline(root)
             if t["endpoint"] == "nightly"]
    assert batch[-3:] == [("create", "two", "one"), ("traffic", "", "two"), ("delete", "one", "two")], batch


def test_a_canary_advances_over_applies_and_an_unhealthy_one_rolls_back_on_its_own(tmp_path: Path):
    root = estate(tmp_path / "e", policy=True)
    assert apply(root).code == 0
    git(root, "commit", "-qam", "the stack's salt")
    edit(root, "manifests/blue.yaml", "request_timeout_ms: 1000", "request_timeout_ms: 2000", "timeout")
    run = apply(root)
    assert run.code == 0 and "rollout OnlineEndpoint/score: started" in run.out, run.out + run.err
    now = status(root)
    new = now["release"]["moving"][0]["new"]
    assert now["traffic"] == {"blue": 90, new: 10} and deployments(root) == sorted(["blue", new])

    waiting = apply(root)  # no requests yet: the gate cannot judge
    assert waiting.code == 0 and "waits for 100 requests" in waiting.out, waiting.out
    plan = amlctl("plan", "--stack", "local", "--base", "HEAD~1", cwd=root)
    assert f"being released as {new} (step 1" in plan.out and "Rollouts:" in plan.out, plan.out
    drift = amlctl("drift", "--stack", "local", cwd=root)
    assert drift.code == 0 and "No drift" in drift.out, "a release's traffic is not drift"

    healthy = amlctl("rollout", "simulate", "--stack", "local", f"score/{new}", "--requests", "500", "--http-5xx",
                     "1", cwd=root)
    assert healthy.code == 0, healthy.err
    step2 = apply(root)
    assert step2.code == 0 and "advanced" in step2.out and status(root)["traffic"] == {"blue": 50, new: 50}
    done = apply(root)
    assert done.code == 0 and "release complete, all 2 steps held" in done.out, done.out
    assert status(root)["traffic"] == {new: 100} and deployments(root) == [new]

    edit(root, "manifests/blue.yaml", "request_timeout_ms: 2000", "request_timeout_ms: 3000", "timeout again")
    assert apply(root).code == 0
    bad = status(root)["release"]["moving"][0]["new"]
    amlctl("rollout", "simulate", "--stack", "local", f"score/{bad}", "--requests", "500", "--http-5xx", "2",
           "--success-rate", "90", cwd=root)
    back = apply(root)
    assert back.code == 1, "the release failed: the job that ran it says so"
    assert "rolled back" in back.out and "success rate 90.00% < 99%" in back.out, back.out
    assert status(root)["traffic"] == {new: 100} and deployments(root) == [new]
    held = apply(root)
    assert held.code == 0 and "held" in held.out and "amlctl rollout retry" in held.out, held.out
    always_served(root)


def test_sigterm_in_the_middle_of_a_step_is_resumed_then_promote_and_abort(tmp_path: Path):
    root = estate(tmp_path / "e", policy=True)
    assert apply(root).code == 0
    git(root, "commit", "-qam", "the stack's salt")
    edit(root, "manifests/blue.yaml", "Standard_DS3_v2", "Standard_F4s_v2", "bigger")
    plan = amlctl("plan", "--stack", "local", "--base", "HEAD~1", "-o", "json", cwd=root).json()
    [label] = [c["label"] for c in plan["changes"] if c["release"]]
    new = re.search(r"new deployment (blue-[0-9a-f]{7})", label).group(1)  # named by its content, before it exists
    env = {**os.environ, "AMLCTL_SIM_SLOW": f"deployments/{new}:8"}
    run = subprocess.Popen([sys.executable, "-m", "controller", "apply", "--stack", "local", "--yes"], cwd=root,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = root / ".amlctl" / "local" / "backend"
    deadline = time.time() + 90
    while time.time() < deadline:  # step 1 in flight: the new deployment being created
        if any("pending_operations" in p.read_text() and f"deployments/{new}" in p.read_text()
               for p in checkpoint.rglob("local.json")):
            break
        time.sleep(0.1)
    else:
        run.kill()
        raise AssertionError("the new deployment's create never started")
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    # The engine finished the create in flight and stopped before the traffic step: the record goes
    # with that step, so the state says no release has started, and blue still takes all traffic.
    stopped = status(root)
    assert stopped["release"] is None and stopped["traffic"] == {"blue": 100}
    assert deployments(root) == sorted(["blue", new])
    resumed = apply(root)
    assert resumed.code == 0 and "started" in resumed.out, resumed.out + resumed.err
    now = status(root)
    assert now["release"]["moving"][0]["new"] == new and now["traffic"] == {"blue": 90, new: 10}
    assert sum(t["op"] == "create" and t.get("deployment", "").endswith(new) for t in timeline(root)) == 1, \
        "the resumed run picks the same new deployment"

    promoted = amlctl("rollout", "promote", "--stack", "local", cwd=root)
    assert promoted.code == 0 and "promoted at step 1 of 2" in promoted.out, promoted.out + promoted.err
    assert status(root)["traffic"] == {new: 100} and deployments(root) == [new]

    edit(root, "manifests/blue.yaml", "request_timeout_ms: 1000", "request_timeout_ms: 2000", "timeout")
    assert apply(root).code == 0
    aborted = amlctl("rollout", "abort", "--stack", "local", cwd=root)
    assert aborted.code == 0 and "aborted" in aborted.out, aborted.out + aborted.err
    assert status(root)["traffic"] == {new: 100} and deployments(root) == [new]
    nothing = amlctl("rollout", "abort", "--stack", "local", cwd=root)
    assert nothing.code == 1 and "no release in progress" in nothing.err
    advance = amlctl("rollout", "advance", "--stack", "local", cwd=root)
    assert advance.code == 0 and "no release in progress" in advance.out
    always_served(root)
