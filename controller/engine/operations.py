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
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from controller import gitrev
from controller import plan as P
from controller.engine.binary import Engine, find_engine
from controller.render.graph import Graph
from controller.revisions import render_stack


class Refused(Exception):
    """An apply that the safety rules stop before the engine starts."""


@dataclass
class Outcome:
    started_engine: bool
    changes: dict[str, int] = field(default_factory=dict)  # op -> count, from the engine
    plan: P.Plan | None = None
    message: str = ""


def state_dir(root: Path, stack: str) -> Path:
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


def _env(root: Path, stack: str) -> dict[str, str]:
    sd = state_dir(root, stack)
    (sd / "home").mkdir(parents=True, exist_ok=True)
    env = {
        "PULUMI_HOME": str(sd / "home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
        "PULUMI_PYTHON_CMD": sys.executable,
    }
    # The passphrase provider: teams set PULUMI_CONFIG_PASSPHRASE (or use Azure Key Vault as the
    # stack's secrets provider); the example's local stack uses an empty one.
    env["PULUMI_CONFIG_PASSPHRASE"] = os.environ.get("PULUMI_CONFIG_PASSPHRASE", "")
    return env


def open_stack(root: Path, stack: str, graph: Graph, engine: Engine):
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
            build(graph, root, classes=local.classes(sd / "sim", subscription=sub),
                  client_config=lambda f: local.client_config(sub)[f])
        else:
            build(graph, root, provider=azure_provider(graph))

    # The engine works in a project folder of amlctl's own under the state directory: inline
    # programs need no `main`, and the repository's files are never rewritten. Stack settings are
    # the repository's stacks/Pulumi.<stack>.yaml, reached through the project's stack folder.
    work = sd / "project"
    work.mkdir(parents=True, exist_ok=True)
    settings = auto.ProjectSettings(name=_project_name(root), runtime="python",
                                    config=os.path.relpath(root / "stacks", work),
                                    backend=auto.ProjectBackend(url=backend))
    command = auto.PulumiCommand(root=str(engine.root))
    opts = auto.LocalWorkspaceOptions(work_dir=str(work), pulumi_command=command, env_vars=_env(root, stack),
                                      project_settings=settings)
    return auto.create_or_select_stack(stack_name=stack, project_name=settings.name, program=program, opts=opts)


def _project_name(root: Path) -> str:
    try:
        import yaml
        return str(yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8"))["name"])
    except (OSError, KeyError, TypeError):
        return "amlctl-estate"


def _render(root: Path, stack: str) -> Graph:
    side = render_stack(root, stack)
    if side.graph is None:
        problems = "\n".join(d.format() for d in side.diagnostics if d.severity.value == "error")
        raise Refused(f"the manifests do not render for stack {stack}:\n{problems}")
    return side.graph


def preview(root: Path, stack: str, on_output: Callable[[str], None] | None = None) -> Outcome:
    graph = _render(root, stack)
    st = open_stack(root, stack, graph, find_engine())
    result = st.preview(on_output=on_output, color="never")
    changes = {k: v for k, v in result.change_summary.items() if k != "same"}
    return Outcome(True, changes, P.diff(last_applied(root, stack), graph), "preview")


def apply(root: Path, stack: str, *, allow_delete: bool = False, allow_dirty: bool = False,
          on_output: Callable[[str], None] | None = None) -> Outcome:
    graph = _render(root, stack)
    commit = None
    if gitrev.is_repository(root):
        if not allow_dirty and gitrev.is_dirty(root, ["manifests", "stacks"]):
            raise Refused("the working tree has uncommitted changes under manifests/ or stacks/: commit them "
                          "(git history is the audit trail), or pass --allow-dirty")
        try:
            commit = gitrev.commit_info(root, "HEAD")
        except gitrev.GitError:
            commit = None
    before = last_applied(root, stack)
    if before is not None and before.digest() == graph.digest():
        return Outcome(False, {}, None, "no changes: the rendered graph equals the last applied one "
                                        "(the engine was not started)")
    plan = P.diff(before, graph)
    protected = [c for c in plan.changes if c.protected and c.action in (P.DELETE, P.REPLACE)]
    if protected:
        raise Refused("refusing to delete or replace protected resources: " + ", ".join(c.name for c in protected))
    deletes = [c for c in plan.changes if c.action in (P.DELETE, P.REPLACE)]
    if deletes and not allow_delete:
        raise Refused(f"the change deletes or replaces {len(deletes)} resource(s) ("
                      + ", ".join(c.name for c in deletes[:5]) + ("..." if len(deletes) > 5 else "")
                      + "): pass --allow-delete to go ahead")
    st = open_stack(root, stack, graph, find_engine())
    # The engine's own preview is the authority (the record above may be missing or stale).
    steps = st.preview(color="never").change_summary
    engine_deletes = sum(v for k, v in steps.items() if k in ("delete", "replace", "create-replacement",
                                                               "delete-replaced", "discard"))
    if engine_deletes and not allow_delete:
        raise Refused(f"the engine's preview deletes or replaces {engine_deletes} resource(s) ({steps}): pass "
                      "--allow-delete to go ahead")
    message = "amlctl apply" + (f" {commit['commit'][:12]}: {commit['subject']} ({commit['author']})" if commit else "")
    result = st.up(on_output=on_output, message=message, color="never")
    _record(root, stack, graph, commit["commit"] if commit else None)
    changes = {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}
    return Outcome(True, changes, plan, message)


# -- drift, history, destroy ------------------------------------------------------------------------
@dataclass(frozen=True)
class Drifted:
    name: str  # graph (Pulumi) name
    type: str
    op: str  # what the engine would do to put it back: update, create (gone), replace
    properties: tuple[str, ...]  # the inputs that differ


def _graph_name(urn: str) -> str:
    return urn.split("::")[-1]


def drift(root: Path, stack: str, *, fix: bool = False,
          on_output: Callable[[str], None] | None = None) -> tuple[list[Drifted], Outcome | None]:
    """Refresh in preview mode: what differs between the cloud (or the simulation) and the last
    applied state. With `fix`, apply the manifests back over it."""
    from pulumi.automation import events as ev
    graph = _render(root, stack)
    st = open_stack(root, stack, graph, find_engine())
    found: dict[str, Drifted] = {}

    def event(e: ev.EngineEvent) -> None:
        pre = e.resource_pre_event
        if pre is None or pre.metadata.op in (ev.OpType.SAME, ev.OpType.READ, ev.OpType.REFRESH):
            return
        meta = pre.metadata
        if meta.type == "pulumi:pulumi:Stack":
            return
        # Providers report changed properties in `diffs`, `keys` or `detailed_diff`; dynamic
        # providers report none, so also compare the refreshed state with the desired inputs.
        names = set(meta.diffs or ()) | set(meta.keys or ()) | set((meta.detailed_diff or {}).keys())
        if meta.old is not None and meta.new is not None:
            wanted = meta.new.inputs or {}
            have = {k: v for k, v in (meta.old.outputs or {}).items() if k in wanted}
            # Only what the manifests set: outputs Azure computes (principalId, ...) are not drift.
            names |= {c.path for c in P.property_changes(meta.type, have, wanted) if c.after is not None}
        diffs = tuple(sorted(names))
        found[meta.urn] = Drifted(_graph_name(meta.urn), meta.type, str(meta.op.value), diffs)

    st.preview(refresh=True, on_event=event, diff=True, color="never")
    drifted = sorted(found.values(), key=lambda d: d.name)
    if not fix or not drifted:
        return drifted, None
    result = st.up(refresh=True, on_output=on_output, message="amlctl drift --fix", color="never")
    _record(root, stack, graph, None)
    return drifted, Outcome(True, {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"})


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


def history(root: Path, stack: str) -> list[Update]:
    """Each past update of the stack, newest first, joined with git log through its commit."""
    graph = _render(root, stack)
    st = open_stack(root, stack, graph, find_engine())
    out = []
    for u in st.history():
        commit = author = None
        msg = u.message or ""
        if msg.startswith("amlctl apply ") and ":" in msg:
            short = msg[len("amlctl apply "):].split(":", 1)[0].strip()
            try:
                info = gitrev.commit_info(root, short)
                commit, author = info["commit"], info["author"]
            except gitrev.GitError:
                commit = short
        out.append(Update(u.version, u.kind, u.result, str(u.start_time), msg, dict(u.resource_changes or {}),
                          commit, author))
    return out


def destroy(root: Path, stack: str, on_output: Callable[[str], None] | None = None) -> Outcome:
    graph = _render(root, stack)
    st = open_stack(root, stack, graph, find_engine())
    result = st.destroy(on_output=on_output, color="never", message=f"amlctl destroy {stack}")
    record = state_dir(root, stack) / "last-applied.json"
    if record.exists():
        record.unlink()
    return Outcome(True, {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"})
