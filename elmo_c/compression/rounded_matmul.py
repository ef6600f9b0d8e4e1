"""
Exactly rounded matrix products: each element of `a @ b` is its exact sum rounded to
float32, so that a `.ctt` row decodes to the same bits in any batch, on any machine.
"""
import math
from typing import List

import numpy

_PRODUCT_BLOCK_ROWS = 256  # rows per float64 block of `rounded_matmul` (its temporaries stay in cache)


def rounded_matmul(a: numpy.ndarray, b: numpy.ndarray) -> numpy.ndarray:
    """
    `a @ b` for `(n, k)` and `(k, d)` arrays of float32 (or float16) values, each element
    the exact sum of its products rounded to the nearest float32 (ties to even; zero is
    0.0, never -0.0): a function of its row of `a` and of `b` only.  A row so decodes to
    the same bits in any batch, at any position in it, with any BLAS and number of threads.
    Float32 `a @ b` does not: BLAS picks its kernels, and with them the order of the sums,
    by the shapes (a matrix-vector product for one row, blocks and their edges for more),
    and so may `numpy.einsum`.

    Products of float32 values are exact in float64, so float64 BLAS computes each element,
    whatever its order of summation, within `(k - 1) 2**-53 sum_j |a_ij b_jl|` of the exact
    sum, and that sum is at most `|a_i| |b_l|` (Cauchy-Schwarz).  Where the float32 values
    on either side of that interval are the same, it is the exact sum's too (rounding is
    monotonic); the few other elements are settled by `_round_elements`.
    """
    a = numpy.asarray(a, dtype=numpy.float32)
    b = numpy.asarray(b, dtype=numpy.float32)
    right = b.astype(numpy.float64)
    columns = numpy.ascontiguousarray(b.T)
    column_norms = _norms(columns)
    out = numpy.empty((len(a), b.shape[1]), dtype=numpy.float32)
    above = numpy.empty((min(len(a), _PRODUCT_BLOCK_ROWS), b.shape[1]), dtype=numpy.float32)
    for start in range(0, len(a), _PRODUCT_BLOCK_ROWS):
        rows = a[start : start + _PRODUCT_BLOCK_ROWS]
        rounded, upper = out[start : start + len(rows)], above[: len(rows)]
        approximate = rows.astype(numpy.float64) @ right
        row_norms = _norms(rows)
        # One margin for the block: twice the error's bound plus the rounding of `approximate -/+ margin`
        # (relative 2**-53, and `approximate` is at most about the norms' product).
        margin = (len(b) + 1) * 2.0**-52 * row_norms.max(initial=0.0) * column_norms.max(initial=0.0)
        numpy.subtract(approximate, margin, out=rounded, casting="same_kind")  # float64, then rounded to float32
        numpy.add(approximate, margin, out=upper, casting="same_kind")
        unsure = numpy.flatnonzero(rounded != upper)  # (much faster than a 2-d `nonzero`)
        if len(unsure):
            row, column = numpy.divmod(unsure, rounded.shape[1])
            rounded[row, column] = _round_elements(rows, columns, approximate[row, column], row, column)
    out += 0.0  # -0.0 + 0.0 is 0.0: zero's sign would depend on the block's margin and on BLAS
    return out


def _round_elements(
    rows: numpy.ndarray, columns: numpy.ndarray, approximate: numpy.ndarray, row: numpy.ndarray, column: numpy.ndarray
) -> numpy.ndarray:
    """
    The elements `(row, column)` of `rows @ columns.T` (float32 values), given their float64
    BLAS values `approximate`, as their exact sums rounded to float32.
    """
    nearest = approximate.astype(numpy.float32)
    # The gap to the next float32 towards zero (the gap away from zero is no smaller); zero's is the smallest.
    magnitude = numpy.abs(nearest)
    gap = magnitude - numpy.maximum(magnitude.view(numpy.int32) - 1, 0).view(numpy.float32)
    numpy.maximum(gap, numpy.float32(2.0**-149), out=gap)
    # The element's own bound ((k - 1) 2**-53 with a margin for the norms' rounding): `approximate - nearest`
    # is exact (they are within a factor of 2) and rounding is monotonic, so this holds for the exact values.
    bound = (rows.shape[1] + 1) * 2.0**-53 * _norms(rows)[row] * _norms(columns)[column]
    settled = 2 * (numpy.abs(approximate - nearest) + bound) < gap
    if not settled.all():
        # Sums of products that are all multiples of `q` (the rows' and columns' lowest bits set) are exact
        # in float64, in any order, while at most `2**53 q`: then `approximate` is the exact sum (e.g. ties
        # of float16 values).
        unsettled = numpy.flatnonzero(~settled)
        unique_rows, row_index = numpy.unique(row[unsettled], return_inverse=True)
        unique_columns, column_index = numpy.unique(column[unsettled], return_inverse=True)
        row_spread = _norms(rows[unique_rows]) / _lowest_bits(rows[unique_rows])
        column_spread = _norms(columns[unique_columns]) / _lowest_bits(columns[unique_columns])
        settled[unsettled] = row_spread[row_index] * column_spread[column_index] <= 2.0**52
    for index in numpy.flatnonzero(~settled):
        terms = rows[row[index]].astype(numpy.float64) * columns[column[index]]
        if numpy.isfinite(terms).all():  # else the element is not finite either: rejected later
            nearest[index] = _round_sum(terms.tolist())
    return nearest


def _norms(vectors: numpy.ndarray) -> numpy.ndarray:
    return numpy.sqrt(numpy.square(vectors, dtype=numpy.float64).sum(axis=-1))


def _lowest_bits(vectors: numpy.ndarray) -> numpy.ndarray:
    """For each float32 vector, the value of the lowest bit set in its entries (infinite if all are zero)."""
    bits = vectors.view(numpy.int32) & 0x7FFFFFFF
    exponents = bits >> 23
    significands = (bits & 0x7FFFFF) | numpy.where(exponents > 0, 0x800000, 0)
    lowest = numpy.ldexp((significands & -significands).astype(numpy.float64), numpy.maximum(exponents, 1) - 150)
    lowest[significands == 0] = numpy.inf
    return lowest.min(axis=-1)


def _round_sum(terms: List[float]) -> numpy.float32:
    """The exact sum of `terms` rounded to the nearest float32 (ties to even)."""
    total = math.fsum(terms)  # the exact sum rounded to float64
    rounded = numpy.float32(total)
    if float(rounded) != total:
        # Rounding twice is rounding once, unless `total` is the midpoint between two float32
        # values: then the sign of what rounding to float64 dropped decides.
        other = numpy.nextafter(rounded, numpy.float32(math.copysign(math.inf, total - float(rounded))))
        if (float(rounded) + float(other)) / 2 == total:
            dropped = math.fsum(terms + [-total])
            if dropped != 0 and (dropped > 0) == (other > rounded):
                rounded = other
    return rounded
