"""`amlctl apply` end to end on the real Pulumi engine: the local simulation target, file backend,
a git copy of the example estate, through the real CLI."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import amlctl, git, git_estate



@pytest.fixture
def estate(tmp_path: Path, monkeypatch) -> Path:
    root = git_estate(tmp_path / "estate")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    monkeypatch.delenv("AMLCTL_STATE_DIR", raising=False)
    return root


def commit(root: Path, rel: str, old: str, new: str, message: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    git(root, "commit", "-qam", message)


def docs(root: Path) -> dict[str, dict]:
    """The local target's simulated resources, by ARM-like id."""
    out = {}
    for f in (root / ".amlctl" / "local" / "sim").rglob("*.json"):
        d = json.loads(f.read_text())
        if "id" in d:
            out[d["id"]] = d
    return out


def test_apply_from_nothing_then_nothing_then_an_in_place_update(estate: Path):
    first = amlctl("apply", "--stack", "local", "--yes", cwd=estate)
    assert first.code == 0, first.err + first.out
    assert "+ 109 created" in first.out
    created = docs(estate)
    assert any(i.endswith("/computes/cpu-cluster") for i in created)
    assert all(d.get("simulated") for d in created.values())

    again = amlctl("apply", "--stack", "local", "--yes", cwd=estate)
    assert again.code == 0
    assert "engine was not started" in again.out

    commit(estate, "manifests/compute.yaml", "max_instances: 4", "max_instances: 6", "scale the CPU cluster")
    update = amlctl("apply", "--stack", "local", "--yes", cwd=estate)
    assert update.code == 0, update.err
    # Only cpu-cluster: its two siblings in compute.yaml keep their amlctl-commit tag (it follows
    # the commit that last changed each one's own document).
    assert "~ 1 updated" in update.out and "scale the CPU cluster" in update.out
    assert "updated    mlw-credit/compute/cpu-cluster" in update.out
    by_id = docs(estate)
    cpu = next(d for i, d in by_id.items() if i.endswith("/computes/cpu-cluster"))
    gpu = next(d for i, d in by_id.items() if i.endswith("/computes/gpu-cluster"))
    assert json.dumps(cpu).count('"maxNodeCount": 6') == 1
    assert cpu["properties"]["tags"]["amlctl-commit"] == git(estate, "rev-parse", "HEAD")
    assert gpu["properties"]["tags"]["amlctl-commit"] == git(estate, "rev-parse", "HEAD~1")


def test_deletion_needs_allow_delete_and_a_dirty_tree_is_refused(estate: Path):
    assert amlctl("apply", "--stack", "local", "--yes", cwd=estate).code == 0
    (estate / "manifests/platform/serverless.yaml").unlink()
    dirty = amlctl("apply", "--stack", "local", "--yes", cwd=estate)
    assert dirty.code == 1 and "uncommitted changes" in dirty.err
    git(estate, "commit", "-qam", "drop the serverless endpoint")
    refused = amlctl("apply", "--stack", "local", "--yes", cwd=estate)
    assert refused.code == 1 and "--allow-delete" in refused.err
    assert any("serverlessEndpoints/llama-explainer" in i for i in docs(estate))  # nothing was deleted
    done = amlctl("apply", "--stack", "local", "--yes", "--allow-delete", cwd=estate)
    assert done.code == 0, done.err
    assert not any("serverlessEndpoints/llama-explainer" in i for i in docs(estate))


def test_a_protected_resource_is_never_deleted(estate: Path):
    stack = estate / "stacks/Pulumi.local.yaml"
    stack.write_text(stack.read_text().replace("amlctl:production: false", "amlctl:production: true"))
    git(estate, "commit", "-qam", "treat local as production")
    assert amlctl("apply", "--stack", "local", "--yes", cwd=estate).code == 0
    # A datastore is stateful and protected in production (asset versions are not: they are
    # append-only, see test_release.py). Removing it, and the data asset on it, is refused.
    (estate / "manifests/data/datastore.yaml").unlink()
    assets = estate / "manifests/data/assets.yaml"
    assets.write_text(assets.read_text().replace("azureml://datastores/training_data/paths/credit/raw/",
                                                 "https://stcreditdata.blob.core.windows.net/training/credit/raw/")
                      .replace('version: "1"', 'version: "2"', 1))
    git(estate, "commit", "-qam", "retire the training datastore")
    refused = amlctl("apply", "--stack", "local", "--yes", "--allow-delete", cwd=estate)
    assert refused.code == 1
    assert "protected" in refused.err and "mlw-credit/datastore/training_data" in refused.err


