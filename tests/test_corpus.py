"""Real `az ml` YAML nobody here wrote: every corpus file of a supported kind is validated on its
own, as a bare manifest, with path checks off. Every rejection must be a known difference, listed
with its reason and a quote from the file; every listed file must still be rejected."""
from __future__ import annotations

import pytest
import yaml

import corpus_check as cc

pytestmark = pytest.mark.skipif(not cc.CORPUS.exists(), reason="../shared/corpus is not beside the repository")


@pytest.fixture(scope="module")
def outcomes():
    return cc.run()


@pytest.fixture(scope="module")
def known():
    return {e["path"]: e for e in yaml.safe_load(cc.KNOWN.read_text())}


def test_the_corpus_is_there_and_large() -> None:
    assert len(cc.supported_rows()) >= 390


def test_rejections_are_exactly_the_known_differences(outcomes, known) -> None:
    rejected = {o.path: o for o in outcomes if not o.accepted}
    unexpected = sorted(set(rejected) - set(known))
    now_accepted = sorted(set(known) - set(rejected))
    assert unexpected == [], "newly rejected: " + "; ".join(f"{p}: {rejected[p].errors}" for p in unexpected)
    assert now_accepted == [], f"accepted now, remove from {cc.KNOWN.name}: {now_accepted}"
    for path, o in rejected.items():
        codes = sorted({e.split(" ")[0] for e in o.errors})
        assert codes == known[path]["codes"], path


def test_known_differences_quote_their_files(known) -> None:
    for path, entry in known.items():
        assert entry["reason"].strip()
        assert entry["quote"] in (cc.CORPUS / path).read_text(), path


def test_acceptance_figure(outcomes) -> None:
    accepted = sum(o.accepted for o in outcomes)
    rate = accepted / len(outcomes)
    print(f"\ncorpus: accepted {accepted}/{len(outcomes)} = {100 * rate:.1f}%")
    # Rejections are all listed above; this guards against a schema change that rejects in bulk.
    # 0.88: issue 14's kinds bring files whose rejections are upstream defects (a data import naming
    # a connection, a monitor naming a deployment, that no upstream file defines).
    assert rate >= 0.88
