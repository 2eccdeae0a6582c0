"""`{secret_config: KEY}` against the stacks that render it: a key a stack does not set fails only
when the program asks the engine for it, at apply, after the merge. Validate (and so plan, which
validates first) says so at the manifest's line, for each stack, with the command that sets it.

The key resolves as the program resolves it (controller.program: `config(namespace or project)`):
`ns:key` is `key` in namespace `ns`; a key without a namespace is in the project's (Pulumi.yaml's
name). A stack sets it in its stack file's `config`, or the project file gives it a value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller import schemas as S
from controller.checks.secrets import references
from controller.diagnostics import Diagnostic, Severity
from controller.manifests.model import Manifest
from controller.manifests.project import Project

# A stack file's top-level keys that say where its secrets are encrypted.
SECRETS_SETUP = ("secretsprovider", "encryptionsalt")


@dataclass(frozen=True)
class StackConfig:
    """What a stack file sets, as the engine will read it."""

    name: str
    path: str  # the stack file, repository-relative
    keys: frozenset[str]  # its config keys, namespaced
    complete: bool  # whether the file (with the project file) is the whole of the stack's config

    @staticmethod
    def of(name: str, path: str, data: Any, target: str) -> "StackConfig":
        data = data if isinstance(data, dict) else {}
        config = data.get("config")
        keys = frozenset(str(k) for k in config) if isinstance(config, dict) else frozenset()
        # Not complete, so not checked: a stack that imports Pulumi ESC environments (`environment:`)
        # gets config from them; an Azure stack with no secrets configuration yet cannot hold a
        # secret at all, and apply refuses it before anything else, saying how to set one up
        # (amlctl secrets-provider); its keys are checked once it has one. A local stack with
        # none is applied with a passphrase Pulumi sets up, so its keys count at once.
        setup = any(data.get(k) for k in SECRETS_SETUP) or target == "local"
        return StackConfig(name, path, keys, complete=setup and not data.get("environment"))


def config_key(ref: str, project: Project) -> str:
    namespace, _, key = ref.rpartition(":")
    return f"{namespace or project.name}:{key}"


def unset_secrets(manifests: list[Manifest], stack: StackConfig, project: Project) -> list[Diagnostic]:
    """K004 for each secret_config reference the stack does not set."""
    if not stack.complete:
        return []
    out = []
    for m in manifests:
        for path, key, ref in references(m.spec):
            if key != "secret_config" or not isinstance(ref, str):
                continue
            full = config_key(ref, project)
            if full in stack.keys or full in project.config:
                continue
            src = m.where(path + (key,))
            out.append(Diagnostic(
                src.path, src.line, src.col, "K004", Severity.ERROR,
                f"{S.dotted(path + (key,))}: {ref!r} is not set in stack {stack.name} ({stack.path} has no "
                f"{full}), so apply would fail at the engine; set it with: amlctl pulumi --stack {stack.name} "
                f"-- config set --secret {full}", m.subject, stack.name))
    return out
