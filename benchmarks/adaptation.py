"""
Continued pretraining on a domain against pretraining on it from scratch, at the
same budget (issue 13).  The small ELMo-C (training_config/elmo_c_small.jsonnet) is
pretrained on the Penn Treebank (`general`), then trained on the domain, the US
State of the Union addresses (`sotu`; every tenth speech held out for validation),
in three ways that each read the domain's training text `--domain-epochs` times
(once by default) with the same FastText targets, trained on that text, and the
domain's vocabulary:

- `adapted`: training_config/elmo_c_adapt.jsonnet from the PTB model, its input
  layer and first `--frozen-lstm-layers` LSTM layers frozen for the first
  `--freeze-batches` batches;
- `output_only`: the same with the whole biLM frozen throughout, so that only the
  new output layer learns: what the PTB representations give the domain as they are;
- `scratch`: the same architecture trained on the domain's text alone, from random
  weights (training_config/elmo_c_small.jsonnet).

Reported for each: the domain validation text's cosine beside the best constant
prediction's, the cosine gain, top-1 / top-10 nearest-neighbour accuracy beside a
unigram model's, the domain training time, and a downstream score (`--task`: the
main job's WNUT-16 NER span F1, or Rotten Tomatoes accuracy) over `--seeds` tagger
seeds, for `general` too.  Neither task is in the domain: the downstream column
shows whether training on the domain keeps the representations useful elsewhere.
The PTB pretraining is the adapted arms' head start and is not in the budget.

    .venv/bin/python benchmarks/adaptation.py [--quick] [--arms general,adapted,output_only,scratch]
        [--domain-epochs 1] [--general-epochs 1] [--domain-words N] [--task ner|classification]
        [--seeds 3] [--downstream-epochs N] [--output runs/adaptation] [--results benchmarks/RESULTS_adaptation.md]

Every step is kept under `--output` and reused on a rerun.  `--quick` runs the whole
pipeline on the fixtures in about a minute (a toy biLM pretrained on fixtures/lm,
the same text standing in for the domain, the fixture targets and the CoNLL-2003
fixture; `adapted` and `scratch` only): a smoke test, not a result.  Writes
`--results` and prints one headline a line (`adaptation_<figure>_<arm> = ...`).
"""
import argparse
import datetime
import json
import os
import platform
import sys
import tarfile
from typing import Dict

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY)

from benchmarks.quality import mean_and_sd, paired_difference, publish  # noqa: E402
from elmo_c import pipeline  # noqa: E402
from elmo_c.config_defaults import FIXTURES  # noqa: E402
from elmo_c.pipeline.data import write_lines  # noqa: E402

ADAPT_CONFIG = "training_config/elmo_c_adapt.jsonnet"
ARMS = ("general", "adapted", "output_only", "scratch")
QUICK_ARMS = ("adapted", "scratch")
# Trained on the domain, within its budget (`general` is the PTB model as it is).
DOMAIN_ARMS = ("adapted", "output_only", "scratch")
INTRINSIC = ["cosine", "constant_cosine", "cosine_gain", "top1_accuracy", "unigram_top1_accuracy",
             "top10_accuracy", "unigram_top10_accuracy"]
# The quick smoke test's biLM: the fixtures' sizes, and a warm-up the fixtures outlast.
QUICK_SIZES = {
    "model.input_layer": {"type": "characters", "projection_dim": 16, "filters": [[1, 8], [2, 8], [3, 16]],
                          "num_highway": 1},
    "model.encoder.cell_size": 32,
    "model.encoder.projection_dim": 16,
}
QUICK_WARMUP = {"trainer.learning_rate_scheduler.warmup_steps": 2}
QUICK_TASK_DATA = {"ner": ("conll2003", "txt"), "classification": ("classification", "jsonl")}
HELD_OUT_EVERY = 10  # every tenth speech is validation text


