import os

import pytest
import torch
from allennlp.common import Params
from allennlp.common.testing import ModelTestCase
from allennlp.data import Batch

from elmo_c.config_defaults import FIXTURES
from elmo_c.models import ContinuousOutputLanguageModel

CONFIG = os.path.join(FIXTURES, "configs", "elmo_c_tiny.jsonnet")
TRAIN = os.path.join(FIXTURES, "lm", "train.txt")


class TestContinuousOutputLanguageModel(ModelTestCase):
    def setup_method(self):
        super().setup_method()
        self.set_up_model(CONFIG, TRAIN)

    def test_trains_saves_loads_and_predicts_the_same(self):
        self.ensure_model_can_train_save_and_load(self.param_file, seed=13)

    def test_vmf_loss_trains_saves_and_loads(self, monkeypatch):
        monkeypatch.setenv("ELMO_C_TEST_LOSS", "vmf")
        self.ensure_model_can_train_save_and_load(self.param_file, seed=13)

    def test_word_vector_input_trains_saves_and_loads_with_its_frozen_table(self, monkeypatch):
        monkeypatch.setenv("ELMO_C_TEST_INPUT", "word_vectors")
        model, _ = self.ensure_model_can_train_save_and_load(
            self.param_file, seed=13, gradients_to_ignore={"input_layer.embedding.weight"}
        )
        table = model.input_layer.embedding.weight
        assert not table.requires_grad and bool(model.input_layer.filled)
        rows, valid = model.input_layer.vectors.lookup(torch.arange(table.size(0)))
        torch.testing.assert_close(table, rows * valid.unsqueeze(-1))

    def test_loss_decreases_on_the_fixtures(self):
        torch.manual_seed(0)
        batch = Batch(self.instances[:16])
        batch.index_instances(self.vocab)
        tensors = batch.as_tensor_dict()
        optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-2)
        losses = []
        for _ in range(30):
            optimizer.zero_grad()
            loss = self.model(**tensors)["loss"]
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[-1] < 0.7 * losses[0]

    def test_targets_are_not_parameters_buffers_or_state(self):
        table_rows = self.vocab.get_vocab_size("tokens")
        state = self.model.state_dict()
        assert not any(tensor.shape[:1] == (table_rows,) and tensor.dim() == 2 for tensor in state.values())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        assert trainable == sum(p.numel() for p in self.model.parameters())
        self.model.output_layer.target_embeddings.load()
        assert self.model.output_layer.target_embeddings._matrix.shape == (table_rows, 16)
        assert set(self.model.state_dict()) == set(state)

    def test_metrics_have_cosine_and_neighbour_accuracies_in_evaluation(self):
        self.model.eval()
        with torch.no_grad():
            self.model(**self.dataset.as_tensor_dict())
        metrics = self.model.get_metrics(reset=True)
        assert {"forward_loss", "backward_loss", "cosine", "top1_accuracy", "top10_accuracy"} <= set(metrics)
        assert -1.0 <= metrics["cosine"] <= 1.0
        assert 0.0 <= metrics["top1_accuracy"] <= metrics["top10_accuracy"] <= 1.0
        self.model.train()
        assert "top1_accuracy" not in self.model.get_metrics()

    def _output_layer_inputs(self, sentences, monkeypatch):
        """
        The states and targets of the real positions the output layer receives for
        each sentence alone: [{direction: (states, target ids)}].  (The `continuous`
        layer is given the padding too, `takes_padding`: it is left out here.)
        """
        from elmo_c.data.dataset_readers import SentencesDatasetReader

        calls = []
        original = type(self.model.output_layer).forward

        def record(layer, hidden, targets, direction):
            real = targets > 0
            calls[-1][direction] = (hidden[real].detach().clone(), targets[real].clone())
            return original(layer, hidden, targets, direction)

        monkeypatch.setattr(type(self.model.output_layer), "forward", record)
        self.model.eval()
        for sentence in sentences:
            calls.append({})
            batch = Batch([SentencesDatasetReader().text_to_instance(sentence)])
            batch.index_instances(self.vocab)
            with torch.no_grad():
                self.model(**batch.as_tensor_dict())
        return calls

    def test_no_state_that_predicts_a_word_has_seen_it(self, monkeypatch):
        # "<S> the cat sat on the mat </S>" against the same with position 4 ("on") changed.
        original, changed = self._output_layer_inputs(["the cat sat on the mat", "the cat sat dog the mat"], monkeypatch)
        position = 4
        forward_states, forward_targets = original[0]
        backward_states, backward_targets = original[1]
        ids = [self.vocab.get_token_index(word) for word in "<S> the cat sat on the mat </S>".split()]
        assert forward_targets.tolist() == ids[1:] and backward_targets.tolist() == ids[:-1]
        # Forward row r is position r and predicts word r + 1: rows up to position - 1 have not seen it.
        torch.testing.assert_close(changed[0][0][:position], forward_states[:position], rtol=0, atol=1e-6)
        assert not torch.allclose(changed[0][0][position:], forward_states[position:], atol=1e-6)
        # Backward row r is position r + 1 and predicts word r: rows from position on have not seen it.
        torch.testing.assert_close(changed[1][0][position:], backward_states[position:], rtol=0, atol=1e-6)
        assert not torch.allclose(changed[1][0][:position], backward_states[:position], atol=1e-6)

    def test_padded_positions_give_the_loss_and_metrics_of_the_selected_ones(self, monkeypatch):
        """The `continuous` layer given every position (static shapes) against the real positions only."""
        self.model.eval()
        tensors = self.dataset.as_tensor_dict()
        assert (tensors["source"]["tokens"]["tokens"] == 0).any()  # the batch has padding

        def run():
            with torch.no_grad():
                output = self.model(**tensors)
            return output, self.model.get_metrics(reset=True)

        padded, padded_metrics = run()
        monkeypatch.setattr(type(self.model.output_layer), "takes_padding", False)
        selected, selected_metrics = run()
        for name in ("loss", "forward_loss", "backward_loss", "num_targets"):
            torch.testing.assert_close(padded[name], selected[name], rtol=1e-6, atol=1e-7)
        assert padded_metrics.keys() == selected_metrics.keys()
        for name, value in selected_metrics.items():
            assert padded_metrics[name] == pytest.approx(value, rel=1e-6, abs=1e-7), name
        self.model.train()

    def test_targets_are_the_next_and_previous_words(self):
        token_ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
        forward, backward = ContinuousOutputLanguageModel._targets(token_ids)
        assert forward.tolist() == [[6, 7, 0, 0], [9, 0, 0, 0]]
        assert backward.tolist() == [[0, 5, 6, 0], [0, 8, 0, 0]]


def test_paper_size_config_builds_the_papers_architecture():
    params = Params.from_file(os.path.join(os.path.dirname(FIXTURES), "training_config", "elmo_c.jsonnet"))
    model_params = params.pop("model")
    assert model_params["encoder"]["cell_size"] == 4096
    assert model_params["encoder"]["projection_dim"] == 512
    assert model_params["output_layer"]["target_embeddings"]["embedding_dim"] == 300
    assert model_params["output_layer"]["loss"]["type"] == "cosine"
    assert sum(width for _, width in model_params["input_layer"]["filters"]) == 2048
