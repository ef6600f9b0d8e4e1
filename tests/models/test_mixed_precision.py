"""
Every pretraining variant under autocast: the tiny models of the fixtures' configs
(ELMo-C with the cosine and the von Mises-Fisher loss, and the sampled, adaptive and
subword softmax baselines) run a bfloat16 and a float16 autocast on the CPU, the
stand-ins here for bfloat16 training on a GPU and for AllenNLP's `use_amp` (a float16
autocast there, whose list of float32 operations differs: the layers cast what must
stay float32 themselves rather than rely on it).

Stated tolerances, each at least 20 times what was measured (torch 2.14, CPU; float16
measured 10 to 50 times closer than bfloat16):
- the loss stays float32 and within a relative 1e-3 of the float32 model's
  (measured: at most 6e-5, bfloat16, ELMo-C with the cosine loss);
- every gradient is finite, and all of them together point where the float32
  model's do: cosine above 0.999 (measured: at least 0.9999), relative distance
  below 0.2 (measured: at most 0.013).
"""
import math
import os
from typing import Optional

import numpy
import pytest
import torch
from allennlp.common import Params
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.models import Model

from elmo_c.config_defaults import FIXTURES

TRAIN = os.path.join(FIXTURES, "lm", "train.txt")
ELMO_C = os.path.join(FIXTURES, "configs", "elmo_c_tiny.jsonnet")
BASELINES = os.path.join(FIXTURES, "configs", "elmo_baselines_tiny.jsonnet")
VARIANTS = {
    "elmo_c_cosine": (ELMO_C, {"ELMO_C_TEST_LOSS": "cosine"}),
    "elmo_c_vmf": (ELMO_C, {"ELMO_C_TEST_LOSS": "vmf"}),
    "sampled_softmax": (BASELINES, {"ELMO_C_TEST_OUTPUT": "sampled_softmax"}),
    "adaptive_softmax": (BASELINES, {"ELMO_C_TEST_OUTPUT": "adaptive_softmax"}),
    "subword_softmax": (BASELINES, {"ELMO_C_TEST_OUTPUT": "subword_softmax"}),
}


def _model_and_batch(config, env, monkeypatch):
    """The config's model (seeded) and one batch of the training fixtures, as `allennlp train` builds them."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    params = Params.from_file(config)
    instances = list(DatasetReader.from_params(params.pop("dataset_reader")).read(TRAIN))[:16]
    vocab = Vocabulary.from_params(params.pop("vocabulary"), instances=instances)
    torch.manual_seed(0)
    model = Model.from_params(vocab=vocab, params=params.pop("model"))
    batch = Batch(instances)
    batch.index_instances(vocab)
    return model, batch.as_tensor_dict()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_autocast_gives_the_float32_loss_and_finite_gradients(variant, dtype, monkeypatch):
    model, tensors = _model_and_batch(*VARIANTS[variant], monkeypatch)
    model.eval()  # no dropout, and the sampled softmax is exact: the same computation in both precisions
    with torch.no_grad():
        expected = model(**tensors)["loss"]
        with torch.autocast("cpu", dtype=dtype):
            output = model(**tensors)
    assert output["loss"].dtype == torch.float32
    assert output["loss"].item() == pytest.approx(expected.item(), rel=1e-3)

    model.train()
    expected_gradient = _training_gradient(model, tensors, None)
    gradient = _training_gradient(model, tensors, dtype)
    assert torch.isfinite(gradient).all()
    assert torch.nn.functional.cosine_similarity(gradient, expected_gradient, dim=0) > 0.999
    assert (gradient - expected_gradient).norm() < 0.2 * expected_gradient.norm()
    assert all(math.isfinite(value) for value in model.get_metrics(reset=True).values())


def _training_gradient(model, tensors, dtype: Optional[torch.dtype]) -> torch.Tensor:
    """All gradients of a training step's loss (dropout, sampler seeded alike), flattened; `dtype`: autocast's."""
    model.zero_grad(set_to_none=True)
    model.get_metrics(reset=True)
    torch.manual_seed(1)
    numpy.random.seed(0)  # the sampled softmax draws with numpy
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        loss = model(**tensors)["loss"]
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    gradients = [p.grad.to_dense() if p.grad.is_sparse else p.grad for p in model.parameters() if p.grad is not None]
    assert gradients
    return torch.cat([gradient.flatten().float() for gradient in gradients])
