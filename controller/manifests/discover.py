"""Finding manifest files under the paths a user gives, without ever leaving the repository."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from controller import files as safe
from controller.diagnostics import Diagnostic, error

SUFFIXES = (".yaml", ".yml")


class UsageError(Exception):
    """Bad command-line input (exit code 2), as opposed to bad manifests (exit code 1)."""


def find_root(start: Path) -> Path:
    """The repository root: the nearest folder holding .git, else `start` itself."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class Found:
    files: tuple[Path, ...]  # absolute, as given (not resolved), sorted by repository-relative path
    diagnostics: tuple[Diagnostic, ...]


def discover(paths: list[str], root: Path, cwd: Path | None = None) -> Found:
    cwd = cwd or Path.cwd()
    files: dict[str, Path] = {}
    diags: list[Diagnostic] = []
    for given in paths:
        p = Path(given)
        p = p if p.is_absolute() else cwd / p
        if not p.exists() and not p.is_symlink():
            raise UsageError(f"no such file or folder: {given}")
        if not inside(p, root):
            diags.append(error(rel(p, root), 0, 0, "Y011",
                               f"{given} is outside the repository ({root}); amlctl reads only files in it"))
            continue
        if p.is_dir():
            _walk(p, root, files, diags, frozenset({p.resolve()}))
        else:
            files[rel(p, root)] = p
    return Found(tuple(files[k] for k in sorted(files)), tuple(diags))


def _walk(folder: Path, root: Path, files: dict[str, Path], diags: list[Diagnostic], seen: frozenset[Path]) -> None:
    # The folder was checked on the way in: its entries that are no links need no resolving.
    parent = safe.Node(folder, Path(os.path.realpath(folder)), True)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        diags.append(error(rel(folder, root), 0, 0, "Y013", f"cannot read the folder: {exc.strerror}"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue  # .git, .venv, editor files
        is_yaml = entry.name.lower().endswith(SUFFIXES)
        # What is not YAML and not a folder is never read here (a code folder's files are the path
        # checks' to walk). The rest is classified by amlctl's one file walker (controller.files)
        # from its stat, never opened: a FIFO named x.yaml must not block validate, a link must not
        # lead out of the repository.
        if not (is_yaml or _is_dir(entry)):
            continue
        path = Path(entry.path)
        try:
            node = safe.entry(entry, parent, root)
            if node.is_dir:
                _walk(path, root, files, diags, safe.descend(node, seen, root))
            elif is_yaml:
                files[rel(path, root)] = path
        except safe.Refused as exc:
            diags.append(error(exc.path, 0, 0, exc.code, exc.message))


def _is_dir(entry: os.DirEntry) -> bool:
    """Whether an entry is (or links to) a folder; a link that cannot be followed (a loop) counts,
    so that the walker names it."""
    try:
        return entry.is_dir()
    except OSError:
        return True
