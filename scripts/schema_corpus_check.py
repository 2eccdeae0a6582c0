"""Developer aid while writing schemas: validate corpus files of some kinds against their schema.

usage: python scripts/schema_corpus_check.py KIND [KIND...]   (e.g. Compute OnlineDeployment)
Prints each rejected file with its problems, then 'accepted N/M'. The real, complete check is
tests/test_corpus.py, which goes through the whole loader and semantic checks.
"""
import csv
import sys
from pathlib import Path

from controller import schemas as S
from controller.manifests.yamlsafe import parse

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "azureml-cli"
INFERRED = {"inferred:serverlessEndpoint": "ServerlessEndpoint", "inferred:connection": "Connection",
            "inferred:registry": "Registry", "inferred:workspace": "Workspace",
            "inferred:managedOnlineDeployment": "OnlineDeployment", "inferred:pipelineJob": "Pipeline"}

schemas = S.load()
wanted = set(sys.argv[1:])
ok = total = 0
for row in csv.DictReader(open(CORPUS / "INDEX.tsv"), delimiter="\t"):
    kind = INFERRED.get(row["schema_kind"]) or schemas.kind_for_schema_url(row["schema_url"] or "")[0]
    if kind not in wanted:
        continue
    total += 1
    docs, diags = parse(row["path"], (CORPUS / row["path"]).read_bytes())
    probs = [d.format() for d in diags]
    for doc in docs:
        if not isinstance(doc.data, dict):
            probs.append("not a mapping")
            continue
        for p in S.problems(schemas, schemas.kinds[kind].file, doc.data):
            probs.append(f"{row['path']}:{doc.positions.at(p.path, p.at_key)[0]}: {p.code} {p.message}")
    if probs:
        print("REJECTED", row["path"])
        for p in probs:
            print("   ", p)
    else:
        ok += 1
print(f"accepted {ok}/{total}")
