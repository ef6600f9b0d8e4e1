from typing import Optional

from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from elmo_c.modules.bilm_encoder import BidirectionalLmEncoder


@BidirectionalLmEncoder.register("from_archive", constructor="from_archive")
class ArchivedEncoder(BidirectionalLmEncoder):
    """
    ELMo's biLM encoder started from a trained model, for continued pretraining on
    a domain (`training_config/elmo_c_adapt.jsonnet`): the archive's encoder, with
    its sizes, clipping, layer norm and trained weights, so the config repeats
    none of them.  Training goes on from there.

    The archive must exist whenever the config is built; the `self_contained_archive`
    trainer callback writes the encoder's settings into the new model's config at
    the end of training, so that the new archive loads without it.

    Registered as a `BidirectionalLmEncoder` with name "from_archive".

    # Parameters

    input_dim : `int`
        Passed by the model: must be the size the archive's encoder reads (start the
        input layer from the same archive).
    archive_file : `str`
        The `model.tar.gz` (or serialization directory) of a
        `continuous_output_language_model`, e.g. one from `allennlp import-elmo`.
    dropout : `float`, optional (default = the archive's)
        Dropout between layers for the new training.
    """

    @classmethod
    def from_archive(cls, input_dim: int, archive_file: str, dropout: Optional[float] = None) -> "ArchivedEncoder":
        # Imported here: elmo_c.models imports this package.
        from elmo_c.models.archived_modules import archived_module, load_archived_weights

        params, weights = archived_module(archive_file, "encoder")
        params.pop("type", None)
        if dropout is not None:
            params["dropout"] = dropout
        archived_input_dim = weights["forward_layers.0.weight_ih_l0"].size(1)
        if archived_input_dim != input_dim:
            raise ConfigurationError(
                f"The encoder of {archive_file} reads {archived_input_dim}-d token vectors, but the input layer "
                f"gives {input_dim}-d ones: start the input layer from the same archive "
                f'({{"type": "from_archive", "archive_file": ...}})'
            )
        encoder = cls.from_params(Params(params), input_dim=input_dim)
        load_archived_weights(encoder, weights, archive_file, "encoder")
        return encoder
