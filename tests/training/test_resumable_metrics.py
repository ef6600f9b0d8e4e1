"""The `resumable_metrics` callback's save and restore of a model's metric states
(the CLI test of a resumed run is in tests/test_reliability.py)."""
import io
import logging
from types import SimpleNamespace

import torch
from allennlp.training.metrics import CategoricalAccuracy, Metric, SpanBasedF1Measure
from allennlp.data import Vocabulary

from elmo_c.modules.metrics import WeightedMean
from elmo_c.training.resumable_metrics import ResumableMetricsCallback


class Unsaveable(Metric):
    def __init__(self) -> None:
        self.seen = [object()]

    def get_metric(self, reset: bool = False):
        return {}


class Holder(torch.nn.Module):
    def __init__(self, vocab: Vocabulary) -> None:
        super().__init__()
        self.inner = torch.nn.Module()
        self.inner.means = {"forward": WeightedMean(), "backward": WeightedMean()}
        self.accuracy = CategoricalAccuracy()
        self.spans = SpanBasedF1Measure(vocab, "labels")


def _vocab() -> Vocabulary:
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["O", "B-PER", "I-PER"], "labels")
    return vocab


def _feed(model: Holder) -> None:
    model.inner.means["forward"](torch.tensor(3.0), torch.tensor(4.0))
    model.inner.means["backward"](1.5, 2.0)
    model.accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]))
    model.spans(torch.eye(3)[[1, 2, 0]].unsqueeze(0), torch.tensor([[1, 2, 0]]))


def _checkpointed(model: Holder) -> dict:
    """The callback's state as AllenNLP stores it and reads it back (weights_only)."""
    callback = ResumableMetricsCallback("unused")
    callback.trainer = SimpleNamespace(model=model)
    buffer = io.BytesIO()
    torch.save(callback.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _resume(model: Holder, state: dict, batches_done: int) -> None:
    callback = ResumableMetricsCallback("unused")
    callback.load_state_dict(state)
    callback.on_start(SimpleNamespace(model=model, _start_after_batches_in_epoch_completed=batches_done))


def test_every_metric_of_the_model_comes_back_after_a_checkpoint():
    first = Holder(_vocab())
    _feed(first)
    second = Holder(_vocab())
    _resume(second, _checkpointed(first), batches_done=3)
    assert second.inner.means["forward"].get_metric() == 0.75
    assert second.inner.means["backward"].get_metric() == 0.75
    assert second.accuracy.get_metric() == 0.5
    assert second.spans.get_metric() == first.spans.get_metric()
    # The span counts stay defaultdicts: a label first seen after the resume still counts.
    assert second.spans._true_positives["unseen"] == 0


def test_a_checkpoint_at_an_epoch_end_restores_nothing():
    first = Holder(_vocab())
    _feed(first)
    second = Holder(_vocab())
    _resume(second, _checkpointed(first), batches_done=0)
    assert second.accuracy.get_metric() == 0.0


def test_a_metric_whose_state_cannot_be_saved_is_skipped_with_a_warning(caplog):
    model = Holder(_vocab())
    model.odd = Unsaveable()
    _feed(model)
    with caplog.at_level(logging.WARNING):
        state = _checkpointed(model)
    assert "odd" not in state["metrics"] and "accuracy" in state["metrics"]
    assert "odd (Unsaveable)" in caplog.text
