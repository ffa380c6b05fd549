"""Regenerate the demo notebooks and execute them, so the committed copies carry outputs.

    .venv/bin/python notebooks/build.py            # write + execute all of them
    .venv/bin/python notebooks/build.py --no-run   # only write the sources

Each notebook is executed in a scratch folder (its run folders stay out of the repository) with
nbclient and the ``python3`` kernel of this interpreter, then saved next to this file.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip("\n"))


def code(text: str, *tags: str) -> nbformat.NotebookNode:
    cell = new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def quickstart() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            md("""
# nbworkflow quick start

A notebook cell that holds a YAML workflow becomes a DAG of agent steps: `%%workflow` checks the
spec, runs every node as soon as its dependencies are done, draws the graph live, and leaves a
static, shareable record of the run (graph, per-node output, decision log) in the cell output.

This notebook runs **offline**: the model is the `scripted` provider, which answers each node
from a dict. Swap in `--provider anthropic` (with `ANTHROPIC_API_KEY` set) for a live model.
"""),
            code("%load_ext nbworkflow"),
            md("""
## Canned answers and a variable

`answers` maps node ids to what the model says: a plain string is the deliverable, an object adds
the model's rationale. `${topic}` in the YAML below is filled from the notebook variable `topic`
(then from the environment); the first cell is papermill's `parameters` cell.
"""),
            code('topic = "invoice reminders"  # papermill: -p topic "late fees"', "parameters"),
            code("""
answers = {
    "requirements": {
        "rationale": "Listed what the feature must do.",
        "content": "- remind customers 3 days before an invoice is due\\n"
        "- one reminder per invoice\\n- skip paid invoices",
    },
    "design": {
        "rationale": "A daily job is enough.",
        "content": "A daily job selects unpaid invoices due in 3 days and sends one e-mail each.",
    },
    "risks": {
        "rationale": "Main failure modes.",
        "content": "- double sends after a retry: keep a sent-flag\\n- time zones: use UTC dates",
    },
    "implement": {
        "rationale": "Pure function, easy to test.",
        "code": "from datetime import date, timedelta\\n\\n\\n"
        "def due_for_reminder(invoices, today):\\n"
        "    target = today + timedelta(days=3)\\n"
        "    return [i for i in invoices if not i['paid'] and not i.get('reminded')\\n"
        "            and i['due'] == target]\\n",
    },
    "tests": {
        "rationale": "Cover paid, reminded and due-date cases.",
        "code": "from datetime import date\\n\\n\\n"
        "def test_only_unpaid_due_in_three_days():\\n"
        "    today = date(2026, 1, 1)\\n"
        "    inv = [{'paid': False, 'due': date(2026, 1, 4)}, {'paid': True, 'due': date(2026, 1, 4)}]\\n"
        "    assert due_for_reminder(inv, today) == inv[:1]\\n",
    },
    # A plain string is the content itself (the code, for output: code).
    "docs": "## Invoice reminders\\n\\nRuns daily; sends one reminder per unpaid invoice "
    "three days before it is due.",
}
"""),
            md("""
## The workflow

`--latency 0.4` slows the scripted model down a little so you can watch the nodes turn blue
(running) and then green (succeeded). Pick a node in the drop-down to see its persona, action,
output and decision log. `--out run` keeps the result in the variable `run`.
"""),
            code("""
%%workflow --script answers --latency 0.4 --out run
name: invoice_reminders
description: Plan, build and document a small feature.
max_concurrency: 2
nodes:
  - id: requirements
    agent: Product Manager
    action: "List the requirements for ${topic}."
  - id: design
    agent: Software Architect
    depends_on: [requirements]
    action: Propose the simplest design that meets the requirements.
  - id: risks
    agent: Site Reliability Engineer
    depends_on: [requirements]
    action: List what can go wrong in production and how to avoid it.
  - id: implement
    agent: Backend Engineer
    depends_on: [design, risks]
    action: Write the selection function in Python.
    output: code
  - id: tests
    agent: QA Engineer
    depends_on: [implement]
    action: Write plain-assert tests for the function.
    output: code
  - id: docs
    agent: Technical Writer
    depends_on: [implement]
    action: Write a README section.
