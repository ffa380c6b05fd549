#!/usr/bin/env bash
# The main job, offline and without an API key: set up, then run the seed's CRM workflow
# (analyze_docs -> generate_mapper -> write_tests + write_docs -> adaptive_test_loop) against
# the bundled CRM staging API (the contract mock of examples/crm/crm_openapi.yaml), replaying
# model answers recorded through the real anthropic SDK (examples/crm/workflow.cassette.jsonl),
# and print the decision log.
# `scripts/demo.sh --provider scripted --script examples/crm/script.yaml` uses the scripted agent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/nbworkflow demo "$@"
