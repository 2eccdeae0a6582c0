"""Reading a workspace through azure-ai-ml's MLClient: the list and get operations the `az ml ...
list/show` commands use. This is the I/O edge of the adopt stage; what it returns is plain data.

On the local target MLClient talks to the simulation through controller.adopt.simhttp; on Azure
it talks to ARM with azure-identity's default chain (the `az login` of the person adopting).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from controller.adopt.kinds import KINDS, Selector


@dataclass(frozen=True)
class Found:
    """One object of the workspace, as azure-ai-ml shows it (`entity._to_dict()`, the form `az ml
    ... show` prints), with the kind and type that decide its manifest."""
    kind: str
    name: str
    version: str | None
    entity_type: str  # azure-ai-ml's type of the entity: amlcompute, azure_blob, managed, ...
    shown: Mapping[str, Any]
    endpoint: str | None = None  # the endpoint of a deployment
    credentials: str | None = None  # the class of a datastore's credentials (AccountKeyConfiguration, ...)


class ReadError(Exception):
    """MLClient could not read the workspace (no access, no such workspace): said in one line."""


def client(settings: Mapping[str, Any], workspace: str, sim_dir: Path | None) -> Any:
    """The MLClient of the stack's workspace: on the simulation when the stack's target is local."""
    from azure.ai.ml import MLClient
    sub, rg = settings.get("subscriptionId"), settings.get("resourceGroup")
    if settings.get("target") == "local":
        from controller.adopt import simhttp
        assert sim_dir is not None
        return MLClient(simhttp.Credential(), sub, rg, workspace, transport=simhttp.transport(sim_dir))
    from azure.identity import DefaultAzureCredential
    return MLClient(DefaultAzureCredential(), sub, rg, workspace)


def _shown(entity: Any) -> dict[str, Any]:
    import json
    # Enum values (provisioning states) and datetimes become their text, as `az ml show` prints them.
    return json.loads(json.dumps(entity._to_dict(), default=str))


def _listers(ml: Any) -> dict[str, Callable[[], Iterator[Found]]]:
    def computes() -> Iterator[Found]:
        for c in ml.compute.list():
            shown = _shown(c)
            yield Found("Compute", c.name, None, str(shown.get("type")), shown)

    def datastores() -> Iterator[Found]:
        for d in ml.datastores.list(include_secrets=False):
            shown = _shown(d)
            yield Found("Datastore", d.name, None, str(shown.get("type")), shown,
                        credentials=type(d.credentials).__name__ if d.credentials is not None else None)

    def assets(kind: str, ops: Any) -> Callable[[], Iterator[Found]]:
        def each() -> Iterator[Found]:
            for container in ops.list():
                for v in ops.list(name=container.name):
                    yield Found(kind, v.name, str(v.version), kind, _shown(v))
        return each

    def endpoints() -> Iterator[Found]:
        for e in ml.online_endpoints.list():
            yield Found("OnlineEndpoint", e.name, None, "managed", _shown(e))

    def deployments() -> Iterator[Found]:
        for e in ml.online_endpoints.list():
            for d in ml.online_deployments.list(e.name):
                shown = _shown(d)
                yield Found("OnlineDeployment", d.name, None, str(shown.get("type")), shown, endpoint=e.name)

    return {"Compute": computes, "Datastore": datastores, "Environment": assets("Environment", ml.environments),
            "Model": assets("Model", ml.models), "Data": assets("Data", ml.data),
            "OnlineEndpoint": endpoints, "OnlineDeployment": deployments}


def read(ml: Any, only: Iterable[Selector] = ()) -> list[Found]:
    """Every covered object of the workspace, or those `only` names (all must exist)."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError
    import logging
    wanted = list(only)
    kinds = sorted({s.kind for s in wanted}) if wanted else list(KINDS)
    out: list[Found] = []
    # azure-ai-ml logs "experimental class" warnings while it loads its schemas: noise to a person
    # adopting a workspace, and nothing they can act on.
    quiet = logging.getLogger("azure.ai.ml")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        for kind in kinds:
            out += [f for f in _listers(ml)[kind]()
                    if not wanted or any(s.matches(f.kind, f.name, f.version) for s in wanted)]
    except ClientAuthenticationError as exc:
        raise ReadError(f"cannot sign in to read the workspace: {_first_line(exc)}") from None
    except AzureError as exc:
        raise ReadError(f"cannot read the workspace: {_first_line(exc)}") from None
    finally:
        quiet.setLevel(level)
    missing = [s for s in wanted if not any(s.matches(f.kind, f.name, f.version) for f in out)]
    if missing:
        names = ", ".join(f"{s.kind}/{s.name}" + (f":{s.version}" if s.version else "") for s in missing)
        raise ReadError(f"not in the workspace: {names}")
    return out


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "message", None) or exc)
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
