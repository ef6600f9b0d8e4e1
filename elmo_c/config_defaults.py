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
}


def set_config_defaults() -> None:
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
