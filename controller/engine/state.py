"""What amlctl keeps of a stack besides the engine's own state, and how it keeps it safe.

    <state dir>/last-applied.json   the record: the graph of the last successful apply, and the last
                                    operation on the stack (apply, destroy, drift --fix) with its status
    <state dir>/operation.lock      held (flock) by the amlctl process changing the stack, with who it is

The record lets an unchanged apply return without starting the engine. That shortcut trusts the
record only when the last operation on the stack was a complete, successful apply of the same
graph: every operation first writes "started", so a failed, interrupted or killed apply, destroy or
drift fix sends the next apply to the engine, whose state is the authority.

Every write goes to a temporary file that replaces the record in one rename: a full disk or a kill
leaves the previous record, never half of one. A record that is not JSON anyway (edited by hand, a
disk fault) is an error naming the file and how to recover, never a traceback.
"""
from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import json
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from controller.render.graph import Graph

RECORD = "last-applied.json"
LOCK = "operation.lock"
STARTED, SUCCEEDED = "started", "succeeded"


class StateError(Exception):
    """A state file amlctl cannot read or write; the message says which and what to do."""


def state_dir(root: Path, stack: str) -> Path:
    from controller.stacks import StackNameError, check_name
    try:
        check_name(stack)  # the name becomes a path here: never '..' or an option to the engine
    except StackNameError as exc:
        raise StateError(str(exc)) from None
    base = Path(os.environ["AMLCTL_STATE_DIR"]) if os.environ.get("AMLCTL_STATE_DIR") else root / ".amlctl"
    return base / stack


def sim_dir(root: Path, stack: str) -> Path:
    """Where the local target keeps its simulated resources: the stand-in for Azure. Default
    `<state dir>/sim`; $AMLCTL_SIM_DIR/<stack> when set, so that runners which share a backend
    (AMLCTL_BACKEND_URL) can share the simulated cloud too, as they would share Azure."""
    if os.environ.get("AMLCTL_SIM_DIR"):
        return Path(os.environ["AMLCTL_SIM_DIR"]) / state_dir(root, stack).name
    return state_dir(root, stack) / "sim"


def make_dir(path: Path) -> Path:
    """`path` created if need be; StateError naming it when amlctl cannot write there."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"cannot write the state directory {path}: {exc.strerror}") from None
    return path


def file_backend(backend: str) -> Path | None:
    """The folder of a file:// backend URL; None for other backends (azblob://, Pulumi Cloud)."""
    return Path(backend[len("file://"):]) if backend.startswith("file://") else None


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Record:
    graph: dict[str, Any] | None  # the last successfully applied graph (None after a destroy)
    digest: str | None
    commit: str | None  # the commit that apply had checked out, when clean
    operation: str  # the last operation: apply, destroy, drift --fix
    status: str  # STARTED (it may have failed or been killed) or SUCCEEDED
    at: str

    def unchanged(self, graph: Graph) -> bool:
        """Whether `graph` is what the last operation, a complete and successful apply, left."""
        return (self.operation in ("apply", "drift --fix") and self.status == SUCCEEDED
                and self.digest == graph.digest())


def read(root: Path, stack: str) -> Record | None:
    path = state_dir(root, stack) / RECORD
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror}") from None
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        graph = doc.get("graph")
        return Record(graph, doc.get("digest"), doc.get("commit"), str(doc.get("operation", "apply")),
                      str(doc.get("status", SUCCEEDED)), str(doc.get("at", "")))
    except ValueError as exc:
        raise StateError(f"{path} is not a record amlctl wrote ({exc}). It only speeds up an unchanged apply and "
                         f"carries archived versions: remove it (rm {path}) and apply again; the engine's state is "
                         "the authority") from None


def last_applied(root: Path, stack: str) -> Graph | None:
    return applied_graph(root, stack, read(root, stack))


def applied_graph(root: Path, stack: str, record: Record | None) -> Graph | None:
    """The graph of the last successful apply a record holds (None without one)."""
    if record is None or record.graph is None:
        return None
    try:
        return Graph.from_dict(record.graph)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateError(f"{state_dir(root, stack) / RECORD} holds no graph amlctl can read ({exc}): remove it and "
                         "apply again") from None


def begin(root: Path, stack: str, operation: str) -> None:
    """Say, before the engine changes anything, that `operation` is under way: until it ends with
    `succeeded`, no apply takes the shortcut."""
    was = read(root, stack)
    _write(root, stack, {"graph": was.graph if was else None, "digest": was.digest if was else None,
                         "commit": was.commit if was else None, "operation": operation, "status": STARTED,
                         "at": now()})


def succeeded(root: Path, stack: str, operation: str, graph: Graph | None, commit: str | None) -> None:
    _write(root, stack, {"graph": graph.to_dict() if graph is not None else None,
                         "digest": graph.digest() if graph is not None else None, "commit": commit,
                         "operation": operation, "status": SUCCEEDED, "at": now()})


def _write(root: Path, stack: str, doc: dict[str, Any]) -> None:
    path = state_dir(root, stack) / RECORD
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, sort_keys=True))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)  # atomic: a crash leaves the previous record, never half of one
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StateError(f"cannot write {path}: {exc.strerror}"
                         + (" (the disk is full: free space; the engine's state is unchanged by this record)"
                            if exc.errno == errno.ENOSPC else "")) from None


# -- one amlctl operation at a time per stack ---------------------------------------------------------
class Busy(StateError):
    """Another amlctl process is changing the stack."""


@contextmanager
def exclusive(root: Path, stack: str, command: str) -> Iterator[None]:
    """Hold the stack's operation lock for the whole of `command` (render, checks, engine, record):
    a `drift --fix` that read the last applied commit and an apply of a newer one can never
    interleave, and a second apply is refused at once, naming the one that runs, before it renders
    or starts the engine. The lock is an flock: it dies with its process (even SIGKILL), so a lost
    run never leaves it held. Runners on other machines share no flock: the engine's backend lock
    and the revision check before each update (controller.engine.operations) cover them."""
    path = make_dir(state_dir(root, stack)) / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StateError(f"cannot write the state directory {path.parent}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"another amlctl run is changing stack {stack}: {_holder(fd)}; nothing was changed. "
                       "Wait for it to finish (CI: one concurrency group per stack)") from None
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": command, "since": now()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # no longer anyone's
    finally:
        os.close(fd)  # releases the flock


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"`amlctl {info['command']}` (pid {info['pid']} on {info['host']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not said what it runs yet"
