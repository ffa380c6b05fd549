"""The chaos runner: a workflow's adaptive node against N seeded mutations of an OpenAPI document.

Round 0 runs the whole workflow against the contract mock of the document as written; each
next round mutates the staged operation's request schema and re-runs only the adaptive node,
starting from the code the previous round ended with (every other node's output is reused, so
upstream model calls are not repeated). Faults (seeded rates, a 503 storm per round) hit the
staged operation throughout. Everything goes through ``nbworkflow.engine.arun_workflow``.

A round passes when the adaptive node ends with working code and no infrastructure fault caused
a rewrite; ``ChaosReport.ok`` is what the CLI's exit code says.
"""

from __future__ import annotations

import json
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..events import Decision, RunEvent
from ..staging.mock import OpenAPIMock

INFRA_STATUSES = (429, 500, 502, 503, 504)


class ChaosError(ValueError):
    """The chaos run cannot start (no adaptive node, unreadable workflow, ...)."""


@dataclass
class Round:
    index: int
    kind: str
    """Mutation kind, ``baseline`` for round 0."""
    description: str
    schema_diff: str = ""
    regression: bool = False
    """The code that worked before was rejected on its first attempt (HTTP 4xx)."""
    detected: bool = False
    """... and the rejection was a 422 with field-level details."""
    healed: bool = False
    attempts: int = 0
    rewrites: int = 0
    infra_rewrites: int = 0
    """Rewrites that followed an infrastructure fault (must be 0)."""
    infra_retries: int = 0
    faults_injected: int = 0
    tokens: int = 0
    code_diff: str = ""
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.healed and self.infra_rewrites == 0


@dataclass
class ChaosReport:
    workflow: str
    document: str
    operation: str
    node: str
    seed: int
    rounds: list[Round] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.rounds) and all(r.passed for r in self.rounds)

    def summary(self) -> dict[str, Any]:
        mutated = self.rounds[1:]
        regressions = [r for r in mutated if r.regression]
        return {
            "mutations": len(mutated),
            "regressions": len(regressions),
            "detected": sum(r.detected for r in regressions),
            "healed": sum(r.healed for r in regressions),
            "not_healed": [r.index for r in self.rounds if not r.healed],
            "attempts": [r.attempts for r in mutated],
            "tokens": [r.tokens for r in mutated],
            "faults_injected": sum(r.faults_injected for r in self.rounds),
            "infra_retries": sum(r.infra_retries for r in self.rounds),
            "infra_rewrites": sum(r.infra_rewrites for r in self.rounds),
            "ok": self.ok,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "document": self.document,
            "operation": self.operation,
            "node": self.node,
            "seed": self.seed,
            "summary": self.summary(),
            "rounds": [asdict(r) for r in self.rounds],
        }

    def junit_xml(self) -> str:
        suite = ET.Element(
            "testsuite",
            name="nbworkflow.chaos",
            tests=str(len(self.rounds)),
            failures=str(sum(not r.passed for r in self.rounds)),
            errors="0",
        )
        for r in self.rounds:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"chaos.{self.node}",
                name=f"{r.index:02d} {r.kind}: {r.description}",
            )
            if not r.passed:
                why = (
                    f"{r.infra_rewrites} rewrite(s) caused by infrastructure faults"
                    if r.healed
                    else f"not healed after {r.attempts} attempt(s)"
                )
                failure = ET.SubElement(case, "failure", message=why)
                failure.text = r.error or why
            out = ET.SubElement(case, "system-out")
            out.text = (
                f"regression={r.regression} detected={r.detected} healed={r.healed} "
                f"attempts={r.attempts} tokens={r.tokens} faults={r.faults_injected} "
                f"infra_retries={r.infra_retries} infra_rewrites={r.infra_rewrites}\n"
                f"--- schema diff\n{r.schema_diff}\n--- code diff\n{r.code_diff}\n"
            )
        ET.indent(suite)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, "unicode") + "\n"

    def text(self) -> str:
        lines = [
            f"chaos: {self.workflow} node '{self.node}' vs {self.document} '{self.operation}' "
            f"(seed {self.seed})",
            f"{'#':>2}  {'regr':>4}  {'healed':>6}  {'att':>3}  {'tokens':>6}  {'faults':>6}  "
            f"{'infra-rw':>8}  change",
        ]
        for r in self.rounds:
            lines.append(
                f"{r.index:>2}  {'yes' if r.regression else 'no':>4}  "
                f"{'yes' if r.healed else 'NO':>6}  {r.attempts:>3}  {r.tokens:>6}  "
                f"{r.faults_injected:>6}  {r.infra_rewrites:>8}  {r.description}"
            )
            if not r.healed and r.error:
                lines.append(f"    why: {r.error}")
        s = self.summary()
        lines.append(
            f"regressions {s['regressions']}, detected {s['detected']}, healed {s['healed']}; "
            f"faults injected {s['faults_injected']}, retried {s['infra_retries']}, "
            f"rewrites caused by infra {s['infra_rewrites']}: {'OK' if self.ok else 'FAILED'}"
        )
        return "\n".join(lines) + "\n"


