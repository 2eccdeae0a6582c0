"""Fidelity: amlctl's rendered ARM bodies against azure-ai-ml's `_to_rest_object()` for the same
YAML, over the example estate and the corpus (see tests/fidelity.py). Every difference must be
listed, with its reason, in tests/fidelity/known-*.yaml, and every listed difference must still
occur (a stale entry hides nothing but misleads the reader)."""
from __future__ import annotations

import fnmatch

import pytest

import fidelity as F


@pytest.fixture(scope="module")
def outcomes():
    return {"estate": F.check_estate(), "corpus": F.check_corpus()}


def test_every_kind_azure_ai_ml_loads_is_compared(outcomes):
    kinds = {o.kind for o in outcomes["estate"] if o.compared}
    assert kinds >= {"Compute", "OnlineEndpoint", "OnlineDeployment", "BatchEndpoint", "BatchDeployment",
                     "Datastore", "Data", "Environment", "Model", "Component", "Workspace", "Registry",
                     "Connection", "ServerlessEndpoint"} & set(F.KINDS)
    assert set(F.KINDS) >= {"Compute", "OnlineEndpoint", "OnlineDeployment", "Datastore", "Data", "Model"}


def test_no_unexplained_difference(outcomes):
    problems = [f"{o.path} {o.kind}/{o.name}: {m}" for group in outcomes.values() for o in group
                for m in o.mismatches]
    assert problems == []


def test_the_example_estate_is_compared_in_full(outcomes):
    not_compared = [f"{o.kind}/{o.name}: {o.error}" for o in outcomes["estate"] if o.error]
    assert not_compared == []


def test_every_listed_difference_still_occurs(outcomes):
    """Re-run the comparison without the list: each entry must explain at least one field."""
    used = set()
    for group in outcomes.values():
        for o in group:
            for path in o.intentional_paths:
                for i, k in enumerate(F.load_known()):
                    if k["kind"] in (o.kind, "*") and fnmatch.fnmatchcase(path, k["field"]):
                        used.add(i)
    stale = [k for i, k in enumerate(F.load_known()) if i not in used]
    assert stale == []


def test_agreement_figure(outcomes):
    equal, intended, compared = F.summary(outcomes["estate"] + outcomes["corpus"])
    assert compared > 500
    assert equal + intended == compared
