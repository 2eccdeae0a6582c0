"""Reading the files an estate names: regular files inside the repository only, in constant memory.

One walker and one reader serve every place that reads a file the manifests lead to (discovering
manifests, checking local paths, hashing and uploading code and model folders, the engine comparing
an uploaded file), so that what validate checks, what render hashes and uploads and what the engine
compares are the same files, and none of them is ever outside the repository:

- a symlink is followed only when it resolves inside the repository; one that leads out is Y011,
  naming the link (its target is neither hashed nor uploaded);
- a symlink back into a folder being walked is a loop (Y013), not an endless walk;
- a FIFO, socket or device is Y013 and never opened: opening a FIFO blocks for ever, reading
  /dev/zero never ends;
- files are read in chunks of CHUNK bytes, so hashing a 3 GB model file takes CHUNK of memory.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

CHUNK = 1024 * 1024

# O_NONBLOCK: should a FIFO slip in between the check and the open, the open returns instead of
# waiting for a writer; the fstat after it then refuses the FIFO. It changes nothing for regular files.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


class NotRegular(OSError):
    """A path that is not a regular file (a folder, FIFO, socket or device): never read."""


def kind_of(mode: int) -> str:
    """What a file of this st_mode is, for messages."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: Path | str) -> BinaryIO:
    """`path` opened for reading, when it is a regular file (NotRegular otherwise, other OSErrors
    as the system gives them). Whatever the caller checked before, the check that counts is made
    on the opened file."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(errno.EINVAL, f"it is {kind_of(mode)}, not a regular file", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def chunks(path: Path | str, size: int = CHUNK) -> Iterator[bytes]:
    with open_regular(path) as f:
        while True:
            chunk = f.read(size)
            if not chunk:
                return
            yield chunk


def feed(h: Any, path: Path | str) -> Any:
    """Add a file's bytes to the hash object `h`, chunk by chunk; returns `h`."""
    for chunk in chunks(path):
        h.update(chunk)
    return h


def sha256_file(path: Path | str) -> str:
    return feed(hashlib.sha256(), path).hexdigest()


class TooLarge(OSError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"the file is {size:,} bytes; the limit is {limit:,}")
        self.size, self.limit = size, limit


def read_limited(path: Path | str, limit: int) -> bytes:
    """A small file's bytes (a manifest, a conda file): TooLarge, before reading, past `limit`."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise TooLarge(size, limit)
        data = f.read(limit + 1)
    if len(data) > limit:  # it grew after the fstat
        raise TooLarge(len(data), limit)
    return data


def why(exc: OSError) -> str:
    """An OSError as a short reason ("permission denied"), without the path (the caller names it)."""
    if isinstance(exc, NotRegular) or exc.errno == errno.EFBIG:
        return str(exc.strerror)
    if exc.errno == errno.ELOOP:
        return "a symlink loop (the link leads back to itself)"
    return (exc.strerror or str(exc)).lower()


# -- the walk ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """Something the walk refused; `path` is repository-relative (the link or file as reached)."""

    code: str  # Y011 (leads outside the repository) or Y013 (cannot or must not be read)
    path: str
    message: str  # names `path`, never a file's content


@dataclass(frozen=True)
class Node:
    """A file or folder as the walk reached it: through links, which keep their own names."""

    name: str
    path: Path  # absolute, as reached (not resolved): where to read it
    shown: str  # repository-relative, as reached
    children: tuple["Node", ...] | None = None  # a folder's entries, sorted by name; None for a file

    @property
    def is_dir(self) -> bool:
        return self.children is not None

    def files(self, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], "Node"]]:
        """(parts relative to this node, node) of every file below it, in path order."""
        if self.children is None:
            yield prefix, self
            return
        for child in self.children:
            yield from child.files(prefix + (child.name,))


class Refused(Exception):
    """A walk or read met a Problem where the caller cannot go on without the file."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def real(path: Path | str) -> str:
    """The resolved path; a symlink loop resolves to where the loop starts (never raises)."""
    return os.path.realpath(path)


def inside(path: Path | str, root: Path | str) -> bool:
    """Whether `path`, with every symlink resolved, lies in `root` (itself included)."""
    target, top = real(path), real(root)
    return target == top or target.startswith(top.rstrip(os.sep) + os.sep)


def rel(path: Path | str, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def walk(root: Path, top: Path, *, skip: Callable[[str], bool] = lambda name: False,
         wanted: Callable[[str], bool] = lambda name: True,
         readable: bool = True) -> tuple[Node | None, list[Problem]]:
    """The file or folder `top` (absolute, inside `root`) as a tree of what may be read, and the
    problems met. Entries whose name `skip` says are left out unseen (discover skips dotfiles);
    a special file is a problem only when `wanted` (discover wants YAML files only), a symlink
    that leads out or nowhere always is. With `readable`, a file the process may not read is a
    problem too (the manifest reader reports its own). Never raises for what it finds."""
    problems: list[Problem] = []
    node = _entry(root, top, top.name, rel(top, root), frozenset(), skip, wanted, readable, problems)
    return node, problems


def tree(root: Path, top: Path, **kwargs: Any) -> Node:
    """As `walk`, raising Refused for the first problem: for readers that need every file."""
    node, problems = walk(root, top, **kwargs)
    if problems:
        raise Refused(problems[0])
    assert node is not None
    return node


def _entry(root: Path, path: Path, name: str, shown: str, ancestors: frozenset[str], skip, wanted,
           readable: bool, problems: list[Problem]) -> Node | None:
    try:
        st = os.lstat(path)
    except OSError as exc:
        problems.append(Problem("Y013", shown, f"{shown} cannot be read: {why(exc)}"))
        return None
    if stat.S_ISLNK(st.st_mode):
        target = real(path)
        if not inside(path, root):
            problems.append(Problem("Y011", shown, f"symlink {shown} points outside the repository (to {target}); "
                                    "amlctl reads only files in the repository, so it is not read"))
            return None
        try:
            st = os.stat(path)
        except OSError as exc:
            reason = "a symlink loop" if exc.errno == errno.ELOOP else (
                "a broken symlink (its target does not exist)" if exc.errno == errno.ENOENT else why(exc))
            problems.append(Problem("Y013", shown, f"{shown} is {reason}; it is not read"))
            return None
    if stat.S_ISDIR(st.st_mode):
        here = real(path)
        if here in ancestors:
            problems.append(Problem("Y013", shown, f"{shown} is a symlink loop: it leads back to "
                                    f"{rel(Path(here), Path(real(root)))}, which contains it; it is not followed"))
            return None
        return Node(name, path, shown, _children(root, path, shown, ancestors | {here}, skip, wanted, readable,
                                                 problems))
    if not stat.S_ISREG(st.st_mode):
        if wanted(name):
            problems.append(Problem("Y013", shown, f"{shown} is {kind_of(st.st_mode)}, not a regular file; "
                                    "it is not opened"))
        return None
    if readable and not os.access(path, os.R_OK):
        problems.append(Problem("Y013", shown, f"{shown} cannot be read: permission denied"))
        return None
    return Node(name, path, shown)


def _children(root: Path, folder: Path, shown: str, ancestors: frozenset[str], skip, wanted, readable: bool,
              problems: list[Problem]) -> tuple[Node, ...]:
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        problems.append(Problem("Y013", shown, f"{shown} cannot be read: {why(exc)}"))
        return ()
    out = []
    for name in names:
        if skip(name):
            continue
        child = _entry(root, folder / name, name, f"{shown}/{name}" if shown not in ("", ".") else name,
                       ancestors, skip, wanted, readable, problems)
        if child is not None:
            out.append(child)
    return tuple(out)
