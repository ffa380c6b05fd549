"""The engine's shortcuts change its cost, never its output.

``Memo`` remembers a judge's verdict per window of text (the rule's ``reach``); the settle step
passes all dirty blocks joined into one text; the token scan keeps context-free runs through a
per-token cache. Each is checked against the engine with the shortcut turned off, on the public
corpus and on text that repeats it (where the memo is actually hit).
"""

from __future__ import annotations

import pytest

from nbworkflow.sanitize import Sanitizer, engine
from nbworkflow.sanitize.memo import Memo
from tests.support.secret_corpus import benign_texts, secret_cases

CASES = [c.text for c in secret_cases()[::7]] + benign_texts()[::3]


@pytest.fixture
def san() -> Sanitizer:
    return Sanitizer(use_environ=False)


def _without_memo(san: Sanitizer, text: str, monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as patch:
        patch.setattr(Memo, "MAX_ENTRIES", 0)  # nothing is remembered: every verdict fresh
        return san.sanitize(text)


def test_memo_changes_no_output_on_the_corpus(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for text in CASES:
        assert san.sanitize(text) == _without_memo(san, text, monkeypatch), text


def test_memo_changes_no_output_when_it_is_hit(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each case repeated on one line and on many: the same windows recur, so verdicts are reused
    for text in CASES[::4]:
        for joint in (" ", "\n", "; "):
            repeated = joint.join([text] * 6)
            assert san.sanitize(repeated) == _without_memo(san, repeated, monkeypatch), repeated


def test_a_repeated_credential_is_judged_once_per_window(san: Sanitizer) -> None:
    text = "mysql -pS3cr3tPw0rd " * 2000
    plan = san._plan(())
    memo = Memo()
    out = engine._pass(text, plan.rules, plan.prepass, plan.split, memo)
    assert out.count("[REDACTED:password]") == 2000
    # the cause of the speed: a handful of windows (the line's start, its end, the repeat)
    assert len(memo.table()) < 200
    assert not memo.off


def test_memo_stays_bounded_when_every_window_differs(san: Sanitizer) -> None:
    text = " ".join(f"mysql -pS3cr3t{i}q{i * 7919}" for i in range(Memo.MAX_ENTRIES + 500))
    plan = san._plan(())
    memo = Memo()
    out = engine._pass(text, plan.rules, plan.prepass, plan.split, memo)
    assert "S3cr3t" not in out
    assert len(memo.table()) == Memo.MAX_ENTRIES
    assert memo.off  # full and never hit: lookups stop costing


def test_joined_settle_equals_block_by_block(san: Sanitizer) -> None:
    plan = san._plan(())
    blocks = [san.sanitize(text) for text in CASES[:120]]
    joined = engine._pass_blocks(blocks, plan.rules, plan.prepass, plan.split, Memo())
    alone = [engine._pass(b, plan.rules, plan.prepass, plan.split, Memo()) for b in blocks]
    assert joined == alone


def test_blocks_holding_the_joint_are_passed_one_by_one(san: Sanitizer) -> None:
    plan = san._plan(())
    joint = engine._BLOCK_JOIN
    blocks = [f"password=hunter2hunter2{joint}ok", "token: abc123def456ghi"]
    out = engine._pass_blocks(blocks, plan.rules, plan.prepass, plan.split, Memo())
    assert len(out) == 2
    assert "hunter2hunter2" not in out[0] and out[0].endswith(f"{joint}ok")
    assert "abc123def456ghi" not in out[1]


def test_kept_token_cache_agrees_with_the_full_judge(san: Sanitizer) -> None:
    # the per-token shortcut keeps only runs the full judge keeps in any context
    from nbworkflow.sanitize import vendors

    for text in CASES:
        for m in vendors._TOKEN_RUN.finditer("\n" + text):
            token = m.group(0)
            if len(token) <= vendors._KEPT_MAX and vendors._kept(token):
                assert vendors._token_repl(m) == token, token


@pytest.mark.parametrize(
    ("kept", "redacted", "secret"),
    [
        # the same match, told apart only by the command word earlier on the line
        ("echo -pS3cr3tPw0rd9", "mysql -pS3cr3tPw0rd9", "S3cr3tPw0rd9"),
        # the same "token=value" match, told apart by the name it ends
        ("csrf_token=abc123def456ghi", "api_token=abc123def456ghi", "abc123def456ghi"),
    ],
)
def test_a_verdict_is_reused_only_where_the_judge_would_read_the_same(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch, kept: str, redacted: str, secret: str
) -> None:
    # a rule's reach must cover what its judge reads: same match, different context
    for text in (f"{kept} {'x' * 300} {redacted}", f"{redacted} {'x' * 300} {kept}"):
        out = san.sanitize(text)
        assert out == _without_memo(san, text, monkeypatch)
        assert kept in out and secret not in out.replace(kept, "")


def test_anchors_found_from_a_base_equal_a_scan(san: Sanitizer) -> None:
    # "authorization", "KeyError: " and the webhook URLs are found among the hits of "auth",
    # "key" and "//" (scanned anyway) instead of by a scan of their own: the same positions
    anchors = sorted({(a, r.exact_anchors) for r in san.rules() for a in r.anchors})
    texts = [*CASES, "KEYERROR: x KeyError: 'a' https:///x https://hooks.slack.com/ AUTHORIZATION"]
    for text in texts:
        lower = engine._lower(text)
        found: dict[object, list[int]] = {}
        for anchor, exact in anchors:
            hay = text if exact else lower
            derived = engine._positions(hay, (anchor,), exact, found, lower)
            assert derived == engine._positions(hay, (anchor,), exact, None), (anchor, text)
