"""The file backend's checkpoint: found torn before the engine reads it, and restored from the copy
the engine keeps.

Pulumi's file backend rewrites `.pulumi/stacks/<project>/<stack>.json` in place after each step,
keeping the previous version as `<stack>.json.bak` and one copy per update under
`.pulumi/backups/`. A full disk (or a kill in the middle of a write) leaves the checkpoint cut
short, and every later engine command fails with "failed to load checkpoint: unexpected end of JSON
input", which names no file and offers no way out. `check` finds that first and says what to run;
`restore` sets the torn file aside and puts back the newest copy that is whole. What the engine
did after that copy was saved it does again on the next apply: a create or update is a PUT, an
upsert in ARM and in the simulation.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from controller.engine.state import StateError, file_backend


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    problem: str | None  # why it cannot be loaded, None when it is whole


def find(backend: str, project: str, stack: str) -> Checkpoint | None:
    base = file_backend(backend)
    if base is None:
        return None  # other backends write their checkpoints whole (one blob PUT)
    path = base / ".pulumi" / "stacks" / project / f"{stack}.json"
    if not path.exists():
        return None
    return Checkpoint(path, _problem(path))


def _problem(path: Path) -> str | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    except ValueError as exc:
        size = path.stat().st_size
        return f"is cut short or corrupt ({size} bytes, {exc.msg} at character {exc.pos}): a full disk or a killed write?"
    if not isinstance(doc, dict) or "checkpoint" not in doc:
        return "is not a Pulumi checkpoint"
    return None


def check(backend: str, project: str, stack: str) -> None:
    """Refuse to start the engine on a checkpoint it cannot load, saying how to recover."""
    cp = find(backend, project, stack)
    if cp is None or cp.problem is None:
        return
    good = _copies(cp.path)
    how = (f"run `amlctl recover --stack {stack}`: it keeps the torn file beside it and restores the newest whole "
           f"copy ({_describe(good[0])}); the next apply redoes what came after it"
           if good else "no whole copy of it is left: restore the state directory from a backup")
    raise StateError(f"the engine's state of stack {stack}, {cp.path}, {cp.problem}. Nothing was changed; {how}")


def restore(backend: str, project: str, stack: str) -> str:
    cp = find(backend, project, stack)
    if cp is None:
        return f"stack {stack} has no checkpoint in a file backend: nothing to recover"
    if cp.problem is None:
        return f"the checkpoint of stack {stack} is whole: nothing to recover"
    good = _copies(cp.path)
    if not good:
        raise StateError(f"{cp.path} {cp.problem}, and no whole copy of it is left: restore the state directory "
                         "from a backup")
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    torn = cp.path.with_name(f"{cp.path.name}.torn-{stamp}")
    try:
        os.replace(cp.path, torn)
        tmp = cp.path.with_name(cp.path.name + ".restoring")
        shutil.copyfile(good[0], tmp)
        os.replace(tmp, cp.path)
        attrs = good[0].with_name(good[0].name + ".attrs")  # gocloud's metadata of the file (its md5)
        if attrs.exists():
            shutil.copyfile(attrs, cp.path.with_name(cp.path.name + ".attrs"))
    except OSError as exc:
        raise StateError(f"cannot restore {cp.path}: {exc.strerror}") from None
    return (f"restored the state of stack {stack} from {_describe(good[0])}; the torn file is kept as {torn.name}. "
            "Run apply: the engine redoes what came after that copy")


def _copies(path: Path) -> list[Path]:
    """Whole copies of a checkpoint, newest first: the engine's .bak, then its per-update backups."""
    stack, project = path.stem, path.parent.name
    backups = path.parents[2] / "backups" / project / stack
    found = [path.with_name(path.name + ".bak")]
    if backups.is_dir():
        found += sorted(backups.glob(f"{stack}.*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [p for p in found if p.is_file() and _problem(p) is None]


def _describe(path: Path) -> str:
    at = _dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.timezone.utc).isoformat(timespec="seconds")
    try:
        n = len(json.loads(path.read_text(encoding="utf-8"))["checkpoint"]["latest"].get("resources") or [])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        n = "?"
    return f"{path.name}, saved {at.replace('+00:00', 'Z')}, {n} resources"
