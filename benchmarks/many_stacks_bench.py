"""`amlctl changed` and `plan` on a platform team's repository: 30 workspaces, 60 stacks.

    .venv/bin/python benchmarks/many_stacks_bench.py [--workspaces 30] [--per-workspace 99] [--repeat 3]

Builds a git repository in a temporary folder: one folder per workspace under manifests/ (its
Workspace manifest and `per-workspace` bare az ml files of nine kinds, benchmarks/estate_gen.py),
and two stacks per workspace, dev and prod, each reading only its workspace's folder
(`amlctl:manifests`). Commits it, then changes three manifests of one workspace and commits again:
a pull request of one team. Times whole processes (start-up included), median of `repeat` runs:
  - `amlctl changed --base A --head B -o json` (every stack rendered at both revisions; target < 5 s)
  - `amlctl plan --stack <changed stack> --base A --head B`
and checks that `changed` names exactly the two stacks of that workspace. Prints the figures; no
test times anything.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from plan_bench import timed  # the same whole-process timing (median of runs) as plan_bench

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from estate_gen import generate  # noqa: E402
from plan_bench import change, git  # noqa: E402

STACK = """config:
  amlctl:target: azure
  amlctl:subscriptionId: 33333333-3333-3333-3333-3333333333{n:02d}
  amlctl:resourceGroup: rg-{ws}-{env}
  amlctl:location: westeurope
  amlctl:defaultWorkspace: {ws}
  amlctl:production: {prod}
  amlctl:manifests: [manifests/{ws}]
"""


def build(root: Path, workspaces: int, per_workspace: int) -> tuple[int, list[str]]:
    """The repository; returns the number of manifests and the names of the stacks."""
    (root / "stacks").mkdir(parents=True)
    stacks, total = [], 0
    for n in range(workspaces):
        ws = f"mlw-team{n:02d}"
        folder = root / "manifests" / ws
        generate(folder, per_workspace, seed=n)  # writes folder/manifests/...: move it up one level
        for path in (folder / "manifests").iterdir():
            path.rename(folder / path.name)
        (folder / "manifests").rmdir()
        (folder / ".git").rmdir()
        (folder / "workspace.yaml").write_text((folder / "workspace.yaml").read_text().replace("mlw-bench", ws))
        total += per_workspace + 1
        for env, prod in (("dev", "false"), ("prod", "true")):
            name = f"{ws}-{env}"
            (root / "stacks" / f"Pulumi.{name}.yaml").write_text(STACK.format(n=n, ws=ws, env=env, prod=prod))
            stacks.append(name)
    (root / "Pulumi.yaml").write_text("name: many\nruntime: python\nstackConfigDir: stacks\n")
    return total, stacks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspaces", type=int, default=30)
    ap.add_argument("--per-workspace", type=int, default=99)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    amlctl = [sys.executable, "-m", "controller"]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory(prefix="amlctl-many-stacks-") as tmp:
        root = Path(tmp)
        manifests, stacks = build(root, args.workspaces, args.per_workspace)
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "estate")
        base = git(root, "rev-parse", "HEAD")
        team = root / "manifests" / "mlw-team07"
        edited = sorted(team.rglob("compute-*.yaml"))[:2] + sorted(team.rglob("online_deployment-*.yaml"))[:1]
        for i, path in enumerate(edited):
            change(path, i)
        git(root, "commit", "-qam", "team 07: scale two clusters and a deployment")
        head = git(root, "rev-parse", "HEAD")

        changed_s, out = timed([*amlctl, "changed", "--base", base, "--head", head, "-o", "json"], root, args.repeat)
        named = json.loads(out)["stacks"]
        if named != ["mlw-team07-dev", "mlw-team07-prod"]:
            raise SystemExit(f"amlctl changed named {named}, not the two stacks of mlw-team07")
        plan_s, plan_out = timed([*amlctl, "plan", "--stack", "mlw-team07-prod", "--base", base, "--head", head],
                                 root, args.repeat)
        summary = plan_out.strip().splitlines()[-1]
        resources = timed([*amlctl, "render", "--stack", "mlw-team07-prod", "-o", "json"], root, 1)[1]

    print(f"estate: {manifests} manifests in {args.workspaces} workspaces, {len(stacks)} stacks "
          f"({len(json.loads(resources)['resources'])} resources per stack); 3 manifests of one workspace changed; "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; median of {args.repeat}")
    print(f"amlctl changed base..head (whole process):  {changed_s:6.2f} s   target < 5 s   -> {named}")
    print(f"amlctl plan --stack mlw-team07-prod:         {plan_s:6.2f} s   [{summary}]")


if __name__ == "__main__":
    main()
