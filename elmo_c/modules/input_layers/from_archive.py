from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from elmo_c.modules.input_layers.characters import CharacterCnnInput
from elmo_c.modules.input_layers.input_layer import InputLayer


@InputLayer.register("from_archive", constructor="from_archive")
class ArchivedCharacterInput(CharacterCnnInput):
    """
    ELMo's character CNN started from a trained model, for continued pretraining on
    a domain (`training_config/elmo_c_adapt.jsonnet`): the archive's `characters`
    input layer, with its sizes and its trained weights, so the config repeats
    neither.  Training goes on from there.

    The archive must exist whenever the config is built; the `self_contained_archive`
    trainer callback writes the layer's sizes into the new model's config at the end
    of training, so that the new archive loads without it.

    Registered as an `InputLayer` with name "from_archive".

    # Parameters

    archive_file : `str`
        The `model.tar.gz` (or serialization directory) of a
        `continuous_output_language_model`: a trained ELMo-C or softmax baseline, or
        ELMo's own files made into one by `allennlp import-elmo`.  A `word_vectors`
        input layer is refused: its table is aligned to the archive's vocabulary.
    """

    @classmethod
    def from_archive(cls, archive_file: str) -> "ArchivedCharacterInput":
        # Imported here: elmo_c.models imports this package.
        from elmo_c.models.archived_modules import archived_module, load_archived_weights

        params, weights = archived_module(archive_file, "input_layer")
        layer_type = params.pop("type", InputLayer.default_implementation)
        if not issubclass(InputLayer.resolve_class_name(layer_type)[0], CharacterCnnInput):
            raise ConfigurationError(
                f'{archive_file} has a "{layer_type}" input layer, whose table is aligned to the vocabulary that '
                f"model was trained on, not to the new data's: continued pretraining needs the \"characters\" "
                f"input layer (it reads any word).  Start from a character-level archive, or train the word-vector "
                f"model on the new data from scratch (e.g. training_config/elmo_c_reference.jsonnet)"
            )
        layer = cls.from_params(Params(params))
        load_archived_weights(layer, weights, archive_file, "input_layer")
        return layer
