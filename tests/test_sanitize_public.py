"""The sanitizer on secrets nobody here wrote: the public corpus in tests/data/secrets-public
(gitleaks' and detect-secrets' own test data), embedded and scored as its README says."""

from __future__ import annotations

import pytest

from nbworkflow.sanitize import Sanitizer

from .support.secret_corpus import DATA, score


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    if not (DATA / "secrets.jsonl").exists():
        pytest.skip("public corpus not present")
    return score(Sanitizer(use_environ=False).sanitize)


def test_recall_on_public_secrets(result) -> None:  # type: ignore[no-untyped-def]
    missed = sorted({f"{c.family}:{c.context}" for c in result.missed})
    # issue 14's floor is 0.97; this holds what was reached (0.990), so a regression shows
    assert result.recall >= 0.985, f"recall {result.recall:.3f}; missed {missed[:40]}"


def test_every_context_keeps_high_recall(result) -> None:  # type: ignore[no-untyped-def]
    for context, (removed, total) in result.by_context.items():
        assert removed / total >= 0.93, f"{context}: {removed}/{total}"


def test_documented_false_positives_stay_byte_identical(result) -> None:  # type: ignore[no-untyped-def]
    changed = [t[:80] for t in result.changed]
    # issue 14's floor is 0.90; reached: 0.909
    assert result.benign_rate >= 0.905, f"benign {result.benign_rate:.3f}; changed {changed[:20]}"
