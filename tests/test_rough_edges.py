"""What a new user hits in the first hour (issue 17's rough edges): init in an existing repository,
plan before the first commit or outside git, empty revisions, one --stack option, colour, what
apply will refuse, long values, created properties, the commit tag, and the times of history.

The command line is tested where it is the thing under test; everything else through the API.
The engine's commands (apply and destroy --output json) are in tests/test_rough_edges_engine.py.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import REPO, amlctl, git, git_estate
from controller import plan as P
from controller.plan import output as plan_output
from controller.render.graph import Graph, Resource

ML = "azure-native:machinelearningservices:"
ANSI = "\x1b["


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    root = git_estate(tmp_path / "estate")
    git(root, "checkout", "-q", "-b", "change")
    return root


@pytest.fixture(autouse=True)
def no_colour_settings(monkeypatch):
    # The runner's own NO_COLOR or FORCE_COLOR must not decide these tests.
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def clean(run) -> None:
    assert "Traceback" not in run.err + run.out and "internal error" not in run.err, run.err


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


# -- 1. init in an existing repository --------------------------------------------------------------
def test_init_completes_an_existing_gitignore_and_overwrites_nothing_else(tmp_path: Path):
    root = tmp_path / "existing"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    mine = b"node_modules/\n/.amlctl\n*.log"  # no newline at the end; .amlctl already ignored its own way
    (root / ".gitignore").write_bytes(mine)
    run = amlctl("init", str(root), cwd=tmp_path)
    clean(run)
    assert run.code == 0, run.err
    assert "added .venv/, __pycache__/ to .gitignore" in run.out
    after = (root / ".gitignore").read_bytes()
    assert after.startswith(mine) and after.count(b".amlctl") == 1  # appended only what was missing
    assert after.splitlines()[-2:] == [b".venv/", b"__pycache__/"]
    assert (root / "manifests" / "workspace.yaml").is_file() and (root / "README.md").is_file()
    # Any other file that exists is still a refusal, and the .gitignore is left as it is.
    again = amlctl("init", str(root), cwd=tmp_path)
    assert again.code == 2 and "overwrites nothing" in again.err
    assert (root / ".gitignore").read_bytes() == after


def test_init_says_when_an_existing_gitignore_needs_nothing(tmp_path: Path):
    from controller import scaffold
    content = scaffold.files("p", "mlw-p", "westeurope", ())
    (tmp_path / ".gitignore").write_text(".amlctl/\n.venv\n/__pycache__/\n")
    written = {w.path: w for w in scaffold.write(tmp_path, content)}
    assert written[".gitignore"] == scaffold.Written(".gitignore", created=False, added=())
    assert (tmp_path / ".gitignore").read_text() == ".amlctl/\n.venv\n/__pycache__/\n"
    assert scaffold.missing_lines("!.amlctl/\n# .venv/\n", ".amlctl/\n.venv/\n") == [".amlctl/", ".venv/"]


# -- 2. plan before the first commit, outside git; empty revisions ----------------------------------
def scaffolded(root: Path, *, git_init: bool) -> Path:
    from controller import scaffold
    scaffold.write(root, scaffold.files("p", "mlw-p", "westeurope", ()))
    if git_init:
        git(root, "init", "-q", "-b", "main")
    return root


@pytest.mark.parametrize("git_init, says", [(False, "is not a git repository"), (True, "has no commits yet")])
def test_plan_without_a_base_points_at_from_scratch_which_works(tmp_path: Path, git_init: bool, says: str):
    root = scaffolded(tmp_path / "new", git_init=git_init)
    run = amlctl("plan", "--stack", "dev", cwd=root)
    clean(run)
    assert run.code == 2 and says in run.err and "--from-scratch" in run.err, run.err
    scratch = amlctl("plan", "--stack", "dev", "--from-scratch", cwd=root)
    assert scratch.code == 0, scratch.err
    assert "to create" in scratch.out and "workspace/mlw-p" in scratch.out


@pytest.mark.parametrize("args", [("plan", "--stack", "dev", "--head", ""), ("plan", "--stack", "dev", "--base", " "),
                                  ("changed", "--head", ""), ("changed", "--base", "")])
def test_an_empty_revision_is_a_usage_error(estate: Path, args):
    run = amlctl(*args, cwd=estate)
    clean(run)
    assert run.code == 2 and "an empty revision" in run.err, run.err + run.out


# -- 3. one --stack option --------------------------------------------------------------------------
@pytest.mark.parametrize("args", [("plan",), ("plan", "--from-scratch"), ("blame", "Compute/gpu-cluster")])
def test_a_mistyped_stack_is_the_same_usage_error_in_plan_and_blame(estate: Path, args):
    run = amlctl(*args, "--stack", "prdo", cwd=estate)
    clean(run)
    assert run.code == 2, run.err
    assert "no stack 'prdo': no stack file stacks/Pulumi.prdo.yaml (the stacks: dev, local, prod)" in run.err


def test_plan_head_finds_a_stack_at_that_revision(estate: Path):
    import shutil
    shutil.copy(estate / "stacks/Pulumi.dev.yaml", estate / "stacks/Pulumi.qa.yaml")
    git(estate, "add", "-A")
    git(estate, "commit", "-qm", "a qa stack")
    head = git(estate, "rev-parse", "HEAD")
    git(estate, "checkout", "-q", "main")  # the working tree has no qa stack; the revision does
    run = amlctl("plan", "--stack", "qa", "--head", head, cwd=estate)
    assert run.code == 0, run.err
    assert "to create" in run.out
    missing = amlctl("plan", "--stack", "qa", cwd=estate)
    assert missing.code == 2 and "(the stacks: dev, local, prod)" in missing.err


# -- 4. colour --------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, tty, env, wanted", [
    ("auto", True, {}, True), ("auto", False, {}, False), ("auto", True, {"NO_COLOR": "1"}, False),
    ("auto", True, {"NO_COLOR": ""}, True), ("auto", False, {"FORCE_COLOR": "1"}, True),
    ("auto", False, {"FORCE_COLOR": "0"}, False), ("auto", False, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
    ("always", False, {"NO_COLOR": "1"}, True), ("never", True, {"FORCE_COLOR": "1"}, False)])
def test_colour_follows_the_option_then_no_color_then_force_color_then_the_terminal(mode, tty, env, wanted):
    from controller.cli import color
    assert color.wanted(mode, tty, env) is wanted


def test_color_option_and_environment_reach_validate_plan_and_errors(estate: Path, monkeypatch):
    edit(estate, "manifests/compute.yaml", "max_instances: 4", "max_instances: 5")
    plan = amlctl("--color", "always", "plan", "--stack", "dev", cwd=estate)
    assert plan.code == 0 and ANSI in plan.out, plan.err
    assert ANSI not in amlctl("plan", "--stack", "dev", cwd=estate).out  # auto, and not a terminal
    edit(estate, "manifests/compute.yaml", "max_instances: 5", "max_instances: many")
    always = amlctl("--color", "always", "validate", cwd=estate)
    assert always.code == 1 and ANSI in always.out
    failed = amlctl("--color", "always", "render", "--stack", "dev", cwd=estate)  # errors on stderr
    assert failed.code == 1 and ANSI in failed.err
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert ANSI in amlctl("validate", cwd=estate).out
    assert ANSI not in amlctl("--color", "never", "validate", cwd=estate).out
    monkeypatch.setenv("NO_COLOR", "1")
    assert ANSI not in amlctl("validate", cwd=estate).out
    assert ANSI in amlctl("--color", "always", "validate", cwd=estate).out
    bad = amlctl("--color", "sometimes", "validate", cwd=estate)
    assert bad.code == 2 and "sometimes" in bad.err


def test_progress_and_drift_colour_their_symbols_only_when_asked():
    from controller.cli import drift as drift_report
    from controller.engine.drift import Drift, Drifted
    report = Drift("dev", "abc", (Drifted("ws/compute/cpu", ML + "Compute", "update", ("properties.x",)),))
    assert ANSI in drift_report.text(report, color=True)
    assert ANSI not in drift_report.text(report)


# -- 5. what apply will refuse ----------------------------------------------------------------------
def test_plan_exits_1_and_says_so_when_apply_will_refuse_a_protected_delete(estate: Path):
    os.remove(estate / "manifests/platform/registry.yaml")
    for fmt in ("text", "markdown", "json"):
        run = amlctl("plan", "--stack", "prod", "--output", fmt, "--detailed-exitcode", cwd=estate)
        clean(run)
        assert run.code == 1, (fmt, run.err)
        assert "apply will refuse: it deletes or replaces 1 protected resource(s) (registry/reg-credit-shared)" \
            in run.out, fmt
    gate = json.loads(run.out)["apply"]
    assert gate["will_refuse"] and gate["refused"] == ["registry/reg-credit-shared"]


def test_plan_says_when_apply_needs_allow_delete_and_still_exits_0(estate: Path):
    os.remove(estate / "manifests/platform/serverless.yaml")
    run = amlctl("plan", "--stack", "dev", cwd=estate)
    assert run.code == 0, run.err
    last = run.out.strip().splitlines()[-1]
    assert last.startswith("apply needs --allow-delete: it deletes or replaces 2 resource(s) ("), last
    assert "mlw-credit/serverless-endpoint/llama-explainer" in last
    assert "apply will refuse" not in run.out


def test_apply_and_plan_ask_one_rule():
    """operations.apply refuses exactly what plan says it will (the rule lives in controller.plan)."""
    base = Graph("s", (Resource("ws", ML + "Workspace", {"a": 1}, "Workspace/ws", protect=True),
                       Resource("c", ML + "Compute", {"a": 1}, "Compute/c")))
    plan = P.diff(base, Graph("s", ()))
    assert [c.name for c in P.refused(plan)] == ["ws"]
    assert [c.name for c in P.needs_allow_delete(plan)] == ["c", "ws"]
    text = plan_output.text(plan)
    assert "apply will refuse: it deletes or replaces 1 protected resource(s) (ws)" in text
    assert "apply needs --allow-delete: it deletes or replaces 1 resource(s) (c)" in text
    # A changed asset version is refused too, but its error (P001, bump the version) says why:
    # the summary does not add advice to unprotect it.
    v1 = Graph("s", (Resource("m@7", ML + "ModelVersion", {"version": "7", "properties": {"modelUri": "a"}},
                              "Model/m"),))
    v2 = Graph("s", (Resource("m@7", ML + "ModelVersion", {"version": "7", "properties": {"modelUri": "b"}},
                              "Model/m"),))
    bump = P.diff(v1, v2)
    assert [d.code for d in bump.errors] == ["P001"] and P.refused(bump)
    assert plan_output.apply_gate(bump) == []


# -- 6. long values: the part that differs ----------------------------------------------------------
MODEL = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-credit-ml-dev/providers/"
         "Microsoft.MachineLearningServices/workspaces/mlw-credit/models/credit-default-model/versions/{}")


@pytest.mark.parametrize("before, after, old, new", [
    (MODEL.format(1), MODEL.format(2), "versions/1", "versions/2"),
    # a list (a leaf for the diff) differing at its end: its JSON is compared the same way
    ([MODEL.format(1), "x"], [MODEL.format(1), "y"], '"x"]', '"y"]'),
    # a long string differing in the middle: both ends elided
    ("a" * 150 + "left" + "b" * 150, "a" * 150 + "right" + "b" * 150, "left", "right")])
def test_long_values_show_the_part_that_differs_in_plan_and_drift(before, after, old, new):
    from controller.cli import drift as drift_report
    from controller.engine.drift import Drift, Drifted
    a, b = plan_output.changed_parts(before, after)
    assert old in a and new in b and a != b and "..." in a
    # short values and markers stay whole
    assert plan_output.changed_parts("a", "b") == ('"a"', '"b"')
    assert plan_output.changed_parts({"$secret": {"config": "amlctl:k"}}, after)[0] == "(secret from amlctl:k)"
    assert len(a) <= plan_output.MAX_VALUE and len(b) <= plan_output.MAX_VALUE
    g1 = Graph("s", (Resource("m", ML + "OnlineDeployment", {"properties": {"model": before}}, "OnlineDeployment/m"),))
    g2 = Graph("s", (Resource("m", ML + "OnlineDeployment", {"properties": {"model": after}}, "OnlineDeployment/m"),))
    line = next(x for x in plan_output.text(P.diff(g1, g2)).splitlines() if "properties.model" in x)
    assert old in line and new in line, line
    change = P.PropertyChange("properties.model", before, after, False)
    drifted = Drifted("m", ML + "OnlineDeployment", "update", ("properties.model",), changes=(change,))
    line = next(x for x in drift_report.text(Drift("dev", "abc", (drifted,))).splitlines() if "properties.model" in x)
    assert old in line and new in line, line


# -- 7. creates show their properties ---------------------------------------------------------------
def test_a_created_resource_lists_its_properties_as_terraform_does():
    r = Resource("c", ML + "WorkspaceConnection", {
        "name": "c", "properties": {"target": "https://x.example.com/" + "p" * 300,
                                    "credentials": {"key": {"$secret": {"config": "amlctl:key"}}}}},
        "Connection/c")
    lines = plan_output.text(P.diff(None, Graph("s", (r,)))).splitlines()
    assert '      + name = "c"' in lines
    assert "      + properties.credentials.key = (secret from amlctl:key)" in lines
    target = next(x for x in lines if "properties.target" in x)
    assert target.startswith('      + properties.target = "https://x.example.com/') and "chars)" in target
    assert len(target) < 200


# -- 8. the amlctl-commit tag -----------------------------------------------------------------------
def test_a_workspace_change_updates_the_workspace_only(estate: Path):
    from controller.revisions import plan_revisions
    edit(estate, "manifests/workspace.yaml", "description: Training and serving of the credit-default model.",
         "description: Training and serving the credit model.")
    git(estate, "commit", "-qam", "a one-line workspace change")
    result, diags = plan_revisions(estate, "dev", base="main")
    assert result is not None, [d.format() for d in diags]
    assert [c.name for c in result.changes] == ["workspace/mlw-credit"]
    # What a workspace stands on keeps the workspace's own tags, not its manifest's commit.
    graph = result_graph(estate)
    assert graph["mlw-credit/storage"].inputs["tags"]["team"] == "risk-ml"
    assert "amlctl-commit" not in graph["mlw-credit/storage"].inputs["tags"]
    assert graph["workspace/mlw-credit"].inputs["tags"]["amlctl-commit"] == git(estate, "rev-parse", "HEAD")


def result_graph(root: Path) -> dict[str, Resource]:
    from controller.revisions import render_stack
    side = render_stack(root, "dev")
    assert side.graph is not None, [d.format() for d in side.diagnostics]
    return side.graph.by_name()


def test_a_manifest_whose_file_name_is_not_ascii_keeps_its_commit_tag(estate: Path):
    git(estate, "mv", "manifests/workspace.yaml", "manifests/arbeitsbereich-ä.yaml")
    git(estate, "mv", "manifests/compute.yaml", "manifests/rechenknoten-ä.yaml")
    git(estate, "commit", "-qm", "file names git quotes")
    graph = result_graph(estate)
    ws = graph["workspace/mlw-credit"].inputs["tags"]
    assert ws["amlctl-manifest"] == "manifests/arbeitsbereich-ä.yaml"
    assert ws["amlctl-commit"] == git(estate, "rev-parse", "HEAD")  # the file's last commit
    cpu = graph["mlw-credit/compute/cpu-cluster"].inputs["tags"]  # one document of several: its lines' commit
    assert cpu["amlctl-manifest"] == "manifests/rechenknoten-ä.yaml"
    assert cpu["amlctl-commit"] == git(estate, "rev-parse", "HEAD~1")


# -- 10. history times, 11. replace progress --------------------------------------------------------
@pytest.mark.parametrize("value, shown", [
    (datetime(2025, 3, 1, 9, 30, 12, 345000), "2025-03-01T09:30:12Z"),  # the engine's UTC, without a zone
    ("2025-03-01 09:30:12.345000", "2025-03-01T09:30:12Z"),
    (datetime(2025, 3, 1, 10, 30, 12, tzinfo=timezone(timedelta(hours=1))), "2025-03-01T09:30:12Z"),
    ("not a time", "not a time")])
def test_update_times_carry_their_time_zone(value, shown):
    from controller.cli.reports import iso_time
    assert iso_time(value) == shown


def test_replace_progress_reads_naturally(capsys):
    from pulumi.automation import events as ev

    from controller.cli.progress import Progress
    urn = "urn:pulumi:dev::estate::azure-native:machinelearningservices:OnlineDeployment::ws/blue"
    meta = lambda op: ev.StepEventMetadata(op=op, urn=urn, type=ML + "OnlineDeployment", provider="")  # noqa: E731
    with Progress(live=False) as p:
        for i, op in enumerate((ev.OpType.CREATE_REPLACEMENT, ev.OpType.REPLACE, ev.OpType.DELETE_REPLACED)):
            p.event(ev.EngineEvent(sequence=2 * i, timestamp=0, resource_pre_event=ev.ResourcePreEvent(meta(op))))
            p.event(ev.EngineEvent(sequence=2 * i + 1, timestamp=0, res_outputs_event=ev.ResOutputsEvent(meta(op))))
    out = capsys.readouterr().out
    assert "deleted replaced" not in out
    assert [line.split("ws/blue")[0].strip() for line in out.splitlines()] == [
        "+- created the replacement", "+- replaced", "+- deleted the original"]


def test_progress_colours_its_symbols_when_asked_and_can_keep_stdout_for_the_result(capsys):
    from pulumi.automation import events as ev

    from controller.cli.progress import Progress
    urn = "urn:pulumi:dev::estate::azure-native:machinelearningservices:Compute::ws/cpu"
    meta = ev.StepEventMetadata(op=ev.OpType.CREATE, urn=urn, type=ML + "Compute", provider="")
    for err, colour in ((False, True), (True, False)):
        with Progress(live=False, err=err, color=lambda _err: colour) as p:
            p.event(ev.EngineEvent(sequence=1, timestamp=0, res_outputs_event=ev.ResOutputsEvent(meta)))
        out, errors = capsys.readouterr()
        shown = errors if err else out
        assert "created" in shown and (ANSI in shown) is colour and (out == "") is err


# -- 12. README ---------------------------------------------------------------------------------------
def test_the_readme_documents_colour_and_every_exit_code():
    text = (REPO / "README.md").read_text()
    for needle in ("--color auto|always|never", "NO_COLOR", "FORCE_COLOR", "| 130 |", "--detailed-exitcode"):
        assert needle in text, needle