"""),
            md("""
## Use the result

`run` is a `RunResult`: status, per-node outputs, and the run folder (`events.jsonl`,
`artifacts/`, `run.json`) that makes every run auditable after the fact.

Run the workflow cell again and it finishes at once: unchanged nodes are answered from the node
cache (`from cache` in their details). Add `--no-cache` to run everything again, or
`--rerun NODE` to redo one node and what depends on it.
"""),
            code("""
print(run)
print(run.run_dir)
print(run.output("implement").content)
"""),
            md("""
## Look back at runs

`%workflow runs` lists them, `%workflow log` prints the event and decision log, and
`%workflow show` redraws any past run from its `events.jsonl`.
"""),
            code("%workflow runs"),
            code("%workflow log last --node implement"),
            code("%workflow show last"),
            md("""
## A mistake in the spec

A bad spec runs nothing: the error names the line and says how to fix it.
"""),
            code(
                """
%%workflow --script answers
name: broken
nodes:
  - id: requirements
    agent: Product Manager
  - id: design
    depnds_on: [requirements]
""",
                "raises-exception",
            ),
        ],
        metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}},
    )


CRM_YAML = """
name: CRM_Integration_Builder
version: 1.1
description: Sync internal SaaS users to a third-party CRM, healing the mapper when the CRM's contract says it is wrong.
max_concurrency: 4
defaults:
  max_retries: 2
nodes:
  - id: analyze_docs
    type: routine
    agent: "Systems Analyst"
    action: "Read CRM OpenAPI spec and extract the User payload schema."
    inputs:
      - file: ${EXAMPLES}/crm_openapi.yaml
  - id: generate_mapper
    type: routine
    agent: "Backend Engineer"
    depends_on: [analyze_docs]
    action: "Write a Python function 'sync_to_crm(user_dict)' that returns the CRM payload."
    output: code
  - id: write_tests
    type: routine
    agent: "QA Engineer"
    depends_on: [generate_mapper]
    action: "Write plain-assert test_* functions for sync_to_crm (no pytest import needed)."
    output: code
  - id: write_docs
    type: routine
    agent: "Technical Writer"
    depends_on: [generate_mapper]
    action: "Document the mapping in Markdown for the integrations wiki."
  - id: adaptive_test_loop
    type: adaptive
    agent: "Integration Engineer"
    depends_on: [generate_mapper, write_tests]
    max_retries: 3
    action: "Execute sync_to_crm against staging. If it fails, adapt the code."
    code_from: generate_mapper
    tests_from: write_tests
    entrypoint: sync_to_crm
    samples:
      - {email: dev@example.com, first: Ada, last: Lovelace, plan: pro}
      - {email: grace@example.com, first: Grace, last: Hopper, plan: free}
    staging:
      url: ${STAGING_URL}/users
      headers:
        Authorization: "Bearer ${STAGING_TOKEN}"
"""

SETUP = """
import yaml

from nbworkflow.staging import OpenAPIMock, bundled_example

# The CRM example's files: examples/crm/ in a checkout, the copy in the wheel otherwise.
EXAMPLES = bundled_example("crm")
answers = yaml.safe_load((EXAMPLES / "script.yaml").read_text())
"""

CHAOS_SETUP = (
    SETUP.replace(
        "from nbworkflow.staging import OpenAPIMock, bundled_example",
        "from nbworkflow.agents import ScriptedProvider\n"
        "from nbworkflow.staging import OpenAPIMock, bundled_example, repair_responder",
    )
    + """
