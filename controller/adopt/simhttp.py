"""MLClient against the LOCAL SIMULATION: an azure-core transport that answers azure-ai-ml's ARM
requests from the simulation's documents (controller.engine.local), so that `amlctl import` on the
local target runs azure-ai-ml's own list/get operations, deserializers and entities, exactly the
code path it runs against Azure.

The simulation keeps, per resource, the Pulumi inputs that made it (path parameters such as
`resourceGroupName` beside the ARM body). A GET of a resource or of a collection becomes that ARM
body, read into azure-ai-ml's own REST model for the URL (`azure.ai.ml._restclient.arm_ml_service`,
discriminators resolved: an `AmlCompute` is an `AmlCompute`), pruned to the fields the model
defines, and written back with the model's `as_dict()`: nothing here is hand-written JSON, and a
field the REST model does not know never reaches azure-ai-ml.

Only reads are served (GET); anything else is a 405, which azure-ai-ml raises as an error: the
reader must never change the estate.
"""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import unquote, urlsplit

from controller.engine.local import Store

# The collections the reader lists, by the shape of the path below the workspace, and the REST
# model of one of their items. Versions sit below their container ("models/m/versions").
_ROUTES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(p + r"$", re.IGNORECASE), model, arm_type) for p, model, arm_type in (
        (r"computes(/[^/]+)?", "ComputeResource", "computes"),
        (r"datastores(/[^/]+)?", "Datastore", "datastores"),
        (r"environments(/[^/]+)?", "EnvironmentContainer", "environments"),
        (r"environments/[^/]+/versions(/[^/]+)?", "EnvironmentVersion", "environments/versions"),
        (r"models(/[^/]+)?", "ModelContainer", "models"),
        (r"models/[^/]+/versions(/[^/]+)?", "ModelVersion", "models/versions"),
        (r"data(/[^/]+)?", "DataContainer", "data"),
        (r"data/[^/]+/versions(/[^/]+)?", "DataVersionBase", "data/versions"),
        (r"onlineEndpoints(/[^/]+)?", "OnlineEndpoint", "onlineEndpoints"),
        (r"onlineEndpoints/[^/]+/deployments(/[^/]+)?", "OnlineDeployment", "onlineEndpoints/deployments"),
    ))
_WORKSPACE = re.compile(r"^(/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
                        r"Microsoft\.MachineLearningServices/workspaces/[^/]+)(?:/(.*))?$", re.IGNORECASE)
# The simulation's documents hold the inputs: these name the resource (they are in its URL), and
# are not part of its ARM body.
_PATH_INPUTS = ("resourceGroupName", "workspaceName", "computeName", "name", "version", "endpointName",
                "deploymentName", "connectionName")
# What Azure reports on every resource it finished provisioning; the simulation has no such state.
_PROVISIONED = {"computes": "Succeeded", "onlineEndpoints": "Succeeded", "onlineEndpoints/deployments": "Succeeded"}
# What Azure ML fills in on every response of a kind when the request left it out (azure-ai-ml's
# entities read them unconditionally: a model version without `flavors` fails Model._from_rest_object).
_SERVER_DEFAULTS: dict[str, dict[str, Any]] = {
    "models/versions": {"flavors": {}},
    "onlineEndpoints/deployments": {"scaleSettings": {"scaleType": "Default"}},
}


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


def _models() -> Any:
    from azure.ai.ml._restclient.arm_ml_service import models
    return models


def conform(model: Any) -> Any:
    """The wire JSON of a REST model, keeping only the fields its class (the discriminated subclass)
    defines, recursively."""
    from azure.ai.ml._restclient.arm_ml_service._utils.model_base import Model
    if isinstance(model, Model):
        known = {rf._rest_name for rf in type(model)._attr_to_rest_field.values()}
        return {k: conform(model[k]) for k in model.keys() if k in known}
    if isinstance(model, Mapping):
        return {k: conform(v) for k, v in model.items()}
    if isinstance(model, list):
        return [conform(v) for v in model]
    return model


def to_rest(model_name: str, body: Mapping[str, Any]) -> Any:
    """The body read into azure-ai-ml's REST model, as its client reads a response."""
    from azure.ai.ml._restclient.arm_ml_service._utils.model_base import _deserialize
    return _deserialize(getattr(_models(), model_name), dict(body))


