"""Benchmark: `amlctl validate` on a generated 2,000-manifest estate, against azure-ai-ml's own
loaders on the same files. Each side runs as a whole process (start-up included), in one run.

    .venv/bin/python benchmarks/validate_bench.py [--manifests 2000] [--repeat 3]

Prints wall times (best and median of --repeat runs), peak memory (max RSS), and the ratio.
Targets: amlctl under 2 s; at least 5x faster than azure-ai-ml's loaders (issue 11). A second amlctl
line adds a stack, so validate also renders it (its render check).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from estate_gen import generate  # noqa: E402
from plan_bench import STACK  # noqa: E402

AZURE_LOADER = r'''
import sys
from azure.ai.ml import (load_batch_endpoint, load_component, load_compute, load_data, load_datastore,
                         load_environment, load_model, load_online_deployment, load_online_endpoint)
LOADERS = {"compute": load_compute, "datastore": load_datastore, "data": load_data,
           "environment": load_environment, "model": load_model, "online_endpoint": load_online_endpoint,
           "online_deployment": load_online_deployment, "batch_endpoint": load_batch_endpoint,
           "component": load_component}
failed = 0
for line in open(sys.argv[1]):
    kind, path = line.rstrip("\n").split("\t")
    try:
        LOADERS[kind](source=path)
    except Exception as exc:
        failed += 1
        if failed <= 3:
            print(f"azure-ai-ml could not load {path}: {exc}", file=sys.stderr)
print(f"loaded {sum(1 for _ in open(sys.argv[1])) - failed}, failed {failed}")
'''


def measure(cmd: list[str], cwd: Path, repeat: int) -> tuple[list[float], float, str]:
    """Run `cmd` `repeat` times; wall seconds of each, peak RSS (MiB) and the last run's output.
    Output goes to a file, not a pipe, so a chatty process never blocks on a full pipe."""
    walls, peak, text = [], 0.0, ""
    log = cwd / "bench-output.txt"
    for _ in range(repeat):
        with open(log, "w") as fh:
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT)
            _, _status, usage = os.wait4(proc.pid, 0)  # wait4 gives this child's own rusage
            walls.append(time.perf_counter() - start)
        text = log.read_text()
        peak = max(peak, usage.ru_maxrss / 1024)
    return walls, peak, text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifests", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = generate(root, args.manifests)
        listing = root / "files.tsv"
        listing.write_text("".join(f"{k}\t{p}\n" for k, p in files))
        (root / "load_azure.py").write_text(AZURE_LOADER)
        amlctl = [py, "-m", "controller", "validate", "manifests"]
        azure = [py, str(root / "load_azure.py"), str(listing)]
        env_note = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
        print(f"estate: {args.manifests} manifests of {len({k for k, _ in files})} kinds; {env_note}; "
              f"{args.repeat} runs each, whole process")
        a_walls, a_peak, a_out = measure(amlctl, root, args.repeat)
        print(f"amlctl validate:        best {min(a_walls):6.2f} s  median {statistics.median(a_walls):6.2f} s  "
              f"peak RSS {a_peak:6.0f} MiB   [{a_out.strip().splitlines()[-1]}]")
        z_walls, z_peak, z_out = measure(azure, root, args.repeat)
        print(f"azure-ai-ml load_*():   best {min(z_walls):6.2f} s  median {statistics.median(z_walls):6.2f} s  "
              f"peak RSS {z_peak:6.0f} MiB   [{z_out.strip().splitlines()[-1]}]")
        ratio = statistics.median(z_walls) / statistics.median(a_walls)
        print(f"ratio (median azure-ai-ml / median amlctl): {ratio:.1f}x faster   "
              f"target: amlctl < 2 s ({'met' if statistics.median(a_walls) < 2 else 'NOT met'}), "
              f">= 5x ({'met' if ratio >= 5 else 'NOT met'})")
        # With a stack, validate also renders it (what plan would reject, validate reports first):
        # the same estate, the render check included.
        (root / "stacks").mkdir()
        (root / "stacks" / "Pulumi.bench.yaml").write_text(STACK)
        s_walls, s_peak, s_out = measure(amlctl + ["stacks"], root, args.repeat)
        print(f"amlctl validate, 1 stack (render check included): best {min(s_walls):6.2f} s  median "
              f"{statistics.median(s_walls):6.2f} s  peak RSS {s_peak:6.0f} MiB   [{s_out.strip().splitlines()[-1]}]; "
              f"{statistics.median(z_walls) / statistics.median(s_walls):.1f}x faster than azure-ai-ml's loaders, "
              "which check no reference")


if __name__ == "__main__":
    main()
