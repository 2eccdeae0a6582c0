"""A stack's update history, joined with git: what each update applied, and which commit the stack
last applied (which drift compares with, and which no apply or drift fix may go back behind).

Numbering: a backend that numbers updates (Pulumi Cloud) gives each its version; the file and blob
backends number none (version 0), so updates are numbered from the stack's first one, 1, over the
complete history (never one page of it): the number of an update never changes as more follow, so
`blame` names the same update next week as today.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from controller import gitrev

DIRTY = "+dirty"  # marks an apply of uncommitted changes in its message: "amlctl apply <sha>+dirty: ..."
PAGE = 500  # entries per `stack history` call: the engine's own default page is 10


def graph_name(urn: str) -> str:
    return urn.split("::")[-1]


def message_rev(message: str) -> tuple[str, str | None, bool]:
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


def entries(st) -> list:
    """Every update summary of the stack, newest first: page after page until one comes back short.
    Secrets of the stack's config stay encrypted (`--show-secrets` is the library's default)."""
    out: list = []
    page = 1
    while True:
        batch = st.history(page_size=PAGE, page=page, show_secrets=False)
        out += batch
        if len(batch) < PAGE:
            return out
        page += 1


def applied_commit(root: Path, st) -> str | None:
    """The commit the stack's last successful update applied (see `applied_from`)."""
    return applied_from(root, st.history(page_size=PAGE, page=1, show_secrets=False))


def applied_from(root: Path, past: list) -> str | None:
    """The commit the last successful update of `past` (newest first) applied: from amlctl's own
    update message (a `drift --fix` re-applies an older commit than the checkout's), else the
    engine's git.head. None when it applied uncommitted changes or no commit at all."""
    for u in past:
        if u.result != "succeeded" or u.kind != "update":
            continue
        command, rev, dirty = message_rev(u.message or "")
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


def older(root: Path, candidate: str, applied: str) -> bool:
    """Whether `candidate` is a strict ancestor of `applied`: applying it would undo what came after."""
    if candidate == applied:
        return False
    try:
        gitrev.git(root, "merge-base", "--is-ancestor", candidate, applied)
        return True
    except gitrev.GitError:
        return False  # not an ancestor, or `applied` is not in this clone: nothing shows it is older


@dataclass(frozen=True)
class Update:
    version: int
    kind: str
    result: str
    started: str  # ISO 8601 in UTC, with its offset
    message: str
    changes: dict
    commit: str | None
    author: str | None
    subject: str | None = None  # the commit's subject line
    dirty: bool = False  # applied with uncommitted changes (--allow-dirty): not exactly the commit


def updates(root: Path, st) -> list[Update]:
    """Each past update of the stack, newest first, joined with git log through its commit."""
    out = []
    past = entries(st)
    for i, u in enumerate(past):
        commit = author = subject = None
        msg = u.message or ""
        command, rev, dirty = message_rev(msg)
        # The engine records the checkout's git metadata (git.head, git.author) when its project
        # folder is inside the repository, which is the default; the message carries it anyway.
        short = (u.environment or {}).get("git.head") or (rev if command in ("apply", "drift --fix") else None)
        if short:
            try:
                info = gitrev.commit_info(root, short)
                commit, author, subject = info["commit"], info["author"], info["subject"]
            except gitrev.GitError:
                commit = short
        started = u.start_time.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"  # the engine's times are UTC
        out.append(Update(u.version or len(past) - i, u.kind, u.result, started, msg, dict(u.resource_changes or {}),
                          commit, author, subject, dirty))
    return out