def arm_body(doc: Mapping[str, Any], arm_type: str) -> dict[str, Any]:
    """The ARM resource a simulation document stands for: its inputs without the path parameters,
    what ARM computed (id, identity's principal), the id, name and type, and no secret (ARM
    never returns one; the document holds only hashes of them)."""
    props = {k: v for k, v in (doc.get("properties") or {}).items() if k not in _PATH_INPUTS}
    for key, value in (doc.get("computed") or {}).items():
        if isinstance(value, Mapping) and isinstance(props.get(key), Mapping):
            props[key] = {**props[key], **value}
        else:
            props[key] = value
    props = _without_secrets(props)
    arm_id = str(doc["id"])
    props["id"] = arm_id
    props["name"] = arm_id.rstrip("/").rsplit("/", 1)[-1]
    props["type"] = "Microsoft.MachineLearningServices/workspaces/" + arm_type
    props["systemData"] = {"createdAt": doc.get("created"), "lastModifiedAt": doc.get("updated"),
                           "createdBy": "simulation", "createdByType": "User"}
    inner = props.get("properties")
    if isinstance(inner, dict):
        inner = {**_SERVER_DEFAULTS.get(arm_type, {}), **inner}
        if arm_type in _PROVISIONED:
            inner["provisioningState"] = _PROVISIONED[arm_type]
        props["properties"] = inner
    return props


def _without_secrets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_secrets(v) for k, v in value.items()
                if not (isinstance(v, Mapping) and set(v) == {"$secret"}) and k != "secrets"}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def answer(store: Store, method: str, url: str) -> Answer:
    """What the simulated ARM answers to one request (pure but for reading the store)."""
    path = unquote(urlsplit(url).path).rstrip("/")
    if method.upper() != "GET":
        return _error(405, "MethodNotAllowed", f"the simulation serves reads only, not {method} {path}")
    m = _WORKSPACE.match(path)
    if not m:
        return _error(404, "ResourceNotFound", f"the simulation has nothing at {path}")
    workspace, below = m.group(1), m.group(2) or ""
    if not below:
        return _error(404, "ResourceNotFound", "workspaces are not served to the reader")
    if not store.live(store.load(workspace)):
        return _error(404, "ResourceNotFound", f"workspace {workspace.rsplit('/', 1)[-1]!r} not found")
    route = next(((model, arm_type) for pattern, model, arm_type in _ROUTES if pattern.match(below)), None)
    if route is None:
        return _error(404, "ResourceNotFound", f"the simulation serves no {below!r}")
    model, arm_type = route
    # An item's path has an odd number of segments below the workspace ("computes/c"), a
    # collection's an even one ("computes", "models/m/versions").
    if len(below.split("/")) % 2 == 0:
        doc = store.load(path)
        if doc is None or not store.live(doc):
            return _error(404, "ResourceNotFound", f"{below} not found")
        return Answer(200, conform(to_rest(model, arm_body(doc, arm_type))))
    items = [conform(to_rest(model, arm_body(d, arm_type))) for d in children(store, path)]
    return Answer(200, {"value": items})


def children(store: Store, collection: str) -> list[dict[str, Any]]:
    """The live documents directly below a collection path, by name."""
    base = store.path(collection + "/x").parent
    if not base.is_dir():
        return []
    out = []
    for p in sorted(base.glob("*.json")):
        doc = json.loads(p.read_text(encoding="utf-8"))
        if store.live(doc):
            out.append(doc)
    return out


def _error(status: int, code: str, message: str) -> Answer:
    return Answer(status, {"error": {"code": code, "message": f"{message} (simulated ARM)"}})


# -- the azure-core edge ----------------------------------------------------------------------------
def transport(state_dir: Path | str) -> Any:
    """An azure-core HttpTransport serving the simulation under `state_dir` (its `sim` folder)."""
    from azure.core.pipeline.transport import HttpTransport

    store = Store(state_dir)

    class SimulatedArm(HttpTransport):
        """SIMULATED Azure Resource Manager for MLClient (see the module docstring)."""

        def __enter__(self) -> "SimulatedArm":
            return self

        def __exit__(self, *args: Any) -> None:
            return None

        def open(self) -> None:
            return None

        def close(self) -> None:
            return None

        def send(self, request: Any, **kwargs: Any) -> Any:
            with store.locked():
                got = answer(store, request.method, request.url)
            return _response(request, got)

    return SimulatedArm()


def _response(request: Any, got: Answer) -> Any:
    """The answer in the response type azure-core's own requests transport returns for `request`."""
    import requests
    import urllib3
    from azure.core.pipeline._tools import is_rest

    r = requests.Response()
    r.status_code, r._content, r.url = got.status, json.dumps(got.body).encode(), request.url
    r.reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(got.status, "")
    r.headers["Content-Type"] = "application/json; charset=utf-8"
    r.request = requests.Request(request.method, request.url).prepare()
    r.raw = urllib3.HTTPResponse(body=io.BytesIO(r._content), preload_content=False)
    if is_rest(request):
        from azure.core.rest._requests_basic import RestRequestsTransportResponse
        return RestRequestsTransportResponse(request=request, internal_response=r)
    from azure.core.pipeline.transport import RequestsTransportResponse
    return RequestsTransportResponse(request, r)


class Credential:
    """The simulation's deploying identity: a token nothing checks (the transport never sends it on)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken
        return AccessToken("local-simulation-token", 9_999_999_999)

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessTokenInfo
        return AccessTokenInfo("local-simulation-token", 9_999_999_999)
