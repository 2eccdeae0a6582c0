"""Git at the edge: reading a revision's files without a checkout, and who last changed what.

`plan` renders both sides of a change straight from git: `git archive` streams the revision's
manifests and stack files into a scratch directory, so the working tree, the index and HEAD are
never touched.
"""
from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path


class GitError(Exception):
    pass


def git(root: Path, *args: str, binary: bool = False) -> str | bytes:
    try:
        p = subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=120)
    except FileNotFoundError:
        raise GitError("git is not installed")
    if p.returncode != 0:
        raise GitError(p.stderr.decode("utf-8", "replace").strip() or f"git {' '.join(args)} failed")
    return p.stdout if binary else p.stdout.decode("utf-8", "replace")


def is_repository(root: Path) -> bool:
    try:
        return git(root, "rev-parse", "--is-inside-work-tree").strip() == "true"
    except GitError:
        return False


def resolve(root: Path, rev: str) -> str:
    try:
        return git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip()
    except GitError:
        raise GitError(f"{rev!r} is not a commit in this repository")


def default_branch(root: Path) -> str:
    """origin's default branch when there is a remote, else main or master."""
    try:
        ref = git(root, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD").strip()
        if ref:
            return ref.removeprefix("refs/remotes/")
    except GitError:
        pass
    for candidate in ("origin/main", "main", "origin/master", "master"):
        try:
            resolve(root, candidate)
            return candidate
        except GitError:
            continue
    raise GitError("no default branch (origin/HEAD, main or master) to compare with: pass --base REV, "
                   "or --from-scratch to plan what a first apply creates")


def merge_base(root: Path, a: str, b: str) -> str:
    return git(root, "merge-base", a, b).strip()


def materialize(root: Path, rev: str, dest: Path, paths: list[str]) -> list[str]:
    """Write the files under `paths` at `rev` into `dest`. Returns the paths that exist at rev."""
    existing = [p for p in paths if _exists(root, rev, p)]
    if not existing:
        return []
    data = git(root, "archive", "--format=tar", rev, "--", *existing, binary=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")  # the data filter refuses links and paths out of dest
    return existing


def _exists(root: Path, rev: str, path: str) -> bool:
    try:
        return bool(git(root, "ls-tree", "--name-only", rev, "--", path.rstrip("/")).strip())
    except GitError:
        return False


def last_commits(root: Path, rev: str | None, paths: list[str]) -> dict[str, str]:
    """For each file under `paths`, the commit (at or before `rev`, default HEAD) that last changed
    it. Uncommitted edits in the working tree keep their file's last commit: the tag moves when
    the change is committed, and `apply` refuses a dirty tree anyway."""
    out: dict[str, str] = {}
    try:
        # -z: paths exactly as they are (without it git quotes a non-ASCII path, "m/\303\251.yaml",
        # and the file would match no manifest); \x01 marks a commit, since no path starts with it.
        log = git(root, "log", "-z", "--format=%x01%H", "--name-only", "--no-renames", rev or "HEAD", "--", *paths)
    except GitError:
        return out
    commit = ""
    for token in log.split("\0"):
        if token.startswith("\x01"):
            commit = token[1:]
            continue
        path = token.removeprefix("\n")  # git ends the commit's line before its first path
        if path and path not in out:
            out[path] = commit
    return out


def last_commit_of_lines(root: Path, rev: str | None, path: str, start: int, end: int) -> str | None:
    """The commit (at or before `rev`) that last changed lines start..end of `path` as they are
    at `rev`, following them back through history (`git log -L`); None if git cannot say."""
    try:
        out = git(root, "log", "-1", "--format=%H", "-s", f"-L{start},{end}:{path}", rev or "HEAD")
    except GitError:
        return None
    return out.strip().splitlines()[0] if out.strip() else None


def is_dirty(root: Path, paths: list[str] | None = None) -> bool:
    return bool(dirty_paths(root, paths))


def dirty_paths(root: Path, paths: list[str] | None = None) -> list[str]:
    """The files under `paths` (all when None) that differ from HEAD, untracked ones included."""
    existing = [p for p in (paths or []) if (root / p).exists() or (root / p).is_symlink()]
    if paths and not existing:
        return []
    out = git(root, "status", "--porcelain", "--no-renames", "-z", "--", *existing)
    return sorted({entry[3:] for entry in out.split("\0") if len(entry) > 3})


def commit_info(root: Path, rev: str) -> dict[str, str]:
    fmt = "%H%x00%an <%ae>%x00%aI%x00%s"
    sha, author, date, subject = git(root, "log", "-1", f"--format={fmt}", rev).rstrip("\n").split("\0")
    return {"commit": sha, "author": author, "date": date, "subject": subject}
