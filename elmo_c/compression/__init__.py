"""
Compression of target tables (`allennlp compress-targets`): one codec per method
behind the `Codec` interface (`subspace`, `svd`, `autoencoder`), the `.ctt` format
their codes are stored in (`ctt_format`), and the fidelity report.  The table to
compress is read by `elmo_c.compression.inputs` (not imported here: it needs
`elmo_c.data.target_embeddings`, which imports the format from this package).
"""
from elmo_c.compression.codec import Codec
from elmo_c.compression.ctt_format import METHODS, CompressedTargetFile, write_compressed_targets
from elmo_c.compression.fidelity import (
    decode_milliseconds,
    fidelity_report,
    format_report,
    neighbour_agreement,
    row_cosines,
)
from elmo_c.compression.settings import CODECS, CompressionSettings
from elmo_c.compression.table import compress_table

__all__ = [
    "Codec",
    "CODECS",
    "CompressionSettings",
    "compress_table",
    "METHODS",
    "CompressedTargetFile",
    "write_compressed_targets",
    "fidelity_report",
    "neighbour_agreement",
    "row_cosines",
    "decode_milliseconds",
    "format_report",
]
