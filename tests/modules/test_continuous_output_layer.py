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


# -- static shapes: padding and words without a vector are weighed by zero ----------------

# Counts decrease with the index, as Vocabulary.from_instances orders words; "gnu" has no vector.
COUNTS = {"the": 50, "<S>": 40, "</S>": 40, "cat": 30, "sat": 20, "mat": 10, "dog": 5, "gnu": 2}


@pytest.fixture
def make_layer(tmp_path):
    """`make_layer(dim=8, **layer_options)`: a layer over a counted vocabulary, seeded heads, in evaluation."""
    from elmo_c.data import CountedVocabulary

    def make(dim=8, device_resident=False, **options):
        vocab = CountedVocabulary(counter={"tokens": COUNTS})
        words = [word for word in COUNTS if word != "gnu"]
        vectors = numpy.random.default_rng(0).standard_normal((len(words), dim)).astype(numpy.float32) + 0.5
        numpy.save(tmp_path / f"v{dim}.npy", vectors)
        (tmp_path / f"v{dim}.words.txt").write_text("\n".join(words) + "\n")
        targets = NpyTargetEmbeddings(vocab, path=str(tmp_path / f"v{dim}.npy"), embedding_dim=dim,
                                      cache_dir=str(tmp_path), device_resident=device_resident)
        torch.manual_seed(0)
        layer = ContinuousOutputLayer(dim, targets, top_k=[1, 3], neighbour_chunk_size=3, **options)
        return layer.eval(), vocab

    return make


def _padded_batch(vocab, dim=8):
    """Two sentences as the model flattens them: padding (0), a word without a vector, OOV, boundaries."""
    rows = [["cat", "sat", "gnu", "</S>", None, None], ["the", "dog", "@@UNKNOWN@@", "mat", "<S>", None]]
    ids = torch.tensor([[vocab.get_token_index(word, "tokens") if word else 0 for word in row] for row in rows])
    hidden = torch.randn(ids.numel(), dim, generator=torch.Generator().manual_seed(1))
    return hidden, ids.view(-1)


def _selected_reference(layer, hidden, ids, direction):
    """
    The layer as it was before it took padding: the model selected the real positions,
    the layer those with a vector (and without boundaries unless they are in the loss),
    and the metrics the measured positions among them.
    """
    vectors, valid = layer.target_embeddings.lookup(ids)
    keep = (ids > 0) & valid
    if not layer.boundaries_in_loss:
        keep &= layer.ranking.is_measured(ids)
    predictions = layer.head(direction)(hidden[keep])
    vectors, ids = vectors[keep], ids[keep]
    losses, cosines = layer.loss.loss_and_cosine(predictions, vectors)
    measured = layer.ranking.is_measured(ids)
    units = torch.nn.functional.normalize(vectors[measured], dim=-1)
    table, table_valid = layer.target_embeddings.lookup(torch.arange(layer.target_embeddings.num_rows))
    table = torch.nn.functional.normalize(table, dim=-1)
    queries = torch.nn.functional.normalize(predictions[measured], dim=-1)
    own = (queries * units).sum(dim=-1, keepdim=True)
    scores = (queries @ table.t()).masked_fill(~(table_valid & layer.ranking.measured), -2.0)
    closer = (scores > own + 1e-5).sum(dim=-1)
    constant = layer._constant_direction(torch.device("cpu"))
    return {
        "loss": float(losses.sum()),
        "count": len(losses),
        "cosine": float(cosines[measured].mean()),
        "constant_cosine": float((units @ constant).mean()),
        "top1_accuracy": float((closer < 1).float().mean()),
        "top3_accuracy": float((closer < 3).float().mean()),
    }


@pytest.mark.parametrize("loss", ["cosine", "vmf"])
@pytest.mark.parametrize("boundaries_in_loss", [True, False])
@pytest.mark.parametrize("device_resident", [False, True])
def test_padding_and_missing_words_give_the_loss_and_metrics_of_the_selected_positions(
    make_layer, loss, boundaries_in_loss, device_resident
):
    from elmo_c.modules.continuous_losses import ContinuousLoss

    layer, vocab = make_layer(device_resident=device_resident, boundaries_in_loss=boundaries_in_loss,
                              loss=ContinuousLoss.by_name(loss)())
    hidden, ids = _padded_batch(vocab)
    with torch.no_grad():
        expected = _selected_reference(layer, hidden, ids, direction=1)
        loss_sum, count = layer(hidden, ids, direction=1)
    metrics = layer.get_metrics(reset=True)
    assert isinstance(count, torch.Tensor) and count.item() == expected["count"]
    assert count.item() == (7 if boundaries_in_loss else 5)  # not padding, "gnu" or OOV (nor the boundaries)
    assert loss_sum.item() == pytest.approx(expected["loss"], rel=1e-6)
    for name in ("cosine", "constant_cosine", "top1_accuracy", "top3_accuracy"):
        assert metrics[name] == pytest.approx(expected[name], rel=1e-6, abs=1e-7), name


def test_gradients_reach_only_the_positions_that_count(make_layer):
    layer, vocab = make_layer()
    hidden, ids = _padded_batch(vocab)
    hidden.requires_grad_()
    layer.train()
    loss_sum, _ = layer(hidden, ids, direction=0)
    loss_sum.backward()
    counted = layer.target_embeddings.lookup(ids)[1]
    assert torch.isfinite(hidden.grad).all()
    assert (hidden.grad[~counted] == 0).all() and (hidden.grad[counted].abs().sum(dim=-1) > 0).all()


@pytest.mark.parametrize("loss", ["cosine", "vmf"])
def test_bfloat16_autocast_gives_the_float32_loss(make_layer, loss):
    from elmo_c.modules.continuous_losses import ContinuousLoss

    layer, vocab = make_layer(dim=64, loss=ContinuousLoss.by_name(loss)())
    hidden, ids = _padded_batch(vocab, dim=64)
    layer.train()
    expected, _ = layer(hidden, ids, direction=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss_sum, count = layer(hidden, ids, direction=0)
    assert loss_sum.dtype == torch.float32 and count.item() == 7
    assert loss_sum.item() == pytest.approx(expected.item(), rel=1e-2)
    loss_sum.backward()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters() if p.grad is not None)
    metrics = layer.get_metrics(reset=True)
    assert all(numpy.isfinite(value) for value in metrics.values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("loss", ["cosine", "vmf"])
def test_a_training_step_on_a_gpu_never_waits_for_the_device(make_layer, loss):
    from elmo_c.modules.continuous_losses import ContinuousLoss

    # 64-d: the von Mises-Fisher normaliser of order >= 20 is computed on the device.
    layer, vocab = make_layer(dim=64, device_resident=True, loss=ContinuousLoss.by_name(loss)())
    layer = layer.cuda().train()
    hidden, ids = _padded_batch(vocab, dim=64)
    hidden, ids = hidden.cuda().requires_grad_(), ids.cuda()
    layer(hidden, ids, direction=0)[0].backward()  # the first call copies the table, the mask and the constant
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(2):
            loss_sum, count = layer(hidden, ids, direction=0)
            (loss_sum / count.clamp(min=1.0)).backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert count.item() == 7
