#!/usr/bin/env bash
# The main job: install (once), then pretrain a small ELMo-C on the Penn Treebank
# and report validation metrics before and after training.  Outputs: runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python scripts/demo.py "$@"
