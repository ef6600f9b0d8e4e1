"""
Truncated SVD (`svd`): a row is its projections on the table's top `k` principal
directions, `k` float16 codes.  The baseline, and the autoencoder's starting point.
"""
import math
from typing import TYPE_CHECKING, Any, Dict, Tuple

import numpy
from allennlp.common.checks import ConfigurationError

from elmo_c.compression.codec import CHUNK_ROWS, Codec

if TYPE_CHECKING:
    from elmo_c.compression.settings import CompressionSettings


class SvdCodec(Codec):
    """
    The `svd` method: `code_dim` codes per row (default: a tenth of the dimension).
    """

    method = "svd"

    def check(self, settings: "CompressionSettings", dim: int, num_rows: int, source_name: str) -> None:
        settings.code_dim = settings.code_dim or max(1, dim // 10)
        if not 1 <= settings.code_dim <= dim:
            raise ConfigurationError(
                f"--code-dim must be between 1 and the dimension {dim} of {source_name}, got {settings.code_dim}"
            )

    def options(self, settings: "CompressionSettings") -> Dict[str, Any]:
        return dict(code_dim=settings.code_dim)

    def compress(self, matrix: numpy.ndarray, settings: "CompressionSettings") -> Dict[str, numpy.ndarray]:
        return truncated_svd(matrix, settings.code_dim)


def principal_axes(matrix: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """The mean, the variances along the principal directions (decreasing) and those directions `(dim, dim)`."""
    mean = matrix.mean(axis=0, dtype=numpy.float64)
    covariance = numpy.zeros((matrix.shape[1],) * 2)
    for start in range(0, len(matrix), CHUNK_ROWS):
        centred = matrix[start : start + CHUNK_ROWS].astype(numpy.float64) - mean
        covariance += centred.T @ centred
    eigenvalues, eigenvectors = numpy.linalg.eigh(covariance / len(matrix))
    return mean, eigenvalues[::-1].clip(min=0), eigenvectors[:, ::-1].T


def principal_directions(matrix: numpy.ndarray, code_dim: int) -> Tuple[numpy.ndarray, numpy.ndarray, float]:
    """The mean, the top `code_dim` principal directions `(code_dim, dim)` and the RMS norm of the centred rows."""
    mean, variances, directions = principal_axes(matrix)
    return mean, directions[:code_dim], math.sqrt(max(float(variances.sum()), 1e-30))


def truncated_svd(matrix: numpy.ndarray, code_dim: int) -> Dict[str, numpy.ndarray]:
    """
    The projections of the centred rows on their top `code_dim` principal
    directions, scaled to about unit size for float16: `codes` `(rows, code_dim)`
    float16, `basis` `(code_dim, dim)` and `mean` `(dim,)` float32.
    """
    mean, directions, scale = principal_directions(matrix, code_dim)
    codes = numpy.empty((len(matrix), code_dim), dtype=numpy.float16)
    for start in range(0, len(matrix), CHUNK_ROWS):
        centred = matrix[start : start + CHUNK_ROWS].astype(numpy.float64) - mean
        codes[start : start + len(centred)] = centred @ directions.T / scale
    return {"codes": codes, "basis": (directions * scale).astype(numpy.float32), "mean": mean.astype(numpy.float32)}
