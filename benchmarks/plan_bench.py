"""Render and plan speed on a generated 1,000-manifest estate, against the Pulumi SDK.

    .venv/bin/python benchmarks/plan_bench.py [N]

Builds a git repository with a generated estate (benchmarks/estate_gen.py) and a stack, commits
it, changes 5% of the manifests and commits again. Then times, as whole processes (start-up
included), median of 3 runs:
  - `amlctl render --stack bench --output json`
  - `amlctl plan --stack bench --base A --head B` (both sides rendered straight from git)
and the time the Pulumi Python SDK takes to register the same graph under its mock monitor
(`pulumi.runtime.set_mocks`, benchmarks/mock_register.py), which is what any approach that
renders through Pulumi's runtime pays before it can diff anything. Prints figures and ratios.
"""
from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from estate_gen import generate  # noqa: E402

STACK = """config:
  amlctl:target: azure
  amlctl:subscriptionId: 33333333-3333-3333-3333-333333333333
  amlctl:resourceGroup: rg-bench
  amlctl:location: westeurope
  amlctl:defaultWorkspace: mlw-bench
"""


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def change(path: Path, i: int) -> None:
    """A realistic edit: scale a cluster, resize a deployment, or reword a description."""
    text = path.read_text()
    if "max_instances:" in text:
        text = re.sub(r"max_instances: (\d+)", lambda m: f"max_instances: {int(m.group(1)) + 1}", text)
    elif "instance_count:" in text:
        text = re.sub(r"instance_count: (\d+)", lambda m: f"instance_count: {int(m.group(1)) + 1}", text)
    elif "description:" in text:
        text = text.replace("description: ", f"description: (rev {i}) ", 1)
    else:
        text += f"tags:\n  revision: r{i}\n" if "tags:" not in text else ""
    # A component's spec is immutable in a version: a real change to one comes with a new version.
    # (Descriptions of data, model and environment versions may change in place.)
    if "commandComponent" in text:
        text = re.sub(r'^version: "(\d+)"', lambda m: f'version: "{int(m.group(1)) + 10}"', text,
                      flags=re.M)
    path.write_text(text)


def timed(cmd: list[str], cwd: Path, runs: int = 3, ok=(0,)) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if p.returncode not in ok:
            raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}{p.stdout[-3000:]}")
        out = p.stdout
    return statistics.median(times), out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    amlctl = [sys.executable, "-m", "controller"]
    env_note = f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    with tempfile.TemporaryDirectory(prefix="amlctl-plan-bench-") as tmp:
        root = Path(tmp)
        files = generate(root, n)
        (root / "stacks").mkdir()
        (root / "stacks" / "Pulumi.bench.yaml").write_text(STACK)
        (root / "Pulumi.yaml").write_text("name: bench\nruntime: python\nstackConfigDir: stacks\n")
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "estate")
        base = git(root, "rev-parse", "HEAD")
        changed = [p for _, p in files][:: 20]  # 5%
        for i, p in enumerate(changed):
            change(p, i)
        git(root, "commit", "-qam", "change 5%")
        head = git(root, "rev-parse", "HEAD")
        env = dict(os.environ, PYTHONPATH=str(REPO))
        os.environ.update(env)

        render_s, graph_json = timed([*amlctl, "render", "--stack", "bench", "--output", "json"], root)
        graph_file = root / "graph.json"
        graph_file.write_text(graph_json)
        import json
        resources = len(json.loads(graph_json)["resources"])
        plan_s, plan_out = timed([*amlctl, "plan", "--stack", "bench", "--base", base, "--head", head], root)
        summary = plan_out.strip().splitlines()[-1]
        mock_s, mock_out = timed([sys.executable, str(HERE / "mock_register.py"), str(graph_file)], root, runs=1)

    print(f"estate: {n} manifests + workspace, {resources} resources in the graph; "
          f"{len(changed)} manifests changed ({100 * len(changed) / n:.0f}%); {env_note}")
    print(f"amlctl render (whole process):           {render_s:6.2f} s")
    print(f"amlctl plan base..head (whole process):  {plan_s:6.2f} s   target < 3 s   [{summary}]")
    print(f"Pulumi SDK, same graph, mock monitor:    {mock_s:6.2f} s   ({mock_out.strip()})")
    print(f"ratio: plan is {mock_s / plan_s:.1f}x faster than registering the graph through the Pulumi SDK")


if __name__ == "__main__":
    main()
