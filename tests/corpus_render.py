"""Render every generative-AI and serverless corpus file amlctl accepts (jobs/finetuning,
foundation-models, generative-ai/promptflow, and any file with `serverless` in its path), each on
its own in a synthetic workspace, and print what rendered and why the rest did not:

    .venv/bin/python tests/corpus_render.py

A deployment file names no endpoint (`az ml ... deployment create` takes --endpoint-name on the
command line): it is given one, with an endpoint manifest of its kind. tests/test_corpus.py checks
acceptance; this is the render figure beside it (too slow for every test run: azure-ai-ml compiles
each pipeline).
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fidelity as F  # noqa: E402
from corpus_check import supported_rows  # noqa: E402

from controller import schemas as S  # noqa: E402
from controller.manifests.loader import load_files  # noqa: E402
from controller.render import render  # noqa: E402

PREFIXES = ("jobs/finetuning", "foundation-models", "generative-ai/promptflow")
ENDPOINT = {"OnlineDeployment": "OnlineEndpoint", "BatchDeployment": "BatchEndpoint"}


def _endpoint(kind: str, schemas: S.SchemaSet):
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "endpoint.yaml"
        spec = "{auth_mode: key}" if kind == "OnlineEndpoint" else "{}"
        path.write_text(f"apiVersion: amlctl.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: ep-corpus}}\nspec: {spec}\n")
        [m] = load_files([(path, "synthetic/endpoint.yaml")], None, schemas).manifests
        return replace(m, workspace="mlw-fidelity")


def run() -> tuple[list[str], list[tuple[str, str]], int]:
    schemas = S.load()
    rendered, failed, rejected = [], [], 0
    for row, kind in supported_rows():
        path = row["path"]
        if not (path.startswith(PREFIXES) or "serverless" in path):
            continue
        hint = kind if row["schema_kind"].startswith("inferred:") else None
        loaded = load_files([(F.CORPUS / path, f"{F.CORPUS.name}/{path}")], hint, schemas)
        if any(d.severity.value == "error" for d in loaded.diagnostics) or not loaded.manifests:
            rejected += 1  # tests/corpus/known-differences.yaml says why
            continue
        manifests = [F._in_workspace(m) for m in loaded.manifests] + F._fidelity_workspace(schemas)
        for i, m in enumerate(manifests):
            if m.kind in ENDPOINT and "endpoint_name" not in m.spec:
                manifests[i] = replace(m, spec={**m.spec, "endpoint_name": "ep-corpus"})
                manifests.append(_endpoint(ENDPOINT[m.kind], schemas))
        out = render(manifests, F._stack(), root=F.CORPUS.parent, schemas=schemas, allow_missing_files=True)
        errors = [d.format() for d in out.diagnostics if d.severity.value == "error"]
        if errors:
            failed.append((path, errors[0]))
        else:
            rendered.append(path)
    return rendered, failed, rejected


if __name__ == "__main__":
    ok, failed, rejected = run()
    for path, why in failed:
        print(f"NOT RENDERED {path}\n    {why}")
    total = len(ok) + len(failed)
    print(f"rendered {len(ok)}/{total} = {100 * len(ok) / max(total, 1):.1f}% of the accepted generative-AI and "
          f"serverless corpus files ({rejected} rejected by validate, see known-differences.yaml)")
