"""The engine under a supervisor, so that nothing it starts outlives amlctl.

The Automation API runs `<root>/bin/pulumi`; amlctl points it at a small script that runs this
module, which runs the real engine in a process group of its own and:

- when amlctl dies, even by SIGKILL (the kernel tells it: PR_SET_PDEATHSIG), kills the engine and
  every process it started (language host, providers). It runs in a session of its own, so that a
  kill of amlctl's whole process group (how CI systems stop a job) reaches amlctl and not it. A
  killed CI job leaves no process behind; what the engine had in flight, the next run clears
  (interrupt.recover); if the supervisor itself is killed, the kernel kills the engine;
- on SIGUSR1 from amlctl, passes the engine an interrupt: its own cancel (finish what is in flight,
  save the state); a second SIGUSR1 is its "stop now";
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
    child = subprocess.Popen(argv, start_new_session=True, preexec_fn=_engine_dies_with_us)

    killing: list[bool] = []

    def gone(_signum: int, _frame) -> None:
        if killing:  # the signal can come again while the first one is handled
            return
        killing.append(True)
        _kill_descendants()

    def cancel(_signum: int, _frame) -> None:
        try:
            child.send_signal(signal.SIGINT)
        except ProcessLookupError:
            pass

    signal.signal(PARENT_GONE, gone)
    signal.signal(CANCEL, cancel)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.getppid() != parent:  # died before the request took effect
        gone(0, None)
    code = child.wait()
    _kill_descendants()  # a plugin the engine did not stop (it happens) would run on, orphaned
    return code


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
