"""Asset versions as Azure ML has them: append-only, several of one asset side by side.

A Data, Environment, Model or Component manifest is one version of an asset: its identity is
kind + workspace + name + version, so `credit-default` versions 7 and 8 can both be manifests
(blue serves 7 while green serves 8). `azureml:<name>@latest` to an asset the estate defines
means the highest version the estate defines, in the order below.

Azure ML's own `latest` is the most recently created version; in git there is no creation time,
so amlctl orders versions the way people number them: split into runs of digits and of other
characters, digits compared as numbers (`2` < `10`, `1.9` < `1.10`), other runs as text, a
version that runs out first is lower (`1` < `1.1`). A derived version (`v` + content hash) is
only ever alone: when several manifests define one asset, each names its version.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from controller.manifests.model import Manifest

# The kinds whose manifests are asset versions (Code versions have no manifest: amlctl derives
# them from local folders).
VERSIONED_KINDS = frozenset({"Data", "Environment", "Model", "Component", "FeatureStoreEntity", "FeatureSet"})

_RUN = re.compile(r"\d+|\D+")
# The version amlctl derives for an asset whose manifest names none (controller.render.kinds.derived_version).
DERIVED = re.compile(r"v[0-9a-f]{12}")


def order_key(version: str) -> tuple:
    """Sort key of a version string: natural order, digits as numbers."""
    return tuple((0, int(run), "") if run.isdigit() else (1, 0, run) for run in _RUN.findall(str(version)))


def highest(versions: Iterable[str]) -> str | None:
    ordered = sorted(versions, key=lambda v: (order_key(v), v))
    return ordered[-1] if ordered else None


def pick(candidates: list[Manifest], version: str | None) -> Manifest | None:
    """Among manifests of one asset: the one of `version`, or (None) the highest version. A
    version no manifest defines gives None."""
    if not candidates:
        return None
    if version is not None:
        exact = [m for m in candidates if m.version == version]
        if exact:
            return exact[0]
        return None if any(m.version is not None for m in candidates) else candidates[0]
    explicit = [m for m in candidates if m.version is not None]
    if not explicit:
        return candidates[0]
    top = highest(m.version for m in explicit)
    return next(m for m in explicit if m.version == top)
