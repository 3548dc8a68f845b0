#!/usr/bin/env bash
# Run the whole simulated checkpoint: central, lanes with their simulated devices,
# seeded registrations and cargo, and a traffic scenario with a live view.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_THREAD_LIMIT=1
if .venv/bin/python -c "import simulators.checkpoint" 2>/dev/null; then
  exec .venv/bin/python -m simulators.checkpoint "$@"
fi
# Until the lanes are wired: central and the scripted registration -> cargo -> bundling sample.
exec .venv/bin/python -m central.sample "$@"