def main() -> None:
    args = _arguments()
    run_dir = os.path.abspath(args.output)
    os.makedirs(run_dir, exist_ok=True)
    general, domain, targets, task_data = _data(run_dir, args)
    general_archive = _pretrain_general(run_dir, general, args)
    rows = {}
    for arm in args.arms:
        rows[arm] = {"archive": general_archive} if arm == "general" else _domain_arm(
            run_dir, arm, domain, targets, general_archive, args)
    for arm, row in rows.items():
        row["scores"] = _downstream(run_dir, arm, row["archive"], task_data, args)
    text, headlines = report(rows, args)
    publish(text, headlines, rows, args.results, run_dir)


# -- data --------------------------------------------------------------------------------


def _data(run_dir: str, args: argparse.Namespace):
    """The general corpus, the domain's corpus and targets, and the downstream task's files."""
    if args.quick:
        corpus = {split: os.path.join(FIXTURES, "lm", f"{split}.txt") for split in ("train", "valid")}
        directory, extension = QUICK_TASK_DATA[args.task]
        task_data = {split: os.path.join(FIXTURES, "downstream", directory, f"{split}.{extension}")
                     for split in ("train", "dev", "test")}
        return corpus, corpus, os.path.join(FIXTURES, "targets", "fasttext.bin"), task_data
    general = pipeline.stage("Penn Treebank text from the `treebank` package",
                             lambda: pipeline.prepare_ptb(os.path.join(run_dir, "general")))
    domain = pipeline.stage("State of the Union addresses from the `sotu` package",
                            lambda: prepare_domain(run_dir, args.domain_words))
    targets = pipeline.build_targets(os.path.join(run_dir, "domain"), domain["train"], args.dim)
    if args.task == "ner":
        task_data = pipeline.stage("WNUT-16 Twitter NER", lambda: pipeline.prepare_wnut(run_dir))
    else:
        task_data = pipeline.stage("Rotten Tomatoes sentence polarity",
                                   lambda: pipeline.prepare_rotten_tomatoes(run_dir, 2000))
    return general, domain, targets, task_data


def prepare_domain(run_dir: str, limit_words: int = None) -> Dict[str, str]:
    """
    The State of the Union addresses, one sentence per line, lowercased and tokenised
    as the pipeline's larger corpus is; every tenth speech (in date order) is the
    validation text, so no validation sentence comes from a training speech.  The
    first `limit_words` training words only, if given.  Written once under run_dir/data.
    """
    # The pipeline's own reading of the `sotu` package (its larger corpus uses it too).
    from elmo_c.pipeline.data import _first_words, _sentences, _sotu_texts

    suffix = f".{limit_words}" if limit_words else ""
    paths = {"train": os.path.join(run_dir, "data", f"sotu{suffix}.train.txt"),
             "valid": os.path.join(run_dir, "data", "sotu.valid.txt")}
    if all(os.path.exists(path) for path in paths.values()):
        return paths
    speeches = _sotu_texts()
    held_out = [index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 for index in range(len(speeches))]
    splits = {
        "train": _sentences([text for text, valid in zip(speeches, held_out) if not valid]),
        "valid": _sentences([text for text, valid in zip(speeches, held_out) if valid]),
    }
    if limit_words:
        splits["train"] = _first_words(splits["train"], limit_words)
    for split, lines in splits.items():
        write_lines(paths[split], lines)
        tokens = sum(len(line.split()) for line in lines)
        print(f"    {split}: {len(lines)} sentences, {tokens} tokens -> {paths[split]}")
    return paths


# -- pretraining -------------------------------------------------------------------------


def _pretrain_general(run_dir: str, corpus: Dict[str, str], args: argparse.Namespace) -> str:
    """The PTB model every adapted arm starts from (the fixtures' toy model with --quick)."""
    general_dir = os.path.join(run_dir, "general")
    targets = (os.path.join(FIXTURES, "targets", "fasttext.bin") if args.quick
               else pipeline.build_targets(general_dir, corpus["train"], args.dim))
    environment = pipeline.pretraining_environment(corpus, targets, args.dim)
    overrides = {**QUICK_SIZES, **QUICK_WARMUP} if args.quick else {}
    return pipeline.pretrain(general_dir, environment, args.general_epochs, seed=args.seed, overrides=overrides,
                             title="the general (PTB) ELMo-C")