chaos_agent = ScriptedProvider(answers, responders={"adaptive_test_loop": repair_responder})
"""
)


def crm(sandbox_opt: str) -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            md("""
# CRM integration, end to end

The seed scenario: sync internal SaaS users to a third-party CRM. Five agents read the CRM's
OpenAPI document, write a mapper `sync_to_crm(user)`, write tests and docs, and then an
**adaptive** node runs the mapper in a sandbox against the CRM's staging API. The first mapper
forgets the required `customer_tier`; staging answers `422` with the field-level problem, and
the adaptive node rewrites the code until staging accepts every payload.

Everything here is offline: the CRM's staging API is the contract mock of its OpenAPI document
(on 127.0.0.1), and the model is the `scripted` provider reading `examples/crm/script.yaml`.
To use a live model, run with `--provider anthropic --record crm.cassette.jsonl`, then replay
that recording offline with `--provider replay --cassette crm.cassette.jsonl`.
"""),
            code("%load_ext nbworkflow"),
            code(
                "seed = 1  # papermill: -p seed 2 (the contract mock's mutations and faults)",
                "parameters",
            ),
            code(SETUP),
            md("""
## The staging CRM

`OpenAPIMock` serves the operations of the CRM's OpenAPI document (`crm_openapi.yaml`, the one
`analyze_docs` reads): it validates every `POST /users` payload against the document with
openapi-core, answers `422` with field-level details, and needs a bearer token. `STAGING_URL` and `STAGING_TOKEN` are notebook variables that the workflow below reads
through `${...}`; the token's value is redacted from every log, message and screen.
"""),
            code("""
crm = OpenAPIMock(EXAMPLES / "crm_openapi.yaml", seed=seed).start()
STAGING_URL, STAGING_TOKEN = crm.url, crm.token
print("staging CRM at", STAGING_URL)
"""),
            md("Generated code runs in a sandbox; this shows which isolation this machine offers."),
            code("%workflow sandbox"),
            md("## The workflow (the seed's YAML, made runnable)"),
            code(f"%%workflow --script answers --out run{sandbox_opt}\n" + CRM_YAML.strip("\n")),
            md("""
## What the adaptive node decided

The decision log is the audit trail: every attempt, the staging answer, what the orchestrator
decided (rewrite the code, retry the infrastructure, accept) and why.
"""),
            code("%workflow log last --node adaptive_test_loop"),
            code("""
print(run.output("adaptive_test_loop").content)
print("users created in the CRM:", [u["email"] for u in crm.created])
"""),
            code("crm.stop()"),
        ],
        metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}},
    )


def chaos(sandbox_opt: str) -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            md("""
# Chaos: a CRM that changes under you

Real integrations break in two ways: the **contract** changes (a field is renamed, a new field
becomes required) or the **infrastructure** misbehaves (503s, slow answers, dropped
connections). The adaptive node tells them apart: a 422 means "rewrite the code", a 503 means
"same code, try again later", and every choice is written to the decision log.

Offline: the contract mock of the CRM's OpenAPI document injects the chaos (it mutates the
document's request schema and fails requests), and a deterministic repair agent stands in for the
model when the code has to change (`repair_responder` rebuilds the mapper from the schema that
the 422 answer carries).
"""),
            code("%load_ext nbworkflow"),
            code(
                "seed = 3\nfault_rate = 0.3  # share of staging requests answered 503",
                "parameters",
            ),
            code(CHAOS_SETUP),
            md("""
## Break the contract, make the network flaky

Two contract mutations happen before the run (the docs the mapper was written from are now
stale), and 30% of the requests fail with a 503.
"""),
            code("""
crm = OpenAPIMock(EXAMPLES / "crm_openapi.yaml", seed=seed, fault_rates={"503": fault_rate})
crm.start()
STAGING_URL, STAGING_TOKEN = crm.url, crm.token
for _ in range(2):
    print(crm.mutate().description)
