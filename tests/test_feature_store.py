"""The feature store kinds as data: FeatureStore (a workspace of kind featurestore, its stores as
connections, the materialization identity and its roles), FeatureStoreEntity and FeatureSet (asset
versions of a feature store; a feature set's specification folder uploaded and never read as
manifests). The estate is the coverage estate's featurestore area (tests/estates/coverage/featurestore
over base/), which tests/test_coverage_engine.py applies with the real engine; here it is validated,
rendered, planned, held against pulumi-azure-native's input types and against azure-ai-ml."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

import coverage_area as area
from controller import plan as P
from controller.render import render
from controller.render.graph import Graph, Resource
from controller.validate import validate

ML = "azure-native:machinelearningservices:"
UAI = "azure-native:managedidentity:UserAssignedIdentity"
COVERAGE = area.COVERAGE
SUB = "00000000-0000-0000-0000-00000000beef"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-cov/providers"
FS = "manifests/featurestore/featurestore.yaml"
ENTITY = "manifests/featurestore/entities/account.yaml"
SET = "manifests/featurestore/featuresets/transactions/featureset.yaml"
SPEC = "manifests/featurestore/featuresets/transactions/spec"
GIVEN_IDENTITY = (f"materialization_identity:\n  resource_id: {RG}/Microsoft.ManagedIdentity/userAssignedIdentities/"
                  "uai-features\n  client_id: 11111111-2222-3333-4444-555555555555\n"
                  "  principal_id: 66666666-7777-8888-9999-000000000000\n")
OFFLINE = f"{RG}/Microsoft.Storage/storageAccounts/stfeatures/blobServices/default/containers/offline"


def estate(tmp_path: Path, edits: dict[str, tuple[str, str]] | None = None,
           extra: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> Path:
    """base/ and the featurestore area in one folder (see coverage_area.lay)."""
    return area.lay(tmp_path / "estate", "featurestore", edits, extra, drop)


def diagnostics(root: Path) -> list[str]:
    """validate's errors and warnings (schema, semantic and render), as 'file:line: [CODE] message'."""
    return area.problems(root, errors_only=False)


graph = area.graph


@pytest.fixture(scope="module")
def resources(tmp_path_factory) -> dict[str, Resource]:
    return graph(estate(tmp_path_factory.mktemp("fs"))).by_name()


def test_the_area_validates_clean(tmp_path: Path) -> None:
    assert diagnostics(estate(tmp_path)) == []


# -- the feature store ------------------------------------------------------------------------------
def test_the_feature_store_is_a_workspace_of_kind_featurestore_naming_its_stores(resources) -> None:
    fs = resources["feature-store/fs-cov"].inputs
    assert fs["kind"] == "featurestore" and fs["systemDatastoresAuthMode"] == "Identity"
    settings = fs["featureStoreSettings"]
    assert settings["computeRuntime"] == {"sparkRuntimeVersion": "3.4"}
    offline, online = settings["offlineStoreConnectionName"], settings["onlineStoreConnectionName"]
    # azure-ai-ml's get() tells a feature store's stores by these prefixes
    assert offline.startswith("OfflineStoreConnectionName-") and online.startswith("OnlineStoreConnectionName-")
    conns = {r.inputs["connectionName"]: r for r in resources.values() if r.type == ML + "WorkspaceConnection"}
    assert set(conns) == {offline, online}
    assert conns[offline].inputs["properties"]["category"] == "ADLSGen2"
    assert conns[online].inputs["properties"]["target"] == f"{RG}/Microsoft.Cache/Redis/fs-cov-redis"
    assert "feature-store/fs-cov" in conns[offline].depends_on
    # the default storage holds the offline store, so it has a hierarchical namespace
    assert resources["fs-cov/storage"].inputs["isHnsEnabled"] is True
    assert resources["mlw-cov/storage"].inputs["isHnsEnabled"] is False
    target = conns[offline].inputs["properties"]["target"]
    assert target.endswith("/storageAccounts/" + resources["fs-cov/storage"].inputs["accountName"]
                           + "/blobServices/default/containers/offline-store")


def test_connection_names_are_deterministic_and_follow_the_target(tmp_path: Path, resources) -> None:
    again = graph(estate(tmp_path / "a")).by_name()
    names = lambda g: sorted(r.inputs["connectionName"] for r in g.values() if r.type == ML + "WorkspaceConnection")
    assert names(again) == names(resources)
    moved = graph(estate(tmp_path / "b", edits={FS: ("", f"offline_store:\n  type: azure_data_lake_gen2\n"
                                                    f"  target: {OFFLINE}\n")})).by_name()
    assert [n for n in names(moved) if n.startswith("Offline")] != [n for n in names(resources) if n.startswith("Offline")]
    assert "fs-cov/storage/offline-store" not in moved  # the manifest's container, not one amlctl makes


