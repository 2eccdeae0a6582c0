"""Inline definitions, as azure-ai-ml and `az ml` register them: anonymous asset versions.

An az ml file may define what it uses in place instead of by reference: an environment
(`environment: {image, conda_file}` or `{build: {path}}`), a model (`model: {path: ./model}`), a
pipeline step's command component (`command`, `code`, `environment` under `jobs.<step>`). azure-ai-ml
registers each as an anonymous version before the job or deployment that uses it, named and versioned
by its content, so the same definition is the same version and any change is a new one; amlctl does
the same, with the same names and versions (azure-ai-ml 1.x):

  environment  CliV2AnonymousEnvironment / sha256 chain over image, inference config and the conda
               text (Environment._generate_anonymous_name_version); a build context: over the
               context's object hash and the Dockerfile path
  model        sha256(object hash of the model files) / "1" (Model.__init__ when anonymous)
  component    azureml_anonymous / Component._get_anonymous_hash() (computed by azure-ai-ml itself,
               in controller.render.kinds.pipelines, after code and environment are ARM ids)

Each version is rendered as a resource of the graph (append-only, like every asset version), and the
place that defined it gets the version's ARM id, so `componentId`, `environmentId` and `model` are
always ARM ids. The object hash is azure-ai-ml's `get_object_hash` (sha256 seeded with its constant,
entries sorted by lower-cased path, each entry's name then its bytes), reimplemented here so that
validate and render need not import azure-ai-ml; a test holds it against azure-ai-ml's.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from controller import files
from controller.checks import refs
from controller.manifests.model import Manifest
from controller.render.context import Context

ANONYMOUS_ENVIRONMENT = "CliV2AnonymousEnvironment"
ANONYMOUS_COMPONENT = "azureml_anonymous"
_OBJECT_HASH_SEED = b"Initialize for october 2021 AML CLI version"


def sha256(text: str | None) -> str:
    """azure-ai-ml's get_sha256_string."""
    return hashlib.sha256(text.encode("utf8")).hexdigest() if text is not None else ""


def object_hash(path: Path, root: Path | None = None) -> str:
    """azure-ai-ml's get_object_hash of a local file or folder (no .amlignore/.gitignore). The walk
    is amlctl's one file walker (controller.files): nothing outside `root` (the repository), no
    special file, and files streamed, not read whole. files.Refused names what it will not read."""
    h = hashlib.sha256(_OBJECT_HASH_SEED)
    node = files.check(path, root)
    if node.is_dir:
        _dir_hash(node, h, root, frozenset({node.real}))
    else:
        files.update(h, node.path, root)
    return h.hexdigest()


def _dir_hash(folder: files.Node, h: Any, root: Path | None, ancestors: frozenset[Path]) -> None:
    # azure-ai-ml's order: the entries' full paths, lower-cased; each entry's name, then its bytes
    # or (for a folder, through a symlink too) its own entries.
    for name, entry in sorted(files.children(folder, root), key=lambda e: str(folder.path / e[0]).lower()):
        h.update(name.encode())
        if entry.is_dir:
            _dir_hash(entry, h, root, files.descend(entry, ancestors, root))
        else:
            files.update(h, entry, root)


def environment_version(image: str | None, conda_text: str | None = None, inference_config: Any = None,
                        build_hash: str | None = None, dockerfile: str | None = None) -> str:
    """The version azure-ai-ml gives an anonymous environment. Its `str.join` chain is kept as it
    is (each join puts the text so far between the characters of the next hash): the version must
    be the one az ml computes, so that both tools name one environment alike."""
    hash_str = ""
    if build_hash is not None:
        hash_str = sha256(build_hash) if not dockerfile else sha256(build_hash).join(sha256(dockerfile))
    else:
        hash_str = hash_str.join(sha256(image))
        if inference_config:
            hash_str = hash_str.join(sha256(yaml.dump(inference_config, sort_keys=True)))
        if conda_text:
            hash_str = hash_str.join(sha256(conda_text))
    return sha256(hash_str)


def inline(m: Manifest, kind: str, path: tuple, spec: dict[str, Any], name: str, version: str) -> Manifest:
    """An inline definition at `path` of `m` as a manifest of its own kind: its values keep their
    positions in m's file (errors point into the definition), its local paths resolve against it."""
    return replace(m, kind=kind, name=name, spec={**spec, "name": name, "version": version},
                   spec_prefix=m.spec_prefix + tuple(path), name_at=m.spec_prefix + tuple(path), patches=(),
                   labels={}, annotations={})


def environment(m: Manifest, ctx: Context, path: tuple, value: dict[str, Any], deps: set[str]) -> str:
    """Register an inline environment anonymously; its ARM id."""
    from controller.render.kinds import assets
    # A name given inline is not used: azure-ai-ml registers every inline environment anonymously
    # ("the provided asset name ... will not be used for anonymous registration").
    spec = {k: v for k, v in value.items() if k not in ("name", "version")}
    probe = inline(m, "Environment", path, spec, ANONYMOUS_ENVIRONMENT, "0")  # the version is named after it
    needs: set[str] = set()
    props = assets.environment_properties(probe, ctx, needs)
    build = spec.get("build") if isinstance(spec.get("build"), dict) else None
    if build and isinstance(build.get("path"), str) and "://" not in build["path"]:
        local = ctx.root / ctx.local(m, build["path"])
        version = environment_version(None, build_hash=_object_hash(ctx, local) if local.exists() else sha256(str(local)),
                                      dockerfile=build.get("dockerfile_path"))
    else:
        version = environment_version(props.get("image"), props.get("condaFile"), spec.get("inference_config"))
    return assets.environment_version(inline(m, "Environment", path, spec, ANONYMOUS_ENVIRONMENT, version), ctx,
                                      deps, anonymous=True, props=props, own=needs)


def model(m: Manifest, ctx: Context, path: tuple, value: dict[str, Any], deps: set[str]) -> str:
    """Register an inline model anonymously (a name given inline is not used, as with azure-ai-ml);
    its ARM id."""
    from controller.render.kinds import assets
    spec = {k: v for k, v in value.items() if k not in ("name", "version")}
    spec.setdefault("type", "custom_model")
    local = spec.get("path")
    if not isinstance(local, str):
        raise ctx.error(m, path, "R004", f"{'.'.join(map(str, path))}: an inline model needs a path (or refer "
                        "to a registered one as azureml:<name>:<version>)")
    if refs.local_path(local) is not None:
        full = ctx.root / ctx.local(m, local)
        name = sha256(_object_hash(ctx, full)) if full.exists() else sha256(str(ctx.local(m, local)))
    else:
        name = sha256(local)  # a cloud URI: named by it, so the same URI is the same model
    return assets.model_version(inline(m, "Model", path, spec, name, "1"), ctx, deps, anonymous=True)


def _object_hash(ctx: Context, path: Path) -> str:
    """object_hash of a path the manifest names, inside the repository; a refusal is a diagnostic."""
    try:
        return object_hash(path, ctx.root)
    except files.Refused as exc:
        raise ctx.refused(exc) from None
