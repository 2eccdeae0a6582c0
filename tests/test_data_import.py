"""Data imports as data: one-off DataImport runs and Schedules with import_data, validated, rendered
and held against pulumi-azure-native's input types. The estate is the coverage estate's dataimport
area (tests/estates/coverage/dataimport over base/), which tests/test_coverage_engine.py applies with
the real engine; fidelity against azure-ai-ml is tests/fidelity/kinds_dataimport.py's."""
from __future__ import annotations

from pathlib import Path

import pytest

import coverage_area as area
from controller.render import render
from controller.render.graph import Graph, Resource
from controller.render.kinds import dataimport as D
from controller.validate import validate

ML = "azure-native:machinelearningservices:"
RUNS = "mlw-cov/data-import/imp-sales-orders/runs/"
SCHEDULE = "mlw-cov/schedule/imp-nightly-partner-files"
SCHEDULE_FILE = "manifests/schedule.yaml"
IMPORT_FILE = "manifests/sales-import.yaml"


def estate(tmp_path: Path, edits: dict[str, tuple[str, str]] | None = None,
           extra: dict[str, str] | None = None) -> Path:
    """base/ and the dataimport area in one folder; `edits`: file -> (old, new); `extra`: more files."""
    return area.lay(tmp_path / "estate", "dataimport", edits, extra)


problems = area.problems
graph = area.graph


def run_of(resources: dict[str, Resource]) -> Resource:
    [run] = [r for name, r in resources.items() if name.startswith(RUNS)]
    return run


@pytest.fixture(scope="module")
def resources(tmp_path_factory) -> dict[str, Resource]:
    return graph(estate(tmp_path_factory.mktemp("imp"))).by_name()


def test_the_dataimport_area_validates_clean(tmp_path: Path) -> None:
    assert problems(estate(tmp_path)) == []


# -- a one-off import ---------------------------------------------------------------------------------
def test_a_one_off_import_is_the_pipeline_job_az_ml_data_import_submits(resources) -> None:
    run = run_of(resources)
    assert run.type == ML + "Job" and run.retain_on_delete  # a run is history
    body = run.inputs["properties"]
    assert body["jobType"] == "Pipeline" and body["experimentName"] == "data_import_imp-sales-orders"
    assert body["properties"] == {"azureml.materializationAssetName": "imp-sales-orders"}
    [(step_name, step)] = body["jobs"].items()
    assert step_name == "data_import_imp-sales-orders"
    assert (step["type"], step["task"], step["computeId"]) == ("data_transfer", "import_data", "serverless")
    assert step["componentId"] == "azureml://registries/azureml/components/import_data_database/versions/0.0.1"
    assert step["source"] == {"type": "database", "query": "select * from dbo.orders",
                              "connection": "azureml:imp-sales-sql"}
    assert step["outputs"]["sink"] == {"job_output_type": "mltable", "name": "imp-sales-orders",
                                       "uri": "azureml://datastores/workspaceblobstore/paths/imports/sales/${{name}}"}
    # It waits for the connection it reads through.
    assert "mlw-cov/connection/imp-sales-sql" in run.depends_on


def test_a_changed_import_is_a_new_run_and_an_unchanged_one_the_same(tmp_path: Path, resources) -> None:
    before = run_of(resources).name
    again = run_of(graph(estate(tmp_path / "same")).by_name()).name
    changed = run_of(graph(estate(tmp_path / "changed", {IMPORT_FILE: ("from dbo.orders", "from dbo.orders_v2")}))
                     .by_name()).name
    assert again == before and changed != before and changed.startswith(RUNS + "imp-sales-orders-")


def test_the_path_gets_a_folder_per_run_as_az_ml_gives_it(tmp_path: Path) -> None:
    """Without ${{name}}, azure-ai-ml appends it; the managed datastore's path is completed too."""
    plain = ("paths/imports/sales/${{name}}", "paths/imports/sales")
    managed = ("azureml://datastores/workspaceblobstore/paths/imports/sales/${{name}}",
               "azureml://datastores/workspacemanageddatastore")
    for label, edit, uri in (("plain", plain, "azureml://datastores/workspaceblobstore/paths/imports/sales/${{name}}"),
                             ("managed", managed, "azureml://datastores/workspacemanageddatastore/paths/${{name}}")):
        run = run_of(graph(estate(tmp_path / label, {IMPORT_FILE: edit})).by_name())
        [step] = run.inputs["properties"]["jobs"].values()
        assert step["outputs"]["sink"]["uri"] == uri, label


