import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, Instance, Token, Vocabulary
from allennlp.data.fields import TextField
from allennlp.data.token_indexers import ELMoTokenCharactersIndexer
from allennlp.models.archival import load_archive
from allennlp.modules.elmo import batch_to_ids
from allennlp.modules.text_field_embedders import TextFieldEmbedder
from allennlp.nn.util import get_text_field_mask

from elmo_c.models.archive_loading import PretrainedBiLm
from elmo_c.modules.token_embedders import ElmoCTokenEmbedder

SENTENCES = [["the", "cat", "sat", "on", "the", "mat"], ["a", "dog"]]


def test_the_bilm_computes_the_trained_models_layers(elmo_c_archive):
    archive = load_archive(elmo_c_archive)
    model, reader = archive.model.eval(), archive.dataset_reader
    instances = [reader.text_to_instance(tokens) for tokens in SENTENCES]  # adds <S> and </S>
    for instance in instances:
        reader.apply_token_indexers(instance)
    batch = Batch(instances)
    batch.index_instances(model.vocab)
    source = batch.as_tensor_dict()["source"]
    with torch.no_grad():
        expected = model.layer_outputs(source, get_text_field_mask(source))
        layers, mask = PretrainedBiLm.from_archive(elmo_c_archive)(batch_to_ids(SENTENCES))
    assert torch.equal(mask, get_text_field_mask(source))
    for layer, expected_layer in zip(layers, expected):
        torch.testing.assert_close(layer, expected_layer, rtol=0, atol=1e-6)


def test_mixes_all_layers_of_both_directions_by_default(elmo_c_archive):
    embedder = ElmoCTokenEmbedder(elmo_c_archive, dropout=0.0)
    assert embedder.get_output_dim() == 32
    output = embedder(batch_to_ids(SENTENCES))
    assert output.shape == (2, 6, 32)
    assert output[1, 2:].abs().sum() == 0  # padding
    assert len(embedder._scalar_mix.scalar_parameters) == 3


def test_a_sentence_gets_the_same_vectors_alone_and_in_a_batch(elmo_c_archive):
    embedder = ElmoCTokenEmbedder(elmo_c_archive, dropout=0.0)
    batched = embedder(batch_to_ids(SENTENCES))
    alone = embedder(batch_to_ids(SENTENCES[1:]))
    torch.testing.assert_close(batched[1, :2], alone[0], rtol=0, atol=1e-5)


def test_one_chosen_layer_is_that_layer_without_boundaries(elmo_c_archive):
    embedder = ElmoCTokenEmbedder(elmo_c_archive, dropout=0.0, layers=[1])
    character_ids = batch_to_ids(SENTENCES)
    with torch.no_grad():
        layers, _ = PretrainedBiLm.remove_boundaries(*embedder._bilm(character_ids))
        torch.testing.assert_close(embedder(character_ids), layers[1], rtol=0, atol=1e-6)


def test_the_bilm_is_frozen_by_default_and_the_mix_learned(elmo_c_archive):
    embedder = ElmoCTokenEmbedder(elmo_c_archive)
    assert not any(parameter.requires_grad for parameter in embedder._bilm.parameters())
    assert all(parameter.requires_grad for parameter in embedder._scalar_mix.parameters())
    embedder(batch_to_ids(SENTENCES)).sum().backward()
    assert embedder._scalar_mix.gamma.grad is not None


def test_fine_tuning_sends_gradients_to_the_bilm(elmo_c_archive):
    embedder = ElmoCTokenEmbedder(elmo_c_archive, requires_grad=True, dropout=0.0)
    embedder(batch_to_ids(SENTENCES)).pow(2).sum().backward()
    gradient = embedder._bilm.encoder.forward_layers[0].weight_ih_l0.grad
    assert gradient is not None and gradient.abs().sum() > 0
    assert embedder._bilm.input_layer.character_embedding.weight.grad.abs().sum() > 0


def test_representations_are_deterministic_in_training_mode_without_dropout(elmo_c_archive):
    embedder = ElmoCTokenEmbedder(elmo_c_archive, dropout=0.0).train()
    character_ids = batch_to_ids(SENTENCES)
    torch.manual_seed(1)
    first = embedder(character_ids)
    torch.manual_seed(2)
    assert torch.equal(first, embedder(character_ids))


