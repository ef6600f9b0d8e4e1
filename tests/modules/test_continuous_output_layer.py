import numpy
import pytest
import torch
from allennlp.data import Vocabulary

from elmo_c.data.target_embeddings import NpyTargetEmbeddings
from elmo_c.modules.output_layers import ContinuousOutputLayer

WORDS = ["north", "south", "east", "west", "up", "down"]


@pytest.fixture
def output_layer(tmp_path):
    vectors = numpy.eye(6, dtype=numpy.float32)[:5] + 0.1  # "down" has no vector
    numpy.save(tmp_path / "v.npy", vectors)
    (tmp_path / "v.words.txt").write_text("\n".join(WORDS[:5]) + "\n")
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(WORDS, "tokens")
    targets = NpyTargetEmbeddings(vocab, path=str(tmp_path / "v.npy"), embedding_dim=6, cache_dir=str(tmp_path))
    layer = ContinuousOutputLayer(6, targets, top_k=[1, 2], neighbour_chunk_size=2)
    with torch.no_grad():
        for projection in layer.heads:
            projection.weight.copy_(torch.eye(6))
            projection.bias.zero_()
    return layer.eval(), vocab


def _ids(vocab, words):
    return torch.tensor([vocab.get_token_index(word, "tokens") for word in words])


def test_perfect_predictions_have_cosine_one_and_top1_hits(output_layer):
    layer, vocab = output_layer
    ids = _ids(vocab, ["north", "south", "west"])
    hidden, _ = layer.target_embeddings.lookup(ids)
    loss, count = layer(hidden * 3.0, ids, direction=0)
    assert count.item() == 3 and loss.item() == pytest.approx(0.0, abs=1e-6)
    metrics = layer.get_metrics(reset=True)
    assert metrics["cosine"] == pytest.approx(1.0)
    assert metrics["top1_accuracy"] == 1.0 and metrics["top2_accuracy"] == 1.0


def test_neighbour_ranks_count_only_closer_valid_rows(output_layer):
    layer, vocab = output_layer
    ids = _ids(vocab, ["north"])
    east, _ = layer.target_embeddings.lookup(_ids(vocab, ["east"]))
    north, _ = layer.target_embeddings.lookup(ids)
    prediction = east + 0.5 * north  # "east" is nearest, "north" second
    layer(prediction, ids, direction=1)
    metrics = layer.get_metrics(reset=True)
    assert metrics["top1_accuracy"] == 0.0 and metrics["top2_accuracy"] == 1.0


def test_missing_targets_are_left_out_of_loss_and_metrics(output_layer):
    layer, vocab = output_layer
    ids = _ids(vocab, ["down", "up"])
    loss, count = layer(torch.randn(2, 6), ids, direction=0)
    assert count.item() == 1
    assert torch.isfinite(loss)


def test_directions_have_their_own_projection_unless_shared(output_layer):
    layer, _ = output_layer
    assert len(layer.heads) == 2
    shared = ContinuousOutputLayer(6, layer.target_embeddings, share_between_directions=True)
    assert len(shared.heads) == 1


def test_table_is_not_part_of_the_module(output_layer):
    layer, _ = output_layer
    names = set(layer.state_dict())
    assert names == {"heads.0.weight", "heads.0.bias", "heads.1.weight", "heads.1.bias"}
