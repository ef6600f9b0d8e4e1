"""
Subspace codes (`subspace`, product quantisation): the dimensions are split into
groups, each k-means clustered (`kmeans`), a row is one code per group, in one or
more residual stages (chosen stage by stage, or by a beam search over them),
optionally of the rows rotated by `rotation.balanced_rotation`.
"""
from typing import TYPE_CHECKING, Any, Dict, List

import numpy
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.common.tqdm import Tqdm

from elmo_c.compression.codec import Codec, unit_rows
from elmo_c.compression.kmeans import fit_stages
from elmo_c.compression.rotation import balanced_rotation

if TYPE_CHECKING:
    from elmo_c.compression.settings import CompressionSettings

_BEAM_CHUNK_ROWS = 8192


class SubspaceCodec(Codec):
    """
    The `subspace` method, with the options `groups` (default: the divisor of the
    dimension closest to a fifth of it), `centroids`, `iterations`, `kmeans_sample`,
    `stages`, `beam`, `normalize`, `rotate` and `centroid_dtype` of `CompressionSettings`.
    """

    method = "subspace"

    def check(self, settings: "CompressionSettings", dim: int, num_rows: int, source_name: str) -> None:
        settings.groups = settings.groups or _closest_divisor(dim, dim / 5)
        if settings.groups < 1 or dim % settings.groups:
            divisors = ", ".join(str(n) for n in _divisors(dim))
            raise ConfigurationError(
                f"--groups {settings.groups} does not divide the dimension {dim} of {source_name}: "
                f"use one of {divisors}"
            )
        if settings.centroids > num_rows:
            compressed = f"{num_rows} compressed" if settings.exact_rows else str(num_rows)
            raise ConfigurationError(
                f"--centroids {settings.centroids} is more than the {compressed} vectors of {source_name}: "
                f"use at most {num_rows}"
            )

    def encoded_rows(self, matrix: numpy.ndarray, settings: "CompressionSettings") -> numpy.ndarray:
        """`matrix`, or its unit rows with `normalize`."""
        return unit_rows(matrix) if settings.normalize else matrix

    def options(self, settings: "CompressionSettings") -> Dict[str, Any]:
        return dict(groups=settings.groups, centroids=settings.centroids, iterations=settings.iterations,
                    kmeans_sample=settings.kmeans_sample, stages=settings.stages, beam=settings.beam,
                    normalize=settings.normalize, rotate=settings.rotate, centroid_dtype=settings.centroid_dtype,
                    seed=settings.seed)

    def compress(self, matrix: numpy.ndarray, settings: "CompressionSettings") -> Dict[str, numpy.ndarray]:
        kmeans = dict(centroids=settings.centroids, iterations=settings.iterations, sample=settings.kmeans_sample,
                      seed=settings.seed, dtype=settings.centroid_dtype)
        return subspace_quantise(self.encoded_rows(matrix, settings), settings.groups, settings.stages,
                                 settings.beam, settings.rotate, **kmeans)


def _divisors(number: int) -> List[int]:
    return [n for n in range(1, number + 1) if number % n == 0]


def _closest_divisor(number: int, target: float) -> int:
    return min(_divisors(number), key=lambda n: (abs(n - target), n))


def subspace_quantise(
    matrix: numpy.ndarray,
    groups: int,
    stages: int = 1,
    beam: int = 1,
    rotate: bool = False,
    **kmeans: Any,
) -> Dict[str, numpy.ndarray]:
    """
    Product quantisation, in `stages` residual stages, optionally of the rows
    rotated by `balanced_rotation`.  Returns `codes` `(rows, stages * groups)`
    (uint8, or uint16 above 256 centroids), `centroids`
    `(stages, groups, centroids, dim / groups)` and, with `rotate`, `rotation`
    `(dim, dim)` (the rows quantised are `matrix @ rotation`), both of `dtype`.

    # Parameters

    matrix : `numpy.ndarray`
        `(rows, dim)`.
    groups : `int`
        Groups of `dim / groups` dimensions (it must divide `dim`).
    stages : `int`, optional (default = `1`)
    beam : `int`, optional (default = `1`)
        With more than one, each row's codes are then chosen again by `beam_search_codes`.
    rotate : `bool`, optional (default = `False`)
    **kmeans
        `centroids`, `iterations`, `sample`, `seed` and `dtype`: see `fit_stages`.
    """
    rows = numpy.array(matrix, dtype=numpy.float32)
    arrays = {}
    if rotate:
        arrays["rotation"] = balanced_rotation(rows, groups).astype(kmeans["dtype"])
        rows = rows @ arrays["rotation"].astype(numpy.float32)
    tables, codes = fit_stages(rows, groups, stages, **kmeans)
    if beam > 1 and stages > 1:  # the groups of one stage are independent: its nearest centroids are best
        codes = beam_search_codes(rows, tables, beam)
    code_type = numpy.uint8 if tables.shape[2] <= 256 else numpy.uint16
    arrays.update(codes=codes.astype(code_type), centroids=tables.astype(kmeans["dtype"]))
    return arrays


def beam_search_codes(rows: numpy.ndarray, tables: numpy.ndarray, beam: int) -> numpy.ndarray:
    """
    The codes `(rows, stages * groups)` of `rows` for the centroids `tables`
    `(stages, groups, centroids, width)`, chosen one stage's group at a time while
    keeping the `beam` partial choices with the least squared error (the first
    choices no longer have to be each stage's nearest centroid).
    """
    books = torch.from_numpy(numpy.ascontiguousarray(tables, dtype=numpy.float32))
    codes = numpy.empty((len(rows), tables.shape[0] * tables.shape[1]), dtype=numpy.int64)
    for start in Tqdm.tqdm(range(0, len(rows), _BEAM_CHUNK_ROWS), desc=f"beam search ({beam})"):
        chunk = torch.from_numpy(numpy.ascontiguousarray(rows[start : start + _BEAM_CHUNK_ROWS], dtype=numpy.float32))
        codes[start : start + len(chunk)] = _beam_search(chunk, books, beam).numpy()
    return codes


def _beam_search(rows: torch.Tensor, books: torch.Tensor, beam: int) -> torch.Tensor:
    stages, groups, num_centroids, width = books.shape
    squared_norms = (books * books).sum(dim=-1)
    residuals = rows[:, None, :]  # (rows, partial choices, dim)
    errors = torch.zeros((len(rows), 1))  # each choice's squared error, less that of the row
    codes = torch.zeros((len(rows), 1, 0), dtype=torch.long)
    for stage, group in numpy.ndindex(stages, groups):
        columns = slice(group * width, (group + 1) * width)
        scores = errors[:, :, None] - 2 * residuals[:, :, columns] @ books[stage, group].t()
        scores = (scores + squared_norms[stage, group]).flatten(1)
        errors, best = scores.topk(min(beam, scores.shape[1]), dim=1, largest=False)
        parents, chosen = best // num_centroids, best % num_centroids
        residuals = residuals.gather(1, parents[:, :, None].expand(-1, -1, residuals.shape[2])).clone()
        residuals[:, :, columns] -= books[stage, group][chosen]
        codes = torch.cat([codes.gather(1, parents[:, :, None].expand(-1, -1, codes.shape[2])), chosen[:, :, None]], 2)
    return codes[:, 0]