def test_without_an_engine_apply_says_what_to_do(estate: Path, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("AMLCTL_PULUMI_ROOT", str(tmp_path / "no-engine"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    run = amlctl("apply", "--stack", "local", "--yes", cwd=estate)
    assert run.code == 1
    assert "scripts/build-pulumi-engine.sh" in run.err and "Traceback" not in run.err


def sim_doc(root: Path, suffix: str) -> Path:
    return next(p for p in (root / ".amlctl" / "local" / "sim").rglob("*.json") if p.as_posix().endswith(suffix))


def test_drift_is_detected_with_the_property_named_and_fix_heals_it(estate: Path):
    assert amlctl("apply", "--stack", "local", "--yes", cwd=estate).code == 0
    clean = amlctl("drift", "--stack", "local", cwd=estate)
    assert clean.code == 0 and "No drift" in clean.out
    path = sim_doc(estate, "/computes/cpu-cluster.json")
    doc = json.loads(path.read_text())
    doc["properties"]["properties"]["properties"]["scaleSettings"]["maxNodeCount"] = 40  # behind our back
    path.write_text(json.dumps(doc))
    # Someone rotates the connection's key in the portal: the simulation keeps only its hash.
    key = sim_doc(estate, "/connections/aoai-explainer.json")
    key.write_text(re.sub(r'"sha256": "[0-9a-f]+"', '"sha256": "' + "0" * 64 + '"', key.read_text()))
    drifted = amlctl("drift", "--stack", "local", "--output", "json", cwd=estate)
    assert drifted.code == 2, drifted.err
    found = {d["name"]: d for d in json.loads(drifted.out)["drifted"]}
    assert sorted(found) == ["mlw-credit/compute/cpu-cluster", "mlw-credit/connection/aoai-explainer"]
    cpu = found["mlw-credit/compute/cpu-cluster"]
    assert cpu["properties"] == ["properties.properties.scaleSettings.maxNodeCount"]
    assert (cpu["subject"], cpu["type"]) == ("Compute/cpu-cluster", "azure-native:machinelearningservices:Compute")
    (change,) = cpu["changes"]
    assert (change["cloud"], change["git"]) == (40, 4)
    assert change["source"].startswith("manifests/compute.yaml:") and cpu["source"].startswith("manifests/compute.yaml:")
    conn = found["mlw-credit/connection/aoai-explainer"]
    assert conn["properties"] == ["properties.credentials.key"]
    assert conn["changes"][0]["git"] == {"$secret": {"config": "amlctl:openaiKey"}}
    shown = amlctl("drift", "--stack", "local", cwd=estate)
    assert shown.code == 2
    assert "scaleSettings.maxNodeCount: 40 in the cloud, 4 in git" in shown.out
    assert "credentials.key: (secret from amlctl:openaiKey) differs" in shown.out
    issue = amlctl("drift", "--stack", "local", "--output", "markdown", cwd=estate)
    assert issue.code == 2 and issue.out.startswith("<!-- amlctl-drift stack=local -->")
    for out in (drifted.out, shown.out, issue.out):
        assert "local-simulation-placeholder" not in out  # the key itself is never shown
    fixed = amlctl("drift", "--stack", "local", "--fix", cwd=estate)
    assert fixed.code == 0, fixed.err
    assert json.loads(path.read_text())["properties"]["properties"]["properties"]["scaleSettings"]["maxNodeCount"] == 4
    assert amlctl("drift", "--stack", "local", cwd=estate).code == 0


def test_history_joins_updates_with_git(estate: Path):
    assert amlctl("apply", "--stack", "local", "--yes", cwd=estate).code == 0
    commit(estate, "manifests/compute.yaml", "max_instances: 4", "max_instances: 6", "scale the CPU cluster")
    assert amlctl("apply", "--stack", "local", "--yes", cwd=estate).code == 0
    run = amlctl("history", "--stack", "local", "--output", "json", cwd=estate)
    assert run.code == 0, run.err
    updates = json.loads(run.out)
    assert [u["result"] for u in updates] == ["succeeded", "succeeded"]
    assert updates[0]["author"] == "Ada Reviewer <ada@example.com>"
    assert updates[0]["commit"] == git(estate, "rev-parse", "HEAD")
    assert updates[0]["changes"].get("update") == 1 and updates[1]["changes"].get("create") == 109
    assert updates[0]["subject"] == "scale the CPU cluster"
    text = amlctl("history", "--stack", "local", cwd=estate).out.splitlines()
    assert len(text) == 2 and text[0].startswith("#2  ") and text[1].startswith("#1  ")
    assert "succeeded" in text[0] and git(estate, "rev-parse", "HEAD")[:12] in text[0]
    assert "Ada Reviewer  " in text[0] and "ada@example.com" not in text[0]  # the address is in -o json
    assert text[0].endswith("~ 1 updated    scale the CPU cluster")


def test_destroy_is_guarded_by_the_stack_name(estate: Path):
    assert amlctl("apply", "--stack", "local", "--yes", cwd=estate).code == 0
    wrong = amlctl("destroy", "--stack", "local", "--yes-destroy-stack", "prod", cwd=estate)
    assert wrong.code == 2 and sim_doc(estate, "/computes/cpu-cluster.json").exists()
    unconfirmed = amlctl("destroy", "--stack", "local", cwd=estate)  # no terminal, no confirmation
    assert unconfirmed.code == 2
    done = amlctl("destroy", "--stack", "local", "--yes-destroy-stack", "local", cwd=estate)
    assert done.code == 0, done.err
    assert not list((estate / ".amlctl" / "local" / "sim").rglob("computes/*.json"))


def test_changed_lists_the_stacks_a_change_touches(estate: Path):
    commit(estate, "stacks/Pulumi.prod.yaml", "spec: {instance_count: 3}", "spec: {instance_count: 4}",
           "prod serves from four replicas")
    run = amlctl("changed", "--base", "main~0", "--head", "HEAD", "--output", "json", cwd=estate)
    assert run.code == 0, run.err
    assert json.loads(run.out)["stacks"] == []  # main is HEAD here: nothing differs
    run = amlctl("changed", "--base", "HEAD~1", "--head", "HEAD", "--output", "json", cwd=estate)
    assert json.loads(run.out)["stacks"] == ["prod"]


def test_two_applies_of_one_stack_at_once_one_fails_cleanly_and_nothing_is_corrupted(estate: Path):
    import sys
    env = {**os.environ, "AMLCTL_SIM_SLOW": "mlw-credit/compute/cpu-cluster:8"}
    env.pop("AMLCTL_DEBUG", None)
    first = subprocess.Popen([sys.executable, "-m", "controller", "apply", "--stack", "local", "--yes"], cwd=estate,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = estate / ".amlctl" / "local" / "operation.lock"
        import time
        deadline = time.time() + 60
        while time.time() < deadline and not (lock.exists() and b'"command"' in lock.read_bytes()):
            time.sleep(0.2)
        assert lock.exists(), "the first apply never took the stack"
        second = amlctl("apply", "--stack", "local", "--yes", cwd=estate)
        assert second.code == 1
        # Refused before it renders or starts the engine, naming the run that holds the stack.
        assert "another amlctl run is changing stack local" in second.err and "Traceback" not in second.err
        assert "`amlctl apply` (pid " in second.err and "nothing was changed" in second.err
        assert "{" not in second.err  # no raw lock dump
        # The second apply started nothing: the first one still completes in full.
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert "+ 109 created" in out
    again = amlctl("apply", "--stack", "local", "--yes", cwd=estate)
    assert again.code == 0 and "engine was not started" in again.out


def _stack_state(root: Path) -> dict:
    [path] = (root / ".amlctl" / "local" / "backend" / ".pulumi" / "stacks").rglob("local.json")
    return json.loads(path.read_text())["checkpoint"]["latest"]


def _locks(root: Path) -> list[Path]:
    return list((root / ".amlctl" / "local" / "backend" / ".pulumi" / "locks").rglob("*.json"))


def _apply_in_background(root: Path, slow: str, **popen) -> subprocess.Popen:
    import sys
    env = {**os.environ, "AMLCTL_SIM_SLOW": slow}
    env.pop("AMLCTL_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "controller", "apply", "--stack", "local", "--yes"], cwd=root,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _wait_for_pending(root: Path, name: str, timeout: float = 90) -> None:
    """Until the engine's checkpoint shows `name` in flight (a pending operation)."""
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            pending = _stack_state(root).get("pending_operations") or []
        except (ValueError, KeyError, TypeError, AttributeError):  # being written, or not there yet
            pending = []
        if any(p["resource"]["urn"].endswith("::" + name) for p in pending):
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} never was in flight")


def _wait_for_quiet_checkpoint(root: Path, quiet: float = 1.5, timeout: float = 30) -> None:
    """Until the checkpoint has not been written for `quiet` seconds: the engine is only waiting on
    the slow create. A SIGKILL in the middle of the engine's checkpoint write is another failure (a
    torn file) than the lost runner these tests are about."""
    import time
    [path] = (root / ".amlctl" / "local" / "backend" / ".pulumi" / "stacks").rglob("local.json")
    deadline = time.time() + timeout
    last, since = path.stat().st_mtime_ns, time.time()
    while time.time() < deadline:
        time.sleep(0.1)
        now = path.stat().st_mtime_ns
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet:
            return
    raise AssertionError("the engine kept writing its checkpoint")


def test_sigterm_during_an_apply_cancels_cleanly_and_the_next_run_converges(estate: Path):
    import signal
    # The online endpoint takes 6 s to create; SIGTERM arrives while it is in flight, so its
    # deployments and traffic (which wait for it) are never started.
    endpoint = "mlw-credit/online-endpoint/credit-online"
    run = _apply_in_background(estate, f"{endpoint}:6")
    try:
        _wait_for_pending(estate, endpoint)
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, err
    assert "SIGTERM received" in err and "apply cancelled by SIGTERM" in err and "Traceback" not in err
    # Cancelled, not killed: what was in flight finished and was recorded; no pending operation
    # and no lock are left behind.
    assert f"created    {endpoint}  " in out
    state = _stack_state(estate)
    assert not state.get("pending_operations")
    assert _locks(estate) == []
    recorded = {r["urn"].split("::")[-1] for r in state["resources"]}
    assert endpoint in recorded  # what was in flight finished
    assert not {f"{endpoint}/traffic", f"{endpoint}/deployments/blue"} & recorded  # nothing new started
    again = amlctl("apply", "--stack", "local", "--yes", cwd=estate)
    assert again.code == 0, again.err
    assert "pending operation" not in again.err and "stale lock" not in again.err  # nothing to recover
    assert amlctl("drift", "--stack", "local", cwd=estate).code == 0


def test_a_killed_apply_leaves_a_lock_and_pending_operations_that_the_next_run_clears_and_says_so(estate: Path):
    import signal
    run = _apply_in_background(estate, "mlw-credit/compute/cpu-cluster:30", start_new_session=True)
    try:
        _wait_for_pending(estate, "mlw-credit/compute/cpu-cluster")
        _wait_for_quiet_checkpoint(estate)
        os.killpg(run.pid, signal.SIGKILL)  # a lost runner: no chance to clean up
        run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    assert _locks(estate), "a killed engine leaves its lock"
    assert _stack_state(estate).get("pending_operations"), "and the operations it had in flight"
    again = amlctl("apply", "--stack", "local", "--yes", cwd=estate)
    assert again.code == 0, again.err
    assert "removed a stale lock of stack local" in again.err
    assert "pending operation(s) left by an interrupted update" in again.err
    assert "creating mlw-credit/compute/cpu-cluster" in again.err
    assert not _stack_state(estate).get("pending_operations") and _locks(estate) == []
    drift = amlctl("drift", "--stack", "local", cwd=estate)
    assert drift.code == 0, drift.out + drift.err


def test_preview_is_the_engines_view_in_plans_formats(estate: Path):
    assert amlctl("apply", "--stack", "local", "--yes", cwd=estate).code == 0
    clean = amlctl("preview", "--stack", "local", "--detailed-exitcode", cwd=estate)
    assert clean.code == 0 and "No changes." in clean.out
    commit(estate, "manifests/compute.yaml", "max_instances: 4", "max_instances: 6", "scale the CPU cluster")
    text = amlctl("preview", "--stack", "local", "--detailed-exitcode", cwd=estate)
    assert text.code == 2, text.err
    assert "maxNodeCount = 4 -> 6" in text.out and "manifests/compute.yaml:9" in text.out
    doc = json.loads(amlctl("preview", "--stack", "local", "--output", "json", cwd=estate).out)
    updated = {c["name"] for c in doc["changes"] if c["action"] == "update"}
    assert "mlw-credit/compute/cpu-cluster" in updated
    md = amlctl("preview", "--stack", "local", "--output", "markdown", cwd=estate).out
    assert md.startswith("<!-- amlctl-plan stack=local -->")


def test_drift_compares_with_what_was_applied_not_with_unapplied_commits(estate: Path):
    assert amlctl("apply", "--stack", "local", "--yes", cwd=estate).code == 0
    applied = git(estate, "rev-parse", "HEAD")
    # Merged but not applied yet (say, waiting for approval): not drift.
    commit(estate, "manifests/compute.yaml", "max_instances: 4", "max_instances: 7", "CPU cluster up to 7")
    waiting = amlctl("drift", "--stack", "local", "--output", "json", cwd=estate)
    assert waiting.code == 0, waiting.out + waiting.err
    assert json.loads(waiting.out)["drifted"] == [] and applied[:12] in waiting.err
    # Someone scales the cluster by hand: drift, and --fix puts back what was applied (4), not 7.
    path = sim_doc(estate, "/computes/cpu-cluster.json")
    doc = json.loads(path.read_text())
    doc["properties"]["properties"]["properties"]["scaleSettings"]["minNodeCount"] = 3
    path.write_text(json.dumps(doc))
    found = json.loads(amlctl("drift", "--stack", "local", "--output", "json", cwd=estate).out)["drifted"]
    assert [(d["name"], d["properties"]) for d in found] == [
        ("mlw-credit/compute/cpu-cluster", ["properties.properties.scaleSettings.minNodeCount"])]
    fixed = amlctl("drift", "--stack", "local", "--fix", cwd=estate)
    assert fixed.code == 0, fixed.err
    scale = json.loads(path.read_text())["properties"]["properties"]["properties"]["scaleSettings"]
    assert (scale["minNodeCount"], scale["maxNodeCount"]) == (0, 4)
    # The pending change is still the next apply's to make.
    assert amlctl("apply", "--stack", "local", "--yes", cwd=estate).code == 0
    scale = json.loads(path.read_text())["properties"]["properties"]["properties"]["scaleSettings"]
    assert scale["maxNodeCount"] == 7


def test_read_only_commands_leave_a_new_stack_alone_and_apply_asks_for_a_secrets_setup(estate: Path):
    before = (estate / "stacks" / "Pulumi.dev.yaml").read_text()
    history = amlctl("history", "--stack", "dev", "--output", "json", cwd=estate)
    assert history.code == 0 and json.loads(history.out) == []
    drift = amlctl("drift", "--stack", "dev", cwd=estate)
    assert drift.code == 1 and "never been applied" in drift.err and "No drift" not in drift.out
    refused = amlctl("apply", "--stack", "dev", "--yes", cwd=estate)
    assert refused.code == 1 and "no secrets configuration" in refused.err
    assert "amlctl secrets-provider --stack dev azurekeyvault://" in refused.err
    assert amlctl("preview", "--stack", "dev", cwd=estate).code == 1  # the same: it would create the stack
    nothing = amlctl("destroy", "--stack", "dev", "--yes-destroy-stack", "dev", cwd=estate)
    assert nothing.code == 0 and "nothing to destroy" in nothing.err
    # Nothing touched the stack file: no salt written, no booleans rewritten.
    assert (estate / "stacks" / "Pulumi.dev.yaml").read_text() == before
    assert git(estate, "status", "--porcelain") == ""


def test_secrets_provider_sets_up_a_passphrase_once_and_never_an_empty_one(estate: Path, monkeypatch):
    dev, prod = estate / "stacks" / "Pulumi.dev.yaml", estate / "stacks" / "Pulumi.prod.yaml"
    before, prod_before = dev.read_text(), prod.read_text()
    # Pulumi's own `change-secrets-provider passphrase` without a terminal takes an empty passphrase.
    empty = amlctl("secrets-provider", "--stack", "dev", cwd=estate)
    assert empty.code == 1 and "PULUMI_CONFIG_PASSPHRASE" in empty.err and dev.read_text() == before
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "s3cret")
    done = amlctl("secrets-provider", "--stack", "dev", cwd=estate)
    assert done.code == 0, done.err
    assert "commit stacks/Pulumi.dev.yaml" in done.out
    assert yaml.safe_load(dev.read_text())["encryptionsalt"].startswith("v1:")
    assert dev.read_text().splitlines()[0] == before.splitlines()[0]  # the file's comments are kept
    again = amlctl("secrets-provider", "--stack", "dev", cwd=estate)
    assert again.code == 0 and "nothing to do" in again.out
    # The salt is the passphrase's: a secret set with it works, with another passphrase it does not.
    assert amlctl("pulumi", "--stack", "dev", "--", "config", "set", "--secret", "amlctl:k", "v", cwd=estate).code == 0
    # Commands about the engine itself get no --stack (Pulumi rejects one there).
    plugins = amlctl("pulumi", "--stack", "dev", "--", "plugin", "ls", cwd=estate)
    assert plugins.code == 0 and "unknown flag" not in plugins.err, plugins.err
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "not-it")
    assert amlctl("pulumi", "--stack", "dev", "--", "config", "get", "amlctl:k", cwd=estate).code != 0
    # A Key Vault key is handed to the engine (which cannot reach Azure from here); nothing is written.
    kv = amlctl("secrets-provider", "--stack", "prod", "azurekeyvault://kv-none.vault.azure.net/keys/k", cwd=estate)
    assert kv.code == 1 and "kv-none.vault.azure.net" in kv.err and "Traceback" not in kv.err
    assert prod.read_text() == prod_before
    bogus = amlctl("secrets-provider", "--stack", "prod", "vault://x", cwd=estate)
    assert bogus.code == 1 and "unknown secrets provider" in bogus.err


def at_terminal(root: Path, *args: str, answer: bytes) -> tuple[int, str]:
    """amlctl in a pseudo-terminal of its own: answers its one question and returns what it printed."""
    import pty
    import select
    import sys
    import time
    env = {k: v for k, v in os.environ.items() if k != "AMLCTL_DEBUG"} | {"CI": "true", "NO_COLOR": "1"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: amlctl, with the terminal as stdin and stdout
        os.chdir(root)
        os.execvpe(sys.executable, [sys.executable, "-m", "controller", *args], env)
    out, asked, deadline = b"", False, time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child has gone: the terminal is closed
            break
        if not chunk:
            break
        out += chunk
        if not asked and b"[y/N]" in out:
            os.write(fd, answer + b"\n")
            asked = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace"))


def test_apply_at_a_terminal_shows_the_plan_before_asking_and_without_one_needs_yes(estate: Path):
    blind = amlctl("apply", "--stack", "local", cwd=estate)  # no terminal, no --yes
    assert blind.code == 2 and "--yes" in blind.err
    code, shown = at_terminal(estate, "apply", "--stack", "local", answer=b"n")
    assert code == 1, shown
    assert shown.index("+ machinelearningservices:Compute mlw-credit/compute/cpu-cluster") < shown.index("[y/N]")
    assert "Plan: 109 to create" in shown and "declined: nothing was changed" in shown
    assert not (estate / ".amlctl" / "local" / "sim").exists() or not list((estate / ".amlctl" / "local" / "sim").rglob("*.json"))
    code, shown = at_terminal(estate, "apply", "--stack", "local", answer=b"y")
    assert code == 0, shown
    assert "Resources: + 109 created" in shown and sim_doc(estate, "/computes/cpu-cluster.json").exists()


def test_an_apply_of_uncommitted_changes_is_marked_as_such(estate: Path):
    assert amlctl("apply", "--stack", "local", "--yes", cwd=estate).code == 0
    compute = estate / "manifests" / "compute.yaml"
    compute.write_text(compute.read_text().replace("max_instances: 4", "max_instances: 5", 1))  # not committed
    dirty = amlctl("apply", "--stack", "local", "--yes", "--allow-dirty", cwd=estate)
    assert dirty.code == 0, dirty.err
    assert f"amlctl apply {git(estate, 'rev-parse', 'HEAD')[:12]}+dirty:" in dirty.out
    # HEAD does not hold what was applied: drift compares with the working tree, and says so.
    drift = amlctl("drift", "--stack", "local", cwd=estate)
    assert drift.code == 0 and "comparing with the working tree" in drift.err, drift.out + drift.err
    newest = json.loads(amlctl("history", "--stack", "local", "--output", "json", cwd=estate).out)[0]
    assert newest["dirty"] and "(uncommitted changes)" in amlctl("history", "--stack", "local", cwd=estate).out
    blame = amlctl("blame", "Compute/cpu-cluster", "--stack", "local", "--output", "json", cwd=estate).json()
    deployed = [d["version"] for e in blame["edits"] for d in e["deployed"]]
    assert deployed and newest["version"] not in deployed  # the dirty update deployed no commit as it is