def _domain_arm(run_dir: str, arm: str, domain: Dict[str, str], targets: str, general_archive: str,
                args: argparse.Namespace) -> Dict:
    """Trains one arm on the domain (once) and evaluates it on the domain's validation text."""
    arm_dir = os.path.join(run_dir, "arms", arm)
    environment = pipeline.pretraining_environment(domain, targets, args.dim)
    if arm == "scratch":
        config = pipeline.PRETRAIN_CONFIG
        overrides = {**QUICK_SIZES, **QUICK_WARMUP} if args.quick else {}
    else:
        config = ADAPT_CONFIG
        overrides = dict(QUICK_WARMUP) if args.quick else {}
        environment.update(_freezing(arm, general_archive, args))
    archive = pipeline.pretrain(arm_dir, environment, args.domain_epochs, seed=args.seed, config=config,
                                overrides=overrides, title=f"the {arm} arm on the domain")
    validation = pipeline.evaluate_pretrained(arm_dir, archive, domain["valid"], arm, environment)
    with open(os.path.join(os.path.dirname(archive), "metrics.json")) as stream:
        duration = json.load(stream).get("training_duration", "").split(".")[0]  # h:mm:ss
    return {"archive": archive, "validation": validation, "training_duration": duration}


def _freezing(arm: str, general_archive: str, args: argparse.Namespace) -> Dict[str, str]:
    """The adapt config's variables: where it starts, and what it freezes for how long."""
    if arm == "output_only":
        batches, layers = 10 ** 12, _num_lstm_layers(general_archive)
    else:
        batches, layers = (1 if args.quick else args.freeze_batches), args.frozen_lstm_layers
    return {"ELMO_C_PRETRAINED": general_archive, "ELMO_C_FREEZE_BATCHES": str(batches),
            "ELMO_C_FROZEN_LSTM_LAYERS": str(layers)}


def _num_lstm_layers(archive: str) -> int:
    with tarfile.open(archive) as tar:
        return int(json.load(tar.extractfile("config.json"))["model"]["encoder"]["num_layers"])


# -- downstream --------------------------------------------------------------------------


def _downstream(run_dir: str, arm: str, archive: str, task_data: Dict[str, str], args) -> Dict[int, float]:
    """The downstream test score over each seed's tagger (or classifier) on `arm`'s biLM."""
    metric = pipeline.TASKS[args.task].metric
    scores = {}
    for seed in range(1, args.seeds + 1):
        metrics = pipeline.train_and_evaluate(
            os.path.join(run_dir, "downstream", arm), args.task, task_data, archive, args.downstream_epochs,
            seed=seed, name=f"seed{seed}", title=f"over the {arm} biLM",
        )
        scores[seed] = metrics[metric]
    return scores


# -- report ------------------------------------------------------------------------------


