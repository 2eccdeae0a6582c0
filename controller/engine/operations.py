"""preview and apply through the Pulumi Automation API, with the rendered graph as an inline program.

    render (working tree) -> [unchanged since the last apply? stop] -> safety checks -> engine

State lives under `<repo>/.amlctl/<stack>/` (git-ignored) unless $AMLCTL_STATE_DIR says otherwise:
`backend/` (Pulumi's file backend), `home/` (PULUMI_HOME), `sim/` (the local target's simulated
resources) and `last-applied.json` (the digest and graph of the last successful apply, which lets
an unchanged apply return without starting the engine).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from controller import gitrev
from controller import plan as P
from controller.engine.binary import Engine, find_engine
from controller.plan import archive
from controller.render.graph import Graph
from controller.revisions import render_stack


class Refused(Exception):
    """An apply that the safety rules stop before the engine starts."""


class Cancelled(Exception):
    """The update was stopped by a signal; the engine finished what was in flight and saved its state."""


class Reporter(Protocol):
    """Where operations say what happens: notices (recoveries, cancellation) and the engine's events."""

    def notice(self, message: str) -> None: ...

    def event(self, event: Any) -> None: ...  # a pulumi.automation.events.EngineEvent


class _Silent:
    def notice(self, message: str) -> None:
        pass

    def event(self, event: Any) -> None:
        pass


@dataclass
class Outcome:
    started_engine: bool
    changes: dict[str, int] = field(default_factory=dict)  # op -> count, from the engine
    plan: P.Plan | None = None
    message: str = ""


def state_dir(root: Path, stack: str) -> Path:
    from controller.stacks import StackNameError, check_name
    try:
        check_name(stack)  # the name becomes a path here: never '..' or an option to the engine
    except StackNameError as exc:
        raise Refused(str(exc)) from None
    base = Path(os.environ["AMLCTL_STATE_DIR"]) if os.environ.get("AMLCTL_STATE_DIR") else root / ".amlctl"
    return base / stack


def last_applied(root: Path, stack: str) -> Graph | None:
    path = state_dir(root, stack) / "last-applied.json"
    if not path.exists():
        return None
    return Graph.from_dict(json.loads(path.read_text(encoding="utf-8"))["graph"])


def _record(root: Path, stack: str, graph: Graph, commit: str | None) -> None:
    path = state_dir(root, stack) / "last-applied.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"digest": graph.digest(), "commit": commit, "graph": graph.to_dict()}, sort_keys=True),
                   encoding="utf-8")
    tmp.replace(path)  # atomic: a crash leaves the previous record, never half of one


def _env(root: Path, stack: str, target: str = "local") -> dict[str, str]:
    # One PULUMI_HOME for all stacks: plugins (azure-native is large) are downloaded once.
    home = state_dir(root, stack).parent / ".pulumi-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PULUMI_HOME": str(home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # The local target needs no plugin beyond the Python language host; the Azure target
        # fetches the azure-native plugin version the installed SDK asks for.
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true" if target == "local" else "false",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
        "PULUMI_PYTHON_CMD": sys.executable,
    }
    # The passphrase provider: teams set PULUMI_CONFIG_PASSPHRASE (or use Azure Key Vault as the
    # stack's secrets provider); the example's local stack uses an empty one.
    env["PULUMI_CONFIG_PASSPHRASE"] = os.environ.get("PULUMI_CONFIG_PASSPHRASE", "")
    return env


class NeverApplied(Exception):
    """A read-only command on a stack the backend does not have yet."""


