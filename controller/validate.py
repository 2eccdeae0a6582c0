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
from controller.checks.config import StackConfig, unset_secrets
from controller.manifests.loader import load_files, read_file
from controller.manifests.project import PROJECT_FILE
from controller.manifests.project import load as load_project
from controller.manifests.model import Manifest

DEFAULT_PATHS = (st.DEFAULT_MANIFESTS, st.STACKS_DIR)  # and every stack's amlctl:manifests folders


@dataclass
class Report:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0
    manifests: list[Manifest] = field(default_factory=list)
    stacks: list[st.Stack] = field(default_factory=list)
    overlaid: dict[str, list[Manifest]] = field(default_factory=dict)  # stack name -> manifests as it sees them
    referenced: set[str] = field(default_factory=set)  # files the manifests name as local paths (repository-relative)

    @property
    def errors(self) -> int:
        return sum(d.severity is Severity.ERROR for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        return sum(d.severity is Severity.WARNING for d in self.diagnostics)

    @property
    def ok(self) -> bool:
        return self.errors == 0


def _used_as_data(path: str, referenced: set[str]) -> bool:
    return path in referenced or any(path.startswith(r.rstrip("/") + "/") for r in referenced if r not in ("", "."))


def validate(paths: list[str] | None = None, *, cwd: Path | None = None, root: Path | None = None,
             strict: bool = False, skip_path_checks: bool = False, kind: str | None = None,
             render: bool = True, secrets_set: bool = True) -> Report:
    """Validate manifests and stack files. Raises discover.UsageError for bad arguments only;
    every problem with the files themselves comes back as a Diagnostic.

    With `render` (the default), each stack whose view of the manifests has no error is also
    rendered, so that whatever render and plan would reject, validate reports first (pre-commit
    and the pull-request annotations run validate). `plan` passes render=False: it renders itself.
    `secrets_set` checks that each stack sets the secret_config keys its manifests use (K004): the
    engine reads them from the working tree's stack files, so a past revision is not checked."""
    cwd = (cwd or Path.cwd()).resolve()
    root = (root or find_root(cwd)).resolve()
    schemas = S.load()
    if kind is not None and kind not in schemas.kinds:
        raise UsageError(f"unknown kind {kind!r}; kinds: {', '.join(sorted(schemas.kinds))}")
    if not paths:
        folders = st.manifest_folders(root) + [st.STACKS_DIR]
        paths = [str(root / p) for p in dict.fromkeys(folders) if (root / p).exists()]
        if not paths:
            # Never walk an unbounded tree (a home folder, a disk): without PATHS, validate reads
            # only what marks an amlctl repository.
            how = ("the repository root: the nearest folder above that holds .git" if (root / ".git").exists()
                   else "no folder above holds .git, so the current folder")
            raise UsageError(f"no amlctl repository here: {root} ({how}) has no {st.DEFAULT_MANIFESTS}/ or "
                             f"{st.STACKS_DIR}/ folder; pass the PATHS to validate, or run 'amlctl init' to "
                             "start a repository")
    found = discover(paths, root, cwd)
    project, project_diags = load_project(root)
    report = Report(diagnostics=list(found.diagnostics) + project_diags)
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
        # A stack that names its manifest folders (amlctl:manifests) sees only the manifests in them.
        own = stack.own(loaded.manifests) if "manifests" in stack.settings else loaded.manifests
        overlaid, diags = st.apply(stack, own, schemas)
        report.overlaid[stack.name] = overlaid
        result = checks.check(overlaid, options, schemas)
        referenced |= result.referenced_files
        # Secrets the manifests it renders take from its config: a key it lacks fails only at apply.
        docs = read_file(path, shown)[0] if secrets_set else []
        setup = StackConfig.of(stack.name, shown, docs[0].data if docs else None, stack.target)
        unset = unset_secrets(overlaid, setup, project) if secrets_set else []
        for d in diags + result.diagnostics + unset:
            if _identity(d) not in seen:  # report a problem once, not once per stack
                seen.add(_identity(d))
                report.diagnostics.append(d if d.stack else _in_stack(d, stack.name))
    if render and not skip_path_checks:
        for stack in report.stacks:
            for d in _render_check(stack, report, root, schemas):
                if _identity(d) not in seen:
                    seen.add(_identity(d))
                    report.diagnostics.append(d)
    # YAML files that are not manifests are fine when a manifest uses them as data: the file itself
    # (a conda file) or a folder holding it (a prompt flow folder a model registers, a code folder).
    report.diagnostics += [d for d in loaded.unrecognised if not _used_as_data(d.path, referenced)]
    report.referenced = referenced
    report.diagnostics = sorted(set(report.diagnostics))
    return report


def _render_check(stack: st.Stack, report: Report, root: Path, schemas: S.SchemaSet) -> list[Diagnostic]:
    """The render of one stack, for its diagnostics only (render's errors: unresolvable references,
    what azure-ai-ml rejects, ...). A stack that already has errors is not rendered: plan would
    not render it either."""
    from controller.render import render
    if any(d.severity is Severity.ERROR and d.stack in ("", stack.name) for d in report.diagnostics):
        return []
    out = render(report.overlaid[stack.name], stack, root=root, schemas=schemas)
    return [d if d.stack else _in_stack(d, stack.name) for d in out.diagnostics]


def _identity(d: Diagnostic) -> tuple:
    return (d.path, d.line, d.col, d.code, d.message)


def _in_stack(d: Diagnostic, stack: str) -> Diagnostic:
    return replace(d, stack=stack)
