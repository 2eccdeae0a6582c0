"""Hardening of what amlctl and the engine keep, on the real engine through the real CLI: no secret
in any state file, the no-engine shortcut only after a complete apply, a newer change never
undone, a torn or unwritable state said plainly (and recovered), nothing left running after a
kill, one notice per stop, history complete and numbered as it happened."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, amlctl, git

WORKSPACE = """apiVersion: amlctl.dev/v1alpha1
kind: Workspace
metadata:
  name: mlw-h
spec:
  location: westeurope
  tags:
    team: risk
"""
COMPUTE = """apiVersion: amlctl.dev/v1alpha1
kind: Compute
metadata:
  name: cpu
spec:
  type: amlcompute
  size: Standard_DS3_v2
  max_instances: 2
  ssh_settings:
    admin_username: azureuser
    admin_password:
      secret_config: amlctl:adminPassword
"""
CONNECTION = """apiVersion: amlctl.dev/v1alpha1
kind: Connection
metadata:
  name: aoai
spec:
  type: azure_open_ai
  azure_endpoint: https://aoai-h.openai.azure.com/
  api_key:
    secret_config: team:openaiKey
"""
STACK = """config:
  amlctl:target: local
  amlctl:subscriptionId: 00000000-0000-0000-0000-00000000beef
  amlctl:resourceGroup: rg-h
  amlctl:manageResourceGroup: true
  amlctl:location: westeurope
  amlctl:defaultWorkspace: mlw-h
"""
SECRETS = {"amlctl:adminPassword": "Adm1n-Pa55-Q7x!", "team:openaiKey": "TEAMKEY-5f0c9b1d2e"}
COMPUTE_DOC = "workspaces/mlw-h/computes/cpu.json"


def small_estate(root: Path, *, secrets: bool = True, production: bool = False) -> Path:
    """A workspace, a cluster and a connection on the local target, committed on main."""
    (root / "manifests").mkdir(parents=True)
    (root / "stacks").mkdir()
    (root / "manifests" / "workspace.yaml").write_text(WORKSPACE)
    (root / "manifests" / "compute.yaml").write_text(COMPUTE if secrets else COMPUTE.split("  ssh_settings")[0])
    if secrets:
        (root / "manifests" / "connection.yaml").write_text(CONNECTION)
    (root / "stacks" / "Pulumi.local.yaml").write_text(STACK + ("  amlctl:production: true\n" * production))
    (root / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    (root / ".gitignore").write_text(".amlctl/\n")
    git(root, "init", "-q", "-b", "main")
    for key, value in (SECRETS.items() if secrets else ()):
        set_ = amlctl("pulumi", "--stack", "local", "--", "config", "set", "--secret", key, value, cwd=root)
        assert set_.code == 0, set_.err
    git(root, "add", "-A")
    git(root, "commit", "-qm", "a small estate")
    return root


@pytest.fixture
def estate(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    monkeypatch.delenv("AMLCTL_STATE_DIR", raising=False)
    return small_estate(tmp_path / "estate")


def apply(root: Path, *args: str):
    return amlctl("apply", "--stack", "local", "--yes", *args, cwd=root)


def sim(root: Path, suffix: str) -> Path:
    [path] = [p for p in (root / ".amlctl" / "local" / "sim").rglob("*.json") if str(p).endswith(suffix)]
    return path


def edit(root: Path, rel: str, old: str, new: str, message: str) -> None:
    path = root / rel
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    git(root, "commit", "-qam", message)


def test_no_secret_value_in_any_file_amlctl_or_the_engine_writes_nor_in_any_output(estate: Path):
    outputs = [apply(estate)]
    assert outputs[0].code == 0, outputs[0].err
    edit(estate, "manifests/compute.yaml", "max_instances: 2", "max_instances: 3", "scale")
    outputs.append(apply(estate))  # a second update: backups and history of the first
    assert outputs[-1].code == 0, outputs[-1].err
    for args in (("drift",), ("history",), ("render",), ("preview",), ("plan", "--from-scratch")):
        outputs.append(amlctl(*args, "--stack", "local", cwd=estate))
    doc = json.loads(sim(estate, COMPUTE_DOC).read_text())
    password = doc["properties"]["properties"]["properties"]["userAccountCredentials"]["adminUserPassword"]
    assert set(password) == {"$secret"}, "the simulation keeps a hash where the password was"
    assert amlctl("drift", "--stack", "local", cwd=estate).code == 0, "and compares secrets by it"
    files = [p for p in (estate / ".amlctl").rglob("*") if p.is_file()]
    assert any("backups" in p.parts for p in files) and any("history" in p.parts for p in files)
    for secret in SECRETS.values():
        holding = [str(p.relative_to(estate)) for p in files if secret.encode() in p.read_bytes()]
        assert holding == [], f"{secret} in clear in {holding}"
        assert not any(secret in o.out + o.err for o in outputs)


def test_the_no_engine_shortcut_is_only_taken_after_a_complete_apply(estate: Path):
    assert apply(estate).code == 0
    assert "engine was not started" in apply(estate).out

    # A failed apply, then a revert to the graph last applied: the cloud holds half of the change.
    # (Through the stack file: a manifest's own commit is in its amlctl-commit tag, a revert of it
    # is a change of the graph anyway.)
    stack = estate / "stacks" / "Pulumi.local.yaml"
    stack.write_text(stack.read_text().replace("config:\n", """config:
  amlctl:overlays:
    - description: retag
      select: {kind: Workspace, name: mlw-h}
      patch: {spec: {tags: {team: fraud}}}
    - description: scale
      select: {kind: Compute, name: cpu}
      patch: {spec: {max_instances: 5}}