def open_stack(root: Path, stack: str, graph: Graph, engine: Engine, *, create: bool = True,
               tree: Path | None = None, secrets_provider: str | None = None):
    """The stack in the backend. Read-only commands pass create=False: creating a stack makes
    Pulumi write a new encryption salt into the stack file, a change nobody asked for. `tree`
    is where the program finds the files it uploads (a past revision's, for drift)."""
    from pulumi import automation as auto

    from controller.program import azure_provider, build
    sd = state_dir(root, stack)
    backend = os.environ.get("AMLCTL_BACKEND_URL") or f"file://{sd / 'backend'}"
    if backend.startswith("file://"):
        Path(backend[len("file://"):]).mkdir(parents=True, exist_ok=True)
    target = graph.settings.get("target", "azure")

    def program() -> None:
        if target == "local":
            from controller.engine import local
            sub = graph.settings.get("subscriptionId")
            build(graph, tree or root, classes=local.classes(sd / "sim", subscription=sub),
                  client_config=lambda f: local.client_config(sub)[f], secret_reader=local.key_vault_secret,
                  latest_reader=local.latest_reader(sd / "sim"))
        else:
            build(graph, tree or root, provider=azure_provider(graph))

    # The engine works in a project folder of amlctl's own under the state directory: inline
    # programs need no `main`, and the repository's files are never rewritten. Stack settings are
    # the repository's stacks/Pulumi.<stack>.yaml, reached through the project's stack folder.
    work = sd / "project"
    work.mkdir(parents=True, exist_ok=True)
    settings = auto.ProjectSettings(name=_project_name(root), runtime="python",
                                    config=os.path.relpath(root / "stacks", work),
                                    backend=auto.ProjectBackend(url=backend))
    command = auto.PulumiCommand(root=str(engine.root))
    opts = auto.LocalWorkspaceOptions(work_dir=str(work), pulumi_command=command,
                                      env_vars=_env(root, stack, target), project_settings=settings,
                                      secrets_provider=secrets_provider)  # used when the stack is created
    if create:
        return auto.create_or_select_stack(stack_name=stack, project_name=settings.name, program=program, opts=opts)
    try:
        return auto.select_stack(stack_name=stack, project_name=settings.name, program=program, opts=opts)
    except auto.errors.StackNotFoundError:
        raise NeverApplied(f"stack {stack} has never been applied (the backend has no such stack)") from None


