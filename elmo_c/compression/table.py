"""
Compressing a table into a `.ctt` file: the codec of the method, the file written
atomically, read back and compared with the table (`fidelity_report`).
"""
import os
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional

import numpy
import torch
from allennlp.common.checks import ConfigurationError

from elmo_c.compression.ctt_format import CompressedTargetFile, write_compressed_targets
from elmo_c.compression.fidelity import fidelity_report
from elmo_c.compression.settings import CompressionSettings


def _default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def compress_table(
    words: List[str],
    matrix: numpy.ndarray,
    output_path: str,
    settings: CompressionSettings,
    threads: Optional[int] = None,
    neighbour_sample: int = 1000,
    source_name: str = "the table",
) -> Dict[str, Any]:
    """
    Compresses the rows of `matrix` (the vectors of `words`), writes them
    atomically to `output_path`, reads the file back and compares it with `matrix`.

    # Parameters

    words : `List[str]`
    matrix : `numpy.ndarray`
        `(len(words), dim)` float32.
    output_path : `str`
    settings : `CompressionSettings`
    threads : `int`, optional (default = all cores)
        CPU threads for k-means, BLAS and torch.  On a machine busy with other work,
        1 is often much faster: their threads spin while waiting for each other.
    neighbour_sample : `int`, optional (default = `1000`)
        Words whose 10 nearest neighbours are compared (0 skips the comparison).
    source_name : `str`, optional (default = `"the table"`)
        What error messages call the table (e.g. its file).

    # Returns

    `Dict[str, Any]`
        The fidelity report (see `fidelity_report`), with the method, its options and the time taken.
    """
    threads = _default_threads() if threads is None else threads
    check_run(threads, neighbour_sample, output_path)
    settings = settings.resolved(matrix.shape, source_name)
    with _thread_limit(threads):
        start = time.time()
        arrays, options = settings.compress(matrix)
        compress_seconds = time.time() - start
        write_compressed_targets(output_path, settings.method, words, matrix.shape[1], arrays, options)
        # What the table encodes: with `normalize`, the centred cosine and the norm ratio compare directions.
        reference = settings.encoded_rows(matrix)
        report = fidelity_report(reference, CompressedTargetFile(output_path), neighbour_sample, settings.seed)
    report.update(output=output_path, method=settings.method, options=options,
                  compress_seconds=round(compress_seconds, 2))
    return report


def check_run(threads: Optional[int], neighbour_sample: int, output_path: str) -> None:
    """Checks the options of a run that no method has: threads, neighbour sample and where the output goes."""
    if threads is not None and threads < 1:
        raise ConfigurationError(f"--threads must be a positive integer, got {threads}")
    if neighbour_sample < 0:
        raise ConfigurationError(f"--neighbour-sample must be 0 or more, got {neighbour_sample}")
    if os.path.isdir(output_path):
        raise ConfigurationError(
            f"Output {output_path} is a directory: give a file name, e.g. {output_path}/targets.ctt"
        )
    directory = os.path.dirname(os.path.abspath(output_path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise ConfigurationError(f"Cannot write {output_path}: {directory} is not a writable directory")


@contextmanager
def _thread_limit(threads: int) -> Iterator[None]:
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)

