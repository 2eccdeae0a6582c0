"""Reading the files a repository names: only inside it, only regular files, in constant memory.

Every place that walks, hashes or reads a referenced file (manifest folders, code and model
folders, build contexts, conda files, the uploads the engine hashes) goes through here, so that
validate, render, upload and the engine all see one walk with one set of rules:

- a path (or any symlink on the way to it) that resolves outside the repository is refused (Y011),
  naming the link, and is never read;
- a symlink loop, a broken symlink, an unreadable file or folder is refused (Y013), naming it;
- anything that is not a regular file or folder (a FIFO, a socket, a device) is refused (Y013)
  from its `stat`, before it is ever opened: opening a FIFO blocks, reading /dev/zero never ends;
- files are hashed by streaming, CHUNK bytes at a time, so a 3 GB model costs no more memory
  than a 3 kB script.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

CHUNK = 1 << 20  # bytes per read when hashing: constant memory whatever the file's size


# O_NONBLOCK: should a FIFO take the file's place between the check and the open, the open returns
# instead of waiting for a writer, and the fstat after it refuses it (no effect on regular files).
# O_NOFOLLOW: `real` has no symlink left, so one appearing there is a swap, refused too.
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
               | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))


class Refused(Exception):
    """A file or folder amlctl will not read. `code` is its diagnostic code (Y011: outside the
    repository; Y013: not readable, or not a regular file), `path` what was named, as the user
    sees it (repository-relative when it is inside the repository)."""

    def __init__(self, code: str, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.code, self.path, self.message = code, path, message


@dataclass(frozen=True)
class Node:
    path: Path  # where it was reached (through any symlinks), absolute
    real: Path  # what it resolves to
    is_dir: bool


def shown(path: Path, root: Path | None) -> str:
    """`path` as a message names it: repository-relative when it lies under `root`."""
    if root is not None:
        try:
            return Path(os.path.abspath(path)).relative_to(Path(os.path.abspath(root))).as_posix()
        except ValueError:
            pass
    return Path(path).as_posix()


@lru_cache(maxsize=64)
def _real_root(root: str) -> str:
    return os.path.realpath(root)


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _what(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check(path: Path, root: Path | None) -> Node:
    """`path` as a Node when it is a regular file or a folder that (after every symlink) lies
    inside `root`; Refused otherwise. Nothing is opened. `root` None checks only the file type."""
    # Strings, not pathlib, on this path: validate checks every manifest and referenced file, and
    # a message's name is worked out only when there is a message.
    text = os.path.abspath(path)
    # Without a root only the last component matters (a link there is opened through, see
    # open_regular): no need to resolve every folder on the way.
    path = Path(text)
    real_text = os.path.realpath(text) if root is not None or os.path.islink(text) else text
    real = Path(real_text)
    if root is not None and not _inside(real_text, _real_root(os.fspath(root))):
        what = "a symlink that points" if os.path.islink(path) else "a path that leads (through a symlink)"
        raise Refused("Y011", shown(path, root), f"{what} outside the repository (to {real}); amlctl reads only "
                      "files inside it, so it is not read")
    try:
        st = os.stat(text)  # follows symlinks: the type of what would be read
    except OSError as exc:
        name = shown(path, root)
        if exc.errno == errno.ELOOP:
            raise Refused("Y013", name, "a symlink loop (the link leads back to itself)") from None
        if os.path.islink(path):
            raise Refused("Y013", name, f"a broken symlink (to {os.readlink(path)})") from None
        raise Refused("Y013", name, f"cannot read it: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        return Node(path, real, True)
    if not stat.S_ISREG(st.st_mode):
        raise Refused("Y013", shown(path, root), f"{_what(st.st_mode)}, not a regular file; amlctl does not open it")
    if not os.access(real_text, os.R_OK):
        raise Refused("Y013", shown(path, root), "cannot read it: permission denied")
    return Node(path, real, False)


def children(node: Node, root: Path | None) -> list[tuple[str, Node]]:
    """(name, Node) of each entry of a folder, by name (so the first bad one is the same on
    every machine); Refused for the first bad one."""
    try:
        entries = sorted(os.scandir(node.path), key=lambda e: e.name)
    except OSError as exc:
        raise Refused("Y013", shown(node.path, root), f"cannot read the folder: {exc.strerror}") from None
    return [(e.name, entry(e, node, root)) for e in entries]


def entry(e: os.DirEntry, parent: Node, root: Path | None) -> Node:
    """`check` of a folder's entry, from what scandir already knows: an entry that is no symlink
    lies where its folder does (inside the repository when the folder is), and its type is the
    one the directory listing gives; only symlinks need resolving."""
    if e.is_symlink():
        return check(Path(e.path), root)
    path, real = Path(e.path), parent.real / e.name
    try:
        if e.is_dir(follow_symlinks=False):
            return Node(path, real, True)
        if e.is_file(follow_symlinks=False):
            if not os.access(real, os.R_OK):
                raise Refused("Y013", shown(path, root), "cannot read it: permission denied")
            return Node(path, real, False)
        mode = e.stat(follow_symlinks=False).st_mode
    except OSError as exc:
        raise Refused("Y013", shown(path, root), f"cannot read it: {exc.strerror}") from None
    raise Refused("Y013", shown(path, root), f"{_what(mode)}, not a regular file; amlctl does not open it")


def descend(child: Node, ancestors: frozenset[Path], root: Path | None) -> frozenset[Path]:
    """The ancestors of `child`'s entries; Refused when `child` is a folder already being walked
    (a symlink back up the tree would otherwise be walked forever)."""
    if child.real in ancestors:
        raise Refused("Y013", shown(child.path, root), f"a symlink loop: it leads back to "
                      f"{shown(child.real, root)}, which contains it")
    return ancestors | {child.real}


def walk(top: Path, root: Path | None) -> list[tuple[str, Node]]:
    """Every regular file under `top` (or `top` itself, named by its own name), as (path relative to
    `top`, Node), sorted as pathlib sorts paths. Symlinks inside the repository are followed."""
    node = check(top, root)
    if not node.is_dir:
        return [(node.path.name, node)]
    out: list[tuple[str, Node]] = []

    def visit(folder: Node, prefix: str, ancestors: frozenset[Path]) -> None:
        for name, child in children(folder, root):
            relative = f"{prefix}{name}"
            if child.is_dir:
                visit(child, relative + "/", descend(child, ancestors, root))
            else:
                out.append((relative, child))

    visit(node, "", frozenset({node.real}))
    return sorted(out, key=lambda e: PurePosixPath(e[0]).parts)


def open_regular(path: Path | Node, root: Path | None) -> BinaryIO:
    """`path` (or a Node the walk has checked already) opened for reading, once `check` allows it.
    O_NONBLOCK and the fstat after opening close the window in which the file could be swapped for
    a FIFO between the check and the open."""
    node = path if isinstance(path, Node) else check(path, root)
    if node.is_dir:
        raise Refused("Y013", shown(node.path, root), "a folder, not a file")
    try:
        fd = os.open(node.real, _OPEN_FLAGS)
    except OSError as exc:
        raise Refused("Y013", shown(node.path, root), f"cannot read it: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise Refused("Y013", shown(node.path, root), f"{_what(mode)}, not a regular file; amlctl does not read it")
    return os.fdopen(fd, "rb")


def update(h: Any, path: Path | Node, root: Path | None) -> None:
    """Feed a file's bytes into the hash `h`, CHUNK at a time."""
    where = path.path if isinstance(path, Node) else path
    try:
        with open_regular(path, root) as f:
            for block in iter(lambda: f.read(CHUNK), b""):
                h.update(block)
    except Refused:
        raise
    except OSError as exc:
        raise Refused("Y013", shown(where, root), f"cannot read it: {exc.strerror}") from None


