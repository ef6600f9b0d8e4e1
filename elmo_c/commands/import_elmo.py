"""
The `import-elmo` subcommand, the reverse of `export-elmo`: reads ELMo's files
(allennlp's or bilm-tf's `options.json` + `weights.hdf5`) into this project's
`characters` input layer and biLM encoder, and writes a model archive that
`elmo_c_token_embedder`, `elmo-c-embed` and `PretrainedBiLm.from_archive` load,
giving the same vectors as allennlp's `Elmo` on the same files.

```
allennlp import-elmo OPTIONS.json WEIGHTS.hdf5 OUT.tar.gz [--drop-clipping [--sample SENTENCES.txt]]
```

The archive is a `continuous_output_language_model` whose config holds the
character CNN and the encoder as ELMo's options give them, the `elmo_c_sentences`
reader, and a placeholder output layer: ELMo's files hold no softmax, so the
archive carries the smallest valid one, a `softmax` over an empty vocabulary (the
`tokens` namespace holds only padding and `@@UNKNOWN@@`) whose one class is never
a target (`predict_oov: false`), with zero weights.  It predicts nothing and
scores nothing (evaluating the archive gives no meaningful loss); continued
pretraining replaces it, and the vocabulary, with real ones.

Clipping is kept by default, which runs the encoder's step-by-step clipped LSTM.
`--drop-clipping` imports without it, for the fused `torch.nn.LSTM` (several
times faster), and reports how much the outputs change on a sample: a few
built-in sentences, or `--sample`'s (one whitespace-tokenised sentence per line).

The archive is written atomically (a temporary file next to it, then renamed).
Options or weights that do not fit ELMo's format or each other are refused with a
`ConfigurationError` naming the file and the field or dataset.
"""
import argparse
import copy
import json
import logging
import os
import tempfile
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import torch
from allennlp.commands.subcommand import Subcommand
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.meta import META_NAME, Meta
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.models.archival import CONFIG_NAME, archive_model
from allennlp.modules.elmo import batch_to_ids

from elmo_c.commands.export_elmo import check_output_dir, write_failure
from elmo_c.common.atomic import atomic_output_path
from elmo_c.models.archive_loading import PretrainedBiLm
from elmo_c.modules.bilm_encoder import BidirectionalLmEncoder
from elmo_c.modules.elmo_format import (
    bilm_config,
    elmo_datasets,
    load_elmo_weights,
    read_elmo_options,
    read_elmo_weights,
)
from elmo_c.modules.input_layers import InputLayer

logger = logging.getLogger(__name__)

_WEIGHTS_NAME = "weights.th"
# The placeholder output layer (see the module's docstring).
PLACEHOLDER_OUTPUT_LAYER = {"type": "softmax", "share_between_directions": True, "predict_oov": False}
# ELMo's pretraining dropout, for continued pretraining from the archive.
_DROPOUT = 0.1
_SAMPLE_BATCH_SIZE = 32
# The default sample for --drop-clipping: ordinary sentences of varied lengths.
SAMPLE_SENTENCES = (
    "The cat sat on the mat .",
    "Stocks fell sharply on Monday after the central bank raised interest rates by half a point , "
    "the largest increase in more than twenty years , and signalled that further rises were likely .",
    "I 'm not sure what you mean .",
    "In 1969 , Neil Armstrong and Buzz Aldrin became the first people to walk on the Moon .",
    "Colorless green ideas sleep furiously .",
    "The committee , which met for three days in Geneva , published a 40-page report on Friday that "
    "recommends new rules for the disposal of electronic waste , the testing of imported toys and the "
    "labelling of food sold online , and it asked member states to adopt them before the end of next year .",
    "Why ?",
    "She said that the results , though preliminary , were encouraging .",
)


class ImportedElmo(NamedTuple):
    """What `import_elmo` wrote and measured."""

    archive_file: str
    # With drop_clipping: per LSTM layer, the largest absolute difference between
    # the clipped and the unclipped outputs on the sample; otherwise None.
    clipping_differences: Optional[List[float]]


