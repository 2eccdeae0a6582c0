"""Whether output is coloured: `--color auto|always|never`, NO_COLOR and FORCE_COLOR, per stream.

    --color always / never   wins over everything
    NO_COLOR (non-empty)     no colour (no-color.org), unless --color always
    FORCE_COLOR (non-empty, not "0")   colour even when not a terminal (force-color.org; "0" is
                             how Node tools say "off", so it does not force)
    otherwise                colour when the stream is a terminal

The mode lives in the root click context's `meta`, set by the `amlctl` group, so every command
(and its error output on stderr) reads the same answer without passing a flag around.
"""
from __future__ import annotations

import os
import sys
from typing import Mapping

import click

MODES = ("auto", "always", "never")
KEY = "amlctl.color"


def forced(mode: str, env: Mapping[str, str]) -> bool | None:
    """True or False when the mode or the environment decides; None when the terminal does."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR") and env["FORCE_COLOR"] != "0":
        return True
    return None


def wanted(mode: str, tty: bool, env: Mapping[str, str]) -> bool:
    decided = forced(mode, env)
    return tty if decided is None else decided


def mode() -> str:
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(KEY, "auto") if ctx is not None else "auto"


def on(err: bool = False) -> bool:
    """Whether the running command colours stdout (err=False) or stderr (err=True)."""
    stream = sys.stderr if err else sys.stdout
    return wanted(mode(), stream.isatty(), os.environ)
