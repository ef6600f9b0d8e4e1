"""
The fidelity of a compressed table to the original: sizes, the cosine between each
vector and its reconstruction, the agreement of nearest neighbours, decoding time.
"""
import os
import time
from typing import Any, Dict, Iterable, Tuple

import numpy
import torch
from allennlp.common.tqdm import Tqdm

from elmo_c.compression.codec import CHUNK_ROWS, unit_rows
from elmo_c.compression.ctt_format import CompressedTargetFile

NEIGHBOURS = 10
DECODE_BATCH = 1280


def fidelity_report(
    original: numpy.ndarray, source: CompressedTargetFile, neighbour_sample: int = 1000, seed: int = 0
) -> Dict[str, Any]:
    """
    Compares a compressed table (decoded chunk by chunk) with the original rows:
    sizes, cosine between each row and its reconstruction (mean, 5th percentile,
    minimum; and its mean after subtracting the table's mean vector from both, which
    a table with a large common component, where every cosine is near 1, needs),
    the median ratio of their norms, the mean overlap of the top-10
    nearest neighbours (by cosine, among all rows) of `neighbour_sample` random
    rows, and the time to decode a batch of 1,280 random rows.
    """
    num_rows, dim = original.shape
    cosines, centred_cosines, norm_ratios = _row_fidelity(original, source)
    bytes_before = num_rows * dim * 4
    report: Dict[str, Any] = {
        "num_rows": num_rows,
        "dim": dim,
        "bytes_before": bytes_before,
        "bytes_after": source.payload_bytes,
        "file_bytes": os.path.getsize(source.path),
        "compression_ratio": round(bytes_before / source.payload_bytes, 3),
        "size_reduction": round(1.0 - source.payload_bytes / bytes_before, 5),
        "cosine_mean": round(float(cosines.mean()), 5),
        "cosine_p5": round(float(numpy.percentile(cosines, 5)), 5),
        "cosine_min": round(float(cosines.min()), 5),
        "centred_cosine_mean": round(float(centred_cosines.mean()), 5),
        "norm_ratio_median": round(float(numpy.median(norm_ratios)), 5),
    }
    report.update(neighbour_agreement(original, source, neighbour_sample, seed))
    report["decode_ms_per_1280"] = round(decode_milliseconds(source, seed=seed), 4)
    return report


