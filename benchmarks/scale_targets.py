"""
Part c of the scale benchmarks (`scale.py`): the target table (`targets`).

A random `(rows, 300)` float32 `.npy` and its words file go through the `npy`
TargetEmbeddings type with a Vocabulary of the same words, building the aligned
cache once per dtype; then each of fp32/fp16 x memory-mapped/read is loaded in a
fresh process: load time, RSS growth after the load and after 20 lookups of 1280
Zipf-distributed rows, and the lookup time.  The cache files were just written, so
they are in the page cache: these are warm loads (a cold disk read of the 2.4 GB
table takes longer without mmap).
"""
import itertools
import os
import shutil
import tempfile
import time
from typing import Any, Dict, List, Tuple

import numpy
import torch
from allennlp.data import Vocabulary

from benchmarks.report import Benchmark, Section, Table
from benchmarks.scale_common import (
    Settings,
    current_rss_mb,
    peak_rss_mb,
    read_words,
    run_child,
    vocabulary,
    words_of,
    write_random_table,
    write_words,
    zipf_ranks,
)
from benchmarks.timing import measure_one
from elmo_c.data.target_embeddings.npy import NpyTargetEmbeddings

MIN_FREE_BYTES_FOR_FULL_TABLE = 10 * 2**30


def _target_embeddings(spec: Dict[str, Any], vocab: Vocabulary) -> NpyTargetEmbeddings:
    return NpyTargetEmbeddings(
        vocab, path=spec["npy"], embedding_dim=spec["dim"], dtype=spec["dtype"],
        memory_map=spec.get("memory_map", True), cache_dir=spec["cache_dir"],
    )


def child_targets_build(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Builds the aligned cache of a table for a vocabulary of its words."""
    targets = _target_embeddings(spec, vocabulary(read_words(spec["words"])))
    baseline = current_rss_mb()
    start = time.perf_counter()
    targets.load()
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": baseline}


def child_targets_load(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Loads a cached table: time, RSS growth after the load and after lookups, lookup time."""
    words = read_words(spec["words"])
    targets = _target_embeddings(spec, vocabulary(words))
    baseline, private_baseline = current_rss_mb(), current_rss_mb("RssAnon")
    start = time.perf_counter()
    targets.load()
    seconds = time.perf_counter() - start
    after_load = current_rss_mb()
    rng = numpy.random.default_rng(spec["seed"])
    batches = [torch.from_numpy(zipf_ranks(len(words), spec["lookup_rows"], rng) + 2)
               for _ in range(spec["repeats"] + 1)]
    calls = itertools.count()
    timing = measure_one(lambda: targets.lookup(batches[next(calls) % len(batches)]), warmup=1, repeats=spec["repeats"],
                         device=torch.device("cpu"))
    return {
        "seconds": seconds,
        "rss_after_load_mb": after_load - baseline,
        "rss_after_lookups_mb": current_rss_mb() - baseline,
        "private_after_lookups_mb": current_rss_mb("RssAnon") - private_baseline,
        "lookup_ms": 1000 * timing.median,
    }


def target_table(settings: Settings) -> Section:
    """Part c: an aligned target table's cache load time, RSS and lookup time."""
    started = time.perf_counter()
    directory = tempfile.mkdtemp(prefix="elmo_c_scale_targets_")
    try:
        rows, notes = _table_rows(settings, directory)
        section = _measure_table(settings, directory, rows)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    section.notes = notes + section.notes
    section.seconds = time.perf_counter() - started
    return section


def _table_rows(settings: Settings, directory: str) -> Tuple[int, List[str]]:
    rows, notes = settings.target_rows, []
    free = shutil.disk_usage(directory).free
    if rows >= 2_000_000 and free < MIN_FREE_BYTES_FOR_FULL_TABLE:
        rows //= 10
        notes.append(f"Only {free / 2**30:.1f} GiB free in {directory}: a table of {rows:,} rows instead of 2M.")
    if rows != 2_000_000:
        notes.append(f"The `targets_2m_*` headlines are for a table of {rows:,} rows (`targets_rows`), not 2M.")
    return rows, notes


def _measure_table(settings: Settings, directory: str, rows: int) -> Section:
    npy = os.path.join(directory, "vectors.npy")
    words_path = os.path.join(directory, "vectors.words.txt")
    write_random_table(npy, rows, 300, settings.seed)
    write_words(words_path, words_of(rows))
    base = {"npy": npy, "words": words_path, "dim": 300, "cache_dir": os.path.join(directory, "cache"),
            "lookup_rows": settings.lookup_rows, "repeats": settings.lookup_repeats, "seed": settings.seed}
    table = Table(
        f"Aligned target table of {rows:,} x 300 (npy TargetEmbeddings), warm page cache",
        ["dtype", "memory-mapped", "build s (once)", "build peak RSS (MiB)", "cache MiB", "load s",
         "RSS after load (MiB)", f"RSS after {settings.lookup_repeats + 1} lookups (MiB)",
         "of which private (MiB)", f"lookup of {settings.lookup_rows} rows (ms)"],
    )
    section = PART.result(_TARGETS_DESCRIPTION, tables=[table])
    section.headlines["targets_rows"] = rows
    for dtype, short in (("float32", "fp32"), ("float16", "fp16")):
        build = run_child(child_targets_build, {**base, "dtype": dtype}, settings)
        cache_mb = rows * 300 * numpy.dtype(dtype).itemsize / 2**20
        section.headlines[f"targets_2m_build_seconds_{short}"] = build["seconds"]
        for memory_map in (True, False):
            load = run_child(child_targets_load, {**base, "dtype": dtype, "memory_map": memory_map}, settings)
            table.add(dtype, memory_map, build["seconds"], build["peak_rss_mb"], cache_mb, load["seconds"],
                      load["rss_after_load_mb"], load["rss_after_lookups_mb"], load["private_after_lookups_mb"],
                      load["lookup_ms"])
            variant = f"{short}_{'mmap' if memory_map else 'nommap'}"
            section.headlines[f"targets_2m_load_seconds_{variant}"] = load["seconds"]
            section.headlines[f"targets_2m_rss_mb_{variant}"] = load["rss_after_lookups_mb"]
            section.headlines[f"targets_2m_private_mb_{variant}"] = load["private_after_lookups_mb"]
            section.headlines[f"targets_2m_lookup_ms_{variant}"] = load["lookup_ms"]
    section.notes.append(
        "RSS columns are growth over the process before `load()` (vocabulary built); the headline RSS is after "
        "the lookups.  With a memory map, RSS counts the table's pages that the process has mapped: the kernel "
        "maps pages around each one touched (fault-around), so scattered lookups soon map most of a table that "
        "is in the page cache.  Those pages are shared between processes (DDP workers on one machine) and "
        "reclaimable; the private column (RssAnon) is what the process holds on its own.  Building a cache "
        "reads the whole table and holds several copies of it (alignment, finiteness check, cast), hence the "
        "build peak."
    )
    return section


_TARGETS_DESCRIPTION = """
The fixed target table of ELMo-C at the size of FastText's 2M-word crawl vectors:
building its aligned cache once, then loading it (fresh process each), fp32 or fp16,
memory-mapped or read into memory, and looking up the rows of one batch.
"""


PART = Benchmark(
    "targets",
    "c. Target table",
    lambda run: target_table(run.settings),
    headlines=(
        "targets_rows",
        "targets_2m_build_seconds_*",
        "targets_2m_load_seconds_*",
        "targets_2m_rss_mb_*",
        "targets_2m_private_mb_*",
        "targets_2m_lookup_ms_*",
    ),
)