"""),
            md(
                "`--provider chaos_agent` runs the workflow with the provider object defined above."
            ),
            code(
                f"%%workflow --provider chaos_agent --out run{sandbox_opt}\n" + CRM_YAML.strip("\n")
            ),
            code("%workflow log last --node adaptive_test_loop"),
            code("""
state = crm.state()
print("contract version:", state["contract_version"])
print("staging answers:", state["counts"])
print("faults injected:", state["faults_injected"])
"""),
            md("""
## When staging stays down

The node cache would reuse every output of the run above; `--rerun adaptive_test_loop` runs
the integration test against staging again.

If staging keeps failing, the node gives up after its infrastructure retries: the run fails,
the cell says which node failed and why (secrets redacted), and the graph shows what was
skipped. Nothing here is a traceback from nbworkflow's internals.
"""),
            code('crm.fail_next(50, "503")'),
            code(
                f"%%workflow --provider chaos_agent --rerun adaptive_test_loop --out failed_run"
                f"{sandbox_opt}\n" + CRM_YAML.strip("\n"),
                "raises-exception",
            ),
            code("print(failed_run)\ncrm.stop()"),
        ],
        metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}},
    )


TWO_VENDORS_YAML = (
    Path(__file__).resolve().parents[1] / "examples" / "two_vendors" / "workflow.yaml"
).read_text(encoding="utf-8")


def two_vendors() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            md("""
# One workflow, two vendors

A model string names the vendor and the model: `model: openai:gpt-4.1-mini` for the whole
workflow, and `model: anthropic:claude-sonnet-5` on the node that writes code. Other strings:
`ollama:llama3.2` (a local Ollama, no key), `openai-compatible:NAME` (vLLM, LM Studio,
llama.cpp, OpenRouter... with `OPENAI_COMPATIBLE_BASE_URL`), `bedrock:...` and `vertex:...`
(Claude on AWS and Google Cloud). A bare name means what it always meant (Anthropic).

This notebook runs **offline**: the answers come from a cassette that was recorded through the
real `openai` and `anthropic` SDKs (`examples/two_vendors/record_cassette.py`, against loopback
servers that speak each vendor's API). With `OPENAI_API_KEY` and `ANTHROPIC_API_KEY` set,
`--provider auto` sends each node to its vendor for real.
"""),
            code("%load_ext nbworkflow"),
            code("""
from pathlib import Path

import nbworkflow
from nbworkflow.agents.replay import ReplayProvider

# The example files ship with the source tree (examples/two_vendors/).
EXAMPLES = Path(nbworkflow.__file__).resolve().parents[2] / "examples" / "two_vendors"
recorded = ReplayProvider(EXAMPLES / "workflow.cassette.jsonl")
"""),
            md("## The workflow: two nodes on OpenAI, one on Anthropic"),
            code("%%workflow --provider recorded --out run\n" + TWO_VENDORS_YAML.strip("\n")),
            md("""
## Who answered, and what it would have cost

Each recorded call says which vendor answered; prices come from the `genai-prices` table
(offline), per call.
"""),
            code("""
from nbworkflow.agents.prices import CostMeter, format_usd

meter = CostMeter()
for entry in recorded.entries:
    response = entry.to_response()
    cost = meter.add(response, entry.request["model"])
    print(f"{entry.node_id:13} {response.meta['vendor']:10} {response.model:18} "
          f"{response.input_tokens:>4} in {response.output_tokens:>4} out  {format_usd(cost)}")
print("run total:", meter.summary())
print(run.output("implement").content)  # noqa: F821 (bound by --out run)
"""),
        ],
        metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}},
    )


BATCH_YAML = """
name: welcome_emails
nodes:
  - id: segment
    agent: Customer Success Manager
    action: "Name the segment of ${item.name}, on the ${item.plan} plan."
  - id: draft
    agent: Copywriter
    depends_on: [segment]
    action: "Write a ${tone} welcome e-mail to ${item.name} <${item.email}> on the ${item.plan} plan."
"""

BATCH_SETUP = """
import re

from nbworkflow.agents import ScriptedProvider


def asked(request):
    \"\"\"The node's action line, as the model read it (the item's fields filled in).\"\"\"
    return next(x for x in request.messages[-1].content.splitlines() if x.startswith(("Name", "Write")))


def segment(request):
    plan = re.search(r"on the (\\w+) plan", asked(request)).group(1)
    return {"content": {"pro": "power user"}.get(plan, "newcomer"), "rationale": f"plan {plan}"}


def draft(request):
    m = re.search(r"a (\\w+) welcome e-mail to (.+) <(.+)> on the (\\w+) plan", asked(request))
    tone, name, email, plan = m.groups()
    text = f"To: {email}\\n\\nHi {name}, welcome to the {plan} plan! ({tone})"
    return {"content": text, "rationale": "one short paragraph"}


writer = ScriptedProvider({}, responders={"segment": segment, "draft": draft})
"""


def batch() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            md("""
# One workflow, many inputs

`%%workflow --map VAR_OR_FILE` runs the cell's workflow once per item: a list of dicts (or a
DataFrame) in the notebook, or a `.jsonl` / `.csv` file. `${item.field}` in the YAML is filled
from each item; `${name}` from the notebook's variables as usual. Each item is a run of its
own (its own folder, graph and log); the batch shows counts by status, items per second, the
failures, and a drop-down that opens any item's graph. When it ends, the output becomes a
static rendering that reads without a kernel.