def sha256(path: Path | Node, root: Path | None) -> str:
    """The sha256 of a file's bytes, streamed."""
    h = hashlib.sha256()
    update(h, path, root)
    return h.hexdigest()


def read_bytes(path: Path, root: Path | None, limit: int) -> bytes:
    """A small file's bytes; Refused (Y005) when it holds more than `limit` bytes, which are not read."""
    try:
        with open_regular(path, root) as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise Refused("Y005", shown(path, root), f"the file is {size:,} bytes; the limit is {limit:,} "
                              "(manifests are small: is this a data file?)")
            data = f.read(limit + 1)
    except Refused:
        raise
    except OSError as exc:
        raise Refused("Y013", shown(path, root), f"cannot read it: {exc.strerror}") from None
    if len(data) > limit:  # it grew since the fstat
        raise Refused("Y005", shown(path, root), f"the file is over the limit of {limit:,} bytes")
    return data


def refusal(top: Path, root: Path | None, seen: dict[str, "Refused | None"]) -> "Refused | None":
    """The walker's refusal of a file or folder, if any, walked once per `seen` (a validate run's
    cache: every stack's view, and every manifest naming the folder, asks again)."""
    key = os.path.normpath(top)
    if key not in seen:
        try:
            walk(top, root)
            seen[key] = None
        except Refused as exc:
            seen[key] = exc
    return seen[key]
