#!/usr/bin/env bash
# Creates (or reuses) the project's environment at .venv/ and installs the
# verified AllenNLP stack into it.  Idempotent: the environment is cached under
# ${ELMO_C_ENV_CACHE:-~/.cache/elmo_c/envs}/<hash of requirements/*>, and .venv
# is a link to it, so reruns and CI on the same machine install nothing.
# `--benchmarks` also installs the benchmarks' optional packages
# (requirements/benchmarks.txt: plots and the GloVe vectors), once.
set -euo pipefail
benchmarks=false
for argument in "$@"; do
  case $argument in
    --benchmarks) benchmarks=true ;;
    *) echo "usage: $0 [--benchmarks]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
root=$(pwd)

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
hash=$( (cat requirements/*.txt setup.py; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)
cache=${ELMO_C_ENV_CACHE:-$HOME/.cache/elmo_c/envs}
env_dir=$cache/$hash

# pip warns about every package missing from this machine's extra local indexes.
quiet_pip() {
  local py=$1; shift
  "$py" -m pip --disable-pip-version-check -q install "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}

if [ ! -f "$env_dir/.complete" ]; then
  echo "[install] building the environment in $env_dir (about 5 minutes, once)" >&2
  rm -rf "$env_dir.tmp"
  mkdir -p "$cache"
  "$python" -m venv "$env_dir.tmp"
  pip="quiet_pip $env_dir.tmp/bin/python"
  $pip -r requirements/torch.txt
  $pip --no-deps -r requirements/allennlp.txt
  $pip --no-deps -r requirements/runtime.txt
  $pip --no-deps -r requirements/data.txt
  # allennlp-models tries nltk.download("punkt"/"wordnet") at import, which
  # fails noisily offline; only its NarrativeQA metric uses them.  Empty data
  # folders in the environment's own nltk_data satisfy the check.
  mkdir -p "$env_dir.tmp/nltk_data/tokenizers/punkt" "$env_dir.tmp/nltk_data/corpora/wordnet"
  # A venv records its own path in its scripts: build it under .tmp, then
  # rebuild the scripts at the final path by moving and re-running venv.
  rm -rf "$env_dir"
  mv "$env_dir.tmp" "$env_dir"
  "$python" -m venv --upgrade "$env_dir" >/dev/null
  grep -rlI --null "$env_dir.tmp" "$env_dir/bin" | xargs -0 -r sed -i "s#$env_dir.tmp#$env_dir#g"
  touch "$env_dir/.complete"
fi

if [ "$(readlink .venv 2>/dev/null)" != "$env_dir" ]; then
  rm -rf .venv
  ln -s "$env_dir" .venv
fi
if $benchmarks && [ ! -f "$env_dir/.benchmarks-complete" ]; then
  echo "[install] adding the benchmarks' packages (requirements/benchmarks.txt)" >&2
  quiet_pip .venv/bin/python --no-deps -r requirements/benchmarks.txt
  touch "$env_dir/.benchmarks-complete"
fi
# The plugin itself, editable, so the checkout's code is what runs.  Cheap, and
# redone every time because several checkouts may share one cached environment.
quiet_pip .venv/bin/python --no-deps --no-build-isolation -e . >/dev/null
