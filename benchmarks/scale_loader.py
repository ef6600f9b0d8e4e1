"""
Part a of the scale benchmarks (`scale.py`): memory against corpus size (`loader`).

A synthetic corpus of Zipf-distributed words (p(rank r) ~ 1/r over a 100K-word
vocabulary of syllable strings, `benchmarks.common`; sentence lengths
1 + Gamma(4, 6), mean 25) is written in shards of a fixed size, at 1x and 10x the number of
tokens.  The data loader is built from `training_config/elmo_c.jsonnet` exactly as
`allennlp train` builds it: the `elmo_c_sentences` reader (20-token windows),
`MultiProcessDataLoader` with the bucket sampler and `max_instances_in_memory` (in
`--quick` the batch size is 16 instead of 64, and `max_instances_in_memory` follows
the config's formula, 100 x batch size, so that the 1x corpus already spans several
windows).  It is indexed with a fixed vocabulary (the same at 1x and 10x, so that
only the corpus grows) and iterated once, with `num_workers` 0 and 2.  Peak RSS is
the kernel's `ru_maxrss` of the loading process and of its largest worker (workers
are forked, so their RSS counts pages shared with the main process).
"""
import time
from typing import Any, Dict, Tuple

from benchmarks.report import Benchmark, Section, Table
from benchmarks.scale_common import Corpus, Settings, child_loader, run_child


def loader_memory(settings: Settings, corpus: Corpus) -> Section:
    """Part a: peak RSS of iterating the data loader over the corpus at 1x and 10x."""
    started = time.perf_counter()
    table = Table(
        "Peak RSS of one pass of the data loader (elmo_c.jsonnet's reader and loader)",
        ["corpus", "tokens", "num_workers", "seconds", "main peak RSS (MiB)",
         "main growth over start (MiB)", "largest worker peak RSS (MiB)"],
    )
    results = {}
    for num_workers in settings.loader_workers:
        for scale in sorted(corpus.globs):
            spec = {
                "words": corpus.words_path,
                "config": settings.loader_config,
                "data_path": corpus.globs[scale],
                "num_workers": num_workers,
                "batch_size": settings.loader_batch_size,
            }
            result = results[scale, num_workers] = run_child(child_loader, spec, settings)
            table.add(
                f"{scale}x", result["tokens"], num_workers, result["seconds"], result["peak_rss_mb"],
                result["peak_rss_mb"] - result["baseline_rss_mb"], result["worker_peak_rss_mb"] or None,
            )
    section = PART.result(_LOADER_DESCRIPTION, tables=[table])
    first = min(settings.loader_workers)
    section.headlines["loader_peak_rss_mb_1x"] = results[1, first]["peak_rss_mb"]
    section.headlines["loader_peak_rss_mb_10x"] = results[10, first]["peak_rss_mb"]
    section.headlines["loader_rss_ratio_10x_over_1x"] = _worst_ratio(results, settings.loader_workers)
    batch_size = settings.loader_batch_size or 64
    section.notes.append(
        f"Batch size {batch_size}, max_instances_in_memory {100 * batch_size} (the config's 100 x batch size); "
        f"corpus of {corpus.tokens[1]:,} tokens at 1x in shards of {settings.shard_tokens:,} tokens, "
        f"vocabulary of {settings.corpus_vocab:,} words.  Headline RSS: num_workers={first}; the ratio is the "
        f"largest 10x/1x ratio of any process (main or worker) at any num_workers."
    )
    windows = corpus.tokens[1] / 20 / (100 * batch_size) / max(1, max(settings.loader_workers))
    if windows < 3:
        section.notes.append(
            f"The 1x corpus gives each loading process only {windows:.1f} windows of max_instances_in_memory "
            f"instances, so its peak is below the steady state that the 10x run reaches: a ratio above 1 here "
            f"is that warm-up, not growth (compare 10x with a larger corpus to tell them apart)."
        )
    section.seconds = time.perf_counter() - started
    return section


_LOADER_DESCRIPTION = """
One pass of `MultiProcessDataLoader` over a synthetic Zipf corpus at 1x and 10x its
size, each in a fresh process; the RSS should not grow with the corpus, as the loader
holds at most `max_instances_in_memory` instances (per worker) at a time.
"""


def _worst_ratio(results: Dict[Tuple[int, int], Dict[str, Any]], workers: Tuple[int, ...]) -> float:
    ratios = []
    for num_workers in workers:
        small, large = results[1, num_workers], results[10, num_workers]
        ratios.append(large["peak_rss_mb"] / small["peak_rss_mb"])
        if num_workers:
            ratios.append(large["worker_peak_rss_mb"] / small["worker_peak_rss_mb"])
    return max(ratios)


PART = Benchmark(
    "loader",
    "a. Memory as the corpus grows",
    lambda run: loader_memory(run.settings, run.corpus),
    headlines=("loader_peak_rss_mb_1x", "loader_peak_rss_mb_10x", "loader_rss_ratio_10x_over_1x"),
)
