"""
Pretraining stages: FastText targets for a corpus (`allennlp build-targets`), the
small ELMo-C trained on it (`allennlp train`), its validation metrics (`allennlp
evaluate`) and the same model untrained for comparison.
"""
import json
import os
from typing import Dict

from elmo_c.pipeline.controls import fresh_model
from elmo_c.pipeline.runner import PRETRAIN_CONFIG, ROOT, run_allennlp, seed_overrides, stage


def build_targets(run_dir: str, train_path: str, dim: int) -> str:
    """`allennlp build-targets`: FastText vectors trained on the corpus, once, under run_dir/targets."""
    targets = os.path.join(run_dir, "targets", "ptb_fasttext.bin")
    stage(
        "FastText targets (skipgram + subwords) trained on the corpus",
        lambda: run_allennlp(
            ["build-targets", train_path, targets, "--dim", str(dim), "--epochs", "5", "--bucket", "100000"],
            run_dir, "build-targets", skip_if=targets,
        ),
    )
    return targets


def pretraining_environment(data: Dict[str, str], targets: str, dim: int) -> Dict[str, str]:
    """The variables training_config/elmo_c_small.jsonnet reads."""
    return {
        "ELMO_C_TRAIN": data["train"],
        "ELMO_C_VALIDATION": data["valid"],
        "ELMO_C_TARGETS": targets,
        "ELMO_C_TARGETS_DIM": str(dim),
    }


def pretrain(
    run_dir: str,
    environment: Dict[str, str],
    epochs: int,
    seed: int = None,
    config: str = PRETRAIN_CONFIG,
    overrides: Dict = None,
    title: str = "a small ELMo-C",
) -> str:
    """
    `allennlp train` of `config` (by default the small ELMo-C,
    training_config/elmo_c_small.jsonnet; a relative path is taken from the
    repository root) into run_dir/pretrain, once; returns its archive.  `title`
    names the model in the printed stage.  `seed`
    replaces AllenNLP's three default seeds; `overrides` (AllenNLP's `-o`, dotted
    keys allowed) are applied last, after the epochs and the seeds.
    """
    pretrain_dir = os.path.join(run_dir, "pretrain")
    config = os.path.join(ROOT, config)
    all_overrides = {"trainer.num_epochs": epochs, **seed_overrides(seed), **(overrides or {})}
    shown_config = os.path.relpath(config, ROOT) if config.startswith(ROOT + os.sep) else config
    check_same_training(pretrain_dir, config, all_overrides, environment)
    stage(
        f"Pretraining {title} ({epochs} epoch(s), {shown_config}"
        + (f", seed {seed})" if seed is not None else ")"),
        lambda: run_allennlp(
            ["train", config, "-s", pretrain_dir, "--include-package", "elmo_c", "-o", json.dumps(all_overrides)],
            run_dir, "pretrain", environment, skip_if=os.path.join(pretrain_dir, "model.tar.gz"),
        ),
    )
    return os.path.join(pretrain_dir, "model.tar.gz")


# What may differ between a finished run and the one asked for without changing the
# model it trained: where the files are, and how progress was saved and shown.
_IRRELEVANT_KEYS = ("trainer.callbacks", "trainer.checkpointer")


def check_same_training(pretrain_dir: str, config: str, overrides: Dict, environment: Dict[str, str]) -> None:
    """
    Raises `ConfigurationError` where pretrain_dir holds a finished model trained with
    another configuration than `config` + `overrides` (a default changed since, or
    another variant's directory): reusing it would report its figures under the
    wrong name.  File locations are not compared (a study may be moved).
    """
    archived_config = os.path.join(pretrain_dir, "config.json")
    if not os.path.exists(os.path.join(pretrain_dir, "model.tar.gz")) or not os.path.exists(archived_config):
        return
    from allennlp.common import Params
    from allennlp.common.checks import ConfigurationError

    variables = {**os.environ, **(environment or {})}
    wanted = _model_defining(Params.from_file(config, json.dumps(overrides), ext_vars=variables))
    trained = _model_defining(Params.from_file(archived_config))
    # A part built `from_archive` is written into the archived config in full (see
    # `self_contained_archive`); its definition is the other archive's, not this run's.
    borrowed = tuple(key[: -len("type")] for key, value in wanted.items()
                     if key.endswith(".type") and value == "from_archive")
    differences = sorted(key for key in set(wanted) | set(trained)
                         if not key.startswith(borrowed) and wanted.get(key) != trained.get(key))
    if differences:
        shown = "; ".join(f"{key}: trained {trained.get(key)!r}, asked {wanted.get(key)!r}" for key in differences[:5])
        raise ConfigurationError(
            f"{pretrain_dir} holds a model trained with another configuration ({shown}"
            f"{'; ...' if len(differences) > 5 else ''}): its figures would be reported under the wrong name. "
            f"Remove that directory to pretrain again, or write this run elsewhere."
        )


def _model_defining(params) -> Dict:
    return {
        key: value for key, value in params.as_flat_dict().items()
        if not key.startswith(_IRRELEVANT_KEYS) and not (isinstance(value, str) and os.sep in value)
    }


# Every model is evaluated on the same instances, whole validation sentences, also
# when it trained on windows of running text (which would give it context from the
# sentence before).  A config with its own `validation_dataset_reader` uses that.
WHOLE_SENTENCES = {"dataset_reader.window_size": None}


def evaluate_pretrained(
    run_dir: str, archive: str, validation_path: str, name: str, environment: Dict[str, str], overrides: Dict = None
) -> Dict[str, float]:
    """
    `allennlp evaluate` of a pretrained archive on the validation text, whole
    sentences (once); its metrics.  `overrides` are applied on top.
    """
    metrics_file = os.path.join(run_dir, f"validation_metrics_{name}.json")
    arguments = ["evaluate", archive, validation_path, "--output-file", metrics_file, "--include-package", "elmo_c",
                 "-o", json.dumps({**WHOLE_SENTENCES, **(overrides or {})})]
    stage(
        f"Evaluating the {name} model on the validation set",
        lambda: run_allennlp(arguments, run_dir, f"evaluate-{name}", environment, skip_if=metrics_file),
    )
    with open(metrics_file) as stream:
        return json.load(stream)


def evaluate_untrained(archive_path: str, validation_path: str) -> Dict[str, float]:
    """
    The archived model's architecture and vocabulary, freshly initialised with its
    seed, on whole validation sentences.
    """
    from allennlp.data import DatasetReader
    from allennlp.data.data_loaders import MultiProcessDataLoader
    from allennlp.models.archival import extracted_archive
    from allennlp.training.util import evaluate

    with extracted_archive(archive_path) as directory:  # the config and vocabulary; the weights are not needed
        config, model = fresh_model(directory)
    reader_params = config.get("validation_dataset_reader", None)
    if reader_params is None:
        reader_params = config.get("dataset_reader").duplicate()
        reader_params["window_size"] = WHOLE_SENTENCES["dataset_reader.window_size"]
    reader = DatasetReader.from_params(reader_params.duplicate())
    loader = MultiProcessDataLoader(reader, validation_path, batch_size=64)
    loader.index_with(model.vocab)
    return evaluate(model, loader, cuda_device=-1)
