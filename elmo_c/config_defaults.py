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
}


def set_config_defaults() -> None:
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
