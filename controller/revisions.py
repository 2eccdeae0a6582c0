"""The estate at a git revision, rendered for one stack; and the plan between two revisions.

    revision (git) -> files in a scratch directory -> validate -> render -> Graph
    plan_revisions(base, head) -> diff(base graph, head graph)

The working tree is one more "revision" (rev=None). Nothing here checks anything out.
"""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from controller import gitrev
from controller import plan as P
from controller.plan import archive
from controller.diagnostics import Diagnostic, Severity, error
from controller.render import Rendered, render
from controller.render.graph import Graph
from controller.validate import validate

def tracked(tree: Path) -> list[str]:
    """The folders whose files make up the estate: every stack's manifest folders, and stacks/."""
    from controller.stacks import STACKS_DIR, manifest_folders
    return list(dict.fromkeys(manifest_folders(tree) + [STACKS_DIR]))


class RevisionError(Exception):
    pass


@dataclass
class Side:
    label: str
    graph: Graph | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    reads: tuple[str, ...] = ()  # every path the render read: manifest folders, stacks, referenced files


def describe(root: Path, rev: str | None) -> str:
    if rev is None:
        return "working tree"
    try:
        info = gitrev.commit_info(root, rev)
        return f"{info['commit'][:12]} ({info['subject'][:60]})"
    except gitrev.GitError:
        return rev


def render_stack(root: Path, stack: str, *, strict: bool = False, rev: str | None = None,
                 commits: dict[str, str] | None = None, allow_missing_stack: bool = False) -> Side:
    """Validate and render the estate for `stack`, from the working tree (rev=None) or a commit."""
    return render_stacks(root, [stack], strict=strict, rev=rev, commits=commits,
                         allow_missing_stack=allow_missing_stack)[stack]


def render_stacks(root: Path, stacks: list[str], *, strict: bool = False, rev: str | None = None,
                  commits: dict[str, str] | None = None, allow_missing_stack: bool = False) -> dict[str, Side]:
    """Several stacks of one revision: the revision is read, validated and dated once."""
    label = describe(root, rev)
    if rev is None:
        return _render_dir(root, root, stacks, strict, rev, commits, label, allow_missing_stack)
    try:
        with materialized(root, rev) as scratch:
            return _render_dir(root, scratch, stacks, strict, rev, commits, label, allow_missing_stack)
    except gitrev.GitError as e:
        return {s: Side(label, None, [error("", 0, 0, "P002", f"cannot read revision {rev}: {e}")]) for s in stacks}


@contextmanager
def materialized(root: Path, rev: str) -> Iterator[Path]:
    """The revision's files in a scratch directory, for as long as the block needs them (a
    program that uploads files reads them while the engine runs)."""
    with tempfile.TemporaryDirectory(prefix="amlctl-rev-") as tmp:
        gitrev.materialize(root, rev, Path(tmp), ["."])
        yield Path(tmp)


def render_tree(root: Path, tree: Path, stack: str, rev: str) -> Side:
    """A stack rendered from a materialized revision `tree` of the repository `root`."""
    return _render_dir(root, tree, [stack], False, rev, None, describe(root, rev), False)[stack]


def _document_commits(repo: Path, rev: str | None, manifests: list, commits: dict[str, str]) -> dict[str, str]:
    """For files holding several manifests, the commit that last changed each document ("path#index"),
    so that a commit to one document does not re-tag its siblings. Single-document files need no
    more than the file's commit."""
    per_file: dict[str, list] = {}
    for m in manifests:
        per_file.setdefault(m.path, []).append(m)
    out = {}
    for path, ms in per_file.items():
        if len(ms) < 2 or path not in commits:
            continue
        for m in ms:
            sha = gitrev.last_commit_of_lines(repo, rev, path, *m.lines)
            if sha:
                out[f"{path}#{m.doc_index}"] = sha
    return out


