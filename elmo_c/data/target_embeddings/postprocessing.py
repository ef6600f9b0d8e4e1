"""
Making target vectors isotropic before ELMo-C regresses them.

Word vectors share a large common direction: on the Penn Treebank, FastText vectors
of two random words have a mean cosine of 0.45, and the best constant prediction
(their frequency-weighted mean direction) already reaches a cosine of 0.63 with the
next word's vector.  A cosine loss is then mostly satisfied by predicting that
direction, whatever the context.  Removing it ("all-but-the-top", Mu & Viswanath,
ICLR 2018: centre, drop the top principal directions, renormalise) leaves the
part of each vector that tells words apart, which is what the model must learn.
"""
from typing import Optional

import numpy
from allennlp.common.checks import ConfigurationError

CENTRES = ("frequency", "uniform")


def check_options(centre: Optional[str], remove_principal_directions: int, embedding_dim: int) -> None:
    """Raises `ConfigurationError` for options `postprocess` cannot honour."""
    if centre not in (None,) + CENTRES:
        raise ConfigurationError(f'target embeddings centre must be "frequency", "uniform" or null, not "{centre}"')
    if not 0 <= remove_principal_directions < embedding_dim:
        raise ConfigurationError(
            f"remove_principal_directions must be between 0 and embedding_dim - 1 = {embedding_dim - 1}, "
            f"not {remove_principal_directions}"
        )
    if remove_principal_directions and centre is None:
        raise ConfigurationError(
            "remove_principal_directions needs centred vectors (principal directions are those of the "
            'centred table): also set centre to "frequency" or "uniform"'
        )


def postprocess(
    matrix: numpy.ndarray,
    rows: numpy.ndarray,
    weights: Optional[numpy.ndarray],
    normalize: bool,
    centre: Optional[str],
    remove_principal_directions: int = 0,
) -> numpy.ndarray:
    """
    Returns a float32 copy of `matrix` whose `rows` (a boolean mask: the words with a
    vector) are, in this order: normalised (with `normalize`), centred on their mean
    (`centre`: weighted by `weights`, the words' frequencies, for "frequency"; every
    row the same for "uniform"), stripped of their top `remove_principal_directions`
    principal directions, and normalised again (with `normalize`).  Other rows are
    left as they are.
    """
    processed = numpy.array(matrix, dtype=numpy.float32)
    vectors = processed[rows].astype(numpy.float64)
    if normalize:
        vectors = _unit_rows(vectors)
    if centre is not None:
        row_weights = _row_weights(weights, rows, centre)
        vectors -= row_weights @ vectors
        if remove_principal_directions:
            vectors -= _top_directions_part(vectors, row_weights, remove_principal_directions)
        if normalize:
            vectors = _unit_rows(vectors)
    processed[rows] = vectors
    return processed


def _row_weights(weights: Optional[numpy.ndarray], rows: numpy.ndarray, centre: str) -> numpy.ndarray:
    """Weights of the selected rows summing to 1."""
    if centre == "frequency" and weights is not None and weights[rows].sum() > 0:
        row_weights = weights[rows].astype(numpy.float64)
    else:
        row_weights = numpy.ones(int(rows.sum()), dtype=numpy.float64)
    return row_weights / row_weights.sum()


def _top_directions_part(vectors: numpy.ndarray, row_weights: numpy.ndarray, count: int) -> numpy.ndarray:
    """The projection of each row on the `count` top principal directions of the (weighted) rows."""
    covariance = (vectors * row_weights[:, None]).T @ vectors
    _, eigenvectors = numpy.linalg.eigh(covariance)  # ascending eigenvalues
    top = eigenvectors[:, -count:]
    return (vectors @ top) @ top.T


def _unit_rows(vectors: numpy.ndarray) -> numpy.ndarray:
    norms = numpy.linalg.norm(vectors, axis=1, keepdims=True)
    # A row that is exactly the mean has no direction left; keep it at zero rather than NaN.
    return vectors / numpy.maximum(norms, 1e-12)
