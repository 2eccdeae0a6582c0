"""Validate every file of ../shared/corpus/azureml-cli whose kind amlctl supports, each on its own,
as a bare manifest with path checks off (the corpus ships no code). Used by test_corpus.py;
run it directly to print the acceptance figure and every rejection:

    .venv/bin/python tests/corpus_check.py
"""
from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller import schemas as S  # noqa: E402
from controller.validate import validate  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "azureml-cli"
KNOWN = Path(__file__).resolve().parent / "corpus" / "known-differences.yaml"

# Corpus files with no `$schema` line: INDEX.tsv says what they are; amlctl is told with --kind.
INFERRED = {
    "inferred:managedOnlineDeployment": "OnlineDeployment",
    "inferred:pipelineJob": "Pipeline",
    "inferred:workspace": "Workspace",
    "inferred:connection": "Connection",
    "inferred:registry": "Registry",
    "inferred:serverlessEndpoint": "ServerlessEndpoint",
    "inferred:commandJob": "Job",
    "inferred:finetuningJob": "FineTuningJob",
    "inferred:distillationJob": "FineTuningJob",
    "inferred:synapseSparkCompute": "Compute",
}
# az ml kinds amlctl does not manage yet, by INDEX.tsv's schema_kind. "Schedule" (capital S) is the
# sdk-2-0 Schedule.json of data-import and model-monitoring schedules: schedule.schema.json takes
# create_monitor and import_data (monitor.schema.json, data-import.schema.json), whose renderers
# are not built yet (issue 14); they are counted once they are.
UNSUPPORTED_NOTE = "Schedule"
# ... except the Schedule files under these folders, whose kind's renderer is built.
SCHEDULE_FOLDERS = ("monitoring/", "assets/data/")
# Files validated (and rendered) beside a corpus file because it refers to them: a model monitor names
# the online deployment it watches, which must be a manifest of the estate (controller/checks/monitoring.py).
# The deployment the e2e folder defines is the one the monitors there watch (azureml:credit-default:main).
COMPANIONS = {
    "monitoring/": ("monitoring/azureml-e2e-model-monitoring/endpoints/endpoint.yaml",
                    "monitoring/azureml-e2e-model-monitoring/endpoints/deployment.yaml"),
    # A data import reads through a Connection manifest of the estate (controller/checks/dataimport.py):
    # the connection files of the same upstream folder that the imports name (rejected on their own,
    # M007, their errors are theirs), and the import file a schedule names.
    "assets/data/azure-sql-import.yml": ("resources/connections/azure-sql-user-passwd.yml",),
    "assets/data/s3-import.yml": ("resources/connections/s3-access-key.yml",),
    "assets/data/snowflake-import": ("resources/connections/snowflake-db-user-passwd.yml",),
    "assets/data/simple_import_schedule.yml": ("assets/data/snowflake-import.yml",
                                               "resources/connections/snowflake-db-user-passwd.yml"),
}


# Companions validate needs but render does not, left out when a file is rendered: the connection files
# a data import names (render sends the reference as written), whose inline passwords render refuses.
VALIDATE_ONLY = ("resources/connections/",)


def _spark_components(path: str) -> list[str]:
    """The local component files a corpus pipeline's Spark steps name: a step's component file must
    be a Component manifest of the estate (R004 otherwise), so the pipeline is rendered beside them."""
    import posixpath

    import yaml
    try:
        doc = yaml.safe_load((CORPUS / path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return []
    jobs = doc.get("jobs") if isinstance(doc, dict) else None
    out = []
    for step in (jobs or {}).values() if isinstance(jobs, dict) else ():
        component = step.get("component") if isinstance(step, dict) and step.get("type") == "spark" else None
        if isinstance(component, str) and component.startswith(("./", "../")) and component.endswith((".yml", ".yaml")):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), component))
            if (CORPUS / target).is_file():
                out.append(target)
    return sorted(set(out))


def companions(path: str, kind: str, for_render: bool = False) -> list[str]:
    """The corpus files a Schedule (or DataImport) file is validated beside (see COMPANIONS), and the
    Spark components a Pipeline's steps name; `for_render`: those it is rendered beside."""
    if kind == "Pipeline":
        return _spark_components(path)
    if kind not in ("Schedule", "DataImport"):
        return []
    return [c for prefix, files in COMPANIONS.items() if path.startswith(prefix) for c in files if c != path
            and not (for_render and c.startswith(VALIDATE_ONLY))]


@dataclass(frozen=True)
class Outcome:
    path: str
    kind: str
    accepted: bool
    errors: tuple[str, ...]  # "CODE line: message"


def supported_rows() -> list[tuple[dict, str]]:
    schemas = S.load()
    rows = []
    with open(CORPUS / "INDEX.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            sk = row["schema_kind"]
            if sk == UNSUPPORTED_NOTE and not row["path"].startswith(SCHEDULE_FOLDERS):
                continue
            kind = INFERRED.get(sk) or schemas.by_azureml_schema.get(sk.lower())
            if kind:
                rows.append((row, kind))
    return rows


def run() -> list[Outcome]:
    out = []
    for row, kind in supported_rows():
        hint = kind if row["schema_kind"].startswith("inferred:") else None
        # The corpus is the cli/ folder of its upstream repository, whose files reach into
        # sibling folders (../../sdk/...): the repository root is the corpus's parent.
        beside = companions(row["path"], kind)
        report = validate([row["path"], *beside], cwd=CORPUS, root=CORPUS.parent, skip_path_checks=True, kind=hint)
        errors = tuple(f"{d.code} {d.line}: {d.message}" for d in report.diagnostics if d.severity.value == "error"
                       and (not beside or d.path.endswith(row["path"])))  # the companions are counted on their own
        out.append(Outcome(row["path"], kind, not errors, errors))
    return out


if __name__ == "__main__":
    outcomes = run()
    accepted = sum(o.accepted for o in outcomes)
    for o in outcomes:
        if not o.accepted:
            print(f"REJECTED {o.path} ({o.kind})")
            for e in o.errors:
                print(f"    {e}")
    by_kind: dict[str, list[int]] = {}
    for o in outcomes:
        by_kind.setdefault(o.kind, [0, 0])
        by_kind[o.kind][0] += o.accepted
        by_kind[o.kind][1] += 1
    for kind, (a, n) in sorted(by_kind.items()):
        print(f"  {kind:<20} {a}/{n}")
    print(f"accepted {accepted}/{len(outcomes)} = {100 * accepted / len(outcomes):.1f}%")