def report(rows: Dict[str, Dict], args: argparse.Namespace):
    """The markdown report and the headline figures."""
    metric = pipeline.TASKS[args.task].metric
    lines = [
        "# Continued pretraining on a domain against pretraining from scratch",
        "",
        f"Generated by `benchmarks/adaptation.py{' --quick' if args.quick else ''}` on "
        f"{datetime.date.today().isoformat()} ({platform.node()}, {os.cpu_count()} CPUs).",
        "",
        ("Setup: the bundled fixtures (a smoke test: no figure here means anything)." if args.quick else
         f"Setup: the small ELMo-C pretrained on PTB for {args.general_epochs} epoch(s) (`general`), then "
         f"{args.domain_epochs} pass(es) over the State of the Union training speeches for every arm, with "
         f"FastText targets ({args.dim}-d) trained on them; `adapted` freezes the input layer and "
         f"{args.frozen_lstm_layers} LSTM layer(s) for {args.freeze_batches} batches.")
        + ("" if args.quick else "  Validation: the held-out speeches.")
        + f"  Downstream: `{args.task}` ({metric}), {args.seeds} seed(s).",
        "",
        "| arm | domain training | cosine | constant | gain | top-1 | unigram top-1 | top-10 | unigram top-10 | "
        f"{metric} (mean +- sd) | minus scratch (paired) | p |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    scratch = rows.get("scratch", {}).get("scores", {})
    for arm, row in rows.items():
        figures = row.get("validation", {})
        mean, sd = mean_and_sd(list(row["scores"].values()))
        versus = paired_difference(row["scores"], scratch) if arm != "scratch" and scratch else {}
        lines.append(f"| {arm} | {row.get('training_duration', 'none (the start)')} | "
                     + " | ".join(_f(figures.get(name)) for name in INTRINSIC)
                     + f" | {_f(mean)}{f' +- {_f(sd)}' if sd == sd else ''} | "
                     + (f"{_f(versus['mean'])} +- {_f(versus['sd'])} | {_f(versus['p'], 3)} |" if versus else " | |"))
    lines += ["", "Every figure is on the domain's validation text with the sentence boundaries left out; "
              "`constant` is the best constant prediction's cosine, `gain` the model's cosine minus it.  "
              f"`minus scratch`: the {metric} difference from `scratch` with the same downstream seed (mean +- sd "
              "over seeds) and a paired t-test's two-sided p."]
    return "\n".join(lines) + "\n", headlines(rows, args.task)


def headlines(rows: Dict[str, Dict], task: str) -> Dict[str, float]:
    """`adaptation_<figure>_<arm>` for each arm, and adapted minus scratch where both ran."""
    figures = {}
    for arm, row in rows.items():
        validation = row.get("validation", {})
        if "cosine_gain" in validation:
            figures[f"adaptation_cosine_gain_{arm}"] = validation["cosine_gain"]
            figures[f"adaptation_top10_{arm}"] = validation["top10_accuracy"]
        if row["scores"]:
            figures[f"adaptation_{task}_{arm}"] = mean_and_sd(list(row["scores"].values()))[0]
    for name in ("cosine_gain", "top10", task):
        if f"adaptation_{name}_adapted" in figures and f"adaptation_{name}_scratch" in figures:
            figures[f"adaptation_{name}_adapted_minus_scratch"] = (
                figures[f"adaptation_{name}_adapted"] - figures[f"adaptation_{name}_scratch"])
    return figures


def _f(value, digits: int = 4) -> str:
    return "" if value is None or value != value else f"{value:.{digits}f}"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the whole pipeline on the fixtures (a smoke test)")
    parser.add_argument("--arms", default=None, help=f"comma-separated, of {','.join(ARMS)} (default: all; "
                                                     f"{','.join(QUICK_ARMS)} with --quick)")
    parser.add_argument("--domain-epochs", type=int, default=1, help="passes over the domain text, every arm")
    parser.add_argument("--general-epochs", type=int, default=1, help="PTB epochs of the general model")
    parser.add_argument("--domain-words", type=int, default=None, help="only the first N domain training words")
    parser.add_argument("--freeze-batches", type=int, default=200, help="`adapted`'s frozen batches")
    parser.add_argument("--frozen-lstm-layers", type=int, default=1, help="`adapted`'s frozen LSTM layers")
    parser.add_argument("--dim", type=int, default=100, help="the FastText targets' size")
    parser.add_argument("--task", choices=sorted(pipeline.TASKS), default="ner")
    parser.add_argument("--seeds", type=int, default=None, help="downstream seeds (default 3; 1 with --quick)")
    parser.add_argument("--downstream-epochs", type=int, default=None, help="default: the task config's")
    parser.add_argument("--seed", type=int, default=13, help="the pretraining seed, every arm")
    parser.add_argument("--output", default=os.path.join(REPOSITORY, "runs", "adaptation"))
    parser.add_argument("--results", default=os.path.join(REPOSITORY, "benchmarks", "RESULTS_adaptation.md"))
    args = parser.parse_args()
    args.arms = args.arms.split(",") if args.arms else list(QUICK_ARMS if args.quick else ARMS)
    unknown = set(args.arms) - set(ARMS)
    if unknown:
        parser.error(f"unknown arms {sorted(unknown)}: choose among {','.join(ARMS)}")
    args.seeds = args.seeds or (1 if args.quick else 3)
    if args.quick:
        args.dim, args.downstream_epochs = 16, args.downstream_epochs or 1
    return args


if __name__ == "__main__":
    main()
