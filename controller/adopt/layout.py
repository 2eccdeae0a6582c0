"""Where each draft goes under manifests/, the YAML text of a draft, and writing it (never over a
file that exists: a person's manifest, or an earlier import, wins).

    manifests/compute/<name>.yaml
    manifests/datastores/<name>.yaml
    manifests/environments/<name>.yaml         one version of the asset
    manifests/environments/<name>-v<ver>.yaml  each version, when the workspace holds several
    manifests/models/..., manifests/data/...   the same
    manifests/endpoints/<endpoint>.yaml        an online endpoint
    manifests/endpoints/<endpoint>-<dep>.yaml  each of its deployments
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from controller.adopt.clean import Draft
from controller.adopt.kinds import KINDS

HEADER = "# Written by `amlctl import` from what the workspace holds; edit it as any manifest.\n"


@dataclass(frozen=True)
class Placed:
    draft: Draft
    path: PurePosixPath  # relative to the repository root


@dataclass(frozen=True)
class Written:
    path: PurePosixPath
    draft: Draft
    written: bool  # False: the file existed and was left as it is
    why: str = ""


def _safe(name: str) -> str:
    # Azure ML names are [A-Za-z0-9_.-]; anything else (never expected) becomes "_".
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".") or "_"


def place(drafts: Iterable[Draft], folder: str = "manifests") -> list[Placed]:
    drafts = list(drafts)
    versions = Counter((d.kind, d.name) for d in drafts if KINDS[d.kind].versioned)
    out = []
    for d in drafts:
        k = KINDS[d.kind]
        if d.kind == "OnlineDeployment":
            stem = f"{_safe(d.endpoint or '')}-{_safe(d.name)}"
        elif k.versioned and versions[(d.kind, d.name)] > 1:
            stem = f"{_safe(d.name)}-v{_safe(d.version or '')}"
        else:
            stem = _safe(d.name)
        out.append(Placed(d, PurePosixPath(folder, k.folder, stem + ".yaml")))
    return out


def text(draft: Draft) -> str:
    import yaml
    body = yaml.safe_dump(draft.document, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
    return HEADER + body


def write(root: Path, placed: Iterable[Placed]) -> list[Written]:
    """Each file, created exclusively: one that exists (even if made since this run started) is
    skipped and said so."""
    out = []
    for p in placed:
        target = root / p.path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "x", encoding="utf-8") as f:
                f.write(text(p.draft))
        except FileExistsError:
            out.append(Written(p.path, p.draft, False, "the file exists; left as it is"))
            continue
        out.append(Written(p.path, p.draft, True))
    return out
