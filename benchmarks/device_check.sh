#!/usr/bin/env bash
# The device check on one GPU (see benchmarks/device_check.py): under 8 minutes on one
# H200, writes benchmarks/RESULTS_gpu.md (rewritten after each part, so a run cut
# short keeps what it measured).  Run from anywhere:
#
#   bash benchmarks/device_check.sh [device_check.py options, e.g. --parts steps train]
#
# Python: $PYTHON if set, else the repository's .venv, else python3.  The GPU machine
# has no AllenNLP: carry its wheels (requirements/allennlp.txt and runtime.txt, built
# for that machine's Python) in .whl/ and they are installed into /tmp/site first.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! "$PYTHON" -c "import allennlp, allennlp_models" 2>/dev/null; then
  echo "device_check: $PYTHON cannot import allennlp and allennlp_models; carry their wheels in .whl/" >&2
  exit 2
fi

export PYTHONUNBUFFERED=1
# The script keeps to its own budget (420 s after its imports); this is the hard stop.
exec timeout --signal=KILL 450 "$PYTHON" benchmarks/device_check.py "$@"
