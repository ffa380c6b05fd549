"""The settle step passes a long block repeating one redacted credential as its distinct
pieces (``engine._pieces``): the output is the one passing each block whole gives.

A piece runs from one marker to the next, so it holds the blanks either side of the text
between them; every built-in rule reads a blank as the end of what it reads. Random texts
built from the pieces the rules key on (``test_sanitize_dense.PIECES``) are sanitized with
pieces forced on every block holding three markers and with pieces turned off.
"""

from __future__ import annotations

import random

import pytest

from nbworkflow.sanitize import Sanitizer, engine
from nbworkflow.sanitize.memo import Memo
from tests.support.secret_corpus import benign_texts, secret_cases
from tests.test_sanitize_dense import PIECES

#: Units that make redactions, to repeat on one line (their markers cut the line into pieces)
UNITS = [
    "mysql -pS3cr3tPw0rd ",
    "token=abc123xyz ",
    "'password': 'x', ",
    "https://u:p@",
    "IDENTIFIED BY 'pw'",
    "aB3dE5gH7jK9mN1pQ3sT ",
    "password: hunter2hunter2 ",
    "Authorization: Bearer abcdef123456 ",
]


def _sanitize(san: Sanitizer, text: str, monkeypatch: pytest.MonkeyPatch, pieces: bool) -> str:
    with monkeypatch.context() as patch:
        if pieces:
            patch.setattr(engine, "_PIECES_GAIN", 0)  # every block with 3 markers is cut
        else:
            patch.setattr(engine, "_pieces", lambda block, split: None)
        return san.sanitize(text)


@pytest.fixture
def san() -> Sanitizer:
    return Sanitizer(use_environ=False)


def _random_text(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(3, 40)):
        roll = rng.random()
        if roll < 0.4:
            out.append(rng.choice(UNITS) * rng.randint(1, 4))
        else:
            out.append("".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6))))
    return "".join(out)