def _row_fidelity(
    original: numpy.ndarray, source: CompressedTargetFile
) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Per row: the cosine with its reconstruction, the same after subtracting the table's mean, the norm ratio."""
    mean = original.mean(axis=0, dtype=numpy.float64)
    cosines, centred, norm_ratios = (numpy.empty(len(original)) for _ in range(3))
    for start, decoded in Tqdm.tqdm(source.decode_all(), desc="comparing with the original",
                                    total=-(-len(original) // CHUNK_ROWS)):
        rows = original[start : start + len(decoded)].astype(numpy.float64)
        chunk = slice(start, start + len(decoded))
        cosines[chunk] = row_cosines(rows, decoded)
        centred[chunk] = row_cosines(rows - mean, decoded - mean)
        norm_ratios[chunk] = numpy.linalg.norm(decoded, axis=1) / numpy.maximum(numpy.linalg.norm(rows, axis=1), 1e-30)
    return cosines, centred, norm_ratios


def row_cosines(rows: numpy.ndarray, others: numpy.ndarray) -> numpy.ndarray:
    """The cosine between each row of `rows` and the same row of `others`."""
    norms = numpy.linalg.norm(rows, axis=1) * numpy.linalg.norm(others, axis=1)
    return (rows * others).sum(axis=1) / numpy.maximum(norms, 1e-30)


def neighbour_agreement(
    original: numpy.ndarray, source: CompressedTargetFile, sample: int = 1000, seed: int = 0
) -> Dict[str, Any]:
    """
    The mean overlap (0 to 1) of the 10 nearest neighbours (by cosine, itself
    excluded) of `sample` random rows in the original and in the decoded table.
    """
    count = min(sample, len(original))
    if count == 0 or len(original) < 2:
        return {"neighbour_agreement": None, "neighbour_sample": 0}
    rows = numpy.sort(numpy.random.default_rng(seed).choice(len(original), size=count, replace=False))
    k = min(NEIGHBOURS, len(original) - 1)
    original_chunks = ((start, original[start : start + CHUNK_ROWS]) for start in range(0, len(original), CHUNK_ROWS))
    before = _nearest_rows(original[rows], rows, original_chunks, k)
    after = _nearest_rows(source.decode(rows), rows, source.decode_all(), k)
    overlaps = [len(numpy.intersect1d(one, other)) / k for one, other in zip(before, after)]
    return {"neighbour_agreement": round(float(numpy.mean(overlaps)), 5), "neighbour_sample": count}


def _nearest_rows(
    queries: numpy.ndarray, query_rows: numpy.ndarray, chunks: Iterable[Tuple[int, numpy.ndarray]], k: int
) -> numpy.ndarray:
    """The `k` rows (of all chunks) closest by cosine to each query, its own row excluded."""
    units = torch.from_numpy(unit_rows(queries))
    own_rows = torch.from_numpy(query_rows)
    best_scores = torch.full((len(units), 0), -float("inf"))
    best_rows = torch.zeros((len(units), 0), dtype=torch.long)
    for start, chunk in chunks:
        scores = units @ torch.from_numpy(unit_rows(chunk)).t()
        own = (own_rows >= start) & (own_rows < start + len(chunk))
        scores[own.nonzero().squeeze(1), own_rows[own] - start] = -float("inf")
        top = scores.topk(min(k, scores.shape[1]), dim=1)
        best_scores = torch.cat([best_scores, top.values], dim=1)
        best_rows = torch.cat([best_rows, top.indices + start], dim=1)
        merged = best_scores.topk(min(k, best_scores.shape[1]), dim=1)
        best_scores, best_rows = merged.values, best_rows.gather(1, merged.indices)
    return best_rows.numpy()


def decode_milliseconds(source: CompressedTargetFile, batch: int = DECODE_BATCH, repeats: int = 20,
                        seed: int = 0) -> float:
    """The median time to decode `batch` random rows (as `lookup` does for a batch of targets)."""
    generator = numpy.random.default_rng(seed)
    source.decode(generator.integers(0, source.num_rows, batch))  # page in, warm up
    times = []
    for _ in range(repeats):
        rows = generator.integers(0, source.num_rows, batch)
        start = time.perf_counter()
        source.decode(rows)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(numpy.median(times))


def format_report(report: Dict[str, Any]) -> str:
    """The report as a few lines of text."""
    options = ", ".join(f"{key}={value}" for key, value in report.get("options", {}).items())
    agreement = report["neighbour_agreement"]
    lines = [
        f"compress-targets: {report['method']} ({options}) of {report['num_rows']} x {report['dim']} vectors "
        f"-> {report.get('output')}",
        f"  size:      {_megabytes(report['bytes_before'])} -> {_megabytes(report['bytes_after'])} "
        f"({report['compression_ratio']:.1f}x, {100 * report['size_reduction']:.1f}% smaller; "
        f"file with its words {_megabytes(report['file_bytes'])})",
        f"  cosine:    mean {report['cosine_mean']:.4f}, 5th percentile {report['cosine_p5']:.4f}, "
        f"min {report['cosine_min']:.4f}; around the table's mean {report['centred_cosine_mean']:.4f}; "
        f"median norm ratio {report['norm_ratio_median']:.3f}",
        f"  neighbours: top-{NEIGHBOURS} agreement "
        + (f"{agreement:.3f} over {report['neighbour_sample']} words" if agreement is not None else "not measured"),
        f"  time:      {report.get('compress_seconds', 0):.1f} s to compress, "
        f"{report['decode_ms_per_1280']:.3f} ms to decode {DECODE_BATCH} rows",
    ]
    return "\n".join(lines)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.2f} MB"

