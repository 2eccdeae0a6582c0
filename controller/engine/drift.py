"""`drift`: what differs between the cloud (or the simulation) and what the last successful update
applied, as a refresh in preview mode; `--fix` applies that revision back over what drifted."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from controller import gitrev
from controller import plan as P
from controller.engine.binary import find_engine
from controller.engine import history as H, interrupt, moves, state
from controller.engine.operations import (NeverApplied, Outcome, Refused, Reporter, _rendered, _Silent,
                                          backend_url, last_applied, open_stack)
from controller.plan import archive
from controller.render.graph import Graph, markers


@dataclass(frozen=True)
class Drifted:
    name: str  # graph (Pulumi) name
    type: str  # the graph's type token (azure-native:...), whatever the target
    op: str  # what the engine would do to put it back: update, create (gone), replace
    properties: tuple[str, ...]  # the inputs that differ
    subject: str = ""  # the manifest behind it, "Compute/cpu-cluster"
    source: str = ""  # its file:line:col
    # Values where known: before = what the cloud has, after = what git says. A secret is never a
    # value here: both sides are the graph's $secret marker.
    changes: tuple[P.PropertyChange, ...] = ()


@dataclass(frozen=True)
class Drift:
    stack: str
    applied: str | None  # the commit compared with: the one the last successful update applied
    drifted: tuple[Drifted, ...]
    fixed: Outcome | None = None


def drift(root: Path, stack: str, *, fix: bool = False, report: Reporter | None = None) -> Drift:
    """Refresh in preview mode: what differs between the cloud (or the simulation) and what the
    last successful update applied. The program is that update's revision, not the working tree:
    a merged change still waiting for its apply is not drift. With `fix`, apply that revision
    back over what drifted, holding the stack's operation lock from the first read to the last
    write: no apply of a newer commit can finish in between and be undone."""
    report = report or _Silent()
    if not fix:
        return _drift(root, stack, False, report)
    with state.exclusive(root, stack, "drift --fix"):
        return _drift(root, stack, True, report)


def _drift(root: Path, stack: str, fix: bool, report: Reporter) -> Drift:
    from contextlib import ExitStack

    from controller.revisions import materialized, render_tree
    engine = find_engine()
    before = last_applied(root, stack)
    graph, tree = _as_applied(_rendered(root, stack, before).graph, before, root, stack), root
    try:
        st = open_stack(root, stack, graph, engine, create=False)
    except NeverApplied as exc:
        raise Refused(f"{exc}: there is nothing to compare with yet (apply it first)") from None
    past = H.entries(st)
    if not any(u.kind == "update" and u.result == "succeeded" for u in past):
        # The backend knows the stack (a `config set --secret` made it) but nothing was applied:
        # every resource would read as "gone from the cloud".
        raise Refused(f"stack {stack} has never been applied: there is nothing to compare with yet (apply it first)")
    applied = H.applied_from(root, past)
    with ExitStack() as scope:
        if applied is None:
            report.notice("the last update applied no commit as it is (uncommitted changes, or no git): "
                          "comparing with the working tree")
        else:
            try:
                tree = scope.enter_context(materialized(root, applied))
            except gitrev.GitError:
                report.notice(f"commit {applied[:12]} of the last update is not in this clone (a shallow clone?): "
                              "comparing with the working tree")
                tree = root
            if tree != root:
                side = render_tree(root, tree, stack, applied)
                if side.graph is None:
                    raise Refused(f"the revision last applied to {stack} ({applied[:12]}) does not render here")
                graph = _as_applied(archive.carry(before, side.graph), before, root, stack)
                st = open_stack(root, stack, graph, engine, create=False, tree=tree)
                report.notice(f"comparing stack {stack} with commit {applied[:12]}, the one its last update applied")
        compared = applied if tree != root else None
        moves.apply(st, graph, report)  # a resource's new type is no drift (controller.engine.moves)
        drifted = tuple(_refresh_preview(st, graph))
        if not fix or not drifted:
            return Drift(stack, compared, drifted)
        interrupt.recover(backend_url(root, stack), stack, st, report)
        # Runners on other machines share no operation lock: check again, just before the update,
        # that the stack's last applied commit is still the one compared with.
        now = H.applied_commit(root, st)
        if now != applied:
            raise Refused(f"stack {stack} was updated while drift compared it (it last applied "
                          f"{(now or 'uncommitted changes')[:12]}, not {(applied or 'uncommitted changes')[:12]}): "
                          "nothing was fixed; run drift again")
        message = "amlctl drift --fix" + (f" {applied}" if compared else "")
        state.begin(root, stack, "drift --fix")
        with interrupt.cancellable(report, "drift --fix"):
            result = st.up(refresh=True, on_event=report.event, message=message, color="never")
    state.succeeded(root, stack, "drift --fix", graph, applied)
    return Drift(stack, compared, drifted,
                 Outcome(True, {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}))


def _as_applied(graph: Graph, before: Graph | None, root: Path, stack: str) -> Graph:
    """What serves a run's model holds what the last apply gave it (the run's outcome then): drift
    compares with that, never with a marker no cloud value can equal (controller.runs). Endpoints'
    releases stand where the stack's state says (controller.rollout, not advanced): the traffic of
    a release in progress is what the last apply set, not drift."""
    from controller import runs
    from controller.engine import rollouts
    graph = runs.settle(graph, {}, before).graph if runs.runs_of(graph) else graph
    return rollouts.roll(root, stack, graph, advance=False).graph


def _refresh_preview(st, graph: Graph) -> list[Drifted]:
    from pulumi.automation import events as ev
    found: dict[str, Drifted] = {}
    by_name = {r.name: r for r in graph.resources}

    def event(e: ev.EngineEvent) -> None:
        pre = e.resource_pre_event
        if pre is None or pre.metadata.op in (ev.OpType.SAME, ev.OpType.READ, ev.OpType.REFRESH):
            return
        meta = pre.metadata
        if meta.type == "pulumi:pulumi:Stack":
            return
        # Providers report changed properties in `diffs`, `keys` or `detailed_diff`; dynamic
        # providers report none, so also compare the refreshed state with the desired inputs.
        reported = set(meta.diffs or ()) | set(meta.keys or ()) | set((meta.detailed_diff or {}).keys())
        name = H.graph_name(meta.urn)
        r = by_name.get(name)
        changes: tuple[P.PropertyChange, ...] = ()
        if meta.old is not None and meta.new is not None:
            wanted = meta.new.inputs or {}
            have = {k: v for k, v in (meta.old.outputs or {}).items() if k in wanted}
            # Only what the manifests set: outputs Azure computes (principalId, ...) are not drift.
            secrets = _secret_paths(r)
            changes = tuple(_described(c, r, secrets) for c in P.property_changes(meta.type, have, wanted)
                            if c.after is not None or _owned(c.path))
            if reported:
                # A provider that reports its own diff (azure-native) is the authority on what
                # differs: Azure's outputs say some things their own way; keep only the values behind it.
                changes = tuple(c for c in changes if any(_related(c.path, n) for n in reported))
            if not changes and not reported and r is not None:
                # The engine sees both sides of a secret as "[secret]": when nothing else differs
                # but the provider says it does, the secrets are what drifted.
                changes = tuple(_described(P.PropertyChange(path, m, m, False), r, secrets) for path, m in secrets)
        # A coarse name the provider reported ("properties") gives way to the paths under it.
        names = {n for n in reported if not any(c.path.startswith(n + ".") for c in changes)}
        names |= {c.path for c in changes}
        found[meta.urn] = Drifted(name, r.type if r else meta.type, str(meta.op.value), tuple(sorted(names)),
                                  r.subject if r else "", str(r.source) if r and r.source else "", changes)

    st.preview(refresh=True, on_event=event, diff=True, color="never")
    return sorted(found.values(), key=lambda d: d.name)


# Maps the manifests own whole: a key added in the cloud (a tag set in the portal) is drift, and a
# fix removes it. Elsewhere a value git does not set is Azure's own (a default, a computed id).
OWNED_MAPS = ("tags",)


def _owned(path: str) -> bool:
    return any(part in OWNED_MAPS for part in path.split(".")[:-1])


def _related(path: str, reported: str) -> bool:
    """Whether an input path is, lies under, or contains a path the provider reported."""
    reported = reported.split("[", 1)[0]  # "properties.x[0].y" -> compared up to its first index
    return path == reported or path.startswith(reported + ".") or reported.startswith(path + ".")


_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value


def _described(c: P.PropertyChange, r, secrets: list[tuple[str, dict]]) -> P.PropertyChange:
    """Where the drifted property was set; and, when its value is a secret (a $secret marker in
    the graph, or a value the engine marks secret), the marker on both sides: drift output goes
    to issues and logs."""
    if r is not None and r.origins:
        c = replace(c, source=r.origin(c.path))  # the manifest (or stack file) line that set it
    marker = next((m for p, m in secrets if c.path == p or c.path.startswith(p + ".")), None)
    if marker is None and not any(_SECRET_SIG in json.dumps(v, default=str) or v == "[secret]"
                                  for v in (c.before, c.after)):
        return c
    hidden = marker or {"$secret": {"config": "(engine secret)"}}
    return P.PropertyChange(c.path, hidden, hidden, c.forces_replace, c.source)


def _secret_paths(r) -> list[tuple[str, dict]]:
    """(dotted input path, marker) of each $secret marker in the resource's inputs."""
    return [(".".join(map(str, path)), {kind: body}) for path, kind, body in markers(r.inputs if r else {})
            if kind == "$secret"]




