"""Interruption: cancel cleanly on a signal, and recover what a hard stop left.

A stop (SIGTERM, SIGINT) is recorded the moment it arrives, and what it does depends on where
amlctl is:

- in amlctl's own code (rendering, checks, git): it raises Stopped there, as Ctrl-C would;
- while an engine update runs (up, destroy, refresh, preview): it is the engine's own cancel,
  passed on through the engine's supervisor (controller.engine.supervise);
- while a short engine command runs (stack select, export, import, history): that command runs to
  its end (an interrupted write is what tears the engine's files), and amlctl stops right after it;
- inside `cancellable` between engine commands: the next command never starts.

Nothing reads the signal twice and no moment swallows it: a stop that no exception carried (one
that a library's `except` caught, or one that came as an engine command ended) is still recorded,
and ends the command with 130 when the command ends (`stoppable`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

# Imported by the CLI's main() for `stoppable`: keep this module's own imports light (the
# supervisor's, the Automation API's and history's are taken where they are used).

# Signals closer together than this are one stop: `timeout` and CI runners signal both the
# process and its group, and a terminal's Ctrl-C reaches every process of the foreground group.
SAME_STOP = 1.0
# A temporary file of a lock write older than this was left by a kill (a live one is renamed at once).
ABANDONED = 10.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# The engine's commands whose cancel is the engine's own (it finishes what is in flight and saves
# the state); of those, the ones that change the stack.
UPDATES = ("up", "destroy", "refresh", "preview")
CHANGES = ("up", "destroy", "refresh")


class Cancelled(BaseException):
    """The update was stopped by a signal; the engine finished what was in flight and saved its state.

    A BaseException, as KeyboardInterrupt is: no `except Exception` on the way may swallow a stop."""


class Stopped(BaseException):
    """A signal before the engine started: nothing was changed."""


class _Now:
    """What this process has been told, and where it is. Signal handlers run in the main thread
    between two bytecodes: they read and write this, and never wait on anything."""

    def __init__(self) -> None:
        self.received: list[tuple[str, float]] = []  # each stop: (signal name, time.monotonic())
        self.holders = 0  # stoppable and cancellable blocks around this moment
        self.updating = 0  # of them, cancellable blocks: the engine is about to run, or runs
        self.report: Any = None  # the innermost cancellable's report, for its notices
        self.what = "the update"  # what a Cancelled names
        self.changed = False  # an engine command that changes the stack has started
        self.command: _Command | None = None  # the engine command running


_now = _Now()


def _record(name: str) -> bool:
    """Record a stop; False when it is one already recorded (the same stop, delivered twice)."""
    at = time.monotonic()
    if _now.received and at - _now.received[-1][1] < SAME_STOP:
        return False
    _now.received.append((name, at))
    return True


def stopped() -> bool:
    """Whether this process has received a stop."""
    return bool(_now.received)


def stop_error() -> BaseException:
    """What the stops received so far end the command with."""
    name = _now.received[0][0] if _now.received else "a signal"
    if _now.changed:
        return Cancelled(f"{_now.what} cancelled by {name}: nothing new was started, and the engine saved the state "
                         "of what it had done; run it again to finish")
    return Stopped(f"stopped by {name} before the engine started: nothing was changed")


def _on_stop(signum: int, _frame: Any) -> None:
    name = signal.Signals(signum).name
    if not _record(name):
        return  # the same stop, delivered to the process and to its group
    command = _now.command
    if command is not None:
        if command.meeting is not None:  # an engine update: the stop is its own cancel
            command.tell(len(_now.received))
            if _now.report is not None:
                if len(_now.received) == 1:
                    _now.report.notice(f"{name} received: the engine finishes the operations in flight, saves the "
                                       "state and stops (a second signal stops it at once)")
                else:
                    _now.report.notice(f"{name} received again: the engine stops now; the next run clears what it "
                                       "leaves")
        return  # a short engine command runs to its end; _run_command stops right after it
    if _now.updating:
        return  # between the engine commands of an update: the next one never starts (_run_command)
    raise stop_error()


@contextmanager
def _handling(final: bool = False) -> Iterator[None]:
    """_on_stop for SIGTERM and SIGINT for the block; the state forgotten after the outermost.
    `final`: the stops are ignored after the block instead of handled as before it."""
    if not _now.holders:
        _now.__init__()  # what an earlier update of a library caller left (`changed`)
    previous = {s: signal.signal(s, _on_stop) for s in STOP_SIGNALS}
    _now.holders += 1
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, signal.SIG_IGN if final else h)
        _now.holders -= 1
        if not _now.holders:  # a library caller may run another update in this process
            _now.__init__()


def _decided(final: bool) -> None:
    """The block has ended: with `final`, a stop from here on is ignored, the outcome is decided.
    (signal.signal runs a handler already due before it changes it: no stop falls in between. A
    blocked mask would not do: another thread of the process would take the signal.)"""
    if final:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)


@contextmanager
def stoppable(final: bool = False) -> Iterator[None]:
    """Until the engine starts, SIGTERM is what Ctrl-C is (Python's KeyboardInterrupt): the run
    stops where it is, nothing changed, exit 130 as documented, never the shell's 143. A stop that
    no exception carried out of the block ends it with Stopped (or Cancelled) all the same.

    `final`: the process ends after the block (the CLI's main). A stop after the block decided its
    outcome is ignored, instead of killing the process with the shell's 143."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with _handling(final):
        try:
            yield
        except (Stopped, Cancelled):
            raise
        except KeyboardInterrupt:  # a Ctrl-C before the handler was in place
            _decided(final)
            _record("SIGINT")
            raise stop_error() from None
        except BaseException as exc:
            _decided(final)
            # A failure that a stop caused (a git child the group's SIGTERM ended, say) is the stop's.
            if _now.received and not (isinstance(exc, SystemExit) and exc.code == 130):
                raise stop_error() from None
            raise
        _decided(final)
        if _now.received:
            raise stop_error()


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

    A stop received before the block, or before the engine's command starts, stops the block with
    nothing started: every engine command runs through `_run_command`, which checks before each one.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers live in the main thread; library callers on other threads opt out
        return
    with _handling():
        outer = _now.report
        _now.updating += 1
        _now.report, _now.what = report, what  # `what` stays: a stop after the block names it too
        try:
            if _now.received:
                raise stop_error()  # a stop that no exception carried here: the engine never starts
            yield
            if _now.received:
                raise stop_error()  # one that came after the engine's last command
        finally:
            _now.updating -= 1
            _now.report = outer


class _Command:
    """An engine command, as amlctl's stop handler sees it. An update gets a meeting folder that
    its supervisor reads (supervise.STOPS): there amlctl counts the stops it received, and the
    supervisor says it is ready for them and whether it started the engine. The count is written
    before the supervisor is signalled, and the supervisor reads it once its handler is in place:
    a stop before the supervisor is ready is read there, one after is signalled, so none is lost
    (and one seen both ways counts once)."""

    def __init__(self, verb: str) -> None:
        import psutil  # here, not in the signal handler: an import inside one can re-enter

        self._psutil = psutil
        self.verb = verb
        self.meeting = Path(tempfile.mkdtemp(prefix="amlctl-stops-")) if verb in UPDATES else None

    def tell(self, stops: int) -> None:
        from controller.engine import supervise
        assert self.meeting is not None
        try:
            tmp = self.meeting / "stops.tmp"
            tmp.write_text(str(stops), encoding="utf-8")
            os.replace(tmp, self.meeting / supervise.STOPS_FILE)  # whole, as the supervisor reads it
            pid = int((self.meeting / supervise.READY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # not ready: it reads the count when it is (or it has ended)
        try:
            if self._psutil.Process(pid).ppid() == os.getpid():  # ours still, not a reused pid
                os.kill(pid, supervise.CANCEL)
        except (self._psutil.Error, ProcessLookupError):
            pass

    def started(self) -> bool:
        """Whether the engine of this command was started (an update's supervisor says so)."""
        from controller.engine import supervise
        return self.meeting is None or (self.meeting / supervise.STARTED_FILE).exists()

    def close(self) -> None:
        if self.meeting is not None:
            shutil.rmtree(self.meeting, ignore_errors=True)


def _run_command(run, args: list[str], cwd: str, env, on_output, on_error):
    """One engine command (PulumiCommand.run), never started after a stop and never broken off by
    one: an exception raised inside the Automation API's call would close the engine's output
    pipes under it and leave its reader threads failing."""
    from controller.engine import supervise
    from pulumi.automation import errors as auto_errors
    verb = next((a for a in args if not a.startswith("-")), "")
    command = _Command(verb)
    if command.meeting is not None:
        env = {**env, supervise.STOPS: str(command.meeting)}
    _now.command = command  # from here a stop is this command's to handle, never an exception here
    try:
        if _now.received:
            raise stop_error()  # stopped before: this command never starts
        try:
            result = run(args, cwd, env, on_output, on_error)
        except auto_errors.CommandError:
            if not _now.received:
                raise
            _now.changed |= verb in CHANGES and command.started()
            raise stop_error() from None
        _now.changed |= verb in CHANGES and command.started()
    finally:
        _now.command = None
        command.close()
    if _now.received:
        raise stop_error()  # a stop while a short command ran, or as the update ended
    return result


_command_class: type | None = None


def command(root: Path):
    """The Automation API's PulumiCommand for the engine under `root` (supervise.command_root),
    with every command it runs going through _run_command."""
    global _command_class
    if _command_class is None:
        from pulumi import automation as auto

        class Command(auto.PulumiCommand):
            def run(self, args, cwd, additional_env, on_output=None, on_error=None):
                if threading.current_thread() is not threading.main_thread():
                    return super().run(args, cwd, additional_env, on_output, on_error)
                return _run_command(super().run, args, cwd, additional_env, on_output, on_error)

        _command_class = Command
    return _command_class(root=str(root))


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
    for lock in _locks(backend, stack) + _lock_writes(backend, stack):
        try:
            info = json.loads(lock.read_text(encoding="utf-8"))
        except OSError:
            continue
        except ValueError:
            # A lock is written to a temporary file renamed at once: one left empty or cut short is a
            # write that a kill interrupted, which the engine reads as a lock it cannot parse.
            if lock.suffix == ".tmp" and time.time() - lock.stat().st_mtime > ABANDONED:
                lock.unlink(missing_ok=True)
                report.notice(f"removed {lock}: a lock of stack {stack} that a killed engine was writing")
            continue
        if not isinstance(info, dict):
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


def _lock_writes(backend: str, stack: str) -> list[Path]:
    """gocloud's temporary files of lock writes (`<lock>.json.<hex>.tmp`): the engine counts any
    file in the folder as a lock."""
    from controller.engine.state import file_backend
    folder = file_backend(backend)
    return sorted(folder.glob(f".pulumi/locks/*/*/{stack}/*.json.*.tmp")) if folder is not None else []


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


# The engine's own line for each lock of a diy backend (pkg/backend/diy/lock.go), the only place a
# blob backend's lock holder is said without reading the bucket with credentials of amlctl's own.
_HOLDER = re.compile(r"created by (?P<user>.*?)@(?P<host>\S+) \(pid (?P<pid>\d+)\) at (?P<at>\S+)")


def holder_in(message: str) -> str | None:
    """The lock holder the engine's conflict error names, in the line lock_holder gives."""
    m = _HOLDER.search(message)
    return f"pid {m['pid']} on {m['host']} ({m['user'] or '?'}), since {m['at']}" if m else None


def _alive(pid: int) -> bool:
    import psutil
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # a zombie holds nothing
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return os.path.exists(f"/proc/{pid}")