def test_a_file_system_import_writes_a_uri_folder(tmp_path: Path) -> None:
    text = ("$schema: http://azureml/sdk-2-0/DataImport.json\nname: imp-partner-once\n"
            "path: azureml://datastores/workspaceblobstore/paths/once/${{name}}\n"
            "source: {type: file_system, path: exports/once/, connection: 'azureml:imp-partner-s3'}\n")
    out = graph(estate(tmp_path, extra={"manifests/once.yaml": text})).by_name()
    [run] = [r for n, r in out.items() if n.startswith("mlw-cov/data-import/imp-partner-once/runs/")]
    [step] = run.inputs["properties"]["jobs"].values()
    assert step["componentId"].endswith("/import_data_file_system/versions/0.0.1")
    assert step["outputs"]["sink"]["job_output_type"] == "uri_folder"


# -- a scheduled import -------------------------------------------------------------------------------
def test_a_scheduled_import_is_a_generic_schedule_with_azure_ai_mls_import_data_action(resources) -> None:
    s = resources[SCHEDULE]
    i = s.inputs
    assert s.type == D.GENERIC
    assert (i["resourceType"], i["parentResourcePath"], i["resourceName"], i["apiVersion"]) == \
        ("schedules", "workspaces/mlw-cov", "imp-nightly-partner-files", D.SCHEDULE_API)
    props = i["properties"]
    assert props["action"] == {"actionType": "ImportData", "dataImportDefinition": {
        "assetName": "imp-partner-files", "dataType": "uri_folder", "isAnonymous": False, "isArchived": False,
        "dataUri": "azureml://datastores/workspaceblobstore/paths/imports/partner/${{name}}",
        "source": {"sourceType": "file_system", "path": "exports/daily/", "connection": "azureml:imp-partner-s3"},
        "properties": {}, "tags": {}}}
    # amlctl's trigger, the pattern's single values as the lists the REST API takes.
    assert props["trigger"] == {"triggerType": "Recurrence", "frequency": "Day", "interval": 1,
                                "schedule": {"hours": [2], "minutes": [30]}, "timeZone": "W. Europe Standard Time"}
    assert props["isEnabled"] is True and props["displayName"] == "Nightly partner files"
    assert "mlw-cov/connection/imp-partner-s3" in s.depends_on


def test_a_schedule_naming_an_import_file_schedules_that_manifests_import(tmp_path: Path) -> None:
    text = ("$schema: http://azureml/sdk-2-0/Schedule.json\nname: imp-weekly-sales\n"
            "trigger: {type: cron, expression: '0 3 * * 1'}\nimport_data: ./sales-import.yaml\n")
    out = graph(estate(tmp_path, extra={"manifests/weekly.yaml": text})).by_name()
    definition = out["mlw-cov/schedule/imp-weekly-sales"].inputs["properties"]["action"]["dataImportDefinition"]
    assert definition["assetName"] == "imp-sales-orders"
    assert definition["source"]["query"] == "select * from dbo.orders"
    assert "mlw-cov/connection/imp-sales-sql" in out["mlw-cov/schedule/imp-weekly-sales"].depends_on
    assert [n for n in out if n.startswith(RUNS)]  # the DataImport manifest still runs once, as a Pipeline does


def test_renders_are_byte_identical_whatever_the_manifest_order(tmp_path: Path) -> None:
    root = estate(tmp_path)
    report = validate(root=root, cwd=root, render=False)
    stack = next(s for s in report.stacks if s.name == "local")
    manifests = report.overlaid["local"]
    forward = render(manifests, stack, root=root).graph
    backward = render(list(reversed(manifests)), stack, root=root).graph
    assert forward is not None and backward is not None
    assert forward.to_json() == backward.to_json()


