"""The file backend's checkpoint: found torn before the engine reads it, and restored from the copy
the engine keeps.

Pulumi's file backend (gocloud's fileblob) rewrites `.pulumi/stacks/<project>/<stack>.json` after
each step through a temporary file and a rename, keeping the previous version as
`<stack>.json.bak` and one copy per update under `.pulumi/backups/`. Beside each file it keeps a
sidecar, `<file>.attrs` (the file's content type and checksum), which it writes in place:
truncated, then written. A kill between the two (an apply's process group killed while the engine
saves a step, as a CI job's cancel does) leaves the sidecar empty, and every later engine command
fails with "failed to load checkpoint: EOF", naming no file: gocloud reads the sidecar of every
file it opens. A sidecar holds nothing of the stack's state and gocloud reads a missing one as the
defaults, so `check` removes a torn one and says so; the file it describes is whole (the kill
came before the rename that would have replaced it).

A checkpoint that is itself cut short (a full disk, or a copy of the state directory that stopped
half way) fails with "unexpected end of JSON input". An empty one beside a whole `.bak` (the
previous version, copied there just before the write that left it empty) is put back from the
`.bak`, lossless, with a notice; anything else `check` refuses, saying what to run: `restore` sets
the torn file aside and puts back the newest copy that is whole. What the engine did after that
copy was saved it does again on the next apply: a create or update is a PUT, an upsert in ARM and
in the simulation.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

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


def check(backend: str, project: str, stack: str, notice: Callable[[str], None] | None = None) -> None:
    """Repair what is safe to repair (torn sidecars; an empty checkpoint beside a whole previous
    version), saying so through `notice` (stderr by default); refuse to start the engine on a
    checkpoint it cannot load, saying how to recover."""
    base = file_backend(backend)
    if base is None:
        return  # other backends write their checkpoints whole (one blob PUT)
    say = notice or _to_stderr
    for message in repair_sidecars(base, project, stack):
        say(message)
    cp = find(backend, project, stack)
    if cp is None or cp.problem is None:
        return
    good = _copies(cp.path)
    if good and good[0].name == cp.path.name + ".bak" and _empty(cp.path):
        say(_put_back(cp.path, good[0], stack, "is empty (a write of it that never happened: the engine was killed "
                                               "as it saved a step)") + ". Nothing of what was saved is lost")
        return
    how = (f"run `amlctl recover --stack {stack}`: it keeps the torn file beside it and restores the newest whole "
           f"copy ({_describe(good[0])}); the next apply redoes what came after it"
           if good else "no whole copy of it is left: restore the state directory from a backup")
    raise StateError(f"the engine's state of stack {stack}, {cp.path}, {cp.problem}. Nothing was changed; {how}")


def _to_stderr(message: str) -> None:
    print(f"amlctl: {message}", file=sys.stderr, flush=True)


def _empty(path: Path) -> bool:
    try:
        return not path.read_bytes().strip()
    except OSError:
        return False


def _sidecars(base: Path, project: str, stack: str) -> Iterator[Path]:
    """The sidecars of the files the engine reads for the stack: its checkpoint and `.bak`, its
    history (`stack history`, and the commit amlctl applied last), its backups and its locks."""
    pulumi = base / ".pulumi"
    yield from sorted((pulumi / "stacks" / project).glob(f"{stack}.json*.attrs"))
    for folder in ("history", "backups"):
        yield from sorted((pulumi / folder / project / stack).glob("*.attrs"))
    yield from sorted(pulumi.glob(f"locks/*/{project}/{stack}/*.attrs"))


def repair_sidecars(base: Path, project: str, stack: str) -> list[str]:
    """Remove the sidecars a kill left torn (empty or cut short): gocloud reads a missing one as
    the defaults and writes it again with its file. What was done, as notices."""
    done = []
    for sidecar in _sidecars(base, project, stack):
        try:
            text = sidecar.read_text(encoding="utf-8")
            if isinstance(json.loads(text), dict):
                continue
        except OSError:
            continue  # unreadable: the engine says so, naming it
        except ValueError:
            pass
        try:
            sidecar.unlink()
        except OSError as exc:
            raise StateError(f"{sidecar} is torn (a kill while the engine wrote it) and cannot be removed: "
                             f"{exc.strerror}. Remove it: it only holds the content type and checksum of "
                             f"{sidecar.name[:-len('.attrs')]}") from None
        what = "empty" if not text.strip() else f"cut short ({len(text.encode())} bytes)"
        done.append(f"removed {sidecar}: the engine's metadata of {sidecar.name[:-len('.attrs')]} (its content type "
                    f"and checksum) was {what}, left by a kill while the engine wrote it. It holds nothing of the "
                    "stack's state, and the engine writes it again")
    return done


def restore(backend: str, project: str, stack: str) -> str:
    base = file_backend(backend)
    repaired = "".join(f"{m}\n" for m in repair_sidecars(base, project, stack)) if base is not None else ""
    cp = find(backend, project, stack)
    if cp is None:
        return repaired + f"stack {stack} has no checkpoint in a file backend: nothing to recover"
    if cp.problem is None:
        return repaired + f"the checkpoint of stack {stack} is whole: nothing {'else ' * bool(repaired)}to recover"
    good = _copies(cp.path)
    if not good:
        raise StateError(f"{cp.path} {cp.problem}, and no whole copy of it is left: restore the state directory "
                         "from a backup")
    return (repaired + _put_back(cp.path, good[0], stack, cp.problem)
            + ". Run apply: the engine redoes what came after that copy")


def _put_back(path: Path, good: Path, stack: str, problem: str) -> str:
    """Set the torn checkpoint aside and put `good` (a whole copy) in its place."""
    described = _describe(good)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    torn = path.with_name(f"{path.name}.torn-{stamp}")
    try:
        os.replace(path, torn)
        tmp = path.with_name(path.name + ".restoring")
        shutil.copyfile(good, tmp)
        os.replace(tmp, path)
        attrs = good.with_name(good.name + ".attrs")  # gocloud's metadata of the file (its md5)
        if attrs.exists():
            shutil.copyfile(attrs, path.with_name(path.name + ".attrs"))
    except OSError as exc:
        raise StateError(f"cannot restore {path}: {exc.strerror}") from None
    return (f"restored the state of stack {stack} from {described}: {path.name} {problem}; the torn file is kept "
            f"as {torn.name}")


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
