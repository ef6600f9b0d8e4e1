"""
The `export-elmo` subcommand: writes a trained ELMo-C's character CNN and biLM in
ELMo's format, for any code that reads ELMo (allennlp's `Elmo`,
`elmo_token_embedder`, bilm-tf).

```
allennlp export-elmo ARCHIVE OUT_DIR
```

writes `OUT_DIR/options.json` and `OUT_DIR/weights.hdf5`, atomically (both to
temporary files in `OUT_DIR`, then renamed), so a crash or a full disk never leaves
a half-written file behind nor half replaces an older export.  The output layer is
not exported: ELMo's files hold no softmax either way, and downstream use needs none.

ELMo's format cannot express every ELMo-C; these are refused with a
`ConfigurationError`: the `word_vectors` input layer, an input layer whose size
differs from the LSTM's `projection_dim`, no residual connections with two or more
layers, and clipping values that are not positive.  A model without projection
(`projection_dim == cell_size`) is exported with an identity projection, which
computes the same thing.

`import-elmo` does the reverse; both take ELMo's layout from `elmo_c.modules.elmo_format`.
"""
import argparse
import errno
import json
import logging
import os
import warnings
from typing import Tuple

from allennlp.commands.subcommand import Subcommand
from allennlp.common.checks import ConfigurationError

from elmo_c.common.atomic import atomic_output_path, ensure_writable_directory

from elmo_c.models.archive_loading import PretrainedBiLm
# ELMo's layout, shared with import-elmo (named here so that tests can replace them).
from elmo_c.modules.elmo_format import elmo_options, elmo_weights

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=FutureWarning)
    import h5py

logger = logging.getLogger(__name__)

OPTIONS_NAME = "options.json"
WEIGHTS_NAME = "weights.hdf5"


@Subcommand.register("export-elmo")
class ExportElmo(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = (
            "Export a trained ELMo-C's character CNN and biLM to ELMo's options.json + "
            "weights.hdf5, readable by allennlp's Elmo and elmo_token_embedder."
        )
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument("archive_file", metavar="ARCHIVE", help="the model.tar.gz of an ELMo-C model")
        subparser.add_argument("output_dir", metavar="OUT_DIR", help="where to write options.json and weights.hdf5")
        subparser.set_defaults(func=export_elmo_from_args)
        return subparser


def export_elmo_from_args(args: argparse.Namespace) -> Tuple[str, str]:
    """Entry point of the `export-elmo` subcommand."""
    return export_elmo(args.archive_file, args.output_dir)


def export_elmo(archive_file: str, output_dir: str) -> Tuple[str, str]:
    """
    Writes ELMo's options and weight files for an ELMo-C archive.

    # Parameters

    archive_file : `str`
        A `continuous_output_language_model` archive (or serialization directory).
    output_dir : `str`
        Created if needed; existing `options.json` and `weights.hdf5` are replaced.
        `ConfigurationError` if it cannot be written; an `OSError` while writing
        (a full disk) leaves no temporary file and the existing files as they were.

    # Returns

    The paths of the options file and the weight file.
    """
    check_output_dir(output_dir)
    bilm = PretrainedBiLm.from_archive(archive_file)
    check_exportable(bilm, archive_file)
    options_path = os.path.join(output_dir, OPTIONS_NAME)
    weights_path = os.path.join(output_dir, WEIGHTS_NAME)
    # Both files are written to temporaries before either is renamed, so a failure
    # (a full disk) leaves a previous export whole rather than half replaced.
    try:
        with atomic_output_path(options_path) as options_temporary:
            with atomic_output_path(weights_path) as weights_temporary:
                _write_weights(bilm, weights_temporary)
                _write_options(bilm, options_temporary)
    except OSError as error:
        raise write_failure(f"ELMo's files to {output_dir}", error) from error
    logger.info("Wrote ELMo's %s and %s for %s", options_path, weights_path, archive_file)
    return options_path, weights_path


def check_output_dir(output_dir: str) -> None:
    """Creates `output_dir` if needed; `ConfigurationError` naming it if it cannot be written."""
    try:
        ensure_writable_directory(output_dir)
    except OSError as error:
        raise ConfigurationError(
            f"Cannot write to the output folder {output_dir} ({error.strerror or error}): "
            f"choose another folder or fix its permissions"
        ) from None


def write_failure(what: str, error: OSError) -> OSError:
    """An `OSError` with `error`'s errno (`ENOSPC` for a full disk) that says what could not be written."""
    message = f"Could not write {what} ({error.strerror or error}); no partial file was left behind"
    if error.errno == errno.ENOSPC:
        message += ": free some space or choose another folder"
    return OSError(error.errno, message) if error.errno else OSError(message)


def _write_weights(bilm: PretrainedBiLm, path: str) -> None:
    with h5py.File(path, "w") as weights_file:
        for name, array in elmo_weights(bilm).items():
            weights_file.create_dataset(name, data=array)


def _write_options(bilm: PretrainedBiLm, path: str) -> None:
    with open(path, "w", encoding="utf-8") as options_file:
        json.dump(elmo_options(bilm), options_file, indent=2)


def check_exportable(bilm: PretrainedBiLm, archive_file: str) -> None:
    """Raises `ConfigurationError` where ELMo's format cannot express the model."""
    encoder = bilm.encoder
    if bilm.input_layer.get_output_dim() != encoder.projection_dim:
        raise ConfigurationError(
            f"{archive_file}: ELMo's format needs the character CNN's projection_dim "
            f"({bilm.input_layer.get_output_dim()}) to equal the LSTM's projection_dim "
            f"({encoder.projection_dim}); this model cannot be exported"
        )
    if encoder.layer_norm:
        raise ConfigurationError(
            f"{archive_file}: the encoder layer-normalises its outputs (layer_norm=true, as the reference "
            f"configuration), which ELMo's format cannot express; this "
            f"model cannot be exported. Train one without it (allennlp train ... -o "
            f"'{{\"model.encoder.layer_norm\": false}}') to export, or use the archive directly downstream "
            f"(the `elmo_c_token_embedder`)"
        )
    if not encoder.residual and encoder.num_layers > 1:
        raise ConfigurationError(
            f"{archive_file}: the encoder has no residual connections, but ELMo always adds each "
            f"layer's input to its output from the second layer on; this model cannot be exported"
        )
    for name, clip in (("cell_clip", encoder.cell_clip), ("projection_clip", encoder.projection_clip)):
        # ELMo readers treat a clip of 0 as "no clipping", where our LSTM would clamp to 0.
        if clip is not None and clip <= 0:
            raise ConfigurationError(
                f"{archive_file}: the encoder's {name} is {clip}; ELMo's format can express only a "
                f"positive clip or none"
            )
