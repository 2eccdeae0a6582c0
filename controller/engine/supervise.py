"""The engine under a supervisor, so that nothing it starts outlives amlctl.

The Automation API runs `<root>/bin/pulumi`; amlctl points it at a small script that runs this
module, which runs the real engine in a process group of its own and:

- when amlctl dies, even by SIGKILL (the kernel tells it: PR_SET_PDEATHSIG), kills the engine and
  every process it started (language host, providers). It runs in a session of its own, so that a
  kill of amlctl's whole process group (how CI systems stop a job) reaches amlctl and not it. A
  killed CI job leaves no process behind; what the engine had in flight, the next run clears
  (interrupt.recover); if the supervisor itself is killed, the kernel kills the engine;
- passes each stop amlctl received on to the engine as an interrupt: its own cancel (finish what
  is in flight, save the state); a second stop is its "stop now". amlctl counts its stops in the
  file STOPS_FILE of the folder $AMLCTL_ENGINE_STOPS names and signals SIGUSR1 once READY_FILE
  says this supervisor handles it; the count is read again once the handler is in place, so a stop
  that came before is not lost. Stopped before the engine starts, it does not start it (exit
  STOPPED, and no STARTED_FILE: amlctl says nothing was changed);
- ignores SIGINT and SIGTERM itself: amlctl's handler decides what a stop means, once per stop,
  however many processes of the group a terminal or `timeout` signalled.

    python -m controller.engine.supervise <real pulumi binary> <args...>
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import psutil  # imported before any signal handler can need it (an import inside one can re-enter)

PARENT_GONE = signal.SIGUSR2
CANCEL = signal.SIGUSR1
MARK = "controller.engine.supervise"  # how amlctl finds its supervisors among its children
STOPS = "AMLCTL_ENGINE_STOPS"  # the folder where amlctl and the supervisor of an update meet
STOPS_FILE, READY_FILE, STARTED_FILE = "stops", "ready", "started"
STOPPED = 130  # the supervisor's exit when it was stopped before it started the engine


def _stops(meeting: Path | None) -> int:
    """How many stops amlctl has received, as it wrote them down (written whole, by a rename)."""
    if meeting is None:
        return 0
    try:
        return int((meeting / STOPS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0


def _say(meeting: Path | None, name: str, text: str) -> None:
    if meeting is None:
        return
    tmp = meeting / f"{name}.tmp"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, meeting / name)
    except OSError:
        pass  # amlctl has gone: nobody reads it


def _prctl(option: int, value: int) -> None:
    """Linux's prctl (elsewhere: no-op, and the engine may outlive us)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _die_with_parent(signum: int) -> None:
    _prctl(1, int(signum))  # PR_SET_PDEATHSIG: `signum` when the parent dies


def _kill_descendants() -> None:
    """Kill every process below this one. As a child subreaper, this process inherits what the
    engine leaves orphaned (its plugins run in process groups of their own, and may outlive it)."""
    try:
        tree = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    for p in tree:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(tree, timeout=5)


def _engine_dies_with_us() -> None:
    # In the engine's process, before exec: if the supervisor itself is killed (a SIGKILL to
    # amlctl's whole process group reaches it too), the kernel kills the engine.
    _die_with_parent(signal.SIGKILL)


def main(argv: list[str]) -> int:
    parent = os.getppid()
    try:
        os.setsid()  # out of amlctl's process group: a kill of that group (a CI job's) reaches amlctl, not us
    except OSError:
        pass  # already a group leader
    _die_with_parent(PARENT_GONE)
    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: the engine's orphans become ours, not init's
    meeting = Path(os.environ.pop(STOPS)) if os.environ.get(STOPS) else None

    killing: list[bool] = []
    # The stops amlctl asked for and those passed on. A handler runs between two bytecodes of this
    # thread: `sent` goes up before each signal, so a nested run never sends one twice.
    engine: dict = {"child": None, "wanted": 0, "sent": 0}

    def gone(_signum: int, _frame) -> None:
        if killing:  # the signal can come again while the first one is handled
            return
        killing.append(True)
        _kill_descendants()

    def deliver() -> None:
        while engine["child"] is not None and engine["sent"] < engine["wanted"]:
            engine["sent"] += 1
            try:
                engine["child"].send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass

    def cancel(_signum: int, _frame) -> None:
        # Without a meeting folder (run by hand), each SIGUSR1 is one stop.
        engine["wanted"] = max(_stops(meeting), engine["wanted"] + (meeting is None))
        deliver()

    signal.signal(PARENT_GONE, gone)
    signal.signal(CANCEL, cancel)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _say(meeting, READY_FILE, str(os.getpid()))  # from now on amlctl signals its stops
    if os.getppid() != parent:  # died before the request took effect
        gone(0, None)
    if killing:
        return 1  # amlctl is gone: nothing to run the engine for
    engine["wanted"] = max(engine["wanted"], _stops(meeting))  # the stops before we were ready
    if engine["wanted"]:
        print("amlctl: stopped before the engine started", file=sys.stderr)
        return STOPPED
    _say(meeting, STARTED_FILE, "")  # before the start: without it, the engine surely never ran
    engine["child"] = subprocess.Popen(argv, start_new_session=True, preexec_fn=_engine_dies_with_us)
    if killing:
        _kill_descendants()  # amlctl died as the engine started
    deliver()  # a stop between the count above and the start
    code = engine["child"].wait()
    _kill_descendants()  # a plugin the engine did not stop (it happens) would run on, orphaned
    return code


def pulumi_command(real: Path, base: Path):
    """The Automation API's PulumiCommand for `real` under this supervisor, its commands stopped
    as controller.engine.interrupt says."""
    from controller.engine import interrupt
    return interrupt.command(command_root(real, base))


def command_root(real: Path, base: Path) -> Path:
    """A folder whose bin/pulumi runs `real` under this supervisor: what auto.PulumiCommand(root=)
    takes. Written once per engine and interpreter; rewritten when either changes."""
    repo = Path(__file__).resolve().parents[2]
    script = (f"#!/bin/sh\n# amlctl: the Pulumi engine under its supervisor ({MARK})\n"
              f"PYTHONPATH={shlex.quote(str(repo))}${{PYTHONPATH:+:$PYTHONPATH}} "
              f"exec {shlex.quote(sys.executable)} -m {MARK} {shlex.quote(str(real))} \"$@\"\n")
    root = base / "engine"
    path = root / "bin" / "pulumi"
    if not path.is_file() or path.read_text(encoding="utf-8") != script:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name("pulumi.tmp")
        tmp.write_text(script, encoding="utf-8")
        tmp.chmod(0o755)
        tmp.replace(path)
    return root


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