# -- what is refused, with file and line ----------------------------------------------------------------
@pytest.mark.parametrize("label, edits, extra, expected", [
    ("missing connection", {IMPORT_FILE: ("azureml:imp-sales-sql", "azureml:imp-sales-sq1")}, {},
     f"{IMPORT_FILE}:10: [M003] source.connection: no Connection manifest here is named 'imp-sales-sq1' "
     "(did you mean azureml:imp-sales-sql?)"),
    ("wrong connection type", {IMPORT_FILE: ("azureml:imp-sales-sql", "azureml:imp-partner-s3")}, {},
     f"{IMPORT_FILE}:10: [M003] source.connection: Connection 'imp-partner-s3' (manifests/connections.yaml) is type "
     "'s3'; a database source reads through a connection of type snowflake or azure_sql_db"),
    ("not a reference", {IMPORT_FILE: ("azureml:imp-sales-sql", "imp-sales-sql")}, {},
     f"{IMPORT_FILE}:10: [S003] source.connection: connection is azureml:<name> of a Connection manifest"),
    ("type against source", {IMPORT_FILE: ("type: mltable", "type: uri_folder")}, {},
     f"{IMPORT_FILE}:5: [S003] type: a database import writes an mltable data asset"),
    ("path under the managed datastore", {IMPORT_FILE: ("datastores/workspaceblobstore/paths/imports/sales/${{name}}",
                                                        "datastores/workspacemanageddatastore/paths/x")}, {},
     f"{IMPORT_FILE}:11: [S003] path: the import's path is azureml://datastores/<datastore>/paths/<path>"),
    ("a local path", {IMPORT_FILE: ("azureml://datastores/workspaceblobstore/paths/imports/sales/${{name}}", "./out")},
     {}, f"{IMPORT_FILE}:11: [S003] path: the import's path is"),
    ("scheduled path without a folder per run", {SCHEDULE_FILE: ("/partner/${{name}}", "/partner")}, {},
     f"{SCHEDULE_FILE}:17: [S003] import_data.path: a scheduled import's path holds ${{{{name}}}}"),
    ("scheduled version", {SCHEDULE_FILE: ("  type: uri_folder\n", "  type: uri_folder\n  version: '3'\n")}, {},
     f"{SCHEDULE_FILE}:17: [S003] import_data.version: a scheduled import registers a new version on every run"),
    ("stored procedure", {IMPORT_FILE: ("  query: select * from dbo.orders\n",
                                        "  query: select * from dbo.orders\n  stored_procedure: sp_orders\n")}, {},
     f"{IMPORT_FILE}:10: [S004] unknown field 'stored_procedure' in source"),
    ("schedule names a file that is no import",
     {}, {"manifests/weekly.yaml": "$schema: http://azureml/sdk-2-0/Schedule.json\nname: imp-weekly\n"
          "trigger: {type: cron, expression: '0 3 * * 1'}\nimport_data: ./connections.yaml\n"},
     "manifests/weekly.yaml:4: [M003] import_data: manifests/connections.yaml is not a DataImport manifest of this "
     "workspace"),
    ("schedule names an import with a version",
     {IMPORT_FILE: ("type: mltable\n", "type: mltable\nversion: '7'\n")},
     {"manifests/weekly.yaml": "$schema: http://azureml/sdk-2-0/Schedule.json\nname: imp-weekly\n"
      "trigger: {type: cron, expression: '0 3 * * 1'}\nimport_data: ./sales-import.yaml\n"},
     "manifests/weekly.yaml:4: [M003] import_data: manifests/sales-import.yaml: version: a scheduled import registers"),
    ("a Data manifest of the imported asset",
     {}, {"manifests/data.yaml": "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\n"
          "name: imp-partner-files\nversion: '1'\npath: azureml://datastores/workspaceblobstore/paths/x/\n"},
     f"{SCHEDULE_FILE}:15: [M001] data asset 'imp-partner-files' is written by this import and defined by the Data "
     "manifest at manifests/data.yaml:2"),
    ("a connection of another workspace",
     {}, {"manifests/other/workspace.yaml":
          "$schema: https://azuremlschemas.azureedge.net/latest/workspace.schema.json\n"
      "name: mlw-other\nlocation: westeurope\n",
      "manifests/other/conn.yaml": "$schema: https://azuremlschemas.azureedge.net/latest/connection.schema.json\n"
      "name: imp-other-sql\ntype: azure_sql_db\ntarget: Server=tcp:sql-o.database.windows.net,1433;Database=o\n"
      "credentials: {type: managed_identity}\n",
      "manifests/other-import.yaml": "$schema: http://azureml/sdk-2-0/DataImport.json\nname: imp-cross\n"
      "path: azureml://datastores/workspaceblobstore/paths/x/${{name}}\n"
      "source: {type: database, query: select 1, connection: 'azureml:imp-other-sql'}\n"},
     "manifests/other-import.yaml:4: [M009] source.connection: Connection 'imp-other-sql' is defined in workspace "
     "mlw-other, not in 'mlw-cov'"),
])
def test_bad_imports_are_refused_with_file_and_line(tmp_path: Path, label, edits, extra, expected) -> None:
    found = problems(estate(tmp_path, edits, extra))
    assert any(p.startswith(expected) for p in found), (label, found)


def test_an_inline_connection_secret_is_refused(tmp_path: Path) -> None:
    """The connection an import reads through holds its secret as a reference, as every connection's."""
    found = problems(estate(tmp_path, {"manifests/connections.yaml": (
        "secret_access_key:\n    key_vault_secret: https://kv-imp.vault.azure.net/secrets/partner-s3-secret",
        "secret_access_key: wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY")}))
    expected = "manifests/connections.yaml:18: [M007] credentials.secret_access_key"
    assert any(p.startswith(expected) for p in found), found


# -- the provider -----------------------------------------------------------------------------------------
def test_every_rendered_resource_conforms_and_the_check_sees_the_schedules_trigger(resources) -> None:
    import test_conformance as T
    data = T.settled(Graph("local", tuple(resources.values())))
    conform, total, errors, warnings = T.check({"dataimport": data})
    assert (errors, warnings) == ([], []) and conform == total
    for r in data["resources"]:
        if r["name"] == SCHEDULE:
            r["inputs"]["properties"]["trigger"]["schedule"]["weekday"] = ["Monday"]
    _, _, errors, _ = T.check({"dataimport": data})
    assert any("unknown property 'weekday' of RecurrenceScheduleArgs" in e for e in errors), errors
