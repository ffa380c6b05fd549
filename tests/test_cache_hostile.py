"""Cache damage of any kind is a miss, a rebuild and a warning, never a stuck node (issue 15);
the key tells nodes apart (issue 12 item 2)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nbworkflow.agents import ScriptedProvider
from nbworkflow.cache import CacheWarning, NodeCache, _digest, node_key
from nbworkflow.engine import run_workflow
from nbworkflow.events import NodeStatus
from nbworkflow.nodes.base import NodeOutput
from nbworkflow.spec import load_workflow

SPEC = "name: c\nnodes:\n  - id: a\n    agent: Bot\n    action: say hi\n"


def run(
    root: Path, text: str = SPEC, script: dict[str, object] | None = None
) -> tuple[object, ScriptedProvider]:
    provider = ScriptedProvider(script or {"a": {"content": "A"}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_workflow(load_workflow(text=text), provider=provider, runs_dir=root)
    run.warned = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]  # type: ignore[attr-defined]
    return result, provider


def entry_path(root: Path) -> Path:
    (path,) = (root / ".cache").glob("*/*.json")
    return path


def assert_rebuilt(root: Path) -> None:
    result, provider = run(root)
    assert result.ok and result.state.nodes["a"].status is NodeStatus.SUCCEEDED  # type: ignore[attr-defined]
    assert [r.node_id for r in provider.requests] == ["a"]  # a miss: the model is asked
    assert run.warned  # type: ignore[attr-defined]
    again, provider = run(root)
    assert provider.requests == [] and again.state.nodes["a"].cached  # type: ignore[attr-defined]


def test_entry_path_that_is_a_directory(tmp_path: Path) -> None:
    run(tmp_path)
    path = entry_path(tmp_path)
    path.unlink()
    (path / "junk").mkdir(parents=True)
    assert_rebuilt(tmp_path)


def test_cache_folder_that_is_a_file_is_warned_and_the_run_goes_on(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / ".cache").write_text("not a folder")
    result, provider = run(tmp_path)
    assert result.ok and [r.node_id for r in provider.requests] == ["a"]  # type: ignore[attr-defined]
    assert any("cannot store" in w for w in run.warned)  # type: ignore[attr-defined]


def test_a_200k_deep_entry(tmp_path: Path) -> None:
    run(tmp_path)
    entry_path(tmp_path).write_text("[" * 200_000 + "]" * 200_000)
    assert_rebuilt(tmp_path)


@pytest.mark.parametrize(
    "output",
    [
        {"format": 5, "content": "A"},
        {"format": "text", "content": ["A"]},
        {"format": "text"},
        {"format": "text", "content": "A", "rationale": {"x": 1}},
    ],
)
def test_a_valid_checksum_over_wrong_field_types(tmp_path: Path, output: dict[str, object]) -> None:
    run(tmp_path)
    path = entry_path(tmp_path)
    raw = json.loads(path.read_text())
    body = {**raw["body"], "output": output}
    path.write_text(json.dumps({"sha256": _digest(body), "body": body}))
    assert_rebuilt(tmp_path)


def test_a_non_utf8_entry(tmp_path: Path) -> None:
    run(tmp_path)
    entry_path(tmp_path).write_bytes(b'{"sha256": "\xff"}')
    assert_rebuilt(tmp_path)


def test_evict_and_clear_survive_entries_that_are_folders(tmp_path: Path) -> None:
    cache = NodeCache(tmp_path / "c", max_bytes=1)
    cache.put("ab" + "0" * 62, "a", NodeOutput("text", "x"), "r")
    (tmp_path / "c" / "cd" / ("cd" + "1" * 62 + ".json")).mkdir(parents=True)
    cache.evict()
    (tmp_path / "c" / "ef" / ("ef" + "1" * 62 + ".json")).mkdir(parents=True)
    assert cache.clear() >= 1
    assert not list((tmp_path / "c").glob("*/*.json"))


# -- the key -----------------------------------------------------------------------------------


TWINS = "name: t\nnodes:\n" + "".join(
    f"  - id: {n}\n    agent: Bot\n    action: introduce yourself\n" for n in ("left", "right")
)


def test_two_nodes_with_the_same_persona_and_action_do_not_share_an_entry(tmp_path: Path) -> None:
    result, provider = run(
        tmp_path, TWINS, {"left": {"content": "I am LEFT"}, "right": {"content": "I am RIGHT"}}
    )
    assert result.output("right").content == "I am RIGHT"  # type: ignore[attr-defined]
    assert sorted(r.node_id for r in provider.requests) == ["left", "right"]


def test_twelve_identical_fan_out_nodes_are_twelve_calls(tmp_path: Path) -> None:
    ids = [f"n{i}" for i in range(12)]
    text = "name: t\nmax_concurrency: 1\nnodes:\n" + "".join(
        f"  - id: {n}\n    agent: Bot\n    action: one idea\n" for n in ids
    )
    _, provider = run(tmp_path, text, {n: {"content": "idea"} for n in ids})
    assert len(provider.requests) == 12


def _key(text: str, node: str = "a") -> str:
    spec = load_workflow(text=text)
    return node_key(spec, spec.node(node), "scripted", {})


@pytest.mark.parametrize(
    "change",
    [
        "    model: other\n",
        "    output: json\n",
        "    output: {format: json, schema: {type: object}}\n",
        "    inputs: [{url: 'https://example.com/x'}]\n",
        "    max_tokens: 5\n",
        "    temperature: 0.5\n",
    ],
)
def test_what_changes_the_answer_changes_the_key(change: str) -> None:
    assert _key(SPEC) != _key(SPEC + change)


def test_what_does_not_change_the_answer_keeps_the_key() -> None:
    assert _key(SPEC) == _key(SPEC + "    max_retries: 5\n    timeout: 30\n")


def test_the_node_id_is_in_the_key() -> None:
    assert _key(SPEC) != _key(SPEC.replace("id: a", "id: b"), "b")


# -- property: any bytes in an entry ----------------------------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda body: json.dumps({"sha256": _digest(body), "body": body}).encode(),
            st.dictionaries(
                st.sampled_from(["key", "node_id", "run_id", "created", "output"]),
                st.none() | st.integers() | st.text(max_size=5) | st.dictionaries(
                    st.sampled_from(["format", "content", "data", "rationale"]),
                    st.none() | st.integers() | st.text(max_size=5),
                ),
            ),
        ),
    )
)  # fmt: skip
def test_any_entry_bytes_are_a_hit_or_a_warned_miss(
    tmp_path_factory: pytest.TempPathFactory, blob: bytes
) -> None:
    cache = NodeCache(tmp_path_factory.mktemp("c"))
    key = "ab" + "0" * 62
    cache.put(key, "a", NodeOutput("text", "x"), "r")
    (cache.root / "ab" / f"{key}.json").write_bytes(blob)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheWarning)
        entry = cache.get(key)
    assert entry is None or isinstance(entry.output.content, str)
    shutil.rmtree(cache.root)
