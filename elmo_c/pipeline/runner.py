"""
Running the public CLI as a user would: `allennlp ARGUMENTS` in a subprocess, printed
as typed, logged under the run directory, skipped when its output already exists;
and `stage`, the titled, timed step every pipeline prints.
"""
import os
import shutil
import subprocess
import sys
import time
from typing import Dict, List

# The repository root (elmo_c/ is installed editable, so its parent is the checkout):
# where training_config/ lives, and the subprocesses' working directory (so that
# `.allennlp_plugins` loads the plugin).
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(PACKAGE_DIR)
# The `allennlp` of the interpreter running this (the project's .venv).
ALLENNLP = os.path.join(os.path.dirname(sys.executable), "allennlp")
PRETRAIN_CONFIG = os.path.join(ROOT, "training_config", "elmo_c_small.jsonnet")
NER_CONFIG = os.path.join(ROOT, "training_config", "downstream", "ner_elmo_c_small.jsonnet")


def run_allennlp(
    arguments: List[str], run_dir: str, name: str, environment: Dict[str, str] = None, skip_if: str = None
):
    """
    Runs `allennlp ARGUMENTS` (printed as a user would type it) with its output in
    run_dir/logs/NAME.log, unless `skip_if` exists; exits with the log's end on failure.
    """
    if skip_if and os.path.exists(skip_if):
        print(f"    reusing {skip_if}")
        return
    arguments = resume_arguments(arguments)
    log_path = os.path.join(run_dir, "logs", f"{name}.log")
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    command = [ALLENNLP] + arguments
    variables = "".join(f"{k}={v} " for k, v in (environment or {}).items())
    typed = " ".join(command[:1] + [a if " " not in a else repr(a) for a in command[1:]]).replace(ALLENNLP, "allennlp")
    print(f"    $ {variables}{typed}")
    print(f"    (log: {log_path})")
    with open(log_path, "w") as log:
        result = subprocess.run(
            command, env={**os.environ, **(environment or {})}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
    if result.returncode != 0:
        with open(log_path) as log:
            tail = log.read()[-3000:]
        sys.exit(f"\n`allennlp {arguments[0]}` failed (exit {result.returncode}); end of {log_path}:\n{tail}")


def resume_arguments(arguments: List[str]) -> List[str]:
    """
    `allennlp train` into the serialization directory of a run that was interrupted
    (a study killed mid-cell): resumed from its last checkpoint with `--recover`, or,
    when it died before saving one, the directory removed so that training starts over.
    Any other command, or a fresh directory, is left as it is.
    """
    if arguments[:1] != ["train"] or "-s" not in arguments or "--recover" in arguments:
        return arguments
    directory = arguments[arguments.index("-s") + 1]
    if not os.path.isdir(directory) or not os.listdir(directory):
        return arguments
    # Imported here: the pipeline keeps AllenNLP's training modules out of its imports.
    from allennlp.training.checkpointer import Checkpointer

    if Checkpointer(directory).find_latest_checkpoint() is not None:  # what --recover will load
        print(f"    resuming the interrupted run in {directory} from its last checkpoint")
        return arguments + ["--recover"]
    print(f"    starting over: the interrupted run in {directory} saved no checkpoint")
    shutil.rmtree(directory)
    return arguments


def seed_overrides(seed: int = None) -> Dict[str, int]:
    """AllenNLP's three seeds set to `seed` (as `-o` overrides); none for `None`."""
    return {} if seed is None else {"random_seed": seed, "numpy_seed": seed, "pytorch_seed": seed}


def stage(title: str, work):
    """Prints `title`, runs `work()` and prints how long it took; returns its result."""
    print(f"\n==> {title}", flush=True)
    started = time.time()
    result = work()
    print(f"    done in {time.time() - started:.0f} s", flush=True)
    return result
