"""The gate as a pure function: every status class, every error kind, their precedence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbworkflow.nodes.gate import (
    CODE_ERRORS,
    TRANSPORT_ERRORS,
    ErrorKind,
    Verdict,
    classify,
)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_success(status: int) -> None:
    decision = classify(status)
    assert decision.verdict is Verdict.SUCCESS
    assert str(status) in decision.reason


@pytest.mark.parametrize("status", [200, 201])
def test_2xx_with_failing_tests_adapts(status: int) -> None:
    decision = classify(status, tests_failed=True)
    assert decision.verdict is Verdict.ADAPT
    assert "tests failed" in decision.reason


@pytest.mark.parametrize("status", [400, 413, 422])
def test_payload_rejections_adapt(status: int) -> None:
    decision = classify(status)
    assert decision.verdict is Verdict.ADAPT
    assert "rewrite" in decision.reason


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
def test_infrastructure_statuses_retry_without_rewrite(status: int) -> None:
    decision = classify(status)
    assert decision.verdict is Verdict.INFRA
    assert "same code" in decision.reason


@pytest.mark.parametrize("status", [500, 503])
def test_infra_wins_over_failing_tests(status: int) -> None:
    # Staging being down says nothing about the code: retry first, judge the tests later.
    assert classify(status, tests_failed=True).verdict is Verdict.INFRA


@pytest.mark.parametrize(
    ("status", "hint"),
    [(401, "Authorization"), (403, "permission"), (404, "staging.url"), (405, "staging.method")],
)
def test_configuration_statuses_stop_and_name_the_fix(status: int, hint: str) -> None:
    decision = classify(status)
    assert decision.verdict is Verdict.CONFIG
    assert hint in decision.reason


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_configuration(status: int) -> None:
    decision = classify(status)
    assert decision.verdict is Verdict.CONFIG
    assert "redirect" in decision.reason


@pytest.mark.parametrize("status", [402, 409, 410, 415, 418, 451])
def test_other_4xx_stop_rather_than_burn_rewrites(status: int) -> None:
    assert classify(status).verdict is Verdict.CONFIG


@pytest.mark.parametrize("status", [100, 600, 999])
def test_unexpected_statuses_are_configuration(status: int) -> None:
    assert classify(status).verdict is Verdict.CONFIG


@pytest.mark.parametrize("kind", sorted(CODE_ERRORS))
def test_code_errors_adapt_whatever_the_status(kind: ErrorKind) -> None:
    for status in (None, 201, 503, 401):
        assert classify(status, error_kind=kind).verdict is Verdict.ADAPT


@pytest.mark.parametrize("kind", sorted(TRANSPORT_ERRORS))
def test_transport_errors_are_infrastructure(kind: ErrorKind) -> None:
    decision = classify(None, error_kind=kind)
    assert decision.verdict is Verdict.INFRA
    assert "infrastructure" in decision.reason


def test_error_kind_accepts_its_string_value() -> None:
    assert classify(None, error_kind="timeout").verdict is Verdict.INFRA
    assert classify(None, error_kind="exception").verdict is Verdict.ADAPT
    with pytest.raises(ValueError):
        classify(None, error_kind="gremlins")


def test_no_staging_means_tests_decide() -> None:
    assert classify(None).verdict is Verdict.SUCCESS
    assert classify(None, tests_failed=True).verdict is Verdict.ADAPT


def test_config_wins_over_failing_tests() -> None:
    assert classify(401, tests_failed=True).verdict is Verdict.CONFIG


@given(st.integers(min_value=100, max_value=599), st.booleans())
def test_only_code_problems_ever_ask_for_a_rewrite(status: int, tests_failed: bool) -> None:
    decision = classify(status, tests_failed=tests_failed)
    assert decision == classify(status, tests_failed=tests_failed)  # pure
    if decision.verdict is Verdict.ADAPT:
        assert status in (400, 413, 422) or (200 <= status <= 299 and tests_failed)
    if status >= 500 or status in (408, 425, 429):
        assert decision.verdict is Verdict.INFRA
