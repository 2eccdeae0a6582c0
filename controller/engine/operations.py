"""preview, apply and destroy through the Pulumi Automation API, with the rendered graph as an
inline program.

    render (working tree) -> [the last operation was a complete apply of this graph? stop]
                          -> safety checks -> engine (under controller.engine.supervise)

State lives under `<repo>/.amlctl/<stack>/` (git-ignored) unless $AMLCTL_STATE_DIR says otherwise:
`backend/` (Pulumi's file backend), `project/` (the engine's work folder), `sim/` (the local
target's simulated resources), `last-applied.json` and `operation.lock` (controller.engine.state).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from controller import gitrev
from controller import plan as P
from controller.engine import checkpoint, history as H, interrupt, moves, rollouts, state, supervise
from controller.engine.binary import Engine, find_engine
from controller.engine.history import DIRTY, Update  # noqa: F401  (re-exported: the CLI's types)
from controller.engine.interrupt import Cancelled  # noqa: F401  (re-exported)
from controller.engine.state import StateError, last_applied, state_dir  # noqa: F401  (re-exported)
from controller.plan import archive
from controller.render.graph import Graph
from controller.revisions import render_stack


class Refused(Exception):
    """An apply that the safety rules stop before the engine starts."""


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
    waiting: tuple = ()  # controller.runs.Waiting: what waits for a run to complete
    rollouts: tuple = ()  # controller.rollout.Report: where each endpoint's release stands

    @property
    def failed_release(self) -> bool:
        return any(r.failed for r in self.rollouts)


def _env(root: Path, stack: str, target: str = "local") -> dict[str, str]:
    # One PULUMI_HOME for all stacks: plugins (azure-native is large) are downloaded once.
    home = state.make_dir(state_dir(root, stack).parent / ".pulumi-home")
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


def backend_url(root: Path, stack: str) -> str:
    return os.environ.get("AMLCTL_BACKEND_URL") or f"file://{state_dir(root, stack) / 'backend'}"


class NeverApplied(Exception):
    """A read-only command on a stack the backend does not have yet."""


def open_stack(root: Path, stack: str, graph: Graph, engine: Engine, *, create: bool = True,
               tree: Path | None = None, secrets_provider: str | None = None,
               program: Callable[[], Any] | None = None):
    """The stack in the backend. Read-only commands pass create=False: creating a stack makes
    Pulumi write a new encryption salt into the stack file, a change nobody asked for. `tree`
    is where the program finds the files it uploads (a past revision's, for drift). `program`
    replaces the registration of `graph` (plain Pulumi's entry, run inline, for instance)."""
    from pulumi import automation as auto

    sd = state_dir(root, stack)
    backend = backend_url(root, stack)
    if state.file_backend(backend) is not None:
        state.make_dir(state.file_backend(backend))
    work = state.make_dir(sd / "project")
    project = _project_name(root)
    checkpoint.check(backend, project, stack)  # a torn checkpoint: say how to recover, before the engine fails
    target = graph.settings.get("target", "azure")

    def registered() -> None:
        # The same registration as plain Pulumi's entry (controller.program.entry), on the graph
        # amlctl has settled and rolled for this operation.
        from controller.program import entry
        entry.register(graph, root, state.sim_dir(root, stack), tree)

    run = program or registered

    # The engine works in a project folder of amlctl's own under the state directory: inline
    # programs need no `main`, and the repository's files are never rewritten. Stack settings are
    # the repository's stacks/Pulumi.<stack>.yaml, reached through the project's stack folder.
    settings = auto.ProjectSettings(name=project, runtime="python",
                                    config=os.path.relpath(root / "stacks", work),
                                    backend=auto.ProjectBackend(url=backend))
    command = supervise.pulumi_command(engine.binary, sd.parent / ".engine")
    opts = auto.LocalWorkspaceOptions(work_dir=str(work), pulumi_command=command,
                                      env_vars=_env(root, stack, target), project_settings=settings,
                                      secrets_provider=secrets_provider)  # used when the stack is created
    if create:
        return auto.create_or_select_stack(stack_name=stack, project_name=settings.name, program=run, opts=opts)
    try:
        return auto.select_stack(stack_name=stack, project_name=settings.name, program=run, opts=opts)
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


def _stack_only(root: Path, stack: str) -> Graph:
    """A graph with the stack's settings and no resources: for the commands that set a stack up
    (`secrets-provider`, `pulumi -- config set --secret ...`), which must work while the manifests
    do not render yet, above all when they do not because a secret is not set."""
    from controller.stacks import load_stack
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    loaded, diags = load_stack(path, f"stacks/{path.name}")
    if loaded is None:
        raise Refused(f"stack {stack} cannot be read:\n" + "\n".join(d.format() for d in diags))
    return Graph(stack, (), {k: v for k, v in loaded.settings.items() if k in ("target", "subscriptionId")})


def _rendered(root: Path, stack: str, before: Graph | None):
    """The working tree's render of the stack; `before` is the last applied graph."""
    side = render_stack(root, stack)
    if side.graph is None:
        problems = "\n".join(d.format() for d in side.diagnostics if d.severity.value == "error")
        raise Refused(f"the manifests do not render for stack {stack}:\n{problems}")
    # Versions superseded since the last apply stay, archived, when the stack says so.
    return replace(side, graph=archive.carry(before, side.graph))


def _settled(root: Path, stack: str, graph: Graph, before: Graph | None, report: Reporter):
    """The graph with each run's output filled in where the run has completed; what waits for a
    run (controller.runs) keeps what was last applied or waits for a later apply."""
    from controller import runs
    from controller.runs import target
    if not runs.runs_of(graph):
        return graph, ()
    read = target.reader(graph, state.sim_dir(root, stack))

    def safe(r, body):
        try:
            return read(r, body)
        except Exception as e:  # no answer is no reason to hold back the rest of the update
            report.notice(f"cannot read the status of run {r.name}: {e}")
            return runs.Outcome("unknown")
    settled = runs.settle(graph, runs.read(graph, safe), before)
    return settled.graph, settled.waiting


def preview(root: Path, stack: str, report: Reporter | None = None) -> Outcome:
    """The engine's preview, as a Plan: its state, not the last applied graph, is the base."""
    report = report or _Silent()
    before = last_applied(root, stack)
    graph = _rendered(root, stack, before).graph
    graph, waiting = _settled(root, stack, graph, before, report)
    rolled = rollouts.roll(root, stack, graph)
    graph = rolled.graph
    _check_secrets_setup(root, stack, graph.settings.get("target", "azure"))
    st = open_stack(root, stack, graph, find_engine())
    moves.apply(st, graph, report)  # the state only, the same Azure resources: as apply would
    plan, changes = _engine_plan(stack, st, graph, before, report.event)
    return Outcome(True, changes, rollouts.label(plan, rolled), "preview", waiting, rolled.reports)


def _engine_plan(stack: str, st, graph: Graph, before: Graph | None,
                 on_event=None) -> tuple[P.Plan, dict[str, int]]:
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
        name = H.graph_name(m.urn)
        op = str(m.op.value)
        if op == "delete" and m.old is not None and getattr(m.old, "retain_on_delete", False):
            op = "discard"  # the engine previews a retain-on-delete removal as a delete; it only forgets it
        steps.append(Step(op, name, types.get(name, m.type),
                          m.old.inputs if m.old else None, m.new.inputs if m.new else None))

    result = st.preview(on_event=event, diff=True, color="never")
    changes = {k: v for k, v in result.change_summary.items() if k != "same"}
    return from_steps(stack, graph, steps, before), changes


class Declined(Exception):
    """The person at the terminal said no to the plan: nothing was changed."""


def apply(root: Path, stack: str, *, allow_delete: bool = False, allow_dirty: bool = False,
          report: Reporter | None = None, confirm: Callable[[P.Plan], bool] | None = None,
          decisions: Mapping[str, str] | None = None, only_rollouts: bool = False) -> Outcome:
    """`confirm` sees the engine's plan once every check has passed, and may decline it.
    `decisions` steer releases (controller.rollout.decide: promote, abort, retry, by endpoint node
    or "*"); `only_rollouts` refuses a plan that changes anything but the endpoints' releases (what
    `amlctl rollout` runs must not apply a merged change on the side)."""
    report = report or _Silent()
    with state.exclusive(root, stack, "apply"):
        return _apply(root, stack, allow_delete, allow_dirty, report, confirm, decisions, only_rollouts)


def _apply(root: Path, stack: str, allow_delete: bool, allow_dirty: bool, report: Reporter,
           confirm: Callable[[P.Plan], bool] | None, decisions: Mapping[str, str] | None = None,
           only_rollouts: bool = False) -> Outcome:
    record = state.read(root, stack)  # read once: the shortcut, the plan's base, archived versions
    before = state.applied_graph(root, stack, record)
    side = _rendered(root, stack, before)
    graph, waiting = _settled(root, stack, side.graph, before, report)
    rolled = rollouts.roll(root, stack, graph, decisions=decisions)
    graph = rolled.graph
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
    if commit is None:
        report.notice(f"{root} is not a git repository with a commit: this update records no commit, so history, "
                      "blame and drift cannot tie it to one")
    if record is not None and record.unchanged(graph):
        return Outcome(False, {}, None, "no changes: the rendered graph equals the last applied one "
                                        "(the engine was not started)", waiting, rolled.reports)
    if record is not None and record.status != state.SUCCEEDED:
        report.notice(f"the last {record.operation} of stack {stack} (started {record.at}) did not complete: "
                      "the engine compares its state with the manifests")
    plan = P.diff(before, graph)
    if plan.errors:  # what `plan` reports as errors (a changed existing version, an orphaned deployment)
        raise Refused("the change cannot be applied as it is:\n" + "\n".join(d.format() for d in plan.errors))
    protected = P.refused(plan)  # one rule with `plan`, which says so in its summary and exits 1
    if protected:
        raise Refused("refusing to delete or replace protected resources: " + ", ".join(c.name for c in protected))
    deletes = rollouts.deletes(P.needs_allow_delete(plan), rolled)
    if deletes and not allow_delete:
        raise Refused(f"the change deletes or replaces {len(deletes)} resource(s) ("
                      + ", ".join(c.name for c in deletes[:5]) + ("..." if len(deletes) > 5 else "")
                      + "): pass --allow-delete to go ahead")
    _check_secrets_setup(root, stack, graph.settings.get("target", "azure"))
    engine = find_engine()
    st = open_stack(root, stack, graph, engine)
    interrupt.recover(backend_url(root, stack), stack, st, report)
    moves.apply(st, graph, report)
    head = commit["commit"] if commit and not dirty else None
    _never_older(root, stack, st, head)
    # The engine's own preview is the authority (the record above may be missing or stale).
    engine_plan, steps = _engine_plan(stack, st, graph, before)
    engine_plan = rollouts.label(engine_plan, rolled)
    if only_rollouts:
        _only_rollouts(engine_plan, graph)
    # A retain-on-delete resource leaving the program (an asset version, a past run) stays in
    # Azure: the engine only forgets it, so it is no delete (engine_plan counts it as kept).
    engine_deletes = [c.name for c in rollouts.deletes(P.needs_allow_delete(engine_plan), rolled)]
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
    state.begin(root, stack, "apply")  # until it succeeds, no apply takes the no-engine shortcut
    with interrupt.cancellable(report, "apply"):
        result = st.up(on_event=report.event, message=message, color="never")
    state.succeeded(root, stack, "apply", graph, head)
    changes = {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}
    return Outcome(True, changes, plan, message, waiting, rolled.reports)


def _only_rollouts(plan: P.Plan, graph: Graph) -> None:
    """What a rollout command may change: the endpoints' traffic steps and their deployments."""
    endpoints = [r.name[: -len("/traffic")] for r in graph.resources if r.type == rollouts.TRAFFIC]
    other = [c.name for c in plan.changes
             if not any(c.name == e + "/traffic" or c.name.startswith(e + "/deployments/") for e in endpoints)]
    if other:
        raise Refused(f"the stack has changes that are not applied yet ({', '.join(other[:5])}"
                      f"{'...' if len(other) > 5 else ''}): a rollout command moves releases only; run apply")


def _never_older(root: Path, stack: str, st, candidate: str | None) -> None:
    """Refuse to apply a commit older than the one the stack last applied (a re-run of an old CI
    job, a drift fix that lost a race): it would undo what came after. A revert is a new commit."""
    if candidate is None:
        return
    applied = H.applied_commit(root, st)
    if applied and H.older(root, candidate, applied):
        raise Refused(f"stack {stack} last applied commit {applied[:12]}, and {candidate[:12]} is older (one of its "
                      "ancestors): applying it would undo what came after. Apply that commit or a newer one (to go "
                      "back, commit a revert)")


# -- history, destroy, recover (drift is controller.engine.drift) --------------------------------------
def history(root: Path, stack: str) -> list[Update]:
    """Each past update of the stack, newest first (controller.engine.history)."""
    graph = _stack_only(root, stack)
    try:
        st = open_stack(root, stack, graph, find_engine(), create=False)
    except NeverApplied:
        return []
    return H.updates(root, st)


def destroy(root: Path, stack: str, report: Reporter | None = None) -> Outcome:
    report = report or _Silent()
    with state.exclusive(root, stack, "destroy"):
        graph = _stack_only(root, stack)  # the engine's state says what to delete; manifests may be broken
        engine = find_engine()
        try:
            st = open_stack(root, stack, graph, engine, create=False)
        except NeverApplied as exc:
            report.notice(f"{exc}: nothing to destroy")
            return Outcome(False, {}, None, "nothing to destroy")
        interrupt.recover(backend_url(root, stack), stack, st, report)
        state.begin(root, stack, "destroy")  # a destroy that stops half way leaves no shortcut behind
        with interrupt.cancellable(report, "destroy"):
            result = st.destroy(on_event=report.event, color="never", message=f"amlctl destroy {stack}")
        state.succeeded(root, stack, "destroy", None, None)
    changes = {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}
    return Outcome(True, changes, None, f"destroyed stack {stack}")


def recover(root: Path, stack: str) -> str:
    """Put back a whole copy of a checkpoint the engine cannot load (controller.engine.checkpoint)."""
    with state.exclusive(root, stack, "recover"):
        message = checkpoint.restore(backend_url(root, stack), _project_name(root), stack)
        if state.read(root, stack) is not None:
            state.begin(root, stack, "recover")  # the next apply goes to the engine, which redoes the rest
        return message


KEY_PROVIDERS = ("azurekeyvault://", "awskms://", "gcpkms://", "hashivault://")


def setup_secrets(root: Path, stack: str, provider: str = "passphrase") -> str:
    """Give the stack its secrets configuration, written into its stack file for the caller to
    commit. A passphrase comes from $PULUMI_CONFIG_PASSPHRASE: Pulumi's own `change-secrets-provider
    passphrase` prompts for it, and without a terminal silently takes an empty one."""
    import subprocess

    if provider != "passphrase" and not provider.startswith(KEY_PROVIDERS):
        raise Refused(f"unknown secrets provider {provider!r}: passphrase, or a key URL starting "
                      + ", ".join(KEY_PROVIDERS))
    graph = _stack_only(root, stack)
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
    graph = _stack_only(root, stack)
    engine = find_engine()
    st = open_stack(root, stack, graph, engine)  # creates the project folder and selects the stack
    env = {**os.environ, **_env(root, stack), "PATH": os.pathsep.join([str(engine.binary.parent),
                                                                        os.environ.get("PATH", "")])}
    env.pop("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", None)  # `import` may need azure-native's plugin
    # Commands about the engine itself take no --stack (and reject one).
    stackless = bool(args) and args[0] in ("plugin", "version", "about", "whoami", "login", "logout", "help")
    return subprocess.run([str(engine.binary), *args, *([] if stackless else ["--stack", st.name])],
                          cwd=state_dir(root, stack) / "project", env=env).returncode
