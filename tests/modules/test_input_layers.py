import pytest
import torch
from allennlp.common.checks import ConfigurationError

from elmo_c.modules.input_layers.characters import CharacterCnnInput


def small_cnn():
    torch.manual_seed(0)
    return CharacterCnnInput(projection_dim=8, filters=[[1, 4], [2, 4], [3, 8]], num_highway=1,
                             character_embedding_dim=4)


def batch_with_repeats():
    """(2, 5, 6) character ids: words repeat within and across sentences, and padding (all zeros) repeats."""
    words = torch.randint(1, 262, (3, 6), generator=torch.Generator().manual_seed(1))
    words[:, 4:] = 0
    padding = torch.zeros(6, dtype=torch.long)
    return torch.stack([torch.stack([words[0], words[1], words[0], words[2], padding]),
                        torch.stack([words[2], words[2], words[1], padding, padding])])


def per_token_reference(layer, character_ids):
    """Every token through the CNN, repeated words included."""
    return layer._embed_words(character_ids.view(-1, character_ids.shape[-1])).view(*character_ids.shape[:2], -1)


def test_each_distinct_word_is_embedded_once_with_the_same_result():
    layer = small_cnn()
    character_ids = batch_with_repeats()
    calls = []
    layer.projection.register_forward_hook(lambda module, inputs, output: calls.append(len(output)))
    vectors = layer.embed_characters(character_ids)
    assert calls == [4]  # three words and padding, for ten tokens
    assert vectors.shape == (2, 5, 8)
    torch.testing.assert_close(vectors, per_token_reference(layer, character_ids), rtol=1e-6, atol=1e-6)
    assert torch.equal(vectors[0, 0], vectors[0, 2]) and torch.equal(vectors[0, 3], vectors[1, 1])


def test_gradients_sum_over_the_repeats_as_per_token_embedding_does():
    layer = small_cnn()
    character_ids = batch_with_repeats()
    weights = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(2))
    gradients = []
    for embed in (layer.embed_characters, lambda ids: per_token_reference(layer, ids)):
        layer.zero_grad()
        (embed(character_ids) * weights).sum().backward()
        gradients.append({name: parameter.grad.clone() for name, parameter in layer.named_parameters()})
    for name, gradient in gradients[0].items():
        torch.testing.assert_close(gradient, gradients[1][name], rtol=1e-5, atol=1e-6, msg=name)


def test_an_unknown_activation_is_rejected():
    with pytest.raises(ConfigurationError, match='activation must be "relu" or "tanh", not "gelu"'):
        CharacterCnnInput(activation="gelu")