def test_pieces_and_whole_blocks_agree_on_random_text(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(1414)
    for _ in range(1200):
        text = _random_text(rng)
        whole = _sanitize(san, text, monkeypatch, pieces=False)
        assert _sanitize(san, text, monkeypatch, pieces=True) == whole, text


def test_pieces_and_whole_blocks_agree_on_the_corpus(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each case three times on one line: its markers cut that line into pieces
    for text in [c.text for c in secret_cases()[::5]] + benign_texts()[::2]:
        line = " ; ".join([text.replace("\n", " ")] * 3)
        whole = _sanitize(san, line, monkeypatch, pieces=False)
        assert _sanitize(san, line, monkeypatch, pieces=True) == whole, line


def test_a_second_pass_that_changes_a_piece_is_joined_back(san: Sanitizer) -> None:
    # what the settle step is for: a marker changes what surrounds it. A piece the pass
    # changes is put back between its markers
    plan = san._plan(())
    block = " ".join(["[REDACTED:password] password=S3cr3tPw0rd9 [REDACTED:token]"] * 20)
    cut = engine._pieces(block, plan.split)
    assert cut is not None
    whole = engine._pass(block, plan.rules, plan.prepass, plan.split, Memo())
    assert "S3cr3tPw0rd9" not in whole  # (the case does exercise a change)
    assert engine._pass_blocks([block], plan.rules, plan.prepass, plan.split, Memo()) == [whole]


def test_a_pem_block_across_markers_is_passed_whole(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the PEM pairing reads from a BEGIN line to an END line, across markers: cut apart, the
    # BEGIN line would read as a block cut short
    text = (
        "-----BEGIN RSA PRIVATE KEY-----\n"
        + "password=S3cr3tPw0rd9 token=abc123xyz1 secret=hunter2hunter2\n" * 3
        + "-----END RSA PRIVATE KEY-----"
    )
    whole = _sanitize(san, text, monkeypatch, pieces=False)
    assert "-----BEGIN RSA PRIVATE KEY-----" in whole and "S3cr3tPw0rd9" not in whole
    assert _sanitize(san, text, monkeypatch, pieces=True) == whole


def test_user_patterns_turn_pieces_off() -> None:
    # a pattern added by the user may read across a marker's blank
    assert engine._piecewise(Sanitizer(use_environ=False)._plan(()).rules, ())
    san = Sanitizer(patterns=[("ticket", r"TCK-\d{1,9}")], use_environ=False)
    assert not engine._piecewise(san._plan(()).rules, ())
    multiline = Sanitizer(secrets=["line one\nline two"], use_environ=False)
    assert not engine._piecewise(multiline._plan(()).rules, ())


def test_a_line_repeating_a_redaction_is_settled_from_few_pieces(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the cause of the speed: the settle pass reads a handful of distinct pieces, not the line
    passed: list[str] = []
    real = engine._pass_units

    def counting(blocks: list[str], *args: object) -> list[str]:
        passed.extend(blocks)
        return real(blocks, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "_pass_units", counting)
    text = "'password': 'x', " * 500
    out = san.sanitize(text)
    assert out.count("[REDACTED:password]") == 500
    assert 0 < sum(map(len, passed)) < 200


#: Units the judges leave as they are (placeholders, dummies, prose) next to ones they redact:
#: a line of them before its first redaction is what the settle pass shares with the first.
KEPT = [
    "token=abc0000001 ",
    "'password': 'x0000007', ",
    "mysql -px0000003 ",
    "password: must be 8 characters ",
    "key=value ",
    "/home/alice/.venv/bin/python ",
    "KeyError: 'customer_id' ",
    "token: <your-token> ",
]


def _sanitize_unshared(san: Sanitizer, text: str, monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as patch:
        patch.setattr(engine, "_shared_prefix", lambda *args: 0)
        return san.sanitize(text)


def _prefixed_text(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(1, 4)):
        kept = "".join(rng.choice(KEPT) for _ in range(rng.randint(0, 60)))
        rest = _random_text(rng) if rng.random() < 0.7 else ""
        lines.append(kept + rest)
    return "\n".join(lines)


def test_the_shared_prefix_changes_no_output_on_random_text(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a settle pass does not judge again what it shares with the first pass (``Memo.quiet``):
    # the same output as judging it (lines of kept units, then redactions; home paths that the
    # first pass rewrote; several lines, the first block not at the text's start)
    rng = random.Random(2718)
    for _ in range(400):
        text = _prefixed_text(rng)
        assert san.sanitize(text) == _sanitize_unshared(san, text, monkeypatch), text


def test_the_shared_prefix_changes_no_output_on_the_corpus_and_recipes(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_sanitize_budget import bench

    texts = [bench._distinct(make, 10_000) for make in bench.DISTINCT.values()]
    kept = "".join(KEPT) * 3
    texts += [kept + c.text for c in secret_cases()[::5]] + [kept + t for t in benign_texts()[::3]]
    for text in texts:
        assert san.sanitize(text) == _sanitize_unshared(san, text, monkeypatch), text[:300]


def test_a_long_kept_head_is_not_judged_again(
    san: Sanitizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the cause of the saving: 100 kept units, then redactions, on one line (all lower-case:
    # both passes find them with the same pattern); without the shortcut the settle pass
    # looks up every kept unit's verdict again
    text = "".join(f"token=abc00000{i:02d} " for i in range(100)) + "token=s3cr3tpw0rd99 " * 5
    looked_up: list[int] = []
    real = Memo._promote

    def counting(self: Memo, *args: object) -> None:
        looked_up.append(1)
        real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Memo, "_promote", counting)
    shared = san.sanitize(text)
    with_shortcut = len(looked_up)
    looked_up.clear()
    assert _sanitize_unshared(san, text, monkeypatch) == shared
    assert "s3cr3t" not in shared
    assert with_shortcut < 5 <= 90 <= len(looked_up)