def test_the_materialization_identity_is_created_as_azure_ai_ml_names_it(resources) -> None:
    from azure.ai.ml.entities import FeatureStore
    from azure.ai.ml.operations._workspace_operations_base import _generate_materialization_identity
    uai = resources["fs-cov/materialization-identity"]
    assert uai.type == UAI and uai.protect is False  # the local stack is not production
    expected = _generate_materialization_identity(
        FeatureStore(name="fs-cov", location="westeurope", resource_group="rg-cov"), SUB, {})
    assert uai.inputs["resourceName"] == expected
    uai_id = f"{RG}/Microsoft.ManagedIdentity/userAssignedIdentities/{expected}"
    fs = resources["feature-store/fs-cov"]
    assert fs.inputs["identity"] == {"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": [uai_id]}
    assert uai.name in fs.depends_on
    creds = next(r for r in resources.values() if r.type == ML + "WorkspaceConnection").inputs["properties"]
    assert creds["authType"] == "ManagedIdentity"
    assert creds["credentials"] == {"clientId": {"$output": {"resource": uai.name, "property": "clientId"}},
                                    "resourceId": uai_id}


def _template_roles() -> set[str]:
    """The role definitions azure-ai-ml's feature store template grants the materialization identity."""
    import azure.ai.ml._arm_deployments.arm_templates as T
    text = (Path(T.__file__).parent / "workspace_base.json").read_text()
    import re
    return set(re.findall(r"roleDefinitions', '([0-9a-f-]{36})'", text))


def test_the_identity_gets_the_roles_azure_ai_mls_template_grants(resources) -> None:
    grants = {(r.inputs["scope"], r.inputs["roleDefinitionId"].rsplit("/", 1)[-1]): r for r in resources.values()
              if r.type == "azure-native:authorization:RoleAssignment"}
    account = resources["fs-cov/storage"].inputs["accountName"]
    storage = f"{RG}/Microsoft.Storage/storageAccounts/{account}"
    assert set(grants) == {
        (f"{RG}/Microsoft.MachineLearningServices/workspaces/fs-cov", "f6c7c914-8db3-469d-8ca1-694a8f32e121"),
        (f"{storage}/blobServices/default/containers/offline-store", "ba92f5b4-2d11-453d-a403-e96b0029c9fe"),
        (storage, "ba92f5b4-2d11-453d-a403-e96b0029c9fe"),
        (f"{RG}/Microsoft.Cache/Redis/fs-cov-redis", "b24988ac-6180-42a0-ab88-20f7382dd24c")}
    assert {role for _, role in grants} == _template_roles()
    for r in grants.values():
        assert r.inputs["principalId"] == {"$output": {"resource": "fs-cov/materialization-identity",
                                                       "property": "principalId"}}
        assert r.inputs["principalType"] == "ServicePrincipal"


def test_a_given_identity_is_used_as_given(tmp_path: Path) -> None:
    g = graph(estate(tmp_path, edits={FS: ("", GIVEN_IDENTITY)})).by_name()
    assert not [r for r in g.values() if r.type == UAI]
    conn = next(r for r in g.values() if r.type == ML + "WorkspaceConnection")
    assert conn.inputs["properties"]["credentials"]["clientId"] == "11111111-2222-3333-4444-555555555555"
    grants = [r for r in g.values() if r.type == "azure-native:authorization:RoleAssignment"]
    assert len(grants) == 4 and {r.inputs["principalId"] for r in grants} == {"66666666-7777-8888-9999-000000000000"}


# -- entities and feature sets ----------------------------------------------------------------------
def test_an_entity_is_an_append_only_container_and_version(resources) -> None:
    container = resources["fs-cov/feature-store-entity/fs-account"]
    version = resources["fs-cov/feature-store-entity/fs-account@1"]
    assert container.type == ML + "FeaturestoreEntityContainerEntity"
    assert version.type == ML + "FeaturestoreEntityVersion" and version.inputs["version"] == "1"
    assert version.inputs["properties"]["indexColumns"] == [{"columnName": "accountID", "dataType": "String"}]
    assert version.inputs["properties"]["stage"] == "Development"
    assert all(r.retain_on_delete and not r.protect for r in (container, version))