def _adaptive_node(spec: Any, name: str | None) -> Any:
    adaptive = [n for n in spec.nodes if n.type == "adaptive"]
    if name is not None:
        found = next((n for n in adaptive if n.id == name), None)
        if found is None:
            raise ChaosError(
                f"no adaptive node '{name}'; adaptive nodes: "
                + (", ".join(n.id for n in adaptive) or "none")
            )
        return found
    staged = [n for n in adaptive if n.staging is not None]
    if not staged and len(adaptive) == 1:
        return adaptive[0]  # the article's node names no staging: the run's mock serves it
    if len(staged) != 1:
        raise ChaosError(
            "pick the adaptive node with --node (adaptive nodes with 'staging': "
            + (", ".join(n.id for n in staged) or "none")
            + ")"
        )
    return staged[0]


def _inferred_code_from(events: list[RunEvent], node_id: str) -> str | None:
    """The upstream the adaptive node took its code from when the spec does not say."""
    for e in events:
        if (
            isinstance(e, Decision)
            and e.node_id == node_id
            and e.verdict == "inferred"
            and e.data.get("field") == "code_from"
        ):
            return str(e.data.get("value"))
    return None


def _downstream(spec: Any, node_id: str) -> set[str]:
    out = {node_id}
    changed = True
    while changed:
        changed = False
        for n in spec.nodes:
            if n.id not in out and out & set(n.upstream):
                out.add(n.id)
                changed = True
    return out


def _is_infra(data: Mapping[str, Any]) -> bool:
    status = data.get("http_status")
    if isinstance(status, int):
        return status in INFRA_STATUSES
    http = data.get("http") or []
    return bool(http) and http[-1].get("error_kind") is not None


def _score(r: Round, events: list[RunEvent], node_id: str) -> None:
    decisions = [e for e in events if isinstance(e, Decision) and e.node_id == node_id]
    # An attempt's own entries only: not its infra retries, nor what the node inferred first.
    attempts = [d for d in decisions if d.verdict not in ("retry-infra", "inferred")]
    r.attempts = len({d.attempt for d in attempts})
    r.infra_retries = sum(int(d.data.get("infra_retries") or 0) for d in attempts) or len(
        [d for d in decisions if d.verdict == "retry-infra"]
    )
    adapts = [d for d in decisions if d.verdict == "adapt"]
    r.rewrites = len(adapts)
    r.infra_rewrites = sum(_is_infra(d.data) for d in adapts)
    first = attempts[0].data.get("http_status") if attempts else None
    r.regression = r.index > 0 and isinstance(first, int) and 400 <= first < 500
    r.detected = r.regression and first == 422
    r.tokens = sum(int(v) for d in attempts for v in (d.data.get("tokens") or {}).values() if v)
    r.code_diff = "\n".join(str(d.data.get("diff") or "") for d in attempts[1:]).strip()
    last = decisions[-1] if decisions else None
    if not r.healed and last is not None:
        r.error = f"{last.verdict}: {last.reason}"


