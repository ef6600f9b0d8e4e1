from typing import List

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict, sanitize
from allennlp.data import Batch, DatasetReader, Instance
from allennlp.data.token_indexers.elmo_indexer import ELMoCharacterMapper
from allennlp.models import Model
from allennlp.nn.util import get_text_field_mask, move_to_device
from allennlp.predictors import Predictor

from elmo_c.models import ContinuousOutputLanguageModel


@Predictor.register("elmo_c_embedder")
class ElmoCEmbedderPredictor(Predictor):
    """
    Every layer of ELMo-C's representation of a sentence, for
    `allennlp predict ARCHIVE INPUT.jsonl --predictor elmo_c_embedder`.

    Input lines are `{"sentence": "..."}` (tokenised by the archive's dataset
    reader) or `{"tokens": ["...", ...]}`.  The output is `{"tokens": [...],
    "layers": [...]}`: `layers` holds the input layer (duplicated to both
    directions) and then each LSTM layer, each a `num_tokens x (2 * projection_dim)`
    list of lists.  The sentence boundaries `<S>` and `</S>` that the reader adds
    are run through the model but left out of the output.

    The whole model is run through its `layer_outputs`, so this works for both
    input layers (`characters` and `word_vectors`); the output layer is never used,
    and its target vector file need not exist.

    Registered as a `Predictor` with name "elmo_c_embedder".
    """

    def __init__(self, model: Model, dataset_reader: DatasetReader, frozen: bool = True) -> None:
        if not isinstance(model, ContinuousOutputLanguageModel):
            raise ConfigurationError(
                f"The elmo_c_embedder predictor needs an ELMo-C language model "
                f"(continuous_output_language_model), not a {type(model).__name__}"
            )
        super().__init__(model, dataset_reader, frozen)

    def predict(self, sentence: str) -> JsonDict:
        return self.predict_json({"sentence": sentence})

    def _json_to_instance(self, json_dict: JsonDict) -> Instance:
        if "tokens" in json_dict:
            return self._dataset_reader.text_to_instance(list(json_dict["tokens"]))  # type: ignore[call-arg]
        if "sentence" in json_dict:
            return self._dataset_reader.text_to_instance(json_dict["sentence"])  # type: ignore[call-arg]
        raise ConfigurationError(f'Each input needs a "sentence" or a "tokens" key, got keys {sorted(json_dict)}')

    def predict_instance(self, instance: Instance) -> JsonDict:
        return self.predict_batch_instance([instance])[0]

    def predict_batch_instance(self, instances: List[Instance]) -> List[JsonDict]:
        for instance in instances:
            self._dataset_reader.apply_token_indexers(instance)
        batch = Batch(instances)
        batch.index_instances(self._model.vocab)
        source = move_to_device(batch.as_tensor_dict()["source"], self.cuda_device)
        with torch.no_grad():
            layers = self._model.layer_outputs(source, get_text_field_mask(source))  # type: ignore[operator]
        return [self._output(instance, index, layers) for index, instance in enumerate(instances)]

    @staticmethod
    def _output(instance: Instance, index: int, layers: List[torch.Tensor]) -> JsonDict:
        tokens = [token.text for token in instance["source"].tokens]  # type: ignore[attr-defined]
        start = 1 if tokens[:1] == [ELMoCharacterMapper.bos_token] else 0
        end = len(tokens) - 1 if len(tokens) > start and tokens[-1] == ELMoCharacterMapper.eos_token else len(tokens)
        return sanitize({"tokens": tokens[start:end], "layers": [layer[index, start:end] for layer in layers]})
