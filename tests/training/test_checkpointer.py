import logging
import os

import pytest
import torch
from allennlp.common.checks import ConfigurationError

from elmo_c.training.checkpointer import AtomicCheckpointer


def _save(directory, epochs, batches, value):
    torch.save({"weight": torch.tensor([value])}, os.path.join(directory, f"model_state_e{epochs}_b{batches}.th"))
    torch.save({"epochs_completed": epochs}, os.path.join(directory, f"training_state_e{epochs}_b{batches}.th"))


def _truncate(path):
    with open(path, "rb") as stream:
        data = stream.read()
    with open(path, "wb") as stream:
        stream.write(data[: len(data) // 2])


def test_an_unreadable_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog):
    _save(tmp_path, 1, 0, 1.0)
    _save(tmp_path, 1, 30, 2.0)
    _truncate(tmp_path / "model_state_e1_b30.th")
    with caplog.at_level(logging.WARNING):
        model_state, training_state = AtomicCheckpointer(str(tmp_path)).load_checkpoint()
    assert model_state["weight"].item() == 1.0 and training_state["epochs_completed"] == 1
    assert "model_state_e1_b30.th" in caplog.text and "model_state_e1_b0.th" in caplog.text


def test_a_readable_newest_checkpoint_is_used_without_a_warning(tmp_path, caplog):
    _save(tmp_path, 1, 0, 1.0)
    _save(tmp_path, 1, 30, 2.0)
    with caplog.at_level(logging.WARNING):
        model_state, _ = AtomicCheckpointer(str(tmp_path)).load_checkpoint()
    assert model_state["weight"].item() == 2.0
    assert "Could not read" not in caplog.text


def test_no_readable_checkpoint_is_a_configuration_error_naming_them(tmp_path):
    _save(tmp_path, 2, 0, 1.0)
    _truncate(tmp_path / "training_state_e2_b0.th")
    with pytest.raises(ConfigurationError, match="training_state_e2_b0.th"):
        AtomicCheckpointer(str(tmp_path)).load_checkpoint()