@Subcommand.register("import-elmo")
class ImportElmo(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = (
            "Import ELMo's options.json + weights.hdf5 (allennlp's or bilm-tf's) as an ELMo-C model "
            "archive, for elmo_c_token_embedder and continued pretraining."
        )
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument("options_file", metavar="OPTIONS", help="ELMo's options.json")
        subparser.add_argument("weight_file", metavar="WEIGHTS", help="ELMo's weights.hdf5")
        subparser.add_argument("output_file", metavar="OUT", help="the model archive to write (model.tar.gz)")
        subparser.add_argument(
            "--drop-clipping",
            action="store_true",
            help="import without cell and projection clipping (the fused, faster LSTM) and report how much "
            "the outputs change on a sample",
        )
        subparser.add_argument(
            "--sample",
            metavar="SENTENCES",
            default=None,
            help="with --drop-clipping: one whitespace-tokenised sentence per line to measure the change "
            "on (default: a few built-in sentences)",
        )
        subparser.set_defaults(func=import_elmo_from_args)
        return subparser


def import_elmo_from_args(args: argparse.Namespace) -> ImportedElmo:
    """Entry point of the `import-elmo` subcommand."""
    if args.sample is not None and not args.drop_clipping:
        raise ConfigurationError("--sample measures what --drop-clipping changes: give both, or neither")
    imported = import_elmo(args.options_file, args.weight_file, args.output_file, args.drop_clipping, args.sample)
    if imported.clipping_differences is not None:
        print(clipping_report(imported.clipping_differences), flush=True)
    return imported


def import_elmo(
    options_file: str,
    weight_file: str,
    output_file: str,
    drop_clipping: bool = False,
    sample_file: Optional[str] = None,
) -> ImportedElmo:
    """
    Writes a model archive holding ELMo's character CNN and biLM.

    # Parameters

    options_file : `str`
        ELMo's options (`options.json`).
    weight_file : `str`
        ELMo's weights (`weights.hdf5`), matching the options.
    output_file : `str`
        The archive to write; an existing file is replaced only once the new one is
        complete.  Its folder is created if needed.
    drop_clipping : `bool`, optional (default = `False`)
        Import without cell and projection clipping (the fused LSTM), and measure
        the change on a sample.
    sample_file : `str`, optional (default = `None`)
        One whitespace-tokenised sentence per line for that measure; by default
        `SAMPLE_SENTENCES`.

    # Returns

    An `ImportedElmo`: the archive's path and, with `drop_clipping`, the largest
    change of each LSTM layer's outputs on the sample.
    """
    _check_output_file(output_file)
    options = read_elmo_options(options_file)
    input_layer, encoder = bilm_config(options, options_file)
    sentences = _sample(sample_file) if drop_clipping else []
    kept_encoder = {**encoder, "cell_clip": None, "projection_clip": None} if drop_clipping else encoder
    config = imported_config(input_layer, kept_encoder)
    model = _imported_model(config, options_file, weight_file)
    differences = None
    if drop_clipping:
        clipped = _build_bilm(input_layer, encoder)
        clipped.load_state_dict(model_bilm(model).state_dict())
        differences = max_layer_differences(clipped, model_bilm(model), sentences)
    _write_archive(model, config, output_file)
    logger.info("Imported ELMo's %s and %s as %s", options_file, weight_file, output_file)
    return ImportedElmo(output_file, differences)


def _imported_model(config: Dict[str, Any], options_file: str, weight_file: str) -> Model:
    """The archive's model, with ELMo's weights and a zero placeholder output layer."""
    model = Model.from_params(Params(copy.deepcopy(config["model"])), vocab=Vocabulary())
    bilm = model_bilm(model)
    load_elmo_weights(bilm, read_elmo_weights(weight_file, elmo_datasets(bilm), options_file), weight_file)
    with torch.no_grad():
        for parameter in model.output_layer.parameters():
            parameter.zero_()
    return model


def model_bilm(model: Model) -> PretrainedBiLm:
    """A model's input layer and encoder (shared, not copied) as a `PretrainedBiLm`, in evaluation mode."""
    return PretrainedBiLm(model.input_layer, model.encoder).eval()  # type: ignore[arg-type]


def imported_config(input_layer: Dict[str, Any], encoder: Dict[str, Any]) -> Dict[str, Any]:
    """The archive's config: ELMo's biLM, the project's reader and the placeholder output layer."""
    return {
        "dataset_reader": {"type": "elmo_c_sentences"},
        "model": {
            "type": "continuous_output_language_model",
            "input_layer": input_layer,
            "encoder": {**encoder, "dropout": _DROPOUT},
            "output_layer": dict(PLACEHOLDER_OUTPUT_LAYER),
            "dropout": _DROPOUT,
        },
    }


def max_layer_differences(
    reference: PretrainedBiLm, other: PretrainedBiLm, sentences: Sequence[List[str]]
) -> List[float]:
    """Per LSTM layer, the largest absolute difference between two biLMs' outputs on `sentences`."""
    differences = [0.0] * reference.encoder.num_layers
    with torch.no_grad():
        for start in range(0, len(sentences), _SAMPLE_BATCH_SIZE):
            character_ids = batch_to_ids(list(sentences[start : start + _SAMPLE_BATCH_SIZE]))
            pairs = zip(reference(character_ids)[0][1:], other(character_ids)[0][1:])
            for index, (expected, actual) in enumerate(pairs):
                differences[index] = max(differences[index], (expected - actual).abs().max().item())
    return differences


def clipping_report(differences: List[float]) -> str:
    """One line saying how much dropping the clipping changed each layer."""
    layers = ", ".join(f"layer {index + 1}: {difference:.3g}" for index, difference in enumerate(differences))
    return (
        f"Without clipping the LSTM outputs differ from ELMo's (clipped) ones by at most "
        f"{max(differences):.3g} on the sample ({layers})"
    )


def _build_bilm(input_layer: Dict[str, Any], encoder: Dict[str, Any]) -> PretrainedBiLm:
    cnn = InputLayer.from_params(Params(copy.deepcopy(input_layer)))
    lstm = BidirectionalLmEncoder.from_params(Params({**encoder, "dropout": 0.0}), input_dim=cnn.get_output_dim())
    return PretrainedBiLm(cnn, lstm).eval()  # type: ignore[arg-type]


def _sample(sample_file: Optional[str]) -> List[List[str]]:
    if sample_file is None:
        return [sentence.split() for sentence in SAMPLE_SENTENCES]
    try:
        with open(sample_file, encoding="utf-8") as sample:
            sentences = [line.split() for line in sample if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"Cannot read the sample {sample_file} ({error}): give a UTF-8 text file") from None
    if not sentences:
        raise ConfigurationError(f"The sample {sample_file} has no sentences: give one sentence per line")
    return sentences


def _check_output_file(output_file: str) -> None:
    if os.path.isdir(output_file):
        raise ConfigurationError(
            f"The output {output_file} is a folder: give the path of the archive to write, "
            f"e.g. {output_file}/model.tar.gz"
        )
    check_output_dir(os.path.dirname(os.path.abspath(output_file)))


def _write_archive(model: Model, config: Dict[str, Any], output_file: str) -> None:
    """AllenNLP's archive layout (config, weights, vocabulary, meta), written atomically."""
    output_dir = os.path.dirname(os.path.abspath(output_file))
    try:
        with tempfile.TemporaryDirectory(dir=output_dir, prefix=".import-elmo-") as directory:
            with open(os.path.join(directory, CONFIG_NAME), "w", encoding="utf-8") as config_file:
                json.dump(config, config_file, indent=2)
            torch.save(model.state_dict(), os.path.join(directory, _WEIGHTS_NAME))
            model.vocab.save_to_files(os.path.join(directory, "vocabulary"))
            Meta.new().to_file(os.path.join(directory, META_NAME))
            with atomic_output_path(output_file) as temporary:
                archive_model(directory, weights=_WEIGHTS_NAME, archive_path=temporary)
    except OSError as error:
        raise write_failure(f"the archive {output_file}", error) from error
