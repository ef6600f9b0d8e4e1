"""
Defaults for the environment variables that the configs in `training_config/` read
with `std.extVar`.  Jsonnet cannot test whether a variable is set, and AllenNLP
evaluates configs after importing its plugins, so the plugin sets every variable
that is still unset to a bundled fixture: `allennlp train CONFIG` then runs as
written, and exporting a variable points it at real data.
"""
import os

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")

DEFAULTS = {
    "ELMO_C_TRAIN": os.path.join(FIXTURES, "lm", "train.txt"),
    "ELMO_C_VALIDATION": os.path.join(FIXTURES, "lm", "valid.txt"),
    "ELMO_C_TARGETS": os.path.join(FIXTURES, "targets", "fasttext_300d.bin"),
    "ELMO_C_TARGETS_DIM": "300",
    # Only for the test configs in fixtures/configs/.
    "ELMO_C_FIXTURES": FIXTURES,
    "ELMO_C_TEST_TARGETS": os.path.join(FIXTURES, "targets", "fasttext.bin"),
    "ELMO_C_TEST_LOSS": "cosine",
    "ELMO_C_TEST_INPUT": "characters",
    # The downstream configs in training_config/downstream/: the pretrained ELMo-C, the
    # size of its representations (2 x the archive's projection_dim), whether to use
    # it at all ("false": the same models without ELMo-C), and each task's data.
    "ELMO_C_ARCHIVE": os.path.join(FIXTURES, "elmo_c_tiny", "model.tar.gz"),
    "ELMO_C_DIM": "32",
    "ELMO_C_EMBEDDER": "true",
    "ELMO_C_NER_TRAIN": os.path.join(FIXTURES, "downstream", "conll2003", "train.txt"),
    "ELMO_C_NER_DEV": os.path.join(FIXTURES, "downstream", "conll2003", "dev.txt"),
    "ELMO_C_NER_TEST": os.path.join(FIXTURES, "downstream", "conll2003", "test.txt"),
    "ELMO_C_SRL_TRAIN": os.path.join(FIXTURES, "downstream", "conll2012", "train"),
    "ELMO_C_SRL_DEV": os.path.join(FIXTURES, "downstream", "conll2012", "development"),
    "ELMO_C_SRL_TEST": os.path.join(FIXTURES, "downstream", "conll2012", "test"),
    "ELMO_C_SST_TRAIN": os.path.join(FIXTURES, "downstream", "sst", "train.txt"),
    "ELMO_C_SST_DEV": os.path.join(FIXTURES, "downstream", "sst", "dev.txt"),
    "ELMO_C_SST_TEST": os.path.join(FIXTURES, "downstream", "sst", "test.txt"),
    "ELMO_C_SST_GRANULARITY": "5-class",
    "ELMO_C_CLS_TRAIN": os.path.join(FIXTURES, "downstream", "classification", "train.jsonl"),
    "ELMO_C_CLS_DEV": os.path.join(FIXTURES, "downstream", "classification", "dev.jsonl"),
    "ELMO_C_CLS_TEST": os.path.join(FIXTURES, "downstream", "classification", "test.jsonl"),
    # ELMo-Sub (training_config/elmo_sub.jsonnet): the sentencepiece model of its
    # output layer (`allennlp build-subwords`), and the output layer of the baselines'
    # test config (fixtures/configs/elmo_baselines_tiny.jsonnet).
    "ELMO_C_SUBWORDS": os.path.join(FIXTURES, "subwords", "bpe.model"),
    "ELMO_C_TEST_OUTPUT": "softmax",
    # Continued pretraining on a domain (training_config/elmo_c_adapt.jsonnet): the archive
    # it starts from (an ELMo-C, or ELMo's files through `allennlp import-elmo`), and how
    # many batches its input layer and first ELMO_C_FROZEN_LSTM_LAYERS LSTM layers stay
    # frozen while the new output layer learns (0: none).
    "ELMO_C_PRETRAINED": os.path.join(FIXTURES, "elmo_c_tiny", "model.tar.gz"),
    "ELMO_C_FREEZE_BATCHES": "200",
    "ELMO_C_FROZEN_LSTM_LAYERS": "1",
}


# The variables the plugin filled in, passed on to subprocesses (a pipeline's
# `allennlp train` inherits the parent's environment, defaults included).
DEFAULTED = "ELMO_C_DEFAULTED"


def set_config_defaults() -> None:
    # Inherited names count only while they still hold the fixture (a pipeline may set them).
    inherited = filter(None, os.environ.get(DEFAULTED, "").split(","))
    defaulted = {name for name in inherited if os.environ.get(name) == DEFAULTS.get(name)}
    for name, value in DEFAULTS.items():
        if name not in os.environ:
            os.environ[name] = value
            defaulted.add(name)
    os.environ[DEFAULTED] = ",".join(sorted(defaulted))
    _derive_embedder_dim()


def _derive_embedder_dim() -> None:
    """
    `ELMO_C_DIM` (the downstream configs' ELMo-C size) from `ELMO_C_ARCHIVE` when the
    user set the archive but not its size: 2 x the archive's projection_dim.
    """
    defaulted = os.environ[DEFAULTED].split(",")
    if "ELMO_C_DIM" not in defaulted or "ELMO_C_ARCHIVE" in defaulted:
        return
    import tarfile

    try:
        os.environ["ELMO_C_DIM"] = str(elmo_c_dim(os.environ["ELMO_C_ARCHIVE"]))
    except (OSError, KeyError, TypeError, ValueError, tarfile.TarError):
        pass  # the embedder reports an unreadable archive, naming it


def elmo_c_dim(archive_path: str) -> int:
    """The size of an ELMo-C archive's representations: both directions' projections."""
    import json
    import tarfile

    from allennlp.common.checks import ConfigurationError

    with tarfile.open(archive_path) as archive:
        config = json.load(archive.extractfile("config.json"))
    projection_dim = config.get("model", {}).get("encoder", {}).get("projection_dim")
    if projection_dim is None:
        raise ConfigurationError(
            f'{archive_path} holds a "{config.get("model", {}).get("type")}" model without an encoder '
            "projection_dim, not an ELMo-C language model: give the model.tar.gz of `allennlp train "
            "training_config/elmo_c*.jsonnet`"
        )
    return 2 * int(projection_dim)


def fallback_notice(path: str) -> str:
    """
    If `path` is the bundled fixture that an unset variable fell back to, a sentence
    saying so (which variable, how to point it at real data); otherwise "".
    """
    defaulted = os.environ.get(DEFAULTED, "").split(",")
    names = [name for name in defaulted if name in DEFAULTS and DEFAULTS[name] == path]
    if not names:
        return ""
    return (
        f"{' and '.join(names)} {'is' if len(names) == 1 else 'are'} not set, so the bundled fixture {path} "
        f"is used: a toy run.  Export {' or '.join(names)}{'' if len(names) == 1 else ' (the one the config reads)'} "
        f"to use your own data."
    )


def variable_hint(path: str) -> str:
    """`" (from $NAME)"` if a set ELMO_C_* variable holds `path`, so that an error names it; else ""."""
    defaulted = os.environ.get(DEFAULTED, "").split(",")
    names = [name for name, value in os.environ.items()
             if name.startswith("ELMO_C_") and value == path and name not in defaulted]
    return f" (from ${names[0]})" if names else ""