def test_a_feature_set_uploads_its_spec_folder_and_records_the_spec_as_mlclient_does(resources) -> None:
    from azure.ai.ml._utils._feature_store_utils import read_feature_set_metadata
    from azure.ai.ml.entities._feature_set.featureset_spec_metadata import FeaturesetSpecMetadata
    fset = resources["fs-cov/feature-set/fs-transactions@1"]
    assert fset.type == ML + "FeaturesetVersion"
    props = fset.inputs["properties"]
    blobs = sorted(r.inputs["blobName"].split("/spec/", 1)[1] for r in resources.values()
                   if r.type == "azure-native:storage:Blob" and "/spec/" in r.inputs["blobName"])
    assert blobs == ["FeatureSetSpec.yaml", "code/transaction_transform.py"]
    digest = next(r.inputs["blobName"].split("/", 1)[0] for r in resources.values()
                  if r.type == "azure-native:storage:Blob" and "/spec/" in r.inputs["blobName"])
    assert props["specification"] == {"path": f"azureml://datastores/amlctl_assets/paths/{digest}/spec"}
    folder = COVERAGE / "featurestore" / SPEC
    metadata = FeaturesetSpecMetadata._load(read_feature_set_metadata(path=str(folder)), folder / "FeatureSetSpec.yaml")
    assert json.loads(props["properties"]["featuresetProperties"]) == json.loads(json.dumps(metadata._to_dict()))
    assert props["properties"]["featuresetPropertiesVersion"] == "1"
    assert props["entities"] == ["azureml:fs-account:1"]  # as written, as azure-ai-ml sends them
    assert "fs-cov/feature-store-entity/fs-account@1" in fset.depends_on
    settings = props["materializationSettings"]
    assert settings["storeType"] == "OnlineAndOffline"
    assert settings["schedule"] == {"triggerType": "Recurrence", "frequency": "Hour", "interval": 3,
                                    "startTime": "2024-04-15T00:04:10", "timeZone": "UTC",
                                    "schedule": {"hours": [], "minutes": []}}
    assert settings["sparkConfiguration"] == {"spark.driver.cores": "4", "spark.driver.memory": "36g",
                                              "spark.executor.instances": "2"}
    assert fset.retain_on_delete and not fset.protect


def test_spark_settings_are_strings_and_a_conda_environment_is_its_yaml(tmp_path: Path) -> None:
    import yaml
    env = "    spark.synapse.library.python.env:\n      name: envdef\n      dependencies: [python=3.10]\n" \
          "    spark.dynamicAllocation.enabled: true\n"
    g = graph(estate(tmp_path, edits={SET: ("    spark.executor.instances: 2\n",
                                            "    spark.executor.instances: 2\n" + env)})).by_name()
    conf = g["fs-cov/feature-set/fs-transactions@1"].inputs["properties"]["materializationSettings"]["sparkConfiguration"]
    assert conf["spark.dynamicAllocation.enabled"] == "true"
    assert yaml.safe_load(conf["spark.synapse.library.python.env"]) == {"name": "envdef",
                                                                          "dependencies": ["python=3.10"]}


def test_files_in_a_spec_folder_are_data_never_manifests(tmp_path: Path) -> None:
    """FeatureSetSpec.yaml (an az ml $schema amlctl does not manage) and any other YAML there are the
    feature set's files; the same file outside a folder a manifest uses is an error."""
    other = "source:\n  type: parquet\n"
    root = estate(tmp_path / "a", extra={f"{SPEC}/config/settings.yaml": other})
    assert diagnostics(root) == []
    stray = estate(tmp_path / "b", extra={"manifests/featurestore/FeatureSetSpec.yaml":
                                          (root / SPEC / "FeatureSetSpec.yaml").read_text()})
    assert [d for d in diagnostics(stray) if "[S002]" in d and "FeatureSetSpec.yaml" in d]


def test_the_render_does_not_depend_on_file_order(tmp_path: Path) -> None:
    root = estate(tmp_path)
    report = validate(root=root, cwd=root, render=False, secrets_set=False)
    stack = next(s for s in report.stacks if s.name == "local")
    manifests = list(report.overlaid["local"])
    first = render(manifests, stack, root=root).graph.to_json()
    random.Random(7).shuffle(manifests)
    assert render(manifests, stack, root=root).graph.to_json() == first