Offline: the model is the `scripted` provider, answering from the prompt it is given.
"""),
            code("%load_ext nbworkflow"),
            code(
                """
tone = "friendly"  # papermill: -p tone formal
customers = [
    {"name": "Ada Lovelace", "email": "ada@example.com", "plan": "pro"},
    {"name": "Grace Hopper", "email": "grace@example.com", "plan": "free"},
    {"name": "Alan Turing", "email": "alan@example.com", "plan": "pro"},
]
""",
                "parameters",
            ),
            md("A scripted model: it reads the item's fields back from the prompt."),
            code(BATCH_SETUP),
            md("""
## The batch

`--out batch` keeps the `BatchResult`. `--items-at-once N` bounds the items in flight (32 by
default), `--cluster local` runs them on a Dask `LocalCluster` (`pip install
'nbworkflow[dask]'`), `--cluster tcp://host:8786` on your cluster, and `--batch-id ID` resumes
a batch: items that succeeded are not run again.
"""),
            code(
                "%%workflow --map customers --provider writer --out batch\n"
                + BATCH_YAML.strip("\n")
            ),
            md("## Use the result"),
            code("""
print(batch.summary())
for item in batch:
    print(f"--- {item.item['name']} ({item.status}, run folder {item.run_dir})")
    print(item.output("draft").content)
"""),
        ],
        metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}},
    )


def execute(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="nbw-build-") as tmp:
        client = NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp}}
        )
        client.execute()
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-run", action="store_true")
    parser.add_argument("--sandbox", default="", help="force a sandbox backend in the demos")
    parser.add_argument(
        "names",
        nargs="*",
        default=["quickstart", "crm_integration", "chaos", "two_vendors", "batch"],
    )
    args = parser.parse_args(argv)
    opt = f" --sandbox {args.sandbox}" if args.sandbox else ""
    books = {
        "quickstart": quickstart(),
        "crm_integration": crm(opt),
        "chaos": chaos(opt),
        "two_vendors": two_vendors(),
        "batch": batch(),
    }
    for name in args.names:
        nb = books[name]
        if not args.no_run:
            nb = execute(nb, name)
        path = HERE / f"{name}.ipynb"
        nbformat.write(nb, path)
        print("wrote", path, file=sys.stderr)
    shutil.rmtree(HERE / ".nbworkflow", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
