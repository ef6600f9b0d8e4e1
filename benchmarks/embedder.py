"""
6. Downstream embedder throughput (sentences/s): `elmo_c_token_embedder` vs
AllenNLP's `Elmo` on the same weights.

What: a randomly initialised ELMo-C of a given size is saved as a serialization
directory (`config.json` + `weights.th`, what `allennlp train` writes) and exported
with `export-elmo`'s code to ELMo's `options.json` + `weights.hdf5`.  Our
`ElmoCTokenEmbedder` reads the former, AllenNLP's `Elmo` (one output
representation) the latter, so both compute the same function (the table checks
the largest difference on the first batch).  Both embed the same sentences of
Zipf-distributed words (lengths 5 to 40, in batches, character ids from
`batch_to_ids`), in evaluation mode without gradients, as for feature extraction.

How: one step embeds every batch; `timing.measure` (warm-up steps, interleaved
rounds in a random order, median); sentences/s = sentences / median step time; the
ratio is paired by round, with its 95% bootstrap interval (`intervals.py`).

    .venv/bin/python benchmarks/embedder.py [--quick] [--device cpu|cuda]
"""
if not __package__:  # run by path: see bootstrap.py
    import bootstrap  # noqa: F401

import json
import os
import tempfile
import time
from typing import Callable, Dict, List

import torch
from allennlp.modules.elmo import Elmo, batch_to_ids

from benchmarks import plots
from benchmarks.common import SIZES, Config, ModelSize, SyntheticCorpus
from benchmarks.intervals import add_headline, timing_ratio
from benchmarks.report import Benchmark, Plot, Section, Table, describe
from benchmarks.timing import measure
from elmo_c.commands.export_elmo import export_elmo
from elmo_c.models.archive_loading import PretrainedBiLm
from elmo_c.modules.bilm_encoder import BidirectionalLmEncoder
from elmo_c.modules.input_layers import CharacterCnnInput
from elmo_c.modules.token_embedders.elmo_c_token_embedder import ElmoCTokenEmbedder

EMBEDDERS = ("elmo_c", "allennlp")
LABELS = {"elmo_c": "elmo_c_token_embedder", "allennlp": "AllenNLP Elmo (exported weights)"}


def write_archive(size: ModelSize, directory: str, seed: int) -> str:
    """A randomly initialised ELMo-C's serialization directory (only the parts embedders read)."""
    torch.manual_seed(seed)
    input_layer = CharacterCnnInput(size.projection_dim, size.filters, size.num_highway)
    encoder = {"num_layers": 2, "cell_size": size.cell_size, "projection_dim": size.projection_dim}
    bilm = PretrainedBiLm(input_layer, BidirectionalLmEncoder(size.projection_dim, **encoder))
    model = {
        "type": "continuous_output_language_model",
        "input_layer": {
            "type": "characters",
            "projection_dim": size.projection_dim,
            "filters": [list(pair) for pair in size.filters],
            "num_highway": size.num_highway,
        },
        "encoder": encoder,
        "output_layer": {
            "type": "continuous",
            "target_embeddings": {"type": "npy", "path": "unused.npy", "embedding_dim": 300},
        },
    }
    with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as stream:
        json.dump({"model": model}, stream)
    torch.save(bilm.state_dict(), os.path.join(directory, "weights.th"))
    return directory


def sentence_batches(corpus: SyntheticCorpus, config: Config) -> List[torch.Tensor]:
    """Character ids of `embedder_sentences` sentences in batches."""
    rng = corpus.rng(stream=30)
    lengths = rng.integers(5, 41, size=config.embedder_sentences)
    sentences = [[corpus.word(int(i)) for i in corpus.sample_ids((int(n),), rng)] for n in lengths]
    size = config.embedder_batch_size
    return [batch_to_ids(sentences[i : i + size]).to(config.device) for i in range(0, len(sentences), size)]


def build_embedders(archive: str, export_dir: str, device: torch.device) -> Dict[str, torch.nn.Module]:
    options, weights = export_elmo(archive, export_dir)
    return {
        "elmo_c": ElmoCTokenEmbedder(archive, dropout=0.0).to(device).eval(),
        "allennlp": Elmo(options, weights, 1, dropout=0.0).to(device).eval(),
    }


def embed(name: str, embedder: torch.nn.Module, character_ids: torch.Tensor) -> torch.Tensor:
    if name == "allennlp":
        return embedder(character_ids)["elmo_representations"][0]
    return embedder(character_ids)


def embedding_step(name: str, embedder: torch.nn.Module, batches: List[torch.Tensor]) -> Callable[[], None]:
    def step() -> None:
        with torch.no_grad():
            for character_ids in batches:
                embed(name, embedder, character_ids)

    return step


def largest_difference(embedders: Dict[str, torch.nn.Module], batch: torch.Tensor) -> float:
    """On a first batch (AllenNLP's `Elmo` carries LSTM states over from earlier batches)."""
    with torch.no_grad():
        ours, theirs = (embed(name, embedders[name], batch) for name in EMBEDDERS)
    return float((ours - theirs).abs().max())


def run(config: Config) -> Section:
    started = time.perf_counter()
    section = SECTION.result(describe(__doc__))
    corpus = config.corpus()
    batches = sentence_batches(corpus, config)
    table = Table(
        f"Embedding {config.embedder_sentences} sentences in batches of {config.embedder_batch_size} (no grad)",
        ["size", "embedder", "sentences / s", "ms / pass", "spread", "max abs. difference"],
    )
    series: Dict[str, List[float]] = {LABELS[name]: [] for name in EMBEDDERS}
    for size_name in config.embedder_sizes:
        with tempfile.TemporaryDirectory() as archive, tempfile.TemporaryDirectory() as export_dir:
            embedders = build_embedders(write_archive(SIZES[size_name], archive, config.seed), export_dir, config.device)
            difference = largest_difference(embedders, batches[0])
            steps = {name: embedding_step(name, embedders[name], batches) for name in EMBEDDERS}
            timings = measure(steps, *config.repetitions(size_name), config.device)
        for name in EMBEDDERS:
            rate = config.embedder_sentences / timings[name].median
            table.add(size_name, LABELS[name], rate, 1e3 * timings[name].median, timings[name].spread, difference)
            series[LABELS[name]].append(rate)
        add_headline(
            section, f"embedder_vs_allennlp_elmo_throughput_ratio_{size_name}",
            timing_ratio(timings["allennlp"], timings["elmo_c"]),
        )
    add_headline(
        section, "embedder_vs_allennlp_elmo_throughput_ratio",
        section.intervals[f"embedder_vs_allennlp_elmo_throughput_ratio_{config.embedder_sizes[-1]}"],
    )
    section.tables.append(table)
    section.notes.append(
        f"The headline without a size is at the largest size measured, {config.embedder_sizes[-1]}; "
        "ratio = our sentences/s over AllenNLP's."
    )
    section.plots.append(
        Plot(
            "embedder_throughput.png",
            lambda path: plots.bar_chart(path, "Downstream embedder", config.embedder_sizes, series, "sentences / s"),
        )
    )
    section.seconds = time.perf_counter() - started
    return section


SECTION = Benchmark(
    "embedder",
    "6. Downstream embedder throughput",
    run,
    headlines=(
        "embedder_vs_allennlp_elmo_throughput_ratio_*",
        "embedder_vs_allennlp_elmo_throughput_ratio",
    ),
)


if __name__ == "__main__":
    from benchmarks.suite import main

    main({SECTION.name: SECTION}, description=__doc__)
