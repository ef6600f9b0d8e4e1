"""
The balanced rotation of subspace codes (optimized product quantisation's eigenvalue
allocation): the rows rotated onto their principal directions, dealt to the groups so
that each gets a similar share of the variance.
"""
from typing import List

import numpy

from elmo_c.compression.svd import principal_axes


def balanced_rotation(matrix: numpy.ndarray, groups: int) -> numpy.ndarray:
    """
    The principal directions of the (centred) rows as the columns of a `(dim, dim)`
    float32 rotation, in an order that deals them to the groups of `dim / groups`
    columns so that the groups' products of variances are about equal: in order of
    decreasing variance, each direction goes to the group with the least product
    so far that has room (optimized product quantisation's eigenvalue allocation).
    """
    _, variances, directions = principal_axes(matrix)
    width = len(variances) // groups
    logs = numpy.log(numpy.maximum(variances, 1e-30) / max(variances.min(), 1e-30)) + 1.0  # positive, increasing
    members: List[List[int]] = [[] for _ in range(groups)]
    loads = numpy.zeros(groups)
    for index, load in enumerate(logs):
        group = min((g for g in range(groups) if len(members[g]) < width), key=lambda g: loads[g])
        members[group].append(index)
        loads[group] += load
    return directions[[index for member in members for index in member]].T.astype(numpy.float32)
