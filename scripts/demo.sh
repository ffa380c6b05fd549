#!/usr/bin/env bash
# The main job, offline and without an API key: set up, then run the seed's CRM workflow
# (analyze_docs -> generate_mapper -> write_tests + write_docs -> adaptive_test_loop) against
# the bundled mock CRM staging API with the scripted provider, and print the decision log.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/nbworkflow demo --provider scripted --script examples/crm/script.yaml "$@"