# -- what is refused, with its file and line -----------------------------------------------------------
@pytest.mark.parametrize("edits, extra, drop, expected", [
    ({SET: ("azureml:fs-account:1", "azureml:fs-customer:1")}, None, (),
     f"{SET}:7: [M003] entities[0]: no FeatureStoreEntity manifest 'fs-customer' in feature store 'fs-cov'"),
    ({SET: ("frequency: Hour", "frequency: Hour\n    schedule: {hours: [2], minutes: [0]}")}, None, (),
     f"{SET}:17: [M013] materialization_settings.schedule.schedule"),
    ({SET: ("    start_time:", "    time_zone: Europe/Paris\n    start_time:")}, None, (),
     f"{SET}:17: [M013] materialization_settings.schedule.time_zone"),
    ({FS: ("online_store:\n  type: redis\n", "online_store_gone:\n  type: redis\n")}, None, (),
     f"{FS}:7: [S004]"),
    ({FS: ("", "offline_store:\n  type: azure_data_lake_gen2\n  target: "
               f"{RG}/Microsoft.Storage/storageAccounts/stfeatures\n")}, None, (),
     f"{FS}:12: [S003] offline_store.target: an offline store is a storage container's ARM id"),
    ({FS: ("", f"storage_account: {RG}/Microsoft.Storage/storageAccounts/stfeatures\n")}, None, (),
     f"{FS}:10: [S005] missing required field 'offline_store'"),
    ({FS: ("", "materialization_identity:\n  resource_id: "
               f"{RG}/Microsoft.ManagedIdentity/userAssignedIdentities/uai\n"
               "  client_id: 11111111-2222-3333-4444-555555555555\n")}, None, (),
     f"{FS}:10: [S005]"),
    (None, {f"{SPEC}/FeaturesetSpec.yaml": "source: {type: parquet}\n"}, (f"{SPEC}/FeatureSetSpec.yaml",),
     f"{SET}:9: [M006] specification.path: manifests/featurestore/featuresets/transactions/spec has no "
     "FeatureSetSpec.yaml (FeaturesetSpec.yaml is there"),
    ({FS: ("name: fs-cov", "name: mlw-cov")}, None, (),
     f"{FS}:2: [M001] feature store 'mlw-cov' has the name of the Workspace at manifests/workspace.yaml:2:7"),
    (None, {"manifests/entity.yaml": "$schema: http://azureml/sdk-2-0/FeaturestoreEntity.json\nname: stray\n"
                                     "version: '1'\nindex_columns: [{name: id, type: string}]\n"}, (),
     "manifests/entity.yaml:2: [M009] a FeatureStoreEntity lives in a feature store, and 'mlw-cov' is a workspace"),
])
def test_bad_input_is_a_clear_error_at_its_line(tmp_path: Path, edits, extra, drop, expected) -> None:
    found = diagnostics(estate(tmp_path, edits=edits, extra=extra, drop=drop))
    assert [d for d in found if d.startswith(expected)], found


def test_online_materialization_needs_an_online_store(tmp_path: Path) -> None:
    found = diagnostics(estate(tmp_path, edits={FS: ("online_store:\n  type: redis\n  target: "
                                                     f"{RG}/Microsoft.Cache/Redis/fs-cov-redis\n", "")}))
    assert [d for d in found if d.startswith(f"{SET}:12: [S005] materialization_settings.online_enabled: "
                                             "feature store 'fs-cov' has no online_store")], found


def test_an_entity_version_the_estate_does_not_define_is_a_warning(tmp_path: Path) -> None:
    found = diagnostics(estate(tmp_path, edits={SET: ("azureml:fs-account:1", "azureml:fs-account:0")}))
    assert [d for d in found if d.startswith(f"{SET}:7: [M002] entities[0]: FeatureStoreEntity 'fs-account' "
                                             "version 0 is not defined here")], found
    assert not [d for d in found if "[M0" not in d]


# -- plan: what cannot change in place --------------------------------------------------------------------
def test_versions_are_append_only_and_only_their_description_tags_and_stage_change(tmp_path: Path) -> None:
    base = graph(estate(tmp_path / "base"))
    described = graph(estate(tmp_path / "d", edits={ENTITY: ("a bank account", "a bank account, renamed")}))
    assert {(c.name, c.action) for c in P.diff(base, described).changes} == {
        ("fs-cov/feature-store-entity/fs-account", P.UPDATE), ("fs-cov/feature-store-entity/fs-account@1", P.UPDATE)}
    retyped = P.diff(base, graph(estate(tmp_path / "t", edits={ENTITY: ("type: string", "type: long")})))
    assert [(c.name, c.action) for c in retyped.changes] == [("fs-cov/feature-store-entity/fs-account@1", P.REPLACE)]
    assert [d.code for d in retyped.diagnostics] == ["P001"]
    bumped = graph(estate(tmp_path / "v", edits={ENTITY: ('version: "1"', 'version: "2"'),
                                                 SET: ("azureml:fs-account:1", "azureml:fs-account:2")}))
    actions = {(c.name, c.action) for c in P.diff(base, bumped).changes}
    assert ("fs-cov/feature-store-entity/fs-account@1", P.KEEP) in actions  # kept in Azure, never deleted
    assert ("fs-cov/feature-store-entity/fs-account@2", P.CREATE) in actions


