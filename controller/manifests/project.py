"""The Pulumi project file (Pulumi.yaml at the repository root), read as manifests are read.

Its `name` names the engine's project (the key of every stack's state) and the config namespace of
a `secret_config` key written without one. It is read with the same safe loader as manifests, so a
broken or alias-bombed Pulumi.yaml is a diagnostic with its line, never a hang or a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from controller import files
from controller.diagnostics import Diagnostic, Severity, error
from controller.manifests.loader import read_file

PROJECT_FILE = "Pulumi.yaml"
DEFAULT_NAME = "amlctl-estate"  # what the engine has always been given without a Pulumi.yaml


class ProjectError(Exception):
    """Pulumi.yaml cannot be read; carries the diagnostic (file, line, what is wrong)."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class Project:
    name: str
    config: frozenset[str]  # the config keys the project file itself sets, namespaced (ns:key)


def load(root: Path) -> tuple[Project, list[Diagnostic]]:
    """The project (defaults when there is no Pulumi.yaml) and the problems of its file."""
    path = root / PROJECT_FILE
    if not path.exists() and not path.is_symlink():
        return Project(DEFAULT_NAME, frozenset()), []
    try:
        files.check(path, root)  # not through a symlink out of the repository
    except files.Refused as exc:
        return Project(DEFAULT_NAME, frozenset()), [error(PROJECT_FILE, 0, 0, exc.code, exc.message)]
    docs, diags = read_file(path, PROJECT_FILE)
    if any(d.severity is Severity.ERROR for d in diags):
        return Project(DEFAULT_NAME, frozenset()), diags
    data = docs[0].data if docs else None
    if len(docs) != 1 or not isinstance(data, dict):
        return Project(DEFAULT_NAME, frozenset()), diags + [error(
            PROJECT_FILE, 1, 1, "K001", "the project file is one mapping (name:, runtime:, ...)")]
    name = data.get("name", DEFAULT_NAME)
    if isinstance(name, (dict, list)) or name is None or str(name) == "":
        line, col = docs[0].positions.at(("name",))
        return Project(DEFAULT_NAME, frozenset()), diags + [error(
            PROJECT_FILE, line, col, "K001", "name: the project's name is a string")]
    config = data.get("config")
    keys = frozenset(_namespaced(str(k), str(name)) for k, v in config.items()
                     if _sets_value(v)) if isinstance(config, dict) else frozenset()
    return Project(str(name), keys), diags


def project_name(root: Path) -> str:
    """The project's name; ProjectError when Pulumi.yaml is there but cannot be read."""
    project, diags = load(root)
    problems = [d for d in diags if d.severity is Severity.ERROR]
    if problems:
        raise ProjectError(problems[0])
    return project.name


def _namespaced(key: str, project: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _sets_value(v: object) -> bool:
    """A project-level config entry gives stacks a value when it is one, or declares a default."""
    return not isinstance(v, dict) or "value" in v or "default" in v