def test_a_fixed_mix_is_not_trained(elmo_c_archive):
    embedder = ElmoCTokenEmbedder(elmo_c_archive, scalar_mix_parameters=[0.0, 1.0], layers=[0, 2])
    assert not any(parameter.requires_grad for parameter in embedder._scalar_mix.parameters())
    with pytest.raises(ConfigurationError, match="scalar_mix_parameters has 3 weights for 2 layers"):
        ElmoCTokenEmbedder(elmo_c_archive, scalar_mix_parameters=[0.0, 1.0, 2.0], layers=[0, 2])


@pytest.mark.parametrize("layers", [[3], [], [1, 1], [-1]])
def test_layers_out_of_range_are_refused(elmo_c_archive, layers):
    with pytest.raises(ConfigurationError, match=r"distinct indices in 0\.\.2"):
        ElmoCTokenEmbedder(elmo_c_archive, layers=layers)


def test_projection_and_extra_leading_dimensions(elmo_c_archive):
    embedder = ElmoCTokenEmbedder(elmo_c_archive, projection_dim=7)
    assert embedder.get_output_dim() == 7
    character_ids = batch_to_ids(SENTENCES).unsqueeze(0).expand(3, -1, -1, -1)
    assert embedder(character_ids).shape == (3, 2, 6, 7)


def test_builds_from_params_in_a_text_field_embedder(elmo_c_archive):
    embedder = TextFieldEmbedder.from_params(
        Params({"token_embedders": {"elmo": {"type": "elmo_c_token_embedder", "archive_file": elmo_c_archive}}})
    )
    instances = [
        Instance({"text": TextField([Token(word) for word in tokens], {"elmo": ELMoTokenCharactersIndexer()})})
        for tokens in SENTENCES
    ]
    batch = Batch(instances)
    batch.index_instances(Vocabulary())
    assert embedder(batch.as_tensor_dict()["text"]).shape == (2, 6, 32)


def test_the_target_vector_file_is_not_needed(elmo_c_archive_variant):
    def vectors_elsewhere(model):
        model["output_layer"]["target_embeddings"]["path"] = "/nonexistent/vectors.bin"

    embedder = ElmoCTokenEmbedder(elmo_c_archive_variant(vectors_elsewhere), dropout=0.0)
    assert embedder(batch_to_ids(SENTENCES)).shape == (2, 6, 32)


def test_a_missing_archive_is_a_configuration_error(tmp_path):
    missing = str(tmp_path / "model.tar.gz")
    with pytest.raises(ConfigurationError, match=f"{missing} does not exist"):
        ElmoCTokenEmbedder(missing)


def test_a_file_that_is_no_archive_is_a_configuration_error(tmp_path):
    not_an_archive = tmp_path / "model.tar.gz"
    not_an_archive.write_text("not a tar file")
    with pytest.raises(ConfigurationError, match="Cannot read the model archive"):
        ElmoCTokenEmbedder(str(not_an_archive))


def test_an_archive_of_another_model_is_a_configuration_error(elmo_c_archive_variant):
    archive = elmo_c_archive_variant(lambda model: model.update(type="basic_classifier"))
    with pytest.raises(ConfigurationError, match='holds a "basic_classifier" model.*continuous_output_language_model'):
        ElmoCTokenEmbedder(archive)


def test_the_word_vector_input_layer_is_refused(elmo_c_archive_variant):
    def word_vectors(model):
        model["input_layer"] = {"type": "word_vectors", "vectors": model["output_layer"]["target_embeddings"]}

    with pytest.raises(ConfigurationError, match='"word_vectors" input layer.*elmo_c_embedder'):
        ElmoCTokenEmbedder(elmo_c_archive_variant(word_vectors))


def test_a_sentence_longer_than_the_readers_limit_gets_every_vector(elmo_c_archive):
    embedder = ElmoCTokenEmbedder(elmo_c_archive, dropout=0.0)
    words = [f"w{i % 50}" for i in range(450)]  # the archive's reader splits at 400 words
    output = embedder(batch_to_ids([words, ["a", "dog"]]))
    assert output.shape == (2, 450, 32)
    assert output[0, -1].abs().sum() > 0
