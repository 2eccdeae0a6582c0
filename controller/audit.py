"""`blame`: one resource's audit trail, from git history and the engine's update history.

    KIND/NAME -> the lines of its manifest document, and of each stack overlay that selects it
              -> `git log -L` over exactly those lines: who changed them, when, through which pull request
              -> per stack, the first successful update whose commit contains each change: when it reached Azure

Git is the audit trail: nothing here is stored by amlctl. A multi-document file is followed
document by document, and an overlay entry line by line, so a commit that changed a sibling
resource in the same file is not blamed on this one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller import gitrev
from controller.manifests.model import Manifest
from controller.stacks import Stack


class BlameError(Exception):
    """The resource cannot be found or its history cannot be read; the message says why."""


@dataclass(frozen=True)
class Region:
    """Lines of a file at HEAD that define the resource: its manifest document, or one overlay entry."""
    path: str
    start: int
    end: int
    via: str  # "manifest" or "overlay of stack NAME"

    def __str__(self) -> str:
        return f"{self.path}:{self.start}-{self.end}"


@dataclass(frozen=True)
class Deployment:
    stack: str
    version: int  # the engine's update number
    time: str
    commit: str


@dataclass(frozen=True)
class Edit:
    commit: str
    author: str
    date: str
    subject: str
    regions: tuple[Region, ...]  # which of the resource's lines the commit changed
    pull_request: str | None  # "#42", from the merge (or squash) commit that brought it into the branch
    deployed: tuple[Deployment, ...] = ()  # per stack, the first update that contained the change


@dataclass
class Blame:
    subject: str
    regions: list[Region]
    edits: list[Edit] = field(default_factory=list)
    stacks_checked: list[str] = field(default_factory=list)  # stacks whose update history was read
    # In a shallow clone, the boundary commits among the edits: git credits them with every line
    # older than the cut, so the one named may not be the one that made the change.
    cut_at: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "resource": self.subject,
            "regions": [{"path": r.path, "start": r.start, "end": r.end, "via": r.via} for r in self.regions],
            "edits": [{"commit": e.commit, "author": e.author, "date": e.date, "subject": e.subject,
                       "pull_request": e.pull_request,
                       "changed": [{"via": r.via, "lines": str(r)} for r in e.regions],
                       "deployed": [d.__dict__ for d in e.deployed]} for e in self.edits],
            "stacks_checked": self.stacks_checked,
            "history_cut_at": self.cut_at,
        }


def find(manifests: list[Manifest], target: str) -> Manifest:
    """KIND/NAME (kind case-insensitive), KIND/NAME:VERSION for one version of an asset, or
    KIND/PARENT/NAME for deployments (their endpoint)."""
    parts = target.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise BlameError(f"{target!r}: expected KIND/NAME, e.g. Compute/gpu-cluster "
                         "(KIND/NAME:VERSION for an asset version, KIND/ENDPOINT/NAME for a deployment)")
    kind, name = parts[0].lower(), parts[-1]
    version = None
    if len(parts) == 2 and ":" in name:
        name, _, version = name.partition(":")
    hits = [m for m in manifests if m.kind.lower() == kind and m.name == name
            and (len(parts) == 2 or m.spec.get("endpoint_name") == parts[1])
            and (version is None or m.version == version)]
    if not hits:
        same_kind = sorted({m.subject for m in manifests if m.kind.lower() == kind})
        hint = f"; {parts[0]} manifests: {', '.join(same_kind)}" if same_kind else \
            f"; kinds: {', '.join(sorted({m.kind for m in manifests}))}"
        raise BlameError(f"no manifest defines {target}{hint}")
    if len(hits) > 1 and all(m.version is not None for m in hits) and len({m.version for m in hits}) == len(hits):
        where = ", ".join(f"{parts[0]}/{m.name}:{m.version} ({m.source})" for m in hits)
        raise BlameError(f"{target} has several versions: name one, {where}")
    if len(hits) > 1:
        where = ", ".join(f"{m.spec.get('endpoint_name', m.workspace)}/{m.name} ({m.source})" for m in hits)
        raise BlameError(f"{target} is ambiguous: {where}; name it as KIND/ENDPOINT/NAME")
    return hits[0]


def regions(root: Path, manifest: Manifest, stacks: list[Stack], overlaid: dict[str, list[Manifest]]) -> list[Region]:
    out = [_document_region(manifest)]
    for stack in stacks:
        mine = next((m for m in overlaid.get(stack.name, []) if m.key[0] == manifest.kind and m.name == manifest.name
                     and m.path == manifest.path and m.doc_index == manifest.doc_index), None)
        for patch in (mine.patches if mine else ()):
            entry = patch.prefix[:-2]  # (..., "amlctl:overlays", i) without ("patch", "spec")
            lines = [line for table in (patch.positions.values, patch.positions.keys)
                     for path, (line, _) in table.items() if tuple(path[:len(entry)]) == entry]
            out.append(Region(patch.path, min(lines), max(lines), f"overlay of stack {stack.name}"))
    return out


def _document_region(m: Manifest) -> Region:
    return Region(m.path, m.lines[0], m.lines[1], "manifest")


def edits(root: Path, region: Region, head: str = "HEAD") -> list[Edit]:
    fmt = "%H%x00%an <%ae>%x00%aI%x00%s"
    try:
        out = gitrev.git(root, "log", f"-L{region.start},{region.end}:{region.path}", "-s", f"--format={fmt}", head)
    except gitrev.GitError as exc:
        raise BlameError(f"cannot read the history of {region}: {exc} (is the file committed?)") from None
    found = []
    for line in out.splitlines():
        if line.count("\0") != 3:
            continue
        sha, author, date, subject = line.split("\0")
        found.append(Edit(sha, author, date, subject, (region,), pull_request(root, sha, subject, head)))
    return found


_PR = re.compile(r"(?:pull request |\()#(\d+)")


def pull_request(root: Path, sha: str, subject: str, head: str = "HEAD") -> str | None:
    """The pull request that brought a commit in: its own subject when squash-merged ("... (#42)"),
    else the first merge commit between it and HEAD ("Merge pull request #42 from ...")."""
    match = _PR.search(subject)
    if match:
        return f"#{match.group(1)}"
    merges = gitrev.git(root, "log", "--ancestry-path", "--merges", "--reverse", "--format=%H %s", f"{sha}..{head}")
    for line in merges.splitlines():
        merge, _, merge_subject = line.partition(" ")
        if _contains(root, f"{merge}^1", sha):
            continue  # already on the branch merged into: this merge did not bring it
        match = _PR.search(merge_subject)
        return f"#{match.group(1)}" if match else None
    return None


def deployments(root: Path, edit: Edit, updates: dict[str, list[Deployment]]) -> tuple[Deployment, ...]:
    """Per stack, the oldest successful update whose commit contains the edit."""
    out = []
    for stack in sorted(updates):
        for d in sorted(updates[stack], key=lambda d: d.version):
            if _contains(root, d.commit, edit.commit):
                out.append(d)
                break
    return tuple(out)


def _contains(root: Path, commit: str, ancestor: str) -> bool:
    try:
        gitrev.git(root, "merge-base", "--is-ancestor", ancestor, commit)
        return True
    except gitrev.GitError:
        return False


def blame(root: Path, manifest: Manifest, stacks: list[Stack], overlaid: dict[str, list[Manifest]],
          updates: dict[str, list[Deployment]]) -> Blame:
    """`updates`: per stack, its successful updates with their commits (from the engine)."""
    result = Blame(manifest.subject, regions(root, manifest, stacks, overlaid), stacks_checked=sorted(updates))
    by_commit: dict[str, Edit] = {}
    for region in result.regions:
        for e in edits(root, region):
            seen = by_commit.get(e.commit)
            by_commit[e.commit] = e if seen is None else Edit(seen.commit, seen.author, seen.date, seen.subject,
                                                               seen.regions + e.regions, seen.pull_request)
    # Newest first in git's topological order: commit dates tie (one second) and can lie (rebases).
    rank = {sha: i for i, sha in enumerate(gitrev.git(root, "rev-list", "--topo-order", "HEAD").split())}
    ordered = sorted(by_commit.values(), key=lambda e: rank.get(e.commit, len(rank)))
    # A manifest change reaches every stack; an overlay change only its own.
    result.edits = [Edit(e.commit, e.author, e.date, e.subject, e.regions, e.pull_request,
                         deployments(root, e, {s: u for s, u in updates.items()
                                               if any(r.via in ("manifest", f"overlay of stack {s}")
                                                      for r in e.regions)}))
                    for e in ordered]
    boundary = shallow_boundary(root)
    result.cut_at = [e.commit for e in result.edits if e.commit in boundary]
    return result


def shallow_boundary(root: Path) -> set[str]:
    """The commits where a shallow clone's history stops (empty in a complete clone)."""
    try:
        if gitrev.git(root, "rev-parse", "--is-shallow-repository").strip() != "true":
            return set()
        path = Path(gitrev.git(root, "rev-parse", "--git-path", "shallow").strip())
        return set((path if path.is_absolute() else root / path).read_text().split())
    except (gitrev.GitError, OSError):
        return set()
