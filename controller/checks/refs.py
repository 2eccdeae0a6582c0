"""How Azure ML YAML refers to things: parsing the reference strings of az ml v2."""
from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass


@lru_cache(maxsize=1)
def builtin_datastores() -> frozenset[str]:
    """Datastores every workspace has (Azure ML makes them with it). The datastore schema lists
    them next to the name, so it is the one place they are listed."""
    from controller import schemas as S
    name = S.load().documents["datastore.schema.json"]["properties"]["name"]
    return frozenset(name.get("x-amlctl-system", ()))

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DATASTORE_URI = re.compile(r"^azureml://datastores/([^/]+)(/|$)")
_REGISTRY_URI = re.compile(r"^azureml://registries/([^/]+)/([^/]+)/([^/]+)(?:/(versions|labels)/([^/]+))?")
_SHORT = re.compile(r"^azureml:(?!//)([^:@/]+)(?::([^:@/]+)|@([^:@/]+))?$")


SERVERLESS = "serverless"
CURATED_PREFIX = "AzureML-"  # azure-ai-ml's CURATED_ENV_PREFIX


@dataclass(frozen=True)
class Ref:
    """A parsed reference. `name` is None for references no manifest can satisfy (registries,
    other workspaces): `external` then says what they point at."""

    kind: str
    name: str | None
    version: str | None = None
    label: str | None = None
    external: str | None = None


def local_path(value: str) -> str | None:
    """The local path a path field holds, or None for a URI or an azureml: reference.
    az ml also accepts an explicit 'file:' prefix on local paths."""
    if value.startswith("file:") and not value.startswith("file://"):
        return value[len("file:"):]
    if value.startswith("azureml:") or _URL.match(value) or value.startswith("${{"):
        return None
    return value


def datastore_of(value: str) -> str | None:
    m = _DATASTORE_URI.match(value)
    return m.group(1) if m else None


def parse(value: str, kind: str) -> Ref | None:
    """Parse a reference to `kind`. None when the value is not a reference at all (a local path,
    a URL), which the path checks handle."""
    value = value.strip()
    if value.startswith("file:") or value.startswith("${{"):
        return None  # a local file, or a binding resolved when the job runs
    ds = datastore_of(value)
    if ds is not None:
        return Ref("Datastore", ds)
    m = _REGISTRY_URI.match(value)
    if m:
        registry, _, name, which, ver = m.groups()
        return Ref(kind, None, external=f"{name} in registry {registry!r}" +
                   (f" ({which[:-1]} {ver})" if which else ""))
    if value.startswith("azureml://"):
        return Ref(kind, None, external=value)
    if kind == "Compute" and value.removeprefix("azureml:") == SERVERLESS:
        return None  # serverless compute: Azure ML's own, sent as the literal `serverless`
    if kind == "Environment" and value.startswith("azureml:" + CURATED_PREFIX):
        # A curated environment by its short name (with a version or @latest): azure-ai-ml sends
        # it as written and Azure expands it (OperationOrchestrator.get_asset_arm_id).
        return None
    m = _SHORT.match(value)
    if m:
        name, version, label = m.groups()
        return Ref(kind, name, version, label)
    if _URL.match(value):
        return None
    if kind in ("Compute", "OnlineEndpoint", "BatchEndpoint", "Pipeline") and re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        return Ref(kind, value)  # these are named without the azureml: prefix too
    if kind == "Component" or "/" in value or value.endswith((".yml", ".yaml")):
        return None  # a local file: the path check takes it
    if re.fullmatch(r"[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?", value):
        name, _, version = value.partition(":")
        return Ref(kind, name, version or None)
    return None