""", 1))
    git(estate, "commit", "-qam", "retag and scale")
    env = {**os.environ, "AMLCTL_SIM_FAIL": "mlw-h/compute/cpu"}
    failed = subprocess.run([sys.executable, "-m", "controller", "apply", "--stack", "local", "--yes"], cwd=estate,
                            env=env, capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1 and "simulated failure" in failed.stderr, failed.stderr
    assert '"team": "fraud"' in sim(estate, "workspaces/mlw-h.json").read_text()  # half of it was done
    git(estate, "revert", "--no-edit", "HEAD")
    again = apply(estate)
    assert again.code == 0, again.err
    assert "engine was not started" not in again.out and "did not complete" in again.err
    assert '"team": "risk"' in sim(estate, "workspaces/mlw-h.json").read_text()  # the tag, put back
    assert amlctl("drift", "--stack", "local", cwd=estate).code == 0
    assert "engine was not started" in apply(estate).out  # complete now


def test_after_a_destroy_that_stopped_half_way_the_next_apply_runs_the_engine(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    root = small_estate(tmp_path / "prod", secrets=False, production=True)
    assert apply(root).code == 0
    git(root, "commit", "-qam", "the stack's encryption salt")  # written by the engine when it made the stack
    stopped = amlctl("destroy", "--stack", "local", "--yes-destroy-stack", "local", cwd=root)
    assert stopped.code == 1, stopped.out + stopped.err  # the protected resources stop it
    again = apply(root)
    assert again.code == 0, again.err
    assert "engine was not started" not in again.out and "did not complete" in again.err
    assert amlctl("drift", "--stack", "local", cwd=root).code == 0


def test_a_corrupt_record_or_an_unwritable_state_directory_is_a_clear_error(estate: Path, tmp_path: Path,
                                                                            monkeypatch):
    assert apply(estate).code == 0
    record = estate / ".amlctl" / "local" / "last-applied.json"
    record.write_text('{"digest": "abc", "graph": {"resou')
    for run in (apply(estate), amlctl("preview", "--stack", "local", cwd=estate)):
        assert run.code == 1 and "last-applied.json is not a record amlctl wrote" in run.err, run.err
        assert "internal error" not in run.err and "Traceback" not in run.err
    record.unlink()
    assert apply(estate).code == 0  # the engine's state is the authority: nothing to do, nothing lost

    read_only = tmp_path / "ro"
    read_only.mkdir()
    if os.geteuid() == 0:  # root writes through permissions: a read-only mount is what stops it
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(read_only)],
                                 capture_output=True)
        if mounted.returncode != 0:
            pytest.skip(f"running as root without mount: {mounted.stderr.decode().strip()}")
    else:
        read_only.chmod(0o555)
    try:
        monkeypatch.setenv("AMLCTL_STATE_DIR", str(read_only))
        run = apply(estate)
        assert run.code == 1 and f"cannot write the state directory {read_only}" in run.err, run.err
        assert "internal error" not in run.err and "Traceback" not in run.err
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(read_only)], check=False)


def test_a_torn_checkpoint_says_how_to_recover_and_recover_works(estate: Path):
    assert apply(estate).code == 0
    edit(estate, "manifests/compute.yaml", "max_instances: 2", "max_instances: 3", "scale")
    assert apply(estate).code == 0
    [checkpoint] = (estate / ".amlctl" / "local" / "backend" / ".pulumi" / "stacks").rglob("local.json")
    whole = checkpoint.read_bytes()
    # What a full disk (or a killed write) leaves of the engine's write, injected: on this machine's
    # file systems the pinned engine writes through a temporary file and a rename, so a real full
    # disk (tried on an 8 MB tmpfs) left the previous checkpoint whole, and the next apply converged.
    checkpoint.write_bytes(whole[: len(whole) // 3])
    edit(estate, "manifests/compute.yaml", "max_instances: 3", "max_instances: 4", "scale more")
    refused = apply(estate)
    assert refused.code == 1, refused.err
    assert f"{checkpoint}" in refused.err and "cut short" in refused.err
    assert "amlctl recover --stack local" in refused.err and "Traceback" not in refused.err
    recovered = amlctl("recover", "--stack", "local", cwd=estate)
    assert recovered.code == 0 and "restored the state of stack local" in recovered.out, recovered.err
    assert list(checkpoint.parent.glob("local.json.torn-*")), "the torn file is kept"
    done = apply(estate)
    assert done.code == 0, done.err
    assert '"maxNodeCount": 4' in sim(estate, COMPUTE_DOC).read_text()
    assert amlctl("drift", "--stack", "local", cwd=estate).code == 0


def _backend(root: Path) -> Path:
    return root / ".amlctl" / "local" / "backend" / ".pulumi"


def test_what_a_kill_during_the_engines_write_leaves_is_repaired_and_said(estate: Path):
    """gocloud's file backend writes each file through a temporary file and a rename, but its
    sidecar (<file>.attrs: content type and checksum) in place, truncated then written: a SIGKILL
    between the two (an apply's process group killed as the engine saves a step) leaves it empty,
    and the engine then failed every command with "failed to load checkpoint: EOF"."""
    assert apply(estate).code == 0
    edit(estate, "manifests/compute.yaml", "max_instances: 2", "max_instances: 3", "scale")
    assert apply(estate).code == 0
    [checkpoint] = (_backend(estate) / "stacks").rglob("local.json")
    sidecar = checkpoint.with_name("local.json.attrs")
    history = sorted((_backend(estate) / "history").rglob("*.history.json.attrs"))[-1]
    sidecar.write_bytes(b"")
    history.write_bytes(b'{"user.cache_control":"","us')
    # ... and a lock the killed engine was writing (the engine takes any file there for a lock).
    locks = _backend(estate) / "locks" / "organization" / checkpoint.parent.name / "local"
    locks.mkdir(parents=True, exist_ok=True)
    lock_write = locks / "0c0ffee0-dead-4bad-beef-000000000000.json.18ed5ba104597349.tmp"
    lock_write.write_bytes(b"")
    os.utime(lock_write, (time.time() - 3600, time.time() - 3600))
    edit(estate, "manifests/compute.yaml", "max_instances: 3", "max_instances: 4", "scale more")
    run = apply(estate)
    assert run.code == 0, run.err
    assert f"removed {sidecar}" in run.err and "was empty, left by a kill" in run.err
    assert f"removed {history}" in run.err and "was cut short (" in run.err
    assert f"removed {lock_write}" in run.err and "failed to load checkpoint" not in run.err
    assert '"maxNodeCount": 4' in sim(estate, COMPUTE_DOC).read_text()
    assert json.loads(sidecar.read_text())["md5"], "the engine wrote the sidecar again"
    assert len(amlctl("history", "--stack", "local", "-o", "json", cwd=estate).json()) == 3
    assert amlctl("drift", "--stack", "local", cwd=estate).code == 0


def test_an_empty_checkpoint_beside_the_previous_one_is_put_back_with_a_notice(estate: Path):
    assert apply(estate).code == 0
    edit(estate, "manifests/compute.yaml", "max_instances: 2", "max_instances: 3", "scale")
    assert apply(estate).code == 0
    [checkpoint] = (_backend(estate) / "stacks").rglob("local.json")
    previous = checkpoint.with_name("local.json.bak").read_bytes()
    checkpoint.write_bytes(b"")  # a write that truncated the file and never wrote it
    edit(estate, "manifests/compute.yaml", "max_instances: 3", "max_instances: 4", "scale more")
    run = apply(estate)
    assert run.code == 0, run.err
    assert "restored the state of stack local from local.json.bak" in run.err and "local.json is empty" in run.err
    assert "Nothing of what was saved is lost" in run.err and "failed to load checkpoint" not in run.err
    [torn] = checkpoint.parent.glob("local.json.torn-*")
    assert torn.read_bytes() == b"", "the torn file is kept"
    assert checkpoint.with_name("local.json.bak").read_bytes() != previous  # the engine wrote on from it
    assert '"maxNodeCount": 4' in sim(estate, COMPUTE_DOC).read_text()
    assert amlctl("drift", "--stack", "local", cwd=estate).code == 0


def _background(root: Path, *args: str, slow: str = "", **popen) -> subprocess.Popen:
    env = {**os.environ, "AMLCTL_SIM_SLOW": slow}
    env.pop("AMLCTL_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "controller", *args, "--stack", "local"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _wait(predicate, what: str, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} never happened")


def _holds_lock(root: Path) -> bool:
    import fcntl
    lock = root / ".amlctl" / "local" / "operation.lock"
    if not lock.exists():
        return False
    with open(lock, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return b'"command"' in lock.read_bytes()  # held, and its holder has said who it is
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def test_drift_fix_never_undoes_a_newer_apply_and_a_second_run_is_refused_at_once(estate: Path):
    assert apply(estate).code == 0
    doc = sim(estate, COMPUTE_DOC)
    doc.write_text(doc.read_text().replace('"maxNodeCount": 2', '"maxNodeCount": 9'))  # drift in the portal
    edit(estate, "manifests/compute.yaml", "max_instances: 2", "max_instances: 3", "a newer change")
    fix = _background(estate, "drift", "--fix", slow="mlw-h/compute/cpu:4")  # its update of cpu takes 4 s
    try:
        _wait(lambda: _holds_lock(estate), "drift --fix taking the stack")
        newer = apply(estate)
        assert newer.code == 1 and "another amlctl run is changing stack local" in newer.err, newer.err
        assert "`amlctl drift --fix` (pid" in newer.err and "Traceback" not in newer.err
        out, err = fix.communicate(timeout=300)
    finally:
        if fix.poll() is None:
            fix.kill()
    assert fix.returncode == 0, err
    assert '"maxNodeCount": 2' in doc.read_text()  # drift fixed back to the applied commit
    assert apply(estate).code == 0
    assert '"maxNodeCount": 3' in doc.read_text()
    # Going back behind what the stack applied: refused (a revert is a new commit).
    git(estate, "checkout", "-q", "HEAD~1")
    older = apply(estate)
    assert older.code == 1 and "is older" in older.err and "commit a revert" in older.err, older.err
    git(estate, "checkout", "-q", "main")
    assert '"maxNodeCount": 3' in doc.read_text()


def _engine_processes(root: Path) -> list[int]:
    import psutil
    found = []
    for p in psutil.process_iter():
        try:
            if str(root) in p.environ().get("PULUMI_HOME", ""):
                found.append(p.pid)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("whole_group", [False, True], ids=["amlctl", "its-process-group"])
def test_a_killed_apply_leaves_no_process_behind(estate: Path, whole_group: bool):
    run = _background(estate, "apply", "--yes", slow="mlw-h/compute/cpu:30", start_new_session=True)
    try:
        _wait(lambda: any("pending_operations" in p.read_text() and "compute/cpu" in p.read_text()
                          for p in (estate / ".amlctl" / "local" / "backend").rglob("local.json")),
              "the cluster's create in flight")
        assert _engine_processes(estate), "the engine and its plugins run"
        if whole_group:
            os.killpg(run.pid, signal.SIGKILL)
        else:
            run.send_signal(signal.SIGKILL)
        run.communicate(timeout=30)
        _wait(lambda: not _engine_processes(estate), "the engine and its plugins ending", timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    again = apply(estate)
    assert again.code == 0, again.err
    assert "pending operation(s) left by an interrupted update" in again.err


def test_one_stop_is_one_notice_and_sigterm_before_the_engine_is_130(estate: Path):
    # What `timeout -s INT` does, once the engine's update runs (a fixed delay reached it only on an
    # idle machine): the signal to the process, then to its process group.
    run = _background(estate, "apply", "--yes", slow="mlw-h/compute/cpu:20", start_new_session=True)
    try:
        _wait(lambda: any("pending_operations" in p.read_text() and "compute/cpu" in p.read_text()
                          for p in (estate / ".amlctl" / "local" / "backend").rglob("local.json")),
              "the cluster's create in flight")
        run.send_signal(signal.SIGINT)
        os.killpg(run.pid, signal.SIGINT)
        _, stderr = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, stderr
    assert stderr.count("SIGINT received") == 1 and "received again" not in stderr, stderr
    assert "apply cancelled by SIGINT" in stderr

    early = subprocess.Popen([sys.executable, "-m", "controller", "apply", "--stack", "local", "--yes"], cwd=estate,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def handles_sigterm() -> bool:  # amlctl's handler is in place: the signal is no longer fatal
        status = Path(f"/proc/{early.pid}/status").read_text()
        caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
        return bool(caught & (1 << (signal.SIGTERM - 1)))
    _wait(handles_sigterm, "amlctl handling SIGTERM", timeout=60)
    early.send_signal(signal.SIGTERM)
    _, err = early.communicate(timeout=60)
    assert early.returncode == 130, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err


def _catches(pid: int, signum: int) -> bool:
    """Whether the process has a handler of its own for the signal (/proc/PID/status, SigCgt)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
    return bool(caught & (1 << (signum - 1)))


def test_a_sigterm_while_the_engine_is_starting_stops_it_before_it_starts(estate: Path):
    """The window in which a stop was lost: amlctl is in the engine's `up`, whose supervisor is not
    ready for it yet. The supervisor is frozen there (SIGSTOP) while amlctl gets SIGTERM, then let go."""
    import psutil
    assert apply(estate).code == 0
    for attempt in range(5):  # frozen too late (its handler in place) is another case: run again
        edit(estate, "manifests/compute.yaml", f"max_instances: {2 + attempt}", f"max_instances: {3 + attempt}",
              f"scale {attempt}")
        run = _background(estate, "apply", "--yes")
        try:
            supervisor = None
            while supervisor is None and run.poll() is None:
                for child in psutil.Process(run.pid).children():
                    try:
                        if "--skip-preview" in child.cmdline():  # the engine's up, not its preview
                            child.send_signal(signal.SIGSTOP)
                            supervisor = child
                    except psutil.Error:
                        pass
                time.sleep(0.002)
            assert supervisor is not None, "the apply ended before its engine started"
            if _catches(supervisor.pid, signal.SIGUSR1):
                supervisor.send_signal(signal.SIGCONT)
                run.communicate(timeout=120)
                continue
            run.send_signal(signal.SIGTERM)
            meeting = supervisor.environ().get("AMLCTL_ENGINE_STOPS")
            if meeting:  # amlctl has written the stop down for the supervisor
                _wait(lambda: (Path(meeting) / "stops").exists(), "amlctl handling SIGTERM", timeout=60)
            else:
                time.sleep(2)
            supervisor.send_signal(signal.SIGCONT)
            out, err = run.communicate(timeout=120)
        finally:
            if run.poll() is None:
                run.kill()
        break
    else:
        pytest.fail("never caught the engine's supervisor before its handler was in place")
    assert run.returncode == 130, err
    assert "stopped by SIGTERM before the engine started: nothing was changed" in err and "Traceback" not in err
    [checkpoint] = (_backend(estate) / "stacks").rglob("local.json")
    assert not json.loads(checkpoint.read_text())["checkpoint"]["latest"].get("pending_operations")
    assert not list((_backend(estate) / "locks").rglob("*.json")), "the engine never ran: no lock"
    again = apply(estate)
    assert again.code == 0, again.err
    assert "stale lock" not in again.err and "pending operation" not in again.err  # nothing to recover
    assert amlctl("drift", "--stack", "local", cwd=estate).code == 0


def test_a_stop_that_an_except_swallowed_still_stops_before_the_engine():
    """A stop is recorded before it is raised: a library's `except BaseException` that carries on
    neither starts the engine nor ends the command as if nothing happened."""
    import threading

    from controller.engine import interrupt
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers live in the main thread")
    started = []
    with pytest.raises(interrupt.Stopped, match="stopped by SIGTERM before the engine started"):
        with interrupt.stoppable():
            try:
                signal.raise_signal(signal.SIGTERM)
                time.sleep(0.1)  # the handler runs here
            except BaseException:
                pass  # swallowed
            with pytest.raises(interrupt.Stopped):
                with interrupt.cancellable(None, "apply"):
                    started.append("the engine")
    assert started == []
    assert not interrupt.stopped(), "forgotten once the outermost block ends"


def test_history_is_complete_and_numbered_from_the_first_update_so_blame_is_exact(estate: Path):
    assert apply(estate).code == 0
    first = git(estate, "rev-parse", "HEAD")
    # Ten more updates in the backend's history (refreshes, as `pulumi refresh` records them),
    # written as the file backend writes its history entries: the engine reads them back.
    folder = next((estate / ".amlctl" / "local" / "backend" / ".pulumi" / "history").rglob("*.history.json")).parent
    [entry] = folder.glob("*.history.json")
    stem, stamp = entry.name[: -len(".history.json")].rsplit("-", 1)
    body = json.loads(entry.read_text())
    for i in range(1, 11):
        name = f"{stem}-{int(stamp) + i * 1000}.history.json"
        (folder / name).write_text(json.dumps({**body, "kind": "refresh", "message": f"refresh {i}"}))
    assert len(amlctl("history", "--stack", "local", "-o", "json", cwd=estate).json()) == 11
    edit(estate, "manifests/compute.yaml", "max_instances: 2", "max_instances: 3", "scale")
    assert apply(estate).code == 0
    history = amlctl("history", "--stack", "local", "-o", "json", cwd=estate).json()
    assert [u["version"] for u in history] == list(range(12, 0, -1))
    assert history[-1]["commit"] == first and history[0]["commit"] == git(estate, "rev-parse", "HEAD")
    blame = amlctl("blame", "Compute/cpu", "--stack", "local", cwd=estate)
    assert blame.code == 0, blame.err
    assert "by update #12 " in blame.out and "by update #1 " in blame.out, blame.out


def test_a_tag_added_in_the_portal_is_drift_and_a_never_applied_stack_has_nothing_to_compare(estate: Path):
    never = amlctl("drift", "--stack", "local", cwd=estate)
    assert never.code == 1 and "has never been applied" in never.err and "No drift" not in never.out, never.out
    assert apply(estate).code == 0
    doc = sim(estate, "workspaces/mlw-h.json")
    body = json.loads(doc.read_text())
    body["properties"]["tags"]["owner"] = "someone-in-the-portal"
    doc.write_text(json.dumps(body))
    drift = amlctl("drift", "--stack", "local", "-o", "json", cwd=estate)
    assert drift.code == 2, drift.out + drift.err
    [workspace] = [d for d in drift.json()["drifted"] if d["name"] == "workspace/mlw-h"]
    assert any(c["path"] == "tags.owner" and c["cloud"] == "someone-in-the-portal" and c["git"] is None
               for c in workspace["changes"]), workspace
    fixed = amlctl("drift", "--stack", "local", "--fix", cwd=estate)
    assert fixed.code == 0 and "tags.owner" in fixed.out, fixed.out  # said, then removed
    assert "someone-in-the-portal" not in doc.read_text()


def test_an_apply_outside_git_says_it_records_no_commit(estate: Path):
    import shutil
    shutil.rmtree(estate / ".git")
    run = apply(estate)
    assert run.code == 0, run.err
    assert "is not a git repository with a commit: this update records no commit" in run.err
    [update] = amlctl("history", "--stack", "local", "-o", "json", cwd=estate).json()
    assert update["commit"] is None


BAD_STACK_NAMES = ["..", ".", "-sother", "--yes", "../../tmp/x", "a/b", ".hidden", "x y", "é", "n" * 101, ""]


def test_a_stack_name_that_cannot_be_a_stack_is_a_usage_error_and_touches_nothing(tmp_path: Path):
    root = tmp_path / "repo"
    (root / "stacks").mkdir(parents=True)
    (root / "manifests").mkdir()
    (root / "manifests" / "workspace.yaml").write_text(WORKSPACE)
    (root / "stacks" / "Pulumi.local.yaml").write_text(STACK)
    git(root, "init", "-q", "-b", "main")
    # Every name with the command that writes state; the two that escaped, with every command.
    runs = [(("apply", "--yes"), name) for name in BAD_STACK_NAMES]
    runs += [(command, name) for name in ("..", "-sother") for command in
             [("plan",), ("drift",), ("history",), ("render",), ("destroy", "--yes-destroy-stack", name),
              ("pulumi", "--", "stack", "ls"), ("recover",)]]
    for command, name in runs:
        run = amlctl(command[0], "--stack", name, *command[1:], cwd=root)
        assert run.code == 2, (command, name, run.out, run.err)
        assert "is not a stack name" in run.err or (name == "" and "Error" in run.err), (name, run.err)
        assert "Traceback" not in run.err and "internal error" not in run.err
    assert sorted(p.name for p in root.iterdir()) == [".git", "manifests", "stacks"]  # nothing written
    assert not (tmp_path / "tmp").exists()


def test_the_state_directory_of_a_bad_name_is_refused_by_the_api_too(tmp_path: Path):
    from controller.engine import state
    for name in BAD_STACK_NAMES:
        with pytest.raises(state.StateError, match="not a stack name"):
            state.state_dir(tmp_path, name)
    assert state.state_dir(tmp_path, "prod-eu_2.a") == tmp_path / ".amlctl" / "prod-eu_2.a"