def _render_dir(repo: Path, tree: Path, stacks: list[str], strict: bool, rev: str | None, commits: dict | None,
                label: str, allow_missing_stack: bool) -> dict[str, Side]:
    out: dict[str, Side] = {}
    present = [s for s in stacks if (tree / "stacks").exists() and any((tree / "stacks").glob(f"Pulumi.{s}.y*ml"))]
    for stack in stacks:
        if stack not in present:
            out[stack] = (Side(label, Graph(stack, ())) if allow_missing_stack else
                          Side(label, None, [error("stacks", 0, 0, "P002",
                                                   f"no stack file stacks/Pulumi.{stack}.yaml at {label}")]))
    if not present:
        return out
    # Only what these stacks read: their manifest folders and their stack files. A plan of one
    # team's stack in a repository of sixty does not load, check and date the other teams'
    # manifests (a problem there is theirs, reported by validate and by their own plans).
    from controller.stacks import STACKS_DIR, manifest_folders
    own = manifest_folders(tree, only=present)
    folders = list(dict.fromkeys(own + [STACKS_DIR]))
    stack_files = [p.relative_to(tree).as_posix()
                   for s in present for p in sorted((tree / STACKS_DIR).glob(f"Pulumi.{s}.y*ml"))]
    paths = [str(tree / p) for p in dict.fromkeys(own + stack_files) if (tree / p).exists()]
    # The engine reads secret config from the working tree's stack files: unset keys (K004) are
    # checked there, not in a past revision (a plan's base, the commit drift compares with).
    report = validate(paths or None, cwd=tree, root=tree, strict=strict, render=False, secrets_set=rev is None)
    if commits is None:
        commits = {}
        if gitrev.is_repository(repo):
            commits = gitrev.last_commits(repo, rev, folders)
            commits |= _document_commits(repo, rev, report.manifests, commits)
    for stack in present:
        st = next((s for s in report.stacks if s.name == stack), None)
        diags = [d for d in report.diagnostics if _concerns(d, stack, st, report.stacks)]
        if any(d.severity is Severity.ERROR for d in diags) or st is None:
            out[stack] = Side(label, None, diags if st else diags + [
                error("stacks", 0, 0, "P002", f"no stack {stack!r} at {label}")])
            continue
        rendered: Rendered = render(report.overlaid[stack], st, root=tree, commits=commits)
        reads = tuple(sorted(set(folders) | report.referenced | {"Pulumi.yaml"}))
        out[stack] = Side(label, rendered.graph, diags + rendered.diagnostics, reads)
    return out


def _concerns(d: Diagnostic, name: str, stack, stacks) -> bool:
    """Whether a problem stops this stack's render: one of its own view (tagged with it), or one in
    a file it reads (its manifest folders, its stack file), or in a file of no stack's (Pulumi.yaml,
    a file a manifest refers to). Another team's broken manifest stops that team's stacks only."""
    if d.stack:
        return d.stack == name
    if stack is None:
        return True
    from controller.stacks import STACK_FILE, STACKS_DIR, _inside
    folder, _, file = d.path.rpartition("/")
    if folder == STACKS_DIR and STACK_FILE.match(file):
        return STACK_FILE.match(file).group(1) == name
    if _inside(d.path, stack.manifest_paths):
        return True
    return not any(_inside(d.path, s.manifest_paths) for s in stacks)


FROM_SCRATCH = "pass --from-scratch to plan what a first apply creates"


def _needs_history(root: Path) -> None:
    """Comparing revisions needs a repository with a commit: say which is missing, and the way
    that needs neither (a first user runs plan right after init, before any commit)."""
    if not gitrev.is_repository(root):
        raise RevisionError(f"{root} is not a git repository, and plan compares two revisions from git: "
                            f"{FROM_SCRATCH}")
    try:
        gitrev.resolve(root, "HEAD")
    except gitrev.GitError:
        raise RevisionError(f"the repository has no commits yet, so there is no base to compare with: "
                            f"{FROM_SCRATCH} (or commit, and plan later changes against that commit)") from None


