"""Interruption: cancel cleanly on a signal, and recover what a hard stop left."""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

# Imported by the CLI's main() for `stoppable`: keep this module's own imports light (the
# supervisor's and history's are taken where they are used).

# Signals closer together than this are one stop: `timeout` and CI runners signal both the
# process and its group, and a terminal's Ctrl-C reaches every process of the foreground group.
SAME_STOP = 1.0


class Cancelled(Exception):
    """The update was stopped by a signal; the engine finished what was in flight and saved its state."""


class Stopped(Exception):
    """A signal before the engine started: nothing was changed."""


@contextmanager
def stoppable() -> Iterator[None]:
    """Until the engine starts, SIGTERM is what Ctrl-C is (Python's KeyboardInterrupt): the run
    stops where it is, nothing changed, exit 130 as documented, never the shell's 143."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: Any) -> None:
        raise Stopped(f"stopped by {signal.Signals(signum).name} before the engine started: nothing was changed")

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except KeyboardInterrupt:
        raise Stopped("stopped by SIGINT before the engine started: nothing was changed") from None
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def cancellable(report, what: str) -> Iterator[None]:
    """Turn a stop (SIGTERM, SIGINT) into the engine's own cancel.

    CI systems stop a job with SIGTERM, then SIGKILL after a grace period. A killed engine leaves
    pending operations and a held lock. An interrupt is the engine's cancel: it starts nothing new,
    waits for the operations in flight, saves the state and releases the lock. The engine runs under
    controller.engine.supervise, in a process group of its own that no terminal or group signal
    reaches: each stop is passed on to it once, from here. A second stop is the engine's "stop now"
    (what that leaves, `recover` clears on the next run); if amlctl itself is killed, the supervisor
    kills the engine and its plugins.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers live in the main thread; library callers on other threads opt out
        return
    from pulumi.automation import errors as auto_errors

    received: list[tuple[str, float]] = []

    def forward(signum: int, _frame: Any) -> None:
        name, at = signal.Signals(signum).name, time.monotonic()
        if received and at - received[-1][1] < SAME_STOP:
            return  # the same stop, delivered to the process and to its group
        received.append((name, at))
        _tell_supervisors()
        if len(received) == 1:
            report.notice(f"{name} received: the engine finishes the operations in flight, saves the state "
                          "and stops (a second signal stops it at once)")
        else:
            report.notice(f"{name} received again: the engine stops now; the next run clears what it leaves")

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except auto_errors.CommandError as exc:
        if received:
            raise Cancelled(f"{what} cancelled by {received[0][0]}: nothing new was started, and the engine saved "
                            "the state of what it had done; run it again to finish") from exc
        raise
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _tell_supervisors() -> None:
    import psutil

    from controller.engine import supervise
    for child in psutil.Process().children():
        try:
            if supervise.MARK in " ".join(child.cmdline()):
                child.send_signal(supervise.CANCEL)
        except psutil.Error:
            pass


def recover(backend: str, stack: str, st, report) -> None:
    """Clear what a hard stop (SIGKILL, a lost runner) left, and say so: a stale lock of the file
    backend, then the pending operations in the state."""
    from controller.engine.history import graph_name
    if _clear_stale_locks(backend, stack, report) == "held":
        return  # a live update holds the lock: its pending operations are its own; up will say who
    deployment = st.export_stack()
    pending = deployment.deployment.get("pending_operations") or []
    if not pending:
        return
    listed = ", ".join(f"{p.get('type', '?')} {graph_name(p.get('resource', {}).get('urn', '?'))}" for p in pending)
    deployment.deployment["pending_operations"] = []
    st.import_stack(deployment)
    report.notice(f"cleared {len(pending)} pending operation(s) left by an interrupted update: {listed}. The "
                  "engine does them again now: a create or update is a PUT, which ARM (and the simulation) "
                  "treat as an upsert; on Azure a create that did complete may be reported as already existing: "
                  "adopt it with `pulumi import` (see the README's runbook)")


def _clear_stale_locks(backend: str, stack: str, report) -> str:
    """Remove file-backend locks whose process is gone (same host, pid not running). Returns
    "held" when a live lock remains, else "free". Other backends keep their own locks."""
    held = False
    for lock in _locks(backend, stack):
        try:
            info = json.loads(lock.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        pid, host = info.get("pid"), info.get("hostname")
        if host == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
            lock.unlink(missing_ok=True)
            lock.with_name(lock.name + ".attrs").unlink(missing_ok=True)
            report.notice(f"removed a stale lock of stack {stack}: pid {pid} on {host} "
                          f"(since {info.get('timestamp', '?')}) is no longer running")
        else:
            held = True
    return "held" if held else "free"


def _locks(backend: str, stack: str) -> list[Path]:
    """The lock files of the stack in a file backend (other backends keep their own locks)."""
    from controller.engine.state import file_backend
    folder = file_backend(backend)
    return sorted(folder.glob(f".pulumi/locks/*/*/{stack}/*.json")) if folder is not None else []


def lock_holder(backend: str, stack: str) -> str | None:
    """Who holds the file backend's lock of the stack, in a line (the engine prints its raw JSON)."""
    for lock in _locks(backend, stack):
        try:
            info = json.loads(lock.read_text(encoding="utf-8"))
            return (f"pid {info.get('pid')} on {info.get('hostname')} ({info.get('username', '?')}), "
                    f"since {info.get('timestamp', '?')}")
        except (OSError, ValueError, AttributeError):
            continue
    return None


def _alive(pid: int) -> bool:
    import psutil
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # a zombie holds nothing
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return os.path.exists(f"/proc/{pid}")