async def arun_chaos(
    workflow: str | os.PathLike[str],
    openapi: str | os.PathLike[str],
    *,
    operation: str | None = None,
    mutations: int = 10,
    seed: int = 0,
    node: str | None = None,
    fault_rates: Mapping[str, float] | None = None,
    storm: int = 0,
    provider: Any = None,
    script: str | os.PathLike[str] | None = None,
    variables: Mapping[str, str] | None = None,
    sandbox_backend: str | None = None,
    token: str = "chaos-token",
    slow_seconds: float = 1.0,
    runs_dir: str | os.PathLike[str] | None = None,
) -> ChaosReport:
    """Run the chaos rounds; ``provider`` defaults to the scripted ``chaos_responder``."""
    from ..agents.scripted import ScriptedProvider
    from ..config import RunOptions, StagingTarget
    from ..engine import arun_workflow
    from ..outputs import NodeOutput
    from ..spec import load_workflow
    from .heal import chaos_responder

    if mutations < 0:
        raise ChaosError("--mutations must be 0 or more")
    with OpenAPIMock(
        Path(openapi),
        operation,
        token=token,
        seed=seed,
        fault_rates=fault_rates,
        slow_seconds=slow_seconds,
    ) as mock:
        values = {
            **dict(variables or {}),
            "STAGING_URL": mock.url,
            "STAGING_TOKEN": token,
        }
        spec = load_workflow(workflow, variables=values)
        target = _adaptive_node(spec, node)
        if provider is None:
            responders = {target.id: chaos_responder}
            if script is None:  # `--provider auto`'s convention: a script next to the spec
                beside = Path(workflow).with_name("script.yaml")
                script = beside if beside.is_file() else None
            provider = (
                ScriptedProvider.from_file(Path(script), responders=responders)
                if script
                else ScriptedProvider({}, responders=responders)
            )
        report = ChaosReport(str(workflow), str(openapi), str(mock.operation), target.id, seed)
        options = RunOptions(
            sandbox_backend=sandbox_backend,
            infra_backoff_s=0.02,
            infra_backoff_max_s=0.2,
            # For an adaptive node that writes no ``staging:`` (the article's).
            staging=StagingTarget(
                url=mock.url + mock.operation.path,
                method=mock.operation.method,
                headers={"Authorization": f"Bearer {token}"},
                source=f"the chaos mock of {Path(openapi).name}",
            ),
        )
        keep_out = _downstream(spec, target.id)
        outputs: dict[str, NodeOutput] = {}
        code: str | None = None
        code_from = target.code_from  # else what the first run inferred
        with tempfile.TemporaryDirectory(prefix="nbworkflow-chaos-") as scratch:
            for index in range(mutations + 1):
                if index == 0:
                    r = Round(0, "baseline", f"{mock.operation} as written")
                else:
                    m = mock.mutate()
                    r = Round(index, m.kind, m.description, schema_diff=m.diff)
                if storm:
                    mock.fail_next(storm, "503")
                reuse: dict[str, NodeOutput] = {}
                if index > 0:
                    reuse = {k: v for k, v in outputs.items() if k not in keep_out}
                    if code_from and code is not None:
                        reuse[code_from] = NodeOutput("code", code)
                before = sum(mock.faults.injected.values())
                events: list[RunEvent] = []
                result = await arun_workflow(
                    spec,
                    provider=provider,
                    runs_dir=runs_dir if runs_dir is not None else scratch,
                    subscribers=[events.append],
                    options=options,
                    cache=False,
                    reuse=reuse or None,
                )
                code_from = code_from or _inferred_code_from(events, target.id)
                r.faults_injected = sum(mock.faults.injected.values()) - before
                out = result.outputs.get(target.id)
                r.healed = result.ok and out is not None
                _score(r, events, target.id)
                if not r.healed and not r.error:  # failed before the adaptive node decided
                    r.error = _why_failed(result)
                report.rounds.append(r)
                if index == 0:
                    outputs = dict(result.outputs)
                if not r.healed:
                    break  # the next mutation would start from broken code
                assert out is not None
                code = out.content
    return report


def _why_failed(result: Any) -> str:
    """The first failed node's message (an upstream without an answer, a spec problem...)."""
    for state in result.state.nodes.values():
        if state.status.value == "failed":
            return f"node '{state.id}' failed: {state.message}"
    return f"the run ended {result.state.status.value}"


def write_outputs(report: ChaosReport, *, junit: str | None, json_path: str | None) -> None:
    if junit:
        Path(junit).write_text(report.junit_xml(), encoding="utf-8")
    if json_path:
        Path(json_path).write_text(json.dumps(report.to_json(), indent=2) + "\n", "utf-8")


__all__ = ["ChaosError", "ChaosReport", "Round", "arun_chaos", "write_outputs"]
