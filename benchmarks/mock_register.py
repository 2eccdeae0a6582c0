"""Register a rendered graph (JSON) through the Pulumi Python SDK under its mock monitor, and print
how many resources were registered. Timed by plan_bench.py as a whole process.

    .venv/bin/python benchmarks/mock_register.py graph.json
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi  # noqa: E402

from controller.render.graph import Graph  # noqa: E402

registered = 0


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        global registered
        registered += 1
        return f"{args.name}-id", {**args.inputs, "identity": {"principalId": f"p-{args.name}"}}

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {"tenantId": "00000000-0000-0000-0000-0000000000aa"}


def main() -> None:
    graph = Graph.from_dict(json.loads(Path(sys.argv[1]).read_text()))
    pulumi.runtime.set_mocks(Mocks(), project="bench", stack="bench", preview=False)
    pulumi.runtime.set_all_config({}, [])
    from controller.program import build

    start = time.perf_counter()

    @pulumi.runtime.test
    def run():
        created = build(graph, Path.cwd())
        return pulumi.Output.all(*[r.urn for r in created.values()])

    run()
    print(f"{registered} resources registered in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
