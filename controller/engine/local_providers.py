"""The SIMULATED providers of the local target (see controller.engine.local): one dynamic provider
per resource, behaving like Azure Resource Manager where amlctl depends on it, and the resource
classes the Pulumi program constructs for the local target."""
from __future__ import annotations

import copy
import os
import types
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pulumi
import pulumi.dynamic as dynamic

from controller.engine import local_traffic

from controller.engine.local import (FAIL_ENV, FAKE_SUBSCRIPTION, ML, SERVER_SET, SLOW_ENV, SYSTEM_DATASTORE,
                                     SYSTEM_DATASTORES, TRAFFIC, ArmError, Store, _describe, _failing, _get,
                                     _NONE, _now, _plain, _redact, _set, _snake, _split, _unredact, arm_ids,
                                     changed_paths, principal_id, wire, SIM_TENANT, _ALWAYS_COMPUTED, SECRETS_KEY)

UAI = "azure-native:managedidentity:UserAssignedIdentity"


# -- the providers ----------------------------------------------------------------------------------
class ArmSimulator(dynamic.ResourceProvider):
    """SIMULATED Azure Resource Manager for one resource (see the module docstring)."""

    serialize_as_secret_always = False  # it holds a path and names, nothing secret

    def __init__(self, type_token: str, name: str, state_dir: str, subscription: str) -> None:
        super().__init__()
        self.type_token = type_token
        self.name = name
        self.state_dir = state_dir
        self.subscription = subscription

    # helpers
    @property
    def store(self) -> Store:
        return Store(self.state_dir)

    def _ids(self, inputs: Mapping[str, Any]) -> tuple[str, str | None]:
        return arm_ids(self.type_token, inputs, self.subscription, self.name)

    def _require_parent(self, parent: str | None, arm_id: str) -> None:
        if parent and not self.store.live(self.store.load(parent)):
            raise ArmError("ResourceNotFound", f"{_describe(parent)} not found (parent of {arm_id}; "
                                               f"simulated ARM in {self.state_dir})")

    def _check_failure(self, op: str, arm_id: str) -> None:
        slow, _, seconds = os.environ.get(SLOW_ENV, "").rpartition(":")
        if slow and (slow == self.name or arm_id.lower().endswith("/" + slow.strip("/").lower())):
            import time
            time.sleep(float(seconds))
        entry = _failing(self.name, arm_id)
        if entry:
            raise ArmError("InternalServerError", f"simulated failure ({FAIL_ENV}={entry}) on {op} of {arm_id}")

    def _computed(self, arm_id: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "id" not in inputs:
            out["id"] = arm_id
        identity = inputs.get("identity")
        if isinstance(identity, Mapping) and "SystemAssigned" in str(identity.get("type", "")):
            out["identity"] = {"principalId": principal_id(arm_id), "tenantId": SIM_TENANT}
        if self.type_token == UAI:  # a user-assigned identity is an identity: its ids are its outputs
            out.update(principalId=principal_id(arm_id), tenantId=SIM_TENANT,
                       clientId=principal_id("client:" + arm_id))
        return out

    @staticmethod
    def _outputs(properties: Mapping[str, Any], computed: Mapping[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(dict(properties))
        for key, value in computed.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
                out[key] = {**out[key], **value}
            else:
                out[key] = value
        return out

    def _put(self, op: str, arm_id: str, parent: str | None, inputs: dict[str, Any],
             existing: Mapping[str, Any] | None, secrets: list[list[str]]) -> dict[str, Any]:
        properties = _redact(self.type_token, arm_id, inputs, secrets)
        if existing and self.store.live(existing):
            # What ARM owns (an endpoint's traffic) survives a PUT that does not name it.
            for path in SERVER_SET.get(self.type_token, ()):
                kept = _get(existing.get("properties", {}), path)
                if kept is not _NONE and _get(properties, path) is _NONE:
                    _set(properties, path, kept)
        now = _now()
        computed = self._computed(arm_id, inputs)
        doc = {"simulated": True, "id": arm_id, "type": self.type_token, "name": self.name, "parent": parent,
               "properties": properties, "computed": computed,
               "created": (existing or {}).get("created", now) if op == "update" else now, "updated": now}
        from controller.engine import local_runs
        run = local_runs.started(self.type_token, inputs, existing if op == "update" else None)
        if run is not None:  # a job: it runs, and completes in the simulation's time (local_runs)
            doc["run"] = run
        self.store.write(doc)
        self.store.log(op, arm_id, self.name)
        if self.type_token in local_traffic.DEPLOYMENTS and op == "create":
            local_traffic.record(self.store, local_traffic.endpoint_of(arm_id), "create", self.name)
            local_traffic.forget(self.state_dir, arm_id)  # a new deployment has answered no request yet
        outs = self._outputs(inputs, computed)
        if secrets:
            outs[SECRETS_KEY] = secrets  # kept in the state, so that read (refresh) returns them too
        return outs

    # ResourceProvider
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        inputs = _plain(props)
        arm_id, parent = self._ids(inputs)
        with self.store.locked():
            self._check_failure("create", arm_id)
            self._require_parent(parent, arm_id)
            existing = self.store.load(arm_id)
            if existing and existing.get("name") != self.name and self.store.live(existing):
                raise ArmError("Conflict", f"{_describe(arm_id)} already exists ({arm_id}, created as "
                                           f"{existing.get('name')!r}, not {self.name!r}): names are unique "
                                           "in their scope; import it or pick another name")
            outs = self._put("create", arm_id, parent, inputs, None, _secrets_of(props))
            if self.type_token == ML + "Workspace":
                self._system_datastores(arm_id)
            return dynamic.CreateResult(id_=arm_id, outs=outs)

    def _system_datastores(self, workspace_id: str) -> None:
        """Azure ML makes a workspace's system datastores with it: a Datastore manifest cannot create
        them again (Conflict), a SystemDatastore step updates them."""
        now = _now()
        for name in SYSTEM_DATASTORES:
            arm_id = f"{workspace_id}/datastores/{name}"
            kind = "AzureFile" if name == "workspacefilestore" else "AzureBlob"
            self.store.write({"simulated": True, "system": True, "id": arm_id, "type": ML + "Datastore",
                              "name": name, "parent": workspace_id, "created": now, "updated": now, "computed": {"id": arm_id},
                              "properties": {"properties": {"datastoreType": kind, "isDefault": name ==
                                                            "workspaceblobstore",
                                                            "credentials": {"credentialsType": "AccountKey"}}}})
            self.store.log("create", arm_id, f"(with the workspace) {name}")

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        with self.store.locked():
            doc = self.store.load(id_)
            if doc is None or not self.store.live(doc):
                return dynamic.ReadResult(id_="", outs={})  # gone: the engine drops it from the state
        known = _plain(props)
        properties = _unredact(id_, doc.get("properties", {}), known)
        outs = self._outputs(properties, doc.get("computed", {}))
        if SECRETS_KEY in props:
            outs[SECRETS_KEY] = props[SECRETS_KEY]
        return dynamic.ReadResult(id_=id_, outs=outs)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        old, new = _plain(olds), _plain(news)
        ignore = _ALWAYS_COMPUTED + SERVER_SET.get(self.type_token, ())
        if "id" in new:  # an input named id (a Job's name) is compared like any other
            ignore = tuple(p for p in ignore if p != "id")
        paths = changed_paths(old, new, ignore)
        from controller.plan.immutable import forces_replace
        replaces = [p for p in paths if forces_replace(self.type_token, p)]
        same_id = False
        if replaces:
            try:
                same_id = self._ids(new)[0].lower() == id_.lower()
            except ArmError:
                same_id = False
        return dynamic.DiffResult(changes=bool(paths), replaces=replaces, stables=None,
                                  delete_before_replace=bool(replaces) and same_id)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        inputs = _plain(news)
        _, parent = self._ids(inputs)
        with self.store.locked():
            self._check_failure("update", id_)
            self._require_parent(parent, id_)
            existing = self.store.load(id_)  # gone behind our back: a PUT creates it again
            return dynamic.UpdateResult(outs=self._put("update", id_, parent, inputs, existing, _secrets_of(news)))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self.store.locked():
            if self.type_token in local_traffic.DEPLOYMENTS:
                why = local_traffic.serving(self.store, id_)
                if why:  # as Azure ML: traffic moves off a deployment before it can go
                    raise ArmError("BadRequest", f"cannot delete {_describe(id_)}: {why}; move its traffic "
                                                 f"first (simulated ARM in {self.state_dir})")
            if self.store.delete(id_):
                self.store.log("delete", id_, self.name)
                if self.type_token in local_traffic.DEPLOYMENTS:
                    local_traffic.record(self.store, local_traffic.endpoint_of(id_), "delete", self.name)


class SystemDatastoreSimulator(ArmSimulator):
    """SIMULATED amlctl:azureml:SystemDatastore: a PUT over a datastore the workspace made itself;
    it must exist, and removing the step leaves it as it is (Azure ML owns it)."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        inputs = _plain(props)
        arm_id, parent = self._ids(inputs)
        with self.store.locked():
            self._check_failure("update", arm_id)
            existing = self.store.load(arm_id)
            if not self.store.live(existing):
                raise ArmError("ResourceNotFound", f"system datastore {inputs.get('name')!r} not found ({arm_id}): "
                                                   "Azure ML makes it with the workspace")
            return dynamic.CreateResult(id_=arm_id, outs=self._put("update", arm_id, parent, inputs, existing,
                                                                  _secrets_of(props)))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        return None


class TrafficSimulator(ArmSimulator):
    """SIMULATED amlctl:azureml:EndpointTraffic: sets the traffic of the endpoint's document."""

    def _apply(self, props: Mapping[str, Any]) -> dict[str, Any]:
        inputs = _plain(props)
        endpoint_id = str(inputs.get("endpointId", "")).rstrip("/")
        arm_id = endpoint_id + "/traffic"
        with self.store.locked():
            self._check_failure("update", arm_id)
            endpoint = self.store.load(endpoint_id)
            if endpoint is None or not self.store.live(endpoint):
                raise ArmError("ResourceNotFound", f"{_describe(endpoint_id)} not found ({endpoint_id})")
            body = endpoint.setdefault("properties", {}).setdefault("properties", {})  # the ARM body's properties
            if inputs.get("kind") == "batch":
                names = [inputs["defaultDeployment"]] if inputs.get("defaultDeployment") else []
            else:
                names = sorted(set(inputs.get("traffic") or {}) | set(inputs.get("mirrorTraffic") or {}))
            for name in names:
                if not self.store.live(self.store.load(f"{endpoint_id}/deployments/{name}")):
                    raise ArmError("ResourceNotFound", f"deployment '{name}' of {_describe(endpoint_id)} not found: "
                                                       "traffic can only go to existing deployments")
            if inputs.get("kind") == "batch":
                body["defaults"] = {"deploymentName": inputs.get("defaultDeployment")}
            else:
                body["traffic"] = {k: int(v) for k, v in (inputs.get("traffic") or {}).items()}
                if inputs.get("mirrorTraffic") or "mirrorTraffic" in body:
                    body["mirrorTraffic"] = {k: int(v) for k, v in (inputs.get("mirrorTraffic") or {}).items()}
            endpoint["updated"] = _now()
            self.store.write(endpoint)
            self.store.log("traffic", endpoint_id, self.name)
            local_traffic.record(self.store, endpoint_id, "traffic")
        return inputs

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        outs = self._apply(props)
        return dynamic.CreateResult(id_=str(outs.get("endpointId", "")).rstrip("/") + "/traffic", outs=outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(outs=self._apply(news))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        inputs = _plain(props)
        endpoint_id = id_[:-len("/traffic")] if id_.endswith("/traffic") else str(inputs.get("endpointId", ""))
        with self.store.locked():
            endpoint = self.store.load(endpoint_id)
            if endpoint is None or not self.store.live(endpoint):
                return dynamic.ReadResult(id_="", outs={})
        body = endpoint.get("properties", {}).get("properties", {})
        outs = dict(inputs)
        if inputs.get("kind") == "batch":
            outs["defaultDeployment"] = (body.get("defaults") or {}).get("deploymentName")
        else:
            outs["traffic"] = body.get("traffic") or {}
            if "mirrorTraffic" in inputs or body.get("mirrorTraffic"):
                outs["mirrorTraffic"] = body.get("mirrorTraffic") or {}
        return dynamic.ReadResult(id_=id_, outs=outs)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        from controller.plan.immutable import forces_replace
        old, new = _plain(olds), _plain(news)
        # An empty mirror split and no mirror split are the same thing.
        for side in (old, new):
            if not side.get("mirrorTraffic"):
                side.pop("mirrorTraffic", None)
        paths = changed_paths(old, new)
        replaces = [p for p in paths if forces_replace(self.type_token, p)]
        return dynamic.DiffResult(changes=bool(paths), replaces=replaces, stables=None, delete_before_replace=False)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """The step leaves with its endpoint (or the endpoint's traffic leaves amlctl's hands): the
        traffic goes to no deployment, as the real EndpointTraffic sets it, so that the deployments
        can be deleted after it."""
        endpoint_id = id_[:-len("/traffic")] if id_.endswith("/traffic") else str(_plain(props).get("endpointId", ""))
        with self.store.locked():
            endpoint = self.store.load(endpoint_id)
            if endpoint is None or not self.store.live(endpoint):
                return None
            body = endpoint.setdefault("properties", {}).setdefault("properties", {})
            body.pop("traffic", None), body.pop("mirrorTraffic", None), body.pop("defaults", None)
            endpoint["updated"] = _now()
            self.store.write(endpoint)
            self.store.log("traffic", endpoint_id, self.name)
            local_traffic.record(self.store, endpoint_id, "traffic")


# -- the resource classes ---------------------------------------------------------------------------
def _output_leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], pulumi.Output]]:
    """(keys, Output) of each Output in the inputs; a list is one value (documents are addressed by
    keys through mappings). Keys, not a dotted string: a key may hold dots (job properties)."""
    if isinstance(value, pulumi.Output):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _output_leaves(v, path + (str(k),))
    elif isinstance(value, (list, tuple)):
        for v in value:
            for _, out in _output_leaves(v, path):
                yield path, out


def _secrets_of(props: Mapping[str, Any]) -> list[list[str]]:
    paths = props.get(SECRETS_KEY)
    if not isinstance(paths, (list, tuple)):
        return []
    # A state written before paths were key lists holds dotted strings.
    return [[str(k) for k in p] if isinstance(p, (list, tuple)) else str(p).split(".") for p in paths]


async def _secret_paths(leaves: list[tuple[tuple[str, ...], pulumi.Output]]) -> list[list[str]]:
    return [list(p) for p in sorted({p for p, out in leaves if await out.is_secret()})]


def simulator(type_token: str, name: str, state_dir: str, subscription: str) -> ArmSimulator:
    """The provider of one simulated resource (what its `__provider` input pickles)."""
    cls = {TRAFFIC: TrafficSimulator, SYSTEM_DATASTORE: SystemDatastoreSimulator}.get(type_token, ArmSimulator)
    return cls(type_token, name, state_dir, subscription)


def adoption(type_token: str, name: str, state_dir: Path | str, subscription: str, arm_id: str,
             inputs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The import of an existing simulated resource as `pulumi import --file` takes it, or None when
    the simulation does not hold it.

    The engine's import reads a resource through its provider, and the Python dynamic-provider host
    cannot serve that read: it finds the provider in the resource's `__provider` input, which an
    import does not have (pulumi/pulumi#16175). So the import carries the state itself (the import
    file's `inputs` and `outputs`, which the engine then takes instead of reading): the resource as
    the simulator's own `read` returns it, which is what a refresh records, with the same pickled
    provider the program gives it. Inputs are the cloud's, not the manifests': the next preview
    shows every difference between the two."""
    from pulumi.dynamic.dynamic import serialize_provider
    root = str(Path(state_dir).resolve())
    provider = simulator(type_token, name, root, subscription)
    read = provider.read(arm_id, dict(inputs))
    if not read.id:
        return None
    ser = serialize_provider(provider)
    outputs = {**(read.outs or {}), "__provider": ser}
    given = outputs
    doc = provider.store.load(arm_id)
    if type_token != TRAFFIC and doc is not None:
        # The inputs are the document's properties: what ARM computed (id, an identity's principal)
        # is output only, as after a create; as inputs it would read as a change the manifests make.
        given = {**_unredact(arm_id, doc.get("properties", {}), _plain(dict(inputs))), "__provider": ser}
    cls = classes(root, subscription=subscription)(type_token)
    return {"type": f"pulumi-python:{cls._resource_type_name}", "name": name, "id": read.id,
            "inputs": given, "outputs": outputs}


class SimulatedResource(dynamic.Resource):
    """A resource of the SIMULATED target. Subclasses (one per type token) come from `classes`."""

    _type_token = ""
    _state_dir = ""
    _subscription = FAKE_SUBSCRIPTION

    def __init__(self, resource_name: str, opts: pulumi.ResourceOptions | None = None, **kwargs: Any) -> None:
        # Assets become plain {"$asset": {sha256}} values here: the engine sends a dynamic provider's
        # diff hash-only assets, which the Python dynamic-provider host cannot read back.
        props = {wire(k): _plain(v, False) for k, v in kwargs.items()}
        leaves = list(_output_leaves(props))
        if leaves:
            # The engine strips secrets before a dynamic provider sees them (it accepts none), so the
            # simulator is told where they are: it stores a hash there, never the value (as ARM
            # never returns one).
            props[SECRETS_KEY] = pulumi.Output.from_input(_secret_paths(leaves))
        if self._type_token == UAI:
            # Its ids are outputs only (the simulator computes them): declared, so that the program
            # can read them as it reads the generated class's client_id and principal_id.
            for key in ("principalId", "clientId", "tenantId"):
                props.setdefault(key, None)
        super().__init__(simulator(self._type_token, resource_name, self._state_dir, self._subscription),
                         resource_name, props, opts)
        # Outputs are attributes by wire name (identity, resourceGroupName); the program reads them by
        # their Python name, as on the generated SDK classes.
        for key in props:
            alias = _snake(key)
            if alias != key and alias not in ("id", "urn") and key in self.__dict__:
                self.__dict__[alias] = self.__dict__[key]


def classes(state_dir: Path | str, *, subscription: str | None = None) -> Callable[[str], type[SimulatedResource]]:
    """What controller.program.build takes as `classes` for the SIMULATED local target: any type
    token -> a dynamic resource class keeping its documents under `state_dir`.

    `subscription` goes into the ids of resource groups and everything under them: pass the stack's
    subscriptionId (graph.settings["subscriptionId"]) so ids match the ones the graph spells out."""
    root = str(Path(state_dir).resolve())
    sub = subscription or FAKE_SUBSCRIPTION
    made: dict[str, type[SimulatedResource]] = {}

    def cls_for(type_token: str) -> type[SimulatedResource]:
        if type_token not in made:
            package, module, name = _split(type_token)
            attrs = {"_type_token": type_token, "_state_dir": root, "_subscription": sub,
                     "__doc__": f"SIMULATED {type_token} (local target, documents under {root})."}
            made[type_token] = types.new_class(name, (SimulatedResource,),
                                               {"module": f"local/{package}/{module}", "name": name},
                                               lambda ns: ns.update(attrs))
        return made[type_token]

    return cls_for