def _revisions(root: Path, base: str | None, head: str | None) -> tuple[str, str | None]:
    """(base commit, head commit or None for the working tree); base defaults to the merge base
    with the default branch."""
    _needs_history(root)
    try:
        head_sha = gitrev.resolve(root, head) if head else None
        if base is None:
            base = gitrev.merge_base(root, gitrev.default_branch(root), head_sha or "HEAD")
        return gitrev.resolve(root, base), head_sha
    except gitrev.GitError as e:
        raise RevisionError(str(e))


def plan_revisions(root: Path, stack: str, *, base: str | None = None, head: str | None = None,
                   strict: bool = False, from_scratch: bool = False) -> tuple[P.Plan | None, list[Diagnostic]]:
    """Plan the change from `base` (default: the merge base with the default branch) to `head`
    (default: the working tree); `from_scratch` plans from nothing (what a first apply creates).
    Returns (plan, diagnostics); plan is None when a side fails."""
    if from_scratch:
        try:
            if head:
                _needs_history(root)
            base_sha, head_sha = None, (gitrev.resolve(root, head) if head else None)
        except gitrev.GitError as e:
            raise RevisionError(str(e))
    else:
        base_sha, head_sha = _revisions(root, base, head)
    head_side = render_stack(root, stack, strict=strict, rev=head_sha)
    if head_side.graph is None:
        return None, head_side.diagnostics
    if base_sha is None:
        base_graph, base_label = None, "nothing (first apply)"
    else:
        base_side = render_stack(root, stack, strict=False, rev=base_sha, allow_missing_stack=True)
        if base_side.graph is None:
            msgs = [d for d in base_side.diagnostics if d.severity is Severity.ERROR]
            first = msgs[0].format() if msgs else "it does not render"
            return None, [error("", 0, 0, "P002", f"the base revision {base_side.label} cannot be rendered for "
                                f"stack {stack!r} ({len(msgs)} error(s), first: {first}); pass --base to pick "
                                "another")]
        base_graph, base_label = base_side.graph, base_side.label
    head_graph = archive.carry(base_graph, head_side.graph)  # superseded versions, archived (a stack setting)
    result = P.diff(base_graph, head_graph, base_label=base_label, head_label=head_side.label)
    result.diagnostics = sorted(set(result.diagnostics) | set(head_side.diagnostics))
    from controller.engine.rollouts import offline_records
    from controller.rollout.planning import annotate
    return annotate(result, base_graph, head_graph, offline_records(root, stack)), result.diagnostics


def stacks_at(root: Path, rev: str | None) -> list[str]:
    """Stack names (stacks/Pulumi.<name>.yaml) in the working tree or at a commit."""
    from controller.stacks import STACK_FILE
    if rev is None:
        names = [p.name for p in (root / "stacks").glob("Pulumi.*.y*ml")] if (root / "stacks").exists() else []
    else:
        try:
            # -z: names as they are (git quotes non-ASCII ones otherwise), one per NUL
            names = gitrev.git(root, "ls-tree", "-z", "--name-only", rev, "stacks/").split("\0")
        except gitrev.GitError:
            names = []
    return sorted({m.group(1) for n in names if (m := STACK_FILE.match(Path(n).name))})


def changed_stacks(root: Path, *, base: str | None = None, head: str | None = None) -> list[dict]:
    """For a CI matrix: each stack at head, and whether its rendered graph differs from base's.
    A stack that does not render at head is listed as changed, so CI runs (and fails) its plan."""
    base_sha, head_sha = _revisions(root, base, head)
    names = stacks_at(root, head_sha)
    heads = render_stacks(root, names, rev=head_sha)
    bases = render_stacks(root, names, rev=base_sha, allow_missing_stack=True)
    out = []
    for name in names:
        after, before = heads[name], bases[name]
        if after.graph is None:
            reason = "does not render at head"
        elif before.graph is None:
            reason = "does not render at base"
        elif before.graph.digest() != after.graph.digest():
            reason = "graph differs"
        else:
            reason = ""
        out.append({"stack": name, "changed": bool(reason), "reason": reason or "unchanged"})
    return out
