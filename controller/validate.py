"""`validate`: the whole read-side pipeline as one function the CLI and tests call.

manifests (files) -> load + schema check -> semantic checks -> per-stack overlay -> checks again.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from controller import checks
from controller import schemas as S
from controller import stacks as st
from controller.diagnostics import Diagnostic, Severity, error
from controller.manifests.discover import UsageError, discover, find_root, rel
from controller.manifests.loader import load_files
from controller.manifests.model import Manifest

DEFAULT_PATHS = ("manifests", "stacks")
PROJECT_FILE = "Pulumi.yaml"


@dataclass
class Report:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0
    manifests: list[Manifest] = field(default_factory=list)
    stacks: list[st.Stack] = field(default_factory=list)
    overlaid: dict[str, list[Manifest]] = field(default_factory=dict)  # stack name -> manifests as it sees them

    @property
    def errors(self) -> int:
        return sum(d.severity is Severity.ERROR for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        return sum(d.severity is Severity.WARNING for d in self.diagnostics)

    @property
    def ok(self) -> bool:
        return self.errors == 0


def validate(paths: list[str] | None = None, *, cwd: Path | None = None, root: Path | None = None,
             strict: bool = False, skip_path_checks: bool = False, kind: str | None = None) -> Report:
    """Validate manifests and stack files. Raises discover.UsageError for bad arguments only;
    every problem with the files themselves comes back as a Diagnostic."""
    cwd = (cwd or Path.cwd()).resolve()
    root = (root or find_root(cwd)).resolve()
    schemas = S.load()
    if kind is not None and kind not in schemas.kinds:
        raise UsageError(f"unknown kind {kind!r}; kinds: {', '.join(sorted(schemas.kinds))}")
    if not paths:
        paths = [str(root / p) for p in DEFAULT_PATHS if (root / p).exists()] or [str(root)]
    found = discover(paths, root, cwd)
    report = Report(diagnostics=list(found.diagnostics))
    manifest_files, stack_files = [], []
    for path in found.files:
        shown = rel(path, root)
        name = PurePosixPath(shown).name
        if name == PROJECT_FILE:
            continue
        (stack_files if st.is_stack_file(shown) else manifest_files).append((path, shown))
    report.files = len(manifest_files) + len(stack_files)
    if not report.files and not report.diagnostics:
        report.diagnostics.append(error(", ".join(paths) if len(paths) == 1 else ".", 0, 0, "Y012",
                                        "no manifest (.yaml/.yml) or stack (Pulumi.<stack>.yaml) files found"))
        return report

    loaded = load_files(manifest_files, kind, schemas)
    report.diagnostics += loaded.diagnostics
    report.manifests = loaded.manifests
    options = checks.Options(root, strict, skip_path_checks)
    base = checks.check(loaded.manifests, options, schemas)
    report.diagnostics += base.diagnostics
    referenced = set(base.referenced_files)

    seen = {_identity(d) for d in report.diagnostics}
    for path, shown in stack_files:
        stack, diags = st.load_stack(path, shown, schemas)
        report.diagnostics += diags
        if stack is None:
            continue
        report.stacks.append(stack)
        overlaid, diags = st.apply(stack, loaded.manifests, schemas)
        report.overlaid[stack.name] = overlaid
        result = checks.check(overlaid, options, schemas)
        referenced |= result.referenced_files
        for d in diags + result.diagnostics:
            if _identity(d) not in seen:  # report a problem once, not once per stack
                seen.add(_identity(d))
                report.diagnostics.append(d if d.stack else _in_stack(d, stack.name))
    # YAML files that are not manifests are fine when a manifest uses them as data (conda files).
    report.diagnostics += [d for d in loaded.unrecognised if d.path not in referenced]
    report.diagnostics = sorted(set(report.diagnostics))
    return report


def _identity(d: Diagnostic) -> tuple:
    return (d.path, d.line, d.col, d.code, d.message)


def _in_stack(d: Diagnostic, stack: str) -> Diagnostic:
    return replace(d, stack=stack)
