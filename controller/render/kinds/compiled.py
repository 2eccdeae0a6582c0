"""What azure-ai-ml compiles (pipeline and job REST bodies, component specs), cached by content.

azure-ai-ml costs about a second to import and more to load a pipeline, and an unchanged pipeline,
job or component should cost nothing on the next render (validate renders every stack, plan both
sides of a change). Each compilation is one JSON file under ~/.cache/amlctl/pipelines (or
$AMLCTL_CACHE_DIR), named by a hash of what went in and the azure-ai-ml version, written
atomically so that a concurrent render never reads half a file; a torn or unreadable entry is
compiled again, and a read-only cache only costs time.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from controller.render.graph import canonical

CACHE_FORMAT = "3"  # 2: anonymous components of inline steps; 3: one cache for pipelines, jobs, components


def cache_dir() -> Path:
    base = os.environ.get("AMLCTL_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "amlctl")
    return Path(base) / "pipelines"


def cached(parts: list[Any], compile_: Callable[[], Any]) -> Any:
    """The JSON value `compile_()` returns for `parts` (plain data that determines it), from the
    cache when it holds it."""
    import importlib.metadata
    key = hashlib.sha256(canonical([CACHE_FORMAT, importlib.metadata.version("azure-ai-ml"), *parts])
                         .encode()).hexdigest()
    path = cache_dir() / f"{key}.json"
    if path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass  # a torn cache file: compile again
    value = json.loads(json.dumps(compile_(), default=str))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(canonical(value), encoding="utf-8")
        tmp.replace(path)  # atomic: a concurrent render never reads half a file
    except OSError:
        pass  # a read-only cache only costs time
    return value


@contextmanager
def quiet() -> Iterator[None]:
    """azure-ai-ml logs "experimental class" notices and warns at import: noise for the user, so
    silence both for the duration, and restore whatever logging the caller had."""
    import logging
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
