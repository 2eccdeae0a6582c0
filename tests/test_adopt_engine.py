"""`amlctl import` on the real engine: the round trip of adopting a workspace made in the portal.

seed (tests/sim_seed.py) -> import (manifests written, the resources imported into the stack's
state) -> validate --strict -> preview (no create, replace or delete: only amlctl's bookkeeping)
-> apply (in place, nothing created in the simulation) -> preview (no changes) -> one manifest
changed -> apply (exactly one update).
"""
from __future__ import annotations

import json

import yaml

from conftest import amlctl, git
from test_adopt import portal_repo
from test_local_target import needs_engine

# What amlctl adds on top of what it adopted, and nothing else may differ right after an import:
# its tags on compute and endpoints, the description (and tags) a container takes from its highest
# version, and the rollout record of an endpoint's traffic step (kept in the state only).
BOOKKEEPING = ("tags", "properties.description", "properties.tags", "rolloutState")


@needs_engine
def test_adopting_a_portal_workspace_creates_nothing_and_then_changes_one_thing(tmp_path):
    root = portal_repo(tmp_path)
    git(root, "init", "-q", "-b", "main")
    (root / ".gitignore").write_text(".amlctl/\n")

    adopted = amlctl("import", "--stack", "local", cwd=root)
    assert adopted.code == 0, adopted.err
    assert ("adopted into stack local's state (nothing was created or changed in the cloud): 11 resource(s)"
            in adopted.out)
    assert "= mlw-portal/online-endpoint/credit-online/deployments/blue" in adopted.out
    git(root, "add", "-A")
    git(root, "commit", "-qm", "adopt the portal workspace")
    assert amlctl("validate", "--strict", cwd=root).code == 0
    # Adopted: plan no longer warns that the creates would meet what exists.
    planned = amlctl("plan", "--stack", "local", "--from-scratch", "-o", "json", cwd=root)
    assert not [d for d in planned.json()["diagnostics"] if d["code"] == "P004"]

    preview = amlctl("preview", "--stack", "local", "-o", "json", cwd=root)
    assert preview.code == 0, preview.err
    plan = preview.json()
    assert {k: plan["summary"][k] for k in ("create", "replace", "delete")} == {"create": 0, "replace": 0, "delete": 0}
    for change in plan["changes"]:
        assert change["action"] == "update", change
        assert all(p["path"].split(".")[0] in BOOKKEEPING or p["path"] in BOOKKEEPING
                   for p in change["properties"]), change

    applied = amlctl("apply", "--stack", "local", "--yes", "-o", "json", cwd=root)
    assert applied.code == 0, applied.err
    assert set(applied.json()["changes"]) == {"update"}
    ops = [json.loads(line) for line in (root / ".amlctl/local/sim/operations.jsonl").read_text().splitlines()]
    assert ops and not [o for o in ops if o["op"] in ("create", "delete")]  # adopted, never recreated

    again = amlctl("preview", "--stack", "local", "-o", "json", cwd=root)
    assert again.json()["summary"]["update"] == 0 and not again.json()["changes"]

    path = root / "manifests/compute/cpu-cluster.yaml"
    doc = yaml.safe_load(path.read_text())
    path.write_text(path.read_text().replace(f"max_instances: {doc['max_instances']}", "max_instances: 8"))
    git(root, "commit", "-qam", "a bigger cluster")
    changed = amlctl("apply", "--stack", "local", "--yes", "-o", "json", cwd=root)
    assert changed.code == 0, changed.err
    assert changed.json()["changes"] == {"update": 1}
    compute = json.loads(next((root / ".amlctl/local/sim/arm").rglob("computes/cpu-cluster.json")).read_text())
    assert compute["properties"]["properties"]["properties"]["scaleSettings"]["maxNodeCount"] == 8
