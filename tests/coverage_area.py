"""The coverage estate (tests/estates/coverage): base/ and one area laid in one folder, as
tests/test_coverage_engine.py applies them, then validated and rendered for its local stack. The
kind tests and the fidelity groups over an area share these."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from controller.render import render
from controller.render.graph import Graph, Resource
from controller.validate import validate

COVERAGE = Path(__file__).resolve().parent / "estates" / "coverage"


def lay(root: Path, area: str, edits: dict[str, tuple[str, str]] | None = None,
        extra: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> Path:
    """base/ and `area` under `root`; `edits`: file -> (old, new) text replacements (an empty old
    appends new); `extra`: more files; `drop`: files to remove."""
    for part in (COVERAGE / "base", COVERAGE / area):
        shutil.copytree(part, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("CHANGE.yaml"))
    (root / ".git").mkdir(exist_ok=True)  # marks the repository root
    for rel, (old, new) in (edits or {}).items():
        text = (root / rel).read_text()
        assert old in text, (rel, old)
        (root / rel).write_text(text + new if not old else text.replace(old, new))
    for rel, text in (extra or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for rel in drop:
        (root / rel).unlink()
    return root


def problems(root: Path, errors_only: bool = True) -> list[str]:
    """validate's errors (with warnings unless `errors_only`), as 'file:line: [CODE] message'."""
    report = validate(root=root, cwd=root)
    return [f"{d.path}:{d.line}: [{d.code}] {d.message}" for d in report.diagnostics
            if not errors_only or d.severity.value == "error"]


@dataclass(frozen=True)
class Rendered:
    root: Path
    stack: Any
    manifests: list
    out: Any  # the render's result: graph and diagnostics
    graph: dict[str, Resource]  # by name; empty when the render failed


def render_local(root: Path) -> Rendered:
    report = validate(root=root, cwd=root, render=False, secrets_set=False)
    stack = next(s for s in report.stacks if s.name == "local")
    manifests = report.overlaid["local"]
    out = render(manifests, stack, root=root)
    return Rendered(root, stack, manifests, out, out.graph.by_name() if out.graph else {})


def graph(root: Path) -> Graph:
    """The local stack's graph, asserting that validate and render found no error."""
    report = validate(root=root, cwd=root, render=False, secrets_set=False)
    assert not [d for d in report.diagnostics if d.severity.value == "error"], report.diagnostics
    done = render_local(root)
    assert done.out.graph is not None, [d.format() for d in done.out.diagnostics]
    return done.out.graph


@contextlib.contextmanager
def rendered(area: str) -> Iterator[Rendered]:
    """The area rendered in a scratch folder that lives until the block ends (azure-ai-ml's loaders
    read its files)."""
    with tempfile.TemporaryDirectory() as tmp:
        yield render_local(lay(Path(tmp) / "estate", area))
