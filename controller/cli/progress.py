"""Per-resource progress of an engine run, from the Automation API's events.

On a terminal: a live view of the operations in flight (rich), with each finished one printed
above it. Elsewhere (CI logs, pipes, CI=true): one plain line per finished operation, no
control characters, so a log reads top to bottom.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import click

# module:Type as `plan` prints it: "Component" alone could be Application Insights or Azure ML.
from controller.render.graph import type_name

# What each engine op is called while running and once done, and its plan symbol. A replace is
# three steps: the replacement is created, the resource is replaced, the original is deleted.
VERBS = {
    "create": ("creating", "created", "+"), "update": ("updating", "updated", "~"),
    "delete": ("deleting", "deleted", "-"), "replace": ("replacing", "replaced", "+-"),
    "create-replacement": ("creating the replacement", "created the replacement", "+-"),
    "delete-replaced": ("deleting the original", "deleted the original", "+-"),
    "import": ("importing", "imported", "="), "discard": ("forgetting", "forgot", "-"),
    "read": ("reading", "read", ">"), "refresh": ("refreshing", "refreshed", "~"),
}
SUMMARY = (("create", "+", "created"), ("update", "~", "updated"), ("replace", "+-", "replaced"),
           ("delete", "-", "deleted"), ("discard", "-", "forgotten"), ("import", "=", "imported"))


def describe(changes: dict[str, int]) -> str:
    """The engine's change summary as one line: "+ 56 created, ~ 3 updated"."""
    parts = [f"{symbol} {changes[op]} {word}" for op, symbol, word in SUMMARY if changes.get(op)]
    return ", ".join(parts) or "no changes"


def _name(urn: str) -> str:
    return urn.split("::")[-1]


def live_wanted(stream: Any = None) -> bool:
    return (stream or sys.stdout).isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"


def _terminal(err: bool) -> bool:
    return (sys.stderr if err else sys.stdout).isatty()


# Each finished operation's symbol in colour, as plan colours its actions.
COLOUR = {"+": "green", "~": "yellow", "-": "red", "+-": "magenta"}


class Progress:
    """A Reporter for controller.engine.operations (notices and engine events).

    `err`: everything on stderr, so that stdout carries only a command's result (--output json).
    `color(err)`: whether to colour stdout (False) or stderr (True); by default, when it is a terminal."""

    def __init__(self, live: bool | None = None, console: Any = None, err: bool = False,
                 color: Callable[[bool], bool] = _terminal):
        self.err = err
        self._colour = color
        self.color = color(err)
        self.live = live_wanted(sys.stderr if err else sys.stdout) if live is None else live
        self._lock = threading.Lock()
        self._running: dict[str, tuple[str, str, float]] = {}  # urn -> (op, type, started)
        self._view = None
        self._console = console  # a rich Console; tests pass one that writes to a buffer

    def __enter__(self) -> "Progress":
        if self.live:
            from rich.console import Console
            from rich.live import Live
            self._console = self._console or Console(stderr=self.err, no_color=not self.color)
            self._view = Live(self._render(), console=self._console, refresh_per_second=8, transient=True)
            self._view.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._view is not None:
            self._view.__exit__(*exc)
            self._view = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The live view stopped, for a question at the terminal."""
        if self._view is None:
            yield
            return
        self._view.stop()
        try:
            yield
        finally:
            self._view.start()

    # Reporter
    def notice(self, message: str) -> None:
        self._print(f"amlctl: {message}", err=True)

    def event(self, event: Any) -> None:
        with self._lock:
            self._event(event)
        if self._view is not None:
            self._view.update(self._render())

    def _event(self, e: Any) -> None:
        if e.resource_pre_event is not None:
            m = e.resource_pre_event.metadata
            op = str(m.op.value)
            if op == "same" or m.type == "pulumi:pulumi:Stack" or m.type.startswith("pulumi:providers:"):
                return
            self._running[m.urn] = (op, m.type, time.monotonic())
        elif e.res_outputs_event is not None:
            m = e.res_outputs_event.metadata
            started = self._running.pop(m.urn, None)
            op = str(m.op.value)
            if op == "same" or m.type == "pulumi:pulumi:Stack" or m.type.startswith("pulumi:providers:"):
                return
            took = time.monotonic() - started[2] if started else 0.0
            _, done, symbol = VERBS.get(op, (op, op, "*"))
            mark = click.style(f"{symbol:<2}", fg=COLOUR.get(symbol), bold=True) if self._colour(self.err) and \
                self._console is None else f"{symbol:<2}"
            self._print(f" {mark} {done:<10} {_name(m.urn)}  ({type_name(m.type)}, {took:.1f}s)")
        elif e.res_op_failed_event is not None:
            m = e.res_op_failed_event.metadata
            self._running.pop(m.urn, None)
            self._print(f" !  failed     {_name(m.urn)}  ({type_name(m.type)}, {m.op.value})", err=True)
        elif e.diagnostic_event is not None:
            d = e.diagnostic_event
            if d.severity in ("error", "warning") and not d.ephemeral:
                where = f"{_name(d.urn)}: " if d.urn and "pulumi:pulumi:Stack" not in d.urn else ""
                self._print(f"    {d.severity}: {where}{d.message.strip()}", err=True)

    def _print(self, line: str, err: bool = False) -> None:
        if self._console is not None:
            self._console.print(line, markup=False, highlight=False, style="red" if err else None)
        else:
            err = err or self.err
            coloured = self._colour(err)  # decided here: click must neither strip nor add
            click.echo(click.style(line, fg="red") if err and coloured else line, err=err, color=coloured)

    def _render(self):
        from rich.table import Table
        from rich.text import Text
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")  # names are what people look for: never cut them short
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True, justify="right")
        now = time.monotonic()
        with self._lock:
            running = sorted(self._running.items(), key=lambda kv: kv[1][2])
        for urn, (op, type_, started) in running[:20]:
            table.add_row(Text(VERBS.get(op, (op, op, "*"))[0], style="yellow"), Text(_name(urn)),
                          Text(type_name(type_), style="dim"), Text(f"{now - started:.0f}s"))
        if len(running) > 20:
            table.add_row(Text(""), Text(f"... and {len(running) - 20} more"), Text(""), Text(""))
        return table