def _secrets_config(root: Path, stack: str) -> str | None:
    """The stack file's secrets provider: its `secretsprovider`, "passphrase" when it has an
    `encryptionsalt`, None when it has neither."""
    import yaml
    doc = yaml.safe_load((root / "stacks" / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")) or {}
    return doc.get("secretsprovider") or ("passphrase" if doc.get("encryptionsalt") else None)


def _check_secrets_setup(root: Path, stack: str, target: str) -> None:
    """A stack file without a secrets configuration gets one written by Pulumi when the stack is
    created: on a CI runner that is a new salt each time, lost with the runner. Refuse, and say
    how to set it up once and commit it."""
    import yaml
    try:
        if target == "local" or _secrets_config(root, stack):
            return
    except (OSError, yaml.YAMLError):
        return  # validation reports an unreadable stack file
    raise Refused(
        f"stacks/Pulumi.{stack}.yaml has no secrets configuration (secretsprovider or encryptionsalt). Set it up "
        f"once and commit it: amlctl secrets-provider --stack {stack} azurekeyvault://VAULT.vault.azure.net/keys/KEY "
        f"(teams), or, with PULUMI_CONFIG_PASSPHRASE set, amlctl secrets-provider --stack {stack} passphrase")


def _project_name(root: Path) -> str:
    # Read by the safe loader manifests use: a broken or alias-bombed Pulumi.yaml is refused with
    # its line, not a hang or a traceback.
    from controller.manifests.project import ProjectError, project_name
    try:
        return project_name(root)
    except ProjectError as exc:
        raise Refused(f"{exc} (the project file names the engine's project)") from None


def _render(root: Path, stack: str) -> Graph:
    return _rendered(root, stack).graph  # type: ignore[return-value]


def _rendered(root: Path, stack: str):
    side = render_stack(root, stack)
    if side.graph is None:
        problems = "\n".join(d.format() for d in side.diagnostics if d.severity.value == "error")
        raise Refused(f"the manifests do not render for stack {stack}:\n{problems}")
    # Versions superseded since the last apply stay, archived, when the stack says so.
    return replace(side, graph=archive.carry(last_applied(root, stack), side.graph))


def preview(root: Path, stack: str, report: Reporter | None = None) -> Outcome:
    """The engine's preview, as a Plan: its state, not the last applied graph, is the base."""
    report = report or _Silent()
    graph = _render(root, stack)
    _check_secrets_setup(root, stack, graph.settings.get("target", "azure"))
    st = open_stack(root, stack, graph, find_engine())
    plan, changes = _engine_plan(root, stack, st, graph, report.event)
    return Outcome(True, changes, plan, "preview")


def _engine_plan(root: Path, stack: str, st, graph: Graph, on_event=None) -> tuple[P.Plan, dict[str, int]]:
    """The engine's preview of `graph`, in plan's terms, and its change summary."""
    from pulumi.automation import events as ev

    from controller.plan.steps import Step, from_steps
    types = {r.name: r.type for r in graph.resources}
    steps: list[Step] = []

    def event(e: ev.EngineEvent) -> None:
        if on_event is not None:
            on_event(e)
        pre = e.resource_pre_event
        if pre is None or pre.metadata.type == "pulumi:pulumi:Stack":
            return
        m = pre.metadata
        name = _graph_name(m.urn)
        op = str(m.op.value)
        if op == "delete" and m.old is not None and getattr(m.old, "retain_on_delete", False):
            op = "discard"  # the engine previews a retain-on-delete removal as a delete; it only forgets it
        steps.append(Step(op, name, types.get(name, m.type),
                          m.old.inputs if m.old else None, m.new.inputs if m.new else None))

    result = st.preview(on_event=event, diff=True, color="never")
    changes = {k: v for k, v in result.change_summary.items() if k != "same"}
    return from_steps(stack, graph, steps, last_applied(root, stack)), changes


class Declined(Exception):
    """The person at the terminal said no to the plan: nothing was changed."""


def apply(root: Path, stack: str, *, allow_delete: bool = False, allow_dirty: bool = False,
          report: Reporter | None = None, confirm: Callable[[P.Plan], bool] | None = None) -> Outcome:
    """`confirm` sees the engine's plan once every check has passed, and may decline it."""
    report = report or _Silent()
    side = _rendered(root, stack)
    graph = side.graph
    commit = None
    dirty = False
    if gitrev.is_repository(root):
        # Every file the render read: the manifest folders, stacks/, and what manifests refer to
        # wherever it lives (a code folder in data-science/, a conda file beside the project).
        changed = gitrev.dirty_paths(root, list(side.reads))
        dirty = bool(changed)
        if dirty and not allow_dirty:
            shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            raise Refused(f"the working tree has uncommitted changes in files this stack is rendered from ({shown}): "
                          "commit them (git history is the audit trail), or pass --allow-dirty")
        try:
            commit = gitrev.commit_info(root, "HEAD")
        except gitrev.GitError:
            commit = None
    before = last_applied(root, stack)
    if before is not None and before.digest() == graph.digest():
        return Outcome(False, {}, None, "no changes: the rendered graph equals the last applied one "
                                        "(the engine was not started)")
    plan = P.diff(before, graph)
    if plan.errors:  # what `plan` reports as errors (a changed existing version, an orphaned deployment)
        raise Refused("the change cannot be applied as it is:\n" + "\n".join(d.format() for d in plan.errors))
    protected = P.refused(plan)  # one rule with `plan`, which says so in its summary and exits 1
    if protected:
        raise Refused("refusing to delete or replace protected resources: " + ", ".join(c.name for c in protected))
    deletes = P.needs_allow_delete(plan)
    if deletes and not allow_delete:
        raise Refused(f"the change deletes or replaces {len(deletes)} resource(s) ("
                      + ", ".join(c.name for c in deletes[:5]) + ("..." if len(deletes) > 5 else "")
                      + "): pass --allow-delete to go ahead")
    _check_secrets_setup(root, stack, graph.settings.get("target", "azure"))
    engine = find_engine()
    st = open_stack(root, stack, graph, engine)
    _recover(root, stack, st, report)
    # The engine's own preview is the authority (the record above may be missing or stale).
    engine_plan, steps = _engine_plan(root, stack, st, graph)
    # A retain-on-delete resource leaving the program (an asset version, a past run) stays in
    # Azure: the engine only forgets it, so it is no delete (engine_plan counts it as kept).
    engine_deletes = [c.name for c in P.needs_allow_delete(engine_plan)]
    if engine_deletes and not allow_delete:
        raise Refused(f"the engine's preview deletes or replaces {len(engine_deletes)} resource(s) ("
                      + ", ".join(engine_deletes[:5]) + ("..." if len(engine_deletes) > 5 else "")
                      + f"; {steps}): pass --allow-delete to go ahead")
    if confirm is not None and not confirm(engine_plan):
        raise Declined(f"apply of stack {stack} declined: nothing was changed")
    # A working tree with uncommitted changes is not the commit: say so, so that drift and
    # blame never take that update for the commit's.
    rev = f"{commit['commit'][:12]}{DIRTY if dirty else ''}" if commit else ""
    message = "amlctl apply" + (f" {rev}: {commit['subject']} ({commit['author']})" if commit else "")
    with _cancellable(engine, report, "apply"):
        result = st.up(on_event=report.event, message=message, color="never")
    _record(root, stack, graph, commit["commit"] if commit and not dirty else None)
    changes = {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}
    return Outcome(True, changes, plan, message)


# -- history, destroy (drift is controller.engine.drift) ----------------------------------------------
DIRTY = "+dirty"  # marks an apply of uncommitted changes in its message: "amlctl apply <sha>+dirty: ..."


def _graph_name(urn: str) -> str:
    return urn.split("::")[-1]


def _message_rev(message: str) -> tuple[str, str | None, bool]:
    """What amlctl's own update message says was applied: (command, revision, dirty). Messages
    are "amlctl apply <sha>[+dirty]: <subject> (<author>)" and "amlctl drift --fix [<sha>]";
    anything else gives ("", None, False)."""
    words = message.split()
    if words[:3] == ["amlctl", "drift", "--fix"]:
        return "drift --fix", (words[3] if len(words) > 3 else None), False
    if words[:2] == ["amlctl", "apply"] and len(words) > 2:
        rev = words[2].rstrip(":")
        return "apply", rev.removesuffix(DIRTY), rev.endswith(DIRTY)
    return "", None, False


def _applied_commit(root: Path, st) -> str | None:
    """The commit the last successful update applied: from amlctl's own update message (a
    `drift --fix` re-applies an older commit than the checkout's), else the engine's git.head."""
    for u in st.history():
        if u.result != "succeeded" or u.kind != "update":
            continue
        command, rev, dirty = _message_rev(u.message or "")
        if dirty:
            return None  # uncommitted changes: no commit has what was applied
        if command == "drift --fix" and rev:
            return rev
        head = (u.environment or {}).get("git.head")
        if head or not rev:
            return head or None
        try:
            return gitrev.resolve(root, rev)
        except gitrev.GitError:
            return None
    return None


@dataclass(frozen=True)
class Update:
    version: int
    kind: str
    result: str
    started: str
    message: str
    changes: dict
    commit: str | None
    author: str | None
    subject: str | None = None  # the commit's subject line
    dirty: bool = False  # applied with uncommitted changes (--allow-dirty): not exactly the commit


def history(root: Path, stack: str) -> list[Update]:
    """Each past update of the stack, newest first, joined with git log through its commit."""
    graph = _render(root, stack)
    try:
        st = open_stack(root, stack, graph, find_engine(), create=False)
    except NeverApplied:
        return []
    out = []
    past = st.history()
    for i, u in enumerate(past):
        commit = author = subject = None
        msg = u.message or ""
        command, rev, dirty = _message_rev(msg)
        # The engine records the checkout's git metadata (git.head, git.author) when its project
        # folder is inside the repository, which is the default; the message carries it anyway.
        short = (u.environment or {}).get("git.head") or (rev if command == "apply" else None)
        if short:
            try:
                info = gitrev.commit_info(root, short)
                commit, author, subject = info["commit"], info["author"], info["subject"]
            except gitrev.GitError:
                commit = short
        # The file backend numbers no updates (version 0); number them from the oldest, as others do.
        out.append(Update(u.version or len(past) - i, u.kind, u.result, str(u.start_time), msg, dict(u.resource_changes or {}),
                          commit, author, subject, dirty))
    return out


def destroy(root: Path, stack: str, report: Reporter | None = None) -> Outcome:
    report = report or _Silent()
    graph = _render(root, stack)
    engine = find_engine()
    try:
        st = open_stack(root, stack, graph, engine, create=False)
    except NeverApplied as exc:
        report.notice(f"{exc}: nothing to destroy")
        return Outcome(False, {}, None, "nothing to destroy")
    _recover(root, stack, st, report)
    with _cancellable(engine, report, "destroy"):
        result = st.destroy(on_event=report.event, color="never", message=f"amlctl destroy {stack}")
    record = state_dir(root, stack) / "last-applied.json"
    if record.exists():
        record.unlink()
    return Outcome(True, {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"})


# -- interruption: cancel cleanly, recover what a hard stop leaves ---------------------------------
@contextmanager
def _cancellable(engine, report: Reporter, what: str) -> Iterator[None]:
    """Turn SIGTERM into the engine's own cancel.

    CI systems stop a job with SIGTERM, then SIGKILL after a grace period. A killed engine leaves
    pending operations and a held lock. An interrupt is the engine's cancel: it starts nothing new,
    waits for the operations in flight, saves the state and releases the lock. So SIGTERM is passed
    on as an interrupt; a second one is passed on too, which the engine takes as "stop now" (what
    that leaves, `_recover` clears on the next run). SIGINT from a terminal already reached the
    engine (same process group): it is only noted, so that Ctrl-C does not become a hard stop.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers live in the main thread; library callers on other threads opt out
        return
    import psutil
    from pulumi.automation import errors as auto_errors

    received: list[str] = []

    def forward(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        received.append(name)
        if signum == signal.SIGTERM:
            for child in psutil.Process().children():
                try:
                    if Path(child.exe()).resolve() == engine.binary.resolve():
                        child.send_signal(signal.SIGINT)
                except psutil.Error:
                    pass
        if len(received) == 1:
            report.notice(f"{name} received: the engine finishes the operations in flight, saves the state "
                          "and stops (a second signal stops it at once)")
        else:
            report.notice(f"{name} received again: the engine stops now; the next run clears what it leaves")

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except auto_errors.CommandError as exc:
        if received:
            raise Cancelled(f"{what} cancelled by {received[0]}: nothing new was started, and the engine saved the "
                            "state of what it had done; run it again to finish") from exc
        raise
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _recover(root: Path, stack: str, st, report: Reporter) -> None:
    """Clear what a hard stop (SIGKILL, a lost runner) left, and say so: a stale lock of the file
    backend, then the pending operations in the state."""
    if _clear_stale_locks(root, stack, report) == "held":
        return  # a live update holds the lock: its pending operations are its own; up will say who
    deployment = st.export_stack()
    pending = deployment.deployment.get("pending_operations") or []
    if not pending:
        return
    listed = ", ".join(f"{p.get('type', '?')} {_graph_name(p.get('resource', {}).get('urn', '?'))}" for p in pending)
    deployment.deployment["pending_operations"] = []
    st.import_stack(deployment)
    report.notice(f"cleared {len(pending)} pending operation(s) left by an interrupted update: {listed}. The "
                  "engine does them again now: a create or update is a PUT, which ARM (and the simulation) "
                  "treat as an upsert; on Azure a create that did complete may be reported as already existing: "
                  "adopt it with `pulumi import` (see the README's runbook)")


def _clear_stale_locks(root: Path, stack: str, report: Reporter) -> str:
    """Remove file-backend locks whose process is gone (same host, pid not running). Returns
    "held" when a live lock remains, else "free". Other backends keep their own locks."""
    backend = os.environ.get("AMLCTL_BACKEND_URL") or f"file://{state_dir(root, stack) / 'backend'}"
    if not backend.startswith("file://"):
        return "free"
    held = False
    for lock in Path(backend[len("file://"):]).glob(f".pulumi/locks/*/*/{stack}/*.json"):
        try:
            info = json.loads(lock.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        pid, host = info.get("pid"), info.get("hostname")
        if host == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
            lock.unlink(missing_ok=True)
            lock.with_name(lock.name + ".attrs").unlink(missing_ok=True)
            report.notice(f"removed a stale lock of stack {stack}: pid {pid} on {host} "
                          f"(since {info.get('timestamp', '?')}) is no longer running")
        else:
            held = True
    return "held" if held else "free"


def _alive(pid: int) -> bool:
    import psutil
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # a zombie holds nothing
    except psutil.NoSuchProcess:
        return False


KEY_PROVIDERS = ("azurekeyvault://", "awskms://", "gcpkms://", "hashivault://")


def setup_secrets(root: Path, stack: str, provider: str = "passphrase") -> str:
    """Give the stack its secrets configuration, written into its stack file for the caller to
    commit. A passphrase comes from $PULUMI_CONFIG_PASSPHRASE: Pulumi's own `change-secrets-provider
    passphrase` prompts for it, and without a terminal silently takes an empty one."""
    import subprocess

    if provider != "passphrase" and not provider.startswith(KEY_PROVIDERS):
        raise Refused(f"unknown secrets provider {provider!r}: passphrase, or a key URL starting "
                      + ", ".join(KEY_PROVIDERS))
    graph = _render(root, stack)
    was = _secrets_config(root, stack)
    if was == provider:
        return f"stack {stack} already uses {provider}: nothing to do"
    if provider == "passphrase":
        if was:
            raise Refused(f"stack {stack} uses {was}. Moving it to a passphrase needs Pulumi's prompt, on a terminal: "
                          f"amlctl pulumi --stack {stack} -- stack change-secrets-provider passphrase")
        if not os.environ.get("PULUMI_CONFIG_PASSPHRASE") and graph.settings.get("target") != "local":
            raise Refused("set PULUMI_CONFIG_PASSPHRASE to the passphrase CI will keep as a secret (an empty one "
                          "protects nothing), then run this again")
    engine = find_engine()
    try:
        st = open_stack(root, stack, graph, engine, create=False)
    except NeverApplied:
        # A new stack: created with the provider, Pulumi writes its settings into the stack file.
        open_stack(root, stack, graph, engine, secrets_provider=None if provider == "passphrase" else provider)
    else:
        if was is None and provider == "passphrase":
            raise Refused(f"stack {stack} exists in the backend but its stack file has no secrets configuration "
                          "(was it lost?): restore it from git history")
        env = {**os.environ, **_env(root, stack, graph.settings.get("target", "azure"))}
        done = subprocess.run([str(engine.binary), "stack", "change-secrets-provider", provider, "--stack", st.name,
                               "--non-interactive"], cwd=state_dir(root, stack) / "project", env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise Refused(f"the engine could not change the secrets provider: {done.stderr.strip()}")
    now = _secrets_config(root, stack)
    if now != provider:
        raise Refused(f"the stack file still says {now or 'nothing'} about secrets; nothing was changed")
    return f"stack {stack} now uses {provider}: commit stacks/Pulumi.{stack}.yaml"


def passthrough(root: Path, stack: str, args: list[str]) -> int:
    """The Pulumi CLI in amlctl's project folder for the stack, with its environment (backend,
    PULUMI_HOME, passphrase), selecting the stack. Output goes straight to the terminal."""
    import subprocess
    graph = _render(root, stack)
    engine = find_engine()
    st = open_stack(root, stack, graph, engine)  # creates the project folder and selects the stack
    env = {**os.environ, **_env(root, stack), "PATH": os.pathsep.join([str(engine.binary.parent),
                                                                        os.environ.get("PATH", "")])}
    env.pop("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", None)  # `import` may need azure-native's plugin
    # Commands about the engine itself take no --stack (and reject one).
    stackless = bool(args) and args[0] in ("plugin", "version", "about", "whoami", "login", "logout", "help")
    return subprocess.run([str(engine.binary), *args, *([] if stackless else ["--stack", st.name])],
                          cwd=state_dir(root, stack) / "project", env=env).returncode
