"""
The interface of the compression methods: a `Codec` turns the rows of a table into
the arrays a `.ctt` file stores for its method (see `ctt_format`), which
`CompressedTargetFile` decodes.
"""
from typing import TYPE_CHECKING, Any, Dict

import numpy

if TYPE_CHECKING:
    from elmo_c.compression.settings import CompressionSettings

CHUNK_ROWS = 65536


class Codec:
    """
    One compression method, named as the `.ctt` header names it (`method`).  Codecs
    hold no state: their options are those of a `CompressionSettings`, and
    `CompressionSettings` picks the codec of its `method` and adds what every method
    shares (the exact rows).
    """

    method: str = ""

    def check(self, settings: "CompressionSettings", dim: int, num_rows: int, source_name: str) -> None:
        """
        Fills in the defaults of `settings` that depend on the table and checks them.

        # Parameters

        settings : `CompressionSettings`
            Changed in place (a copy: see `CompressionSettings.resolved`).
        dim : `int`
            The dimension of the rows.
        num_rows : `int`
            The rows to compress (the exact rows left out).
        source_name : `str`
            What error messages call the table.
        """

    def encoded_rows(self, matrix: numpy.ndarray, settings: "CompressionSettings") -> numpy.ndarray:
        """The rows the method encodes (by default `matrix` itself)."""
        return matrix

    def options(self, settings: "CompressionSettings") -> Dict[str, Any]:
        """The options to record in the `.ctt` header and the report."""
        raise NotImplementedError

    def compress(self, matrix: numpy.ndarray, settings: "CompressionSettings") -> Dict[str, numpy.ndarray]:
        """
        The arrays the `.ctt` writer stores for the rows of `matrix` (`codes` and the
        method's decoder arrays).

        # Parameters

        matrix : `numpy.ndarray`
            `(rows, dim)` float32: the rows to compress (the exact rows left out).
        settings : `CompressionSettings`
            Resolved against the table.
        """
        raise NotImplementedError


def unit_rows(rows: numpy.ndarray) -> numpy.ndarray:
    """The rows (as float32) divided by their norms."""
    rows = numpy.asarray(rows, dtype=numpy.float32)
    return rows / numpy.maximum(numpy.linalg.norm(rows, axis=1, keepdims=True), 1e-30)
