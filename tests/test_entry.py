"""Plain Pulumi runs the estate: `Pulumi.yaml` names `main: __main__.py`, which calls
controller.program.entry.main. pulumi-language-python cannot be built here, so the file is run the
way its exec script runs it (`runpy.run_path(main, run_name="__main__")`, in the project folder,
after `pulumi.runtime.configure`), under Pulumi's mocks in a child process, and its registrations
are compared with `amlctl render`; and the same entry function runs as an Automation API inline
program over the state `amlctl apply` left, which must see nothing to change.

The repositories are copies outside this checkout: amlctl is imported from PYTHONPATH, as from an
installed package, and the estate is found from the working directory only.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, amlctl, git, git_estate
from test_program import _normal, _resolved

# What pulumi-language-python-exec does with the program, under mocks instead of a monitor.
RUNNER = r'''
import json, os, runpy, sys
import pulumi

seen = []

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        seen.append({"type": args.typ, "name": args.name, "inputs": args.inputs})
        state = dict(args.inputs)
        state["identity"] = {"principalId": "principal-of-" + args.name, "type": "SystemAssigned"}
        if args.typ == "azure-native:managedidentity:UserAssignedIdentity":  # its ids are outputs, as in Azure
            state["principalId"] = state["clientId"] = "principal-of-" + args.name
        return args.name + "-id", state
    def call(self, args):
        return {"tenantId": "tenant-0000", "clientId": "c", "objectId": "o", "subscriptionId": "s"}

project, stack, main = sys.argv[1:4]
pulumi.runtime.set_mocks(Mocks(), project=project, stack=stack, preview=False)
pulumi.runtime.set_all_config({"amlctl:openaiKey": "s3cr3t-value"}, ["amlctl:openaiKey"])

@pulumi.runtime.test
def run():
    sys.argv = [main]
    runpy.run_path(main, run_name="__main__")

try:
    run()
except pulumi.RunError as e:  # the language host logs a RunError's message alone and exits 1
    print(str(e), file=sys.stderr)
    sys.exit(1)
print(json.dumps(seen, default=str))
'''


def _env(state: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "AMLCTL_STATE_DIR": str(state),
            "PULUMI_CONFIG_PASSPHRASE": ""}


def _as_language_host(root: Path, stack: str, state: Path, main: str = "__main__.py",
                      cwd: Path | None = None) -> subprocess.CompletedProcess:
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())["name"]
    return subprocess.run([sys.executable, "-c", RUNNER, project, stack, main], cwd=cwd or root, capture_output=True,
                          text=True, timeout=600, env=_env(state))


def _rendered(root: Path, stack: str) -> dict:
    r = amlctl("render", "--stack", stack, "-o", "json", cwd=root)
    assert r.code == 0, r.err
    return {x["name"]: x for x in r.json()["resources"]}


def _same_graph(graph: dict, seen: list[dict]) -> None:
    by_name = {s["name"]: s for s in seen if s["name"] != "azure-native"}
    assert set(by_name) == set(graph)
    for name, r in graph.items():
        dynamic = r["type"].startswith("amlctl:")
        assert by_name[name]["type"] == ("pulumi-python:dynamic:Resource" if dynamic else r["type"]), name
        if dynamic:
            continue
        want, got = _normal(_resolved(r["inputs"], by_name)), _normal(by_name[name]["inputs"])
        assert {k: got.get(k) for k, v in want.items() if v is not None} == \
            {k: v for k, v in want.items() if v is not None}, name


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """The example estate in a repository of its own, with this repository's program files."""
    root = git_estate(tmp_path_factory.mktemp("example") / "repo")
    for name in ("__main__.py", "requirements.txt", "Pulumi.yaml"):
        shutil.copy(REPO / name, root / name)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "the program entry")
    return root


