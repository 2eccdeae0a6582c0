"""The command line's contract: exit codes, output formats, schema export."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO, amlctl, write_tree

BROKEN = {
    "m/a.yaml": "apiVersion: amlctl.dev/v1alpha1\nkind: Compute\nmetadata:\n  name: cpu\nspec:\n"
                "  type: amlcompute\n  max_instance: 2\n",
    "m/d.yaml": "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
                "name: blue\nendpoint_name: scoring\nmodel: azureml:m:1\ninstance_type: Standard_DS3_v2\n",
}


def test_text_output_lists_errors_then_a_summary(tmp_path: Path) -> None:
    root = write_tree(tmp_path, BROKEN)
    run = amlctl("validate", "m", cwd=root)
    lines = run.out.splitlines()
    assert run.code == 1
    assert lines[0] == ("m/a.yaml:7:3: error[S004] Compute/cpu: unknown field 'max_instance' "
                        "(did you mean 'max_instances'?)")
    assert lines[-1].startswith("invalid: 1 error, ")
    assert "\x1b[" not in run.out  # no colour when not a terminal


def test_warnings_alone_exit_zero_and_strict_turns_them_into_errors(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"m/d.yaml": BROKEN["m/d.yaml"]})
    lenient = amlctl("validate", "--output", "json", "m", cwd=root)
    strict = amlctl("validate", "--output", "json", "--strict", "m", cwd=root)
    assert lenient.code == 0 and strict.code == 1
    assert {d["severity"] for d in lenient.json()["diagnostics"]} == {"warning"}
    assert {d["severity"] for d in strict.json()["diagnostics"]} == {"error"}
    assert {d["code"] for d in strict.json()["diagnostics"]} == {"M002"}


def test_json_output(tmp_path: Path) -> None:
    root = write_tree(tmp_path, BROKEN)
    doc = amlctl("validate", "--output", "json", "m", cwd=root).json()
    assert doc["valid"] is False and doc["summary"]["errors"] == 1 and doc["summary"]["files"] == 2
    first = doc["diagnostics"][0]
    assert (first["path"], first["line"], first["column"], first["code"], first["rule"]) == \
           ("m/a.yaml", 7, 3, "S004", "unknown-field")


def test_github_output_is_workflow_commands(tmp_path: Path) -> None:
    root = write_tree(tmp_path, BROKEN)
    lines = amlctl("validate", "--output", "github", "m", cwd=root).out.splitlines()
    assert lines[0].startswith("::error file=m/a.yaml,line=7,col=3,title=amlctl S004 unknown-field::")
    assert any(line.startswith("::warning file=m/d.yaml,line=4,") for line in lines)


def test_azure_pipelines_output_is_logging_commands(tmp_path: Path) -> None:
    root = write_tree(tmp_path, BROKEN)
    run = amlctl("validate", "--output", "azure-pipelines", "m", cwd=root)
    lines = run.out.splitlines()
    assert run.code == 1
    assert lines[0].startswith("##vso[task.logissue type=error;sourcepath=m/a.yaml;linenumber=7;columnnumber=3;"
                               "code=S004]")
    assert any(line.startswith("##vso[task.logissue type=warning;sourcepath=m/d.yaml;linenumber=4;") for line in lines)


def test_sarif_output(tmp_path: Path) -> None:
    root = write_tree(tmp_path, BROKEN)
    doc = json.loads(amlctl("validate", "--output", "sarif", "m", cwd=root).out)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    result = run["results"][0]
    assert result["ruleId"] == "S004" and rules[result["ruleIndex"]] == "S004"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "m/a.yaml" and loc["region"] == {"startLine": 7, "startColumn": 3}


def test_schema_export(tmp_path: Path) -> None:
    run = amlctl("schema", "export", str(tmp_path / "out"), cwd=REPO)
    assert run.code == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(p.name for p in (REPO / "schemas").glob("*.schema.json"))
    assert "envelope.schema.json" in written and "stack.schema.json" in written


def test_validate_does_not_import_pulumi_or_azure_ml() -> None:
    import subprocess
    import sys
    code = ("import sys, runpy; sys.argv=['amlctl','validate']\n"
            "try:\n    runpy.run_module('controller', run_name='__main__')\nexcept SystemExit: pass\n"
            "bad=[m for m in sys.modules if m.split('.')[0] in ('pulumi','pulumi_azure_native','azure')]\n"
            "print('IMPORTED=' + ','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True).stdout
    assert "valid: 0 errors" in out
    assert out.strip().splitlines()[-1] == "IMPORTED="


@pytest.mark.parametrize("command", [["apply", "--yes"], ["preview"], ["drift"], ["history"], ["render"],
                                     ["destroy", "--yes-destroy-stack", "prdo"], ["secrets-provider"],
                                     ["pulumi", "--", "stack", "export"]])
def test_a_mistyped_stack_is_a_usage_error_that_lists_the_stacks(command: list[str]) -> None:
    run = amlctl(command[0], "--stack", "prdo", *command[1:], cwd=REPO)
    assert run.code == 2, run.err
    assert "no stack file stacks/Pulumi.prdo.yaml (the stacks: dev, local, prod)" in run.err
    assert "Traceback" not in run.err


def test_a_missing_provider_plugin_says_how_to_install_it_where_amlctls_engine_looks(capsys) -> None:
    from pulumi.automation import errors
    from pulumi.automation._cmd import CommandResult

    from controller.cli import _engine_call

    def preview(root, stack):
        raise errors.CommandError(CommandResult(stdout="", code=255, stderr=(
            "error: Could not automatically download and install resource plugin 'pulumi-resource-azure-native' "
            "at version v3.29.0, install the plugin using `pulumi plugin install resource azure-native v3.29.0`: "
            "failed all 5 attempts")))

    with pytest.raises(SystemExit) as stop:
        _engine_call(preview, REPO, "dev")
    err = capsys.readouterr().err
    assert stop.value.code == 1 and "the Pulumi engine failed" in err
    assert "amlctl pulumi --stack dev -- plugin install resource azure-native v3.29.0" in err
