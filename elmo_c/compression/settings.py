"""
The options of a compression (`CompressionSettings`) and the codec of each method.
"""
import copy
from typing import Any, Dict, Optional, Tuple

import numpy
from allennlp.common import FromParams
from allennlp.common.checks import ConfigurationError

from elmo_c.compression.autoencoder import AutoencoderCodec
from elmo_c.compression.codec import Codec
from elmo_c.compression.ctt_format import METHODS
from elmo_c.compression.subspace import SubspaceCodec
from elmo_c.compression.svd import SvdCodec

CENTROID_DTYPES = ("float32", "float16")
CODECS: Dict[str, Codec] = {codec.method: codec for codec in (SubspaceCodec(), SvdCodec(), AutoencoderCodec())}
assert set(CODECS) == set(METHODS), "every method of the .ctt format needs its codec"


class CompressionSettings(FromParams):
    """
    A compression method and its options (checked against the table by `resolved`).

    # Parameters

    method : `str`, optional (default = `"subspace"`)
        `"subspace"`, `"svd"` or `"autoencoder"`.
    groups : `int`, optional (default = the divisor of the dimension closest to dimension / 5)
        `subspace`: groups of dimensions, one code each per row.
    centroids : `int`, optional (default = `256`)
        `subspace`: centroids per group; up to 256 gives uint8 codes, up to 65536 uint16.
    iterations : `int`, optional (default = `5`)
        `subspace`: passes of mini-batch k-means over the sample.
    kmeans_sample : `int`, optional (default = `65536`)
        `subspace`: rows k-means is fitted on (every row is then assigned).
    stages : `int`, optional (default = `1`)
        `subspace`: residual quantisation: each stage after the first quantises what
        the previous ones left, with codebooks of its own; a row has `stages * groups`
        codes and decodes as the sum of its stages' centroids.
    beam : `int`, optional (default = `1`)
        `subspace`: once the stages are fitted, each row's codes are chosen by a beam
        search of this width over the stages and groups (1: greedily, one at a time).
    normalize : `bool`, optional (default = `False`)
        `subspace`: quantise the rows divided by their norms.  The table then holds
        directions only (decoded vectors have about unit norm): enough for ELMo-C's
        cosine loss and top-k metric, which ignore norms (the vMF loss would use unit
        targets).
    rotate : `bool`, optional (default = `False`)
        `subspace`: rotate the rows onto their principal directions before splitting
        them into groups, the directions dealt so that the groups' variances are
        balanced (optimized product quantisation's eigenvalue allocation); the
        `dim x dim` rotation is stored (and counted in the size).
    centroid_dtype : `str`, optional (default = `"float32"`)
        `subspace`: `"float32"` or `"float16"` (half the size of the codebooks and
        the rotation; the codes are chosen for the rounded values).
    exact_rows : `int`, optional (default = `0`)
        Any method: the first `exact_rows` rows are stored as they are (float16; their
        directions with `normalize`) and only the others are compressed.  In tables
        ordered by frequency these are the most frequent words, which are most of the
        targets.
    code_dim : `int`, optional (default = dimension / 10)
        `svd` / `autoencoder`: float16 codes per row.
    hidden : `int`, optional (default = `256`)
        `autoencoder`: tanh units added to the linear encoder and decoder (0: linear).
    epochs : `int`, optional (default = `5`)
        `autoencoder`: training epochs.
    magnitude_weight : `float`, optional (default = `0.0`)
        `autoencoder`: weight of the squared relative error of the norms in the loss
        (without it the norms drift: only directions are trained).
    batch_size : `int`, optional (default = `1024`)
        `autoencoder`: rows per step.
    learning_rate : `float`, optional (default = `1e-3`)
        `autoencoder`: peak learning rate of Adam (one-cycle schedule).
    seed : `int`, optional (default = `0`)
        Seeds k-means, the autoencoder and the words sampled for the report.
    """

    def __init__(
        self,
        method: str = "subspace",
        groups: Optional[int] = None,
        centroids: int = 256,
        iterations: int = 5,
        kmeans_sample: int = 65536,
        stages: int = 1,
        beam: int = 1,
        normalize: bool = False,
        rotate: bool = False,
        centroid_dtype: str = "float32",
        exact_rows: int = 0,
        code_dim: Optional[int] = None,
        hidden: int = 256,
        epochs: int = 5,
        magnitude_weight: float = 0.0,
        batch_size: int = 1024,
        learning_rate: float = 1e-3,
        seed: int = 0,
    ) -> None:
        if method not in METHODS:
            raise ConfigurationError(f"Unknown method {method!r}: use one of {', '.join(METHODS)}")
        self.method, self.groups, self.centroids, self.iterations = method, groups, centroids, iterations
        self.kmeans_sample, self.code_dim, self.hidden, self.epochs = kmeans_sample, code_dim, hidden, epochs
        self.stages, self.beam, self.normalize, self.rotate = stages, beam, normalize, rotate
        self.centroid_dtype, self.exact_rows = centroid_dtype, exact_rows
        self.magnitude_weight, self.batch_size, self.learning_rate = magnitude_weight, batch_size, learning_rate
        self.seed = seed
        self._check_flags()

    def _check_flags(self) -> None:
        positive = {"--iterations": self.iterations, "--kmeans-sample": self.kmeans_sample, "--stages": self.stages,
                    "--beam": self.beam, "--epochs": self.epochs, "--batch-size": self.batch_size}
        for flag, value in positive.items():
            if value < 1:
                raise ConfigurationError(f"{flag} must be a positive integer, got {value}")
        if not 2 <= self.centroids <= 65536:
            raise ConfigurationError(
                f"--centroids must be between 2 and 65536 (codes are uint8 up to 256, uint16 above), "
                f"got {self.centroids}"
            )
        if self.exact_rows < 0:
            raise ConfigurationError(f"--exact-rows must be 0 or more, got {self.exact_rows}")
        if self.centroid_dtype not in CENTROID_DTYPES:
            raise ConfigurationError(
                f"--centroid-dtype must be one of {', '.join(CENTROID_DTYPES)}, got {self.centroid_dtype!r}"
            )
        if self.hidden < 0 or self.magnitude_weight < 0 or not self.learning_rate > 0:
            raise ConfigurationError(
                f"--hidden and --magnitude-weight must be 0 or more and --lr positive, got {self.hidden}, "
                f"{self.magnitude_weight} and {self.learning_rate}"
            )

    def resolved(self, shape: Tuple[int, int], source_name: str) -> "CompressionSettings":
        """A copy with the defaults that depend on the table filled in, checked against it."""
        resolved = copy.copy(self)
        resolved._check_table(shape, source_name)
        return resolved

    def _check_table(self, shape: Tuple[int, int], source_name: str) -> None:
        num_rows, dim = shape
        if self.exact_rows >= num_rows:
            raise ConfigurationError(
                f"--exact-rows {self.exact_rows} leaves nothing to compress of the {num_rows} vectors of "
                f"{source_name}: use fewer"
            )
        num_rows -= self.exact_rows
        CODECS[self.method].check(self, dim, num_rows, source_name)

    def encoded_rows(self, matrix: numpy.ndarray) -> numpy.ndarray:
        """The rows the method encodes: `matrix`, or its unit rows with `subspace` and `normalize`."""
        return CODECS[self.method].encoded_rows(matrix, self)

    def compress(self, matrix: numpy.ndarray) -> Tuple[Dict[str, numpy.ndarray], Dict[str, Any]]:
        """The arrays to store and the options to record."""
        codec = CODECS[self.method]
        options = codec.options(self)
        arrays = codec.compress(matrix[self.exact_rows :], self)
        if self.exact_rows:
            arrays["exact"] = self.encoded_rows(matrix[: self.exact_rows]).astype(numpy.float16)
            options["exact_rows"] = self.exact_rows
        return arrays, options