def test_another_offline_store_is_another_connection(tmp_path: Path) -> None:
    base = graph(estate(tmp_path / "base"))
    moved = graph(estate(tmp_path / "m", edits={FS: ("", f"offline_store:\n  type: azure_data_lake_gen2\n"
                                                       f"  target: {OFFLINE}\n")}))
    changes = {(c.type.rsplit(":", 1)[-1], c.action) for c in P.diff(base, moved).changes}
    assert {("WorkspaceConnection", P.CREATE), ("WorkspaceConnection", P.DELETE), ("Workspace", P.UPDATE),
            ("BlobContainer", P.KEEP)} <= changes  # the features materialized so far stay in storage
    assert ("Workspace", P.REPLACE) not in changes


def test_the_kind_of_a_feature_store_cannot_change_in_place(resources) -> None:
    from controller.plan.immutable import forces_replace
    assert forces_replace(ML + "Workspace", "kind")
    assert forces_replace(ML + "Workspace", "storageAccount")
    assert not forces_replace(ML + "Workspace", "featureStoreSettings.computeRuntime.sparkRuntimeVersion")


# -- what Azure receives: the provider's input types, and azure-ai-ml's REST bodies ---------------------------
def test_every_resource_of_the_area_conforms_to_pulumi_azure_natives_input_types(tmp_path: Path) -> None:
    import test_conformance as TC
    if not TC.CHECKER.exists():
        pytest.skip("../shared/tools/conformance.py is not beside the repository")
    g = TC.settled(graph(estate(tmp_path)))
    conform, total, errs, warnings = TC.check({"featurestore": g})
    assert (errs, warnings) == ([], [])
    types = {r["type"] for r in g["resources"]}
    assert {ML + "FeaturestoreEntityVersion", ML + "FeaturesetVersion", ML + "FeaturesetContainerEntity", UAI,
            ML + "WorkspaceConnection", "azure-native:authorization:RoleAssignment"} <= types
    assert conform == total > 25


def test_what_is_rendered_matches_azure_ai_ml_field_by_field() -> None:
    import fidelity as F
    [group] = [g for g in F.GROUPS if g.__module__.endswith("kinds_featurestore")]
    outcomes = group()
    assert [o.error for o in outcomes if o.error] == []
    assert [m for o in outcomes for m in o.mismatches] == []
    kinds = {o.kind for o in outcomes}
    assert kinds == {"FeatureStore", "FeatureStoreEntity", "FeatureSet"}
    assert sum(o.equal for o in outcomes) > 35 and len(outcomes) == 5  # the two connections are compared too


def test_plan_shows_the_next_materialization_times(tmp_path: Path) -> None:
    """A created feature-set version's materialization schedule fires as any schedule does: every
    3 hours from its start time (UTC when it names no zone), and plan lists the next three."""
    from datetime import datetime, timezone

    from controller.plan import firetimes as F
    after = graph(estate(tmp_path))
    plan = P.diff(Graph(stack=after.stack, resources=(), settings=after.settings), after,
                  now=datetime(2026, 12, 2, 6, 40, tzinfo=timezone.utc))
    (change,) = [c for c in plan.changes if c.type.endswith("FeaturesetVersion")]
    (fires,) = change.fire_times
    assert F.text(fires) == ("materialization next: 2026-12-02T09:04:10+00:00 (UTC), 2026-12-02T12:04:10+00:00, "
                             "2026-12-02T15:04:10+00:00")
    off = graph(estate(tmp_path / "off", edits={
        "manifests/featurestore/featuresets/transactions/featureset.yaml":
            ("  offline_enabled: true\n  online_enabled: true", "  offline_enabled: false\n  online_enabled: false")}))
    version = next(r for r in off.resources if r.type.endswith("FeaturesetVersion"))
    assert F.of_resource(version.type, version.inputs, datetime(2026, 12, 2, tzinfo=timezone.utc))[0].note == \
        "disabled: it does not fire"