@pytest.fixture(scope="module")
def initialised(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("init") / "estate"
    r = amlctl("init", str(root), "--ci", "github", cwd=root.parent)
    assert r.code == 0, r.err
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root


def test_the_example_registers_what_amlctl_renders(example, tmp_path):
    p = _as_language_host(example, "dev", tmp_path / "state")
    assert p.returncode == 0, p.stderr[-4000:]
    _same_graph(_rendered(example, "dev"), json.loads(p.stdout.strip().splitlines()[-1]))


def test_an_initialised_repository_registers_what_amlctl_renders(initialised, tmp_path):
    for stack in ("dev", "prod"):
        p = _as_language_host(initialised, stack, tmp_path / "state")
        assert p.returncode == 0, p.stderr[-4000:]
        seen = json.loads(p.stdout.strip().splitlines()[-1])
        graph = _rendered(initialised, stack)
        assert graph, "init's workspace renders to resources"
        _same_graph(graph, seen)


def test_the_entry_reads_the_working_directory_not_where_amlctl_is(initialised, tmp_path):
    """From a subfolder the entry finds the repository above it; amlctl's own estate (this
    checkout, on PYTHONPATH) never leaks in."""
    p = _as_language_host(initialised, "dev", tmp_path / "state", main="../__main__.py",
                          cwd=initialised / "manifests")
    assert p.returncode == 0, p.stderr[-4000:]
    names = {s["name"] for s in json.loads(p.stdout.strip().splitlines()[-1])} - {"azure-native"}
    assert names == set(_rendered(initialised, "dev"))
    assert not any("mlw-credit" in n for n in names)


def test_init_writes_the_program_and_what_a_runner_installs(initialised):
    from packaging.requirements import Requirement
    project = yaml.safe_load((initialised / "Pulumi.yaml").read_text())
    assert project["main"] == "__main__.py" and (initialised / "__main__.py").is_file()
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert (initialised / "__main__.py").read_bytes() == (REPO / "__main__.py").read_bytes()
    lines = [x for x in (initialised / "requirements.txt").read_text().splitlines() if x and not x.startswith("#")]
    req = Requirement(lines[0])
    assert req.name == "amlctl" and req.url.endswith("@v0.1.0")
    # This repository's own program and requirements: the same entry, amlctl from this checkout.
    ours = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert ours["main"] == "__main__.py"
    assert "-e ." in (REPO / "requirements.txt").read_text().splitlines()


def test_outside_an_estate_the_program_says_so_without_a_traceback(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: x\nruntime: python\nmain: __main__.py\n")
    shutil.copy(REPO / "__main__.py", tmp_path / "__main__.py")
    p = _as_language_host(tmp_path, "dev", tmp_path / "state")
    assert p.returncode == 1
    assert "no Pulumi.yaml with a stacks/ folder beside it" in p.stderr
    assert "Traceback" not in p.stderr


def test_a_stack_without_its_file_is_named(initialised, tmp_path):
    p = _as_language_host(initialised, "staging", tmp_path / "state")
    assert p.returncode == 1
    assert "no stack file stacks/Pulumi.staging.yaml" in p.stderr and "Traceback" not in p.stderr


def test_the_automation_api_running_the_entry_sees_nothing_to_change_after_amlctl_apply(initialised, tmp_path,
                                                                                          monkeypatch):
    """The engine's own verdict that the two programs are one: after `amlctl apply`, the entry
    run inline over the same state previews every resource as unchanged."""
    monkeypatch.setenv("AMLCTL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    r = amlctl("apply", "--stack", "local", "--yes", cwd=initialised)
    assert r.code == 0, r.err
    from controller.engine import operations as O
    from controller.program import entry
    st = O.open_stack(initialised, "local", O._stack_only(initialised, "local"), O.find_engine(), create=False,
                      program=lambda: entry.main(initialised))
    result = st.preview()
    assert set(result.change_summary) == {"same"}, result.change_summary
    assert result.change_summary["same"] > len(_rendered(initialised, "local"))  # the resources and the stack
