"""
The k-means of subspace codes: each stage's codebooks, one per group of dimensions,
fitted to what the previous stages leave (residual quantisation).
"""
from typing import Tuple

import numpy
from allennlp.common.tqdm import Tqdm

from elmo_c.compression.codec import CHUNK_ROWS


def fit_stages(
    rows: numpy.ndarray, groups: int, stages: int, centroids: int, iterations: int, sample: int, seed: int, dtype: str
) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """
    Fits each stage's codebooks to what the previous stages leave of `rows`: the
    mini-batch k-means of each group of dimensions on `sample` rows, its centroids
    rounded to `dtype`, every row then assigned its nearest centroid.  Returns the
    centroids `(stages, groups, centroids, dim / groups)` float32 and the codes
    `(rows, stages * groups)`.
    """
    from sklearn.cluster import MiniBatchKMeans

    num_rows, dim = rows.shape
    width = dim // groups
    generator = numpy.random.default_rng(seed)
    residual = numpy.array(rows, dtype=numpy.float32)
    tables = numpy.empty((stages, groups, centroids, width), dtype=numpy.float32)
    codes = numpy.empty((num_rows, stages * groups), dtype=numpy.int64)
    for stage, group in Tqdm.tqdm(list(numpy.ndindex(stages, groups)), desc="k-means of each group"):
        columns = numpy.ascontiguousarray(residual[:, group * width : (group + 1) * width])
        fitted_rows = generator.choice(num_rows, size=min(sample, num_rows), replace=False)
        kmeans = MiniBatchKMeans(n_clusters=centroids, max_iter=iterations, batch_size=4096, n_init=1,
                                 random_state=seed + stage * groups + group, compute_labels=False)
        tables[stage, group] = kmeans.fit(columns[fitted_rows]).cluster_centers_.astype(dtype)
        nearest = codes[:, stage * groups + group] = nearest_centroids(columns, tables[stage, group])
        residual[:, group * width : (group + 1) * width] -= tables[stage, group][nearest]
    return tables, codes


def nearest_centroids(rows: numpy.ndarray, centroids: numpy.ndarray) -> numpy.ndarray:
    squared_norms = (centroids * centroids).sum(axis=1)
    nearest = numpy.empty(len(rows), dtype=numpy.int64)
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        nearest[start : start + len(chunk)] = numpy.argmin(squared_norms - 2.0 * chunk @ centroids.T, axis=1)
    return nearest
